"""Error paths on all three ports, answered per PROTOCOL.md, the daemon still serving."""

import json

import pytest
import websocket
from harness import Appliance


@pytest.fixture(scope="module")
def app():
    app = Appliance(
        workers="dialogue,gateway",
        env={
            "APPLIANCE_LIMITS_MAX_HTTP_BODY": "200000",
            "APPLIANCE_LIMITS_MAX_TEXT_BYTES": "4096",
            "APPLIANCE_LIMITS_MAX_IMAGE_BYTES": "100000",
            "APPLIANCE_LIMITS_MAX_AUDIO_BYTES": "100000",
        },
    )
    app.wait_ready()
    yield app
    assert app.stop() == 0


def assert_error(status, body, code=400, reason=""):
    assert status == code, body
    assert body["type"] == "error" and {"user_id", "hash", "reason"} <= set(body)
    assert reason in body["reason"]


def still_serving(app):
    status, health = app.get("/health")
    assert status == 200 and health["healthy"]


# -- HTTP 10925 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe\x00garbage", "malformed JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'"handshake"', "JSON object"),
        (b"", "malformed JSON"),
        (b"[" * 5000 + b"]" * 5000, ""),
    ],
)
def test_malformed_bodies(app, raw, reason):
    status, body = app.post("/", raw)
    assert_error(status, body, reason=reason)
    still_serving(app)


def test_deep_nesting_is_refused(app):
    deep = {"user_id": "u", "type": "handshake", "info": {}}
    node = deep["info"]
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    status, body = app.post("/", deep)
    assert_error(status, body, reason="nested")


def test_unknown_type_and_path(app):
    assert_error(*app.post("/", {"user_id": "u1", "type": "dance"}), reason="unknown type 'dance'")
    assert_error(*app.post("/dance", {"user_id": "u1"}), reason="unknown type 'dance'")
    assert_error(*app.post("/storage", {"user_id": "u1", "type": "summary"}), reason="does not match")
    status, body = app.post("/", {"type": "handshake"})
    assert_error(status, body, reason="user_id")
    status, body = app.get("/")
    assert_error(status, body, code=405)
    status, body = app.get("/nothing/here")
    assert status in (404, 405) and body["type"] == "error"


def test_ids_echoed_in_errors(app):
    status, body = app.post("/storage", {"user_id": "u7", "type": "storage", "hash": "deadbeef"})
    assert_error(status, body, reason="unknown hash")
    assert body["user_id"] == "u7" and body["hash"] == "deadbeef" and body["type"] == "error"


def test_oversize_body(app):
    big = {"user_id": "u1", "type": "handshake", "input": {"type": "text", "text": "办" * 200_000}}
    status, body = app.post("/", big)
    assert_error(status, body, code=413, reason="too large")
    still_serving(app)


def test_audio_handshake_without_speech_worker(app):
    status, body = app.post(
        "/",
        {"user_id": "u1", "type": "handshake", "info": {}, "input": {"type": "audio", "media": "UklGRg=="}},
    )
    assert_error(status, body, code=501, reason="speech recognition not available")


# -- WebSocket 444 ---------------------------------------------------------------


def recv_json(ws):
    return json.loads(ws.recv())


@pytest.mark.parametrize(
    "first,reason",
    [
        ("not json at all", "not a JSON object"),
        ('{"type": "dance", "user_id": "u"}', "unknown flow type"),
        ('{"type": "qna"}', "user_id"),
        ('{"type": "qna", "user_id": "u", "hash": 5}', "hash"),
        ("[1,2]", "not a JSON object"),
    ],
)
def test_bad_socket_handshake(app, first, reason):
    ws = app.ws("flow_socket", "/")
    ws.send(first)
    reply = recv_json(ws)
    assert reply["type"] == "error" and reason in reply["reason"]
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()
        ws.recv()


def test_binary_socket_handshake_refused(app):
    ws = app.ws("flow_socket", "/qna")
    ws.send_binary(b"\x89PNG....")
    reply = recv_json(ws)
    assert reply["type"] == "error" and "text frame" in reply["reason"]


def test_path_flow_mismatch_and_unknown_path(app):
    ws = app.ws("flow_socket", "/qna")
    ws.send(json.dumps({"type": "face_train", "user_id": "u"}))
    assert "does not match" in recv_json(ws)["reason"]
    ws = app.ws("flow_socket", "/elsewhere")
    assert "no flow" in recv_json(ws)["reason"]


def test_qna_with_unknown_hash(app):
    ws = app.ws("flow_socket", "/")
    ws.send(json.dumps({"type": "qna", "user_id": "u", "hash": "0" * 32}))
    reply = recv_json(ws)
    assert reply["type"] == "error" and "unknown hash" in reply["reason"]


def test_face_train_when_face_not_enabled(app):
    ws = app.ws("flow_socket", "/face_train")
    ws.send(json.dumps({"type": "face_train", "user_id": "u", "hash": ""}))
    reply = recv_json(ws)
    assert reply["type"] == "error" and "not enabled" in reply["reason"]


# -- WebSocket 3304 --------------------------------------------------------------


def test_tool_routes_wrong_frame_kinds(app):
    tts = app.ws("tool", "/tts")
    tts.send_binary(b"\x00\x01binary on a text route")
    reply = recv_json(tts)
    assert reply["type"] == "error" and "text frame" in reply["reason"]
    stt = app.ws("tool", "/stt")
    stt.send("text on a binary route")
    reply = recv_json(stt)
    assert reply["type"] == "error" and "binary" in reply["reason"]
    # the connection stays usable: the next request is answered too
    stt.send_binary(b"RIFF....WAVE")
    reply = recv_json(stt)
    assert reply["type"] == "error" and "speech" in reply["reason"]


def test_oversize_frame_answered_then_huge_frame_dropped(app):
    ws = app.ws("tool", "/stt")
    ws.send_binary(b"\x00" * 120_000)  # over the 100 kB limit: answered, connection kept
    reply = recv_json(ws)
    assert reply["type"] == "error" and reply["reason"] == "too_large" and "120000" in reply["detail"]
    tts = app.ws("tool", "/tts")
    tts.send("字" * 2000)  # 6 kB of UTF-8: over the 4 kB text limit
    assert recv_json(tts)["reason"] == "too_large"
    ws.send_binary(b"\x00" * 120_000)
    assert recv_json(ws)["reason"] == "too_large"
    try:  # far over the limit: dropped before it is read whole
        ws.send_binary(b"\x00" * 2_000_000)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1009
    except (ConnectionResetError, BrokenPipeError, websocket.WebSocketConnectionClosedException):
        pass
    still_serving(app)


def test_face_predict_when_face_not_enabled(app):
    ws = app.ws("tool", "/face_predict")
    ws.send_binary(b"\xff\xd8\xff\xe0 not really a jpeg")
    reply = recv_json(ws)
    assert reply["type"] == "error" and "not enabled" in reply["reason"]
    still_serving(app)
