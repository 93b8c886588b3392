"""GET /metrics on a real appliance after a scripted journey, parsed with prometheus_client's own parser:
the counters move exactly as the journey says, and no series carries the citizen's data."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest
from harness import MODELS, ROOT, Appliance, assert_closed_by_server
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from appliance.dialogue.idcard import check_digit

FACES = ROOT / "tests" / "data" / "faces"
USER = "zhangsanfeng"  # letters only: a user id that would pass for a code word if it ever reached a label
NAME = "张三丰"
ID17 = "11010519491231002"
ID_CARD = ID17 + check_digit(ID17)


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def mirrored(name: str) -> bytes:
    out = io.BytesIO()
    Image.open(FACES / name).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, "JPEG", quality=90)
    return out.getvalue()


def scrape(app: Appliance) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{app.ports['metrics']}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return response.read().decode("utf-8")


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} for every sample, by prometheus_client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(table: dict, name: str, **labels) -> float:
    return table.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(scope="module")
def journey():
    """One appliance, one scripted journey; the scrapes before and after it and what the citizen got."""
    app = Appliance(
        workers="face,dialogue,gateway", env={"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "3"}
    ).wait_ready()
    try:
        before = samples(scrape(app))
        seen: dict = {"hashes": set()}
        # enrol (3 frames), recognise (1 frame, success), a stranger (unknown, unknown, fail)
        ws = app.ws("flow_socket", "/")
        ws.send(json.dumps({"user_id": USER, "hash": "", "type": "face_train"}))
        for frame in (photo("obama_1.jpg"), mirrored("obama_1.jpg"), photo("obama_2.jpg")):
            ws.send_binary(frame)
            reply = json.loads(ws.recv())
            seen["hashes"].add(reply["hash"])
        assert reply["message"] == "success", reply
        assert_closed_by_server(ws)
        fp = app.ws("tool", "/face_predict")
        fp.send_binary(photo("obama_3.jpg"))
        reply = json.loads(fp.recv())
        assert reply["message"] == "success" and reply["user_id"] == USER, reply
        seen["hashes"].add(reply["hash"])
        fp.close()
        fp = app.ws("tool", "/face_predict")
        messages = []
        for _ in range(3):
            fp.send_binary(photo("biden.jpg"))
            messages.append(json.loads(fp.recv()))
        assert [(m["message"], m.get("reason")) for m in messages] == [
            ("continue", "unknown"),
            ("continue", "unknown"),
            ("fail", "unknown"),
        ], messages
        seen["hashes"].add(messages[0]["hash"])
        assert_closed_by_server(fp)
        # the flow: a handshake carrying the citizen's name and ID number, a refused storage, bad JSON
        status, hs = app.post(
            "/handshake",
            {
                "user_id": USER,
                "type": "handshake",
                "info": {"name": NAME, "id_card": ID_CARD, "phone": None},
                "input": {"type": "text", "text": "我要办身份证"},
            },
        )
        assert status == 200 and hs["classify"] == "身份证", hs
        seen["hashes"].add(hs["hash"])
        assert app.post("/storage", {"user_id": USER, "type": "storage", "hash": "0" * 32})[0] == 400
        assert app.post("/", b"{not json")[0] == 400
        # qna: an answer that is no gender is asked again, then the citizen walks away
        ws = app.ws("flow_socket", "/qna")
        ws.send(json.dumps({"user_id": USER, "type": "qna", "hash": hs["hash"]}))
        question = ws.recv()
        assert "性别" in question, question
        ws.send("12345")
        again = ws.recv()
        assert "男或者女" in again, again  # the hint: asked again
        ws.close()
        # a worker killed: one restart, reason died
        dialogue = app.worker_pid("dialogue")
        os.kill(dialogue, signal.SIGKILL)
        app.wait_healthy(60, lambda h: app.worker_pid("dialogue") not in (None, dialogue))
        deadline = time.monotonic() + 10
        while True:  # the gateway notices the abandoned socket, the new worker beats, on their own time
            text = scrape(app)
            after = samples(text)
            ended = delta(before, after, "kiosk_dialogue_qna_flows_total", result="abandoned")
            beating = all(
                value(after, "kiosk_worker_resident_memory_bytes", worker=w) > 0
                for w in ("face", "dialogue", "gateway")
            )  # the restarted worker's first heartbeat
            if (ended and beating) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        yield before, after, text, seen
    finally:
        app.stop()


def test_counters_moved_exactly(journey):
    before, after, _, _ = journey
    ops = "kiosk_operation_requests_total"
    assert delta(before, after, ops, operation="face_train", outcome="ok") == 3
    assert delta(before, after, ops, operation="face_predict", outcome="ok") == 4
    assert delta(before, after, ops, operation="handshake_text", outcome="ok") == 1
    assert delta(before, after, ops, operation="storage", outcome="error") == 1
    assert delta(before, after, ops, operation="flow", outcome="error") == 1
    assert delta(before, after, ops, operation="qna_answer", outcome="ok") == 1
    hist = "kiosk_operation_duration_seconds_count"
    assert delta(before, after, hist, operation="face_predict") == 4
    assert delta(before, after, hist, operation="face_train") == 3
    faces = "kiosk_face_recognitions_total"
    assert [delta(before, after, faces, outcome=o) for o in ("success", "unknown", "fail")] == [1, 2, 1]
    assert delta(before, after, "kiosk_face_score_count", outcome="success") == 1
    assert delta(before, after, "kiosk_face_score_count", outcome="unknown") == 2
    presented = "kiosk_liveness_presentations_total"
    assert delta(before, after, presented, flow="face_predict", result="passed") == 2
    assert delta(before, after, "kiosk_liveness_frames_to_pass_count", flow="face_predict") == 2
    assert delta(before, after, "kiosk_dialogue_handshakes_total", service="身份证", input="text") == 1
    assert delta(before, after, "kiosk_dialogue_reasked_total", field="gender") == 1
    assert delta(before, after, "kiosk_dialogue_qna_flows_total", result="abandoned") == 1
    assert delta(before, after, "kiosk_dialogue_qna_flows_total", result="completed") == 0
    assert value(after, "kiosk_face_gallery_size", kind="users") == 1
    restarts = "kiosk_worker_restarts_total"
    assert delta(before, after, restarts, worker="dialogue", reason="died") == 1
    assert delta(before, after, restarts, worker="face", reason="died") == 0
    for worker in ("face", "dialogue", "gateway"):
        assert value(after, "kiosk_worker_up", worker=worker) == 1
        assert value(after, "kiosk_worker_resident_memory_bytes", worker=worker) > 0
    assert value(after, "kiosk_supervisor_restarts_in_window") == 1
    assert value(after, "kiosk_database_bytes") > 0 and value(after, "kiosk_disk_free_bytes") > 0
    for model, entry in json.loads((MODELS / "face_checksums.json").read_text()).items():
        assert value(after, "kiosk_model_info", model=model, file=entry["file"], sha256=entry["sha256"]) == 1
    from appliance.speech.modelfiles import SHA256 as SPEECH_SHA256  # the speech models, as fetched

    digest = SPEECH_SHA256["whisper-base/model.bin"]
    whisper = {"model": "whisper_base_model_bin", "file": "whisper-base/model.bin", "sha256": digest}
    assert value(after, "kiosk_model_info", **whisper) == 1
    assert (
        value(
            after,
            "kiosk_build_info",
            version=__import__("appliance").__version__,
            python=__import__("platform").python_version(),
        )
        == 1
    )


def test_no_series_carries_citizen_data(journey):
    _, after, text, seen = journey
    secrets = {USER, NAME, ID_CARD, ID17, *seen["hashes"]}
    assert len(seen["hashes"]) == 4  # enrolment, recognition, stranger… and the handshake's session
    for (name, labels), _ in after.items():
        for key, label in labels:
            for secret in secrets:
                assert secret not in label and secret not in name, (name, key, label)
    for secret in secrets:  # nor anywhere else in the page (help texts included)
        assert secret not in text


def test_metrics_port_is_behind_the_client_allowlist():
    app = Appliance(workers="gateway", env={"APPLIANCE_PORTS_ALLOW_CLIENTS": "10.99.0.0/16"}).wait_ready()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(app)
        assert refused.value.code == 403
    finally:
        app.stop()


def test_metrics_bind_beyond_loopback_needs_allow_remote(monkeypatch):
    from appliance import config

    monkeypatch.setenv("APPLIANCE_PORTS_METRICS_BIND", "0.0.0.0")
    with pytest.raises(config.ConfigError, match="metrics_bind"):
        config.load(str(ROOT / "firmware-config" / "appliance.toml"))
    monkeypatch.setenv("APPLIANCE_PORTS_ALLOW_REMOTE", "true")
    assert config.load(str(ROOT / "firmware-config" / "appliance.toml")).ports.metrics_bind == "0.0.0.0"
