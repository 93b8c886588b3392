"""logging.format: text, JSON lines and journald's native fields; secrets scrubbed in every format; the
correlation id on every record of a journey and in the bus header."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import struct
import threading
from pathlib import Path

import pytest
import zmq
from harness import ROOT

from appliance import config
from appliance.runtime import bus, logs

TOKEN = "tok-5e4d3c2b1a09"
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
JSON_KEYS = {"time", "level", "worker", "pid", "logger", "event", "correlation_id"}


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("APPLIANCE_TENCENT_TOKEN", TOKEN)
    yield config.load(str(ROOT / "firmware-config" / "appliance.toml"))
    logging.getLogger().handlers[:] = [logging.StreamHandler()]  # leave pytest a plain root logger


def emit(cid: str = "") -> None:
    token = logs.CORRELATION.set(cid)
    try:
        log = logging.getLogger("appliance.test")
        log.warning("calling upstream with token %s", TOKEN)
        log.info(f"token inline {TOKEN}")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed once")
    finally:
        logs.CORRELATION.reset(token)


def test_text_format_scrubs_secrets(settings, monkeypatch):
    monkeypatch.setenv("APPLIANCE_LOGGING_FORMAT", "text")
    stream = io.StringIO()
    logs.setup(config.load(settings.source), "sync", stream)
    emit()
    out = stream.getvalue()
    assert TOKEN not in out and out.count("********") == 2
    assert " sync[" in out and "failed once" in out


def test_json_lines_have_stable_keys_and_no_secret(settings, monkeypatch):
    monkeypatch.setenv("APPLIANCE_LOGGING_FORMAT", "json")
    stream = io.StringIO()
    logs.setup(config.load(settings.source), "dialogue", stream)
    emit("c0ffee123456")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    assert TOKEN not in stream.getvalue()
    for line in lines:
        assert JSON_KEYS <= set(line) <= JSON_KEYS | {"exception"}
        assert line["worker"] == "dialogue" and line["pid"] == os.getpid()
        assert line["correlation_id"] == "c0ffee123456" and line["time"].endswith("+00:00")
    assert [line["level"] for line in lines] == ["WARNING", "INFO", "ERROR"]
    assert lines[0]["event"] == "calling upstream with token ********"
    assert "ValueError: boom" in lines[2]["exception"]


class FakeJournald:
    """journald's native socket (a datagram socket at /run/systemd/journal/socket), parsed."""

    def __init__(self):
        JOURNAL_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(JOURNAL_SOCKET))
        self.sock.settimeout(2)

    def entries(self, count: int) -> list[dict[str, str]]:
        return [parse_native(self.sock.recv(1 << 20)) for _ in range(count)]

    def close(self):
        self.sock.close()
        JOURNAL_SOCKET.unlink(missing_ok=True)


def parse_native(data: bytes) -> dict[str, str]:
    """The native protocol: KEY=value lines, or KEY\\n<64-bit length><value>\\n for values with newlines."""
    out, i = {}, 0
    while i < len(data):
        end = data.index(b"\n", i)
        line = data[i:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = end + 1
        else:
            key = line
            size = struct.unpack("<Q", data[end + 1 : end + 9])[0]
            value = data[end + 9 : end + 9 + size]
            i = end + 9 + size + 1
        out[key.decode()] = value.decode("utf-8", "replace")
    return out


def test_journal_fields_and_no_secret(settings, monkeypatch):
    from systemd import journal  # noqa: F401  (fails loudly when systemd-python is missing)

    if JOURNAL_SOCKET.exists():
        pytest.fail(
            f"{JOURNAL_SOCKET} exists (a real journald): this test binds its own; run it in the "
            "test container"
        )
    journald = FakeJournald()
    try:
        monkeypatch.setenv("APPLIANCE_LOGGING_FORMAT", "auto")
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # what systemd sets for a service: auto picks journal
        handler = logs.setup(config.load(settings.source), "face")
        assert type(handler).__name__ == "JournalHandler"
        emit("abcdef012345")
        entries = journald.entries(3)
    finally:
        journald.close()
    for entry in entries:
        assert entry["SYSLOG_IDENTIFIER"] == "kiosk-appliance" and entry["WORKER"] == "face"
        assert entry["CORRELATION_ID"] == "abcdef012345"
        assert not any(TOKEN in value for value in entry.values()), entry
    assert [e["PRIORITY"] for e in entries] == ["4", "6", "3"]
    assert entries[0]["MESSAGE"] == "calling upstream with token ********"


def test_auto_is_text_outside_systemd(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert logs.choose_format("auto") == "text"
    assert logs.choose_format("json") == "json"


def test_correlation_id_is_not_the_user_id_and_is_stable_per_user():
    a, b = logs.correlation_for("zhangsanfeng"), logs.correlation_for("zhangsanfeng")
    assert a == b and "zhangsanfeng" not in a and len(a) == 12
    assert logs.correlation_for("lisi") != a
    assert logs.correlation_for(None) != logs.correlation_for(None)  # no user: a journey of its own


def test_bus_header_carries_the_correlation_id(tmp_path):
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    endpoint = f"ipc://{tmp_path}/w.req"
    router.bind(endpoint)
    client = bus.BusClient(endpoint, timeout=5)
    headers = []

    def answer():
        frames = router.recv_multipart()
        header, _ = bus.decode(frames[1:])
        headers.append(header)
        router.send_multipart([frames[0], *bus.encode({"id": header["id"], "ok": True})])

    thread = threading.Thread(target=answer)
    thread.start()
    token = logs.CORRELATION.set("0123456789ab")
    try:
        client.request("status")
    finally:
        logs.CORRELATION.reset(token)
        thread.join(5)
        client.close()
        router.close(linger=0)
    assert headers[0]["cid"] == "0123456789ab"


def test_a_journey_carries_one_correlation_id_from_gateway_to_worker():
    """JSON logs of a real appliance: the dialogue worker's lines of one citizen's handshakes carry the id
    the gateway set (the same for the same citizen, another for another), never the user id itself."""
    from harness import Appliance

    app = Appliance(workers="dialogue,gateway", env={"APPLIANCE_LOGGING_FORMAT": "json"}).wait_ready()
    try:
        for user in ("citizenalpha", "citizenalpha", "citizenbeta"):
            status, _ = app.post(
                "/handshake",
                {
                    "user_id": user,
                    "type": "handshake",
                    "info": {},
                    "input": {"type": "text", "text": "我要办护照"},
                },
            )
            assert status == 200
    finally:
        app.stop()
    lines = [json.loads(line) for line in app.logtext().splitlines() if line.startswith("{")]
    assert lines and all(JSON_KEYS <= set(line) for line in lines)
    handshakes = [line for line in lines if line["worker"] == "dialogue" and "citizen" in line["event"]]
    ids = [line["correlation_id"] for line in handshakes]
    assert len(ids) == 3 and ids[0] and ids[0] == ids[1] != ids[2], handshakes
    assert not any("citizen" in cid for cid in ids)
