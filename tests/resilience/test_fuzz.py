"""Hostile input on every entry point (hypothesis): random bytes, wrong types, deep JSON,
unicode oddities, slow-loris and many idle connections. The daemon never crashes, every
answer follows PROTOCOL.md, and nothing restarts."""

import json
import socket
import time

import pytest
import websocket
from harness import Appliance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
HTTP_TYPES = {"handshake", "storage", "summary", "processing", "busy", "error"}
FIELDS = ["user_id", "type", "hash", "info", "input", "text", "media", "name", "phone", "id_card", "birth"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), children, max_size=5)
    ),
    max_leaves=20,
)
odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="dialogue,face,speech,gateway").wait_ready(300)
    yield app
    health = app.health()
    assert health["healthy"] and all(w["restarts"] == 0 for w in health["workers"]), health
    app.stop()


def check_http(status, body):
    assert 200 <= status < 600 and status != 500, (status, body)
    assert {"user_id", "type", "hash"} <= set(body) and body["type"] in HTTP_TYPES, body


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_http_random_bytes(app, raw):
    check_http(*app.post("/", raw))


@FUZZ
@given(
    body=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    kind=st.sampled_from(["handshake", "storage", "summary", "x", None]),
)
def test_http_wrong_types_in_every_field(app, body, kind):
    if kind is not None:
        body["type"] = kind
    status, reply = app.post("/", body)
    check_http(status, reply)


@FUZZ
@given(text=odd_text, info=st.dictionaries(st.sampled_from(FIELDS), odd_text, max_size=5))
def test_http_unicode_oddities(app, text, info):
    status, reply = app.post(
        "/handshake",
        {
            "user_id": text or "u",
            "type": "handshake",
            "info": info,
            "input": {"type": "text", "text": text or "办"},
        },
    )
    check_http(status, reply)


def test_http_huge_and_deep_json(app):
    check_http(*app.post("/", b'{"a":' * 100_000 + b"1" + b"}" * 100_000))
    check_http(
        *app.post(
            "/", json.dumps({"user_id": "u", "type": "handshake", "info": {"name": "x" * 10**7}}).encode()
        )
    )


@FUZZ
@given(frame=st.binary(max_size=5000), as_text=st.booleans())
def test_face_predict_random_frames(app, frame, as_text):
    ws = app.ws("tool", "/face_predict")
    ws.send(frame.decode("latin-1")) if as_text else ws.send_binary(frame)
    reply = json.loads(ws.recv())
    assert reply["type"] == "face_predict" and reply["message"] in ("continue", "fail") and reply["reason"]
    ws.close()


@FUZZ
@given(frame=st.binary(max_size=5000))
def test_stt_random_bytes(app, frame):
    ws = app.ws("tool", "/stt")
    ws.send_binary(frame)
    reply = ws.recv()
    assert isinstance(reply, str)
    if reply.startswith("{"):
        assert json.loads(reply)["type"] == "error"
    ws.close()


@FUZZ
@given(text=odd_text)
def test_tts_unicode_oddities(app, text):
    ws = app.ws("tool", "/tts")
    ws.send(text)
    reply = ws.recv()
    assert (isinstance(reply, bytes) and reply[:4] == b"RIFF") or json.loads(reply)["type"] == "error"
    ws.close()


@FUZZ
@given(first=st.one_of(odd_text, json_values.map(json.dumps)))
def test_flow_socket_random_handshakes(app, first):
    ws = app.ws("flow_socket", "/")
    ws.send(first)
    try:
        reply = ws.recv()
    except websocket.WebSocketConnectionClosedException:
        return
    if reply and reply.startswith("{"):
        value = json.loads(reply)
        assert value.get("type") in ("error", "face_train", "busy"), value
    ws.close()


def test_slow_loris_and_idle_connections_do_not_starve_citizens(app):
    port = app.ports["flow_http"]
    slow = []
    for _ in range(200):  # clients that send half a request and then nothing
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        slow.append(s)
    idle = [app.ws("tool", "/stt") for _ in range(1000)]  # connected, never speaking
    try:
        status, body = app.post(
            "/handshake",
            {
                "user_id": "u",
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": "我要办驾驶证"},
            },
            timeout=30,
        )
        assert status == 200 and body["classify"] == "驾驶证"
        ws = app.ws("tool", "/tts")
        ws.send("好")
        assert ws.recv()[:4] == b"RIFF"
    finally:
        for s in slow:
            s.close()
        for ws in idle:
            ws.close()
    time.sleep(0.5)
    gateway = next(w for w in app.health()["workers"] if w["name"] == "gateway")
    assert gateway["rss"] < 400e6
