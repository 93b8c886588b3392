"""Every refusal carries a stable `code` and a Chinese `message_zh` beside its English `reason`,
and JSON is UTF-8 with Chinese unescaped on every port (issue 15, items 6 and 8)."""

import json
import re
import urllib.error
import urllib.request

import pytest
from harness import Appliance

from appliance.face import quality
from appliance.face.enrolment import PERSON_CHANGED
from appliance.gateway import codes

CJK = re.compile(r"[\u4e00-\u9fff]")

# The English reasons the dialogue worker and the session store answer with, and their codes.
WORKER_REASONS = [
    ("hash is missing: shake hands first (type handshake)", "unknown_session"),
    ("unknown hash: shake hands first (type handshake)", "unknown_session"),
    ("this hash belongs to another user_id", "unknown_session"),
    ("the hash has expired: shake hands again", "unknown_session"),
    ("storage comes after the questions: open the qna socket first", "out_of_order"),
    ("summary comes after storage", "out_of_order"),
    ("open the qna socket with its handshake first", "out_of_order"),
    ("malformed info (phone: must be a string)", "bad_info"),
    ('input must be {"type": "text", "text": ...} or {"type": "audio", "media": <base64>}', "bad_input"),
    ("input.text must be a non-empty string", "bad_input"),
    ("input.media is not valid base64", "bad_input"),
    ("no speech was heard in the audio; please speak again", "no_speech"),
    ("the audio could not be transcribed: bad wav", "bad_audio"),
    ("speech recognition failed: timeout; send the request again", "unavailable"),
    ("speech recognition not available", "not_enabled"),
    ("the identity check failed: the face does not match the name and ID number", "verification_failed"),
    ("the kiosk's disk is full", "disk_full"),
    ("the dialogue worker is restarting; try again in a few seconds", "unavailable"),
    ("the speech worker did not answer in time", "timeout"),
    ("the face worker is overloaded", "busy"),
]


def test_the_table_is_complete_and_readable():
    for code, (zh, meaning) in codes.CODES.items():
        assert re.fullmatch(r"[a-z][a-z_]*", code), code
        assert CJK.search(zh) and zh.endswith("。"), (code, zh)
        assert meaning and not CJK.search(meaning), code
    for reason in (
        *quality.REASONS,
        PERSON_CHANGED,
        "not_live",
        "enrolled_as_other",
        "unknown",
        "bad_frame",
        "too_large",
        "busy",
        "unavailable",
    ):
        assert reason in codes.CODES, reason  # a face frame's reason is its code
    for published in codes.BUS_CODES.values():
        assert published in codes.CODES
    assert "| `unknown_session` |" in codes.markdown_table()


@pytest.mark.parametrize("reason,code", WORKER_REASONS)
def test_worker_reasons_map_to_codes(reason, code):
    out = codes.annotate({"type": "error", "reason": reason}, status=400)
    assert out["code"] == code and out["reason"] == reason
    assert out["message_zh"] == codes.CODES[code][0]


def test_annotate_keeps_a_given_code_and_leaves_answers_alone():
    assert codes.annotate({"type": "error", "reason": "x", "code": "disk_full"})["code"] == "disk_full"
    assert codes.annotate({"type": "error", "reason": "x"}, status=507)["code"] == "disk_full"
    assert codes.annotate({"type": "busy", "reason": "x"})["code"] == "busy"
    answer = {"user_id": "u", "type": "storage", "hash": "h", "output": {"name": "张三"}}
    assert codes.annotate(answer) == answer  # not a refusal: untouched
    frame = codes.annotate({"message": "continue", "reason": "not_live", "detail": "turn the head"})
    assert frame["code"] == "not_live" and "转动头部" in frame["message_zh"]


# -- on the wire -------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="dialogue,gateway")
    app.wait_ready()
    yield app
    assert app.stop() == 0


def raw_post(app, path: str, body) -> tuple[int, str, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        app.url(path), data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def assert_refusal(raw: bytes | str, code: str) -> dict:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    assert "\\u" not in text, text  # Chinese travels as UTF-8, not as escapes
    body = json.loads(text)
    assert body["code"] == code, body
    assert body["message_zh"] == codes.CODES[code][0] and body["message_zh"] in text
    assert body["reason"] and not CJK.search(body["reason"])  # English stays for technicians
    return body


def test_http_answers_are_utf8_with_codes(app):
    status, ctype, raw = raw_post(app, "/", b"{not json")
    assert status == 400 and ctype == "application/json; charset=utf-8"
    assert_refusal(raw, "bad_json")
    status, _, raw = raw_post(app, "/storage", {"user_id": "u1", "type": "storage", "hash": "0" * 32})
    body = assert_refusal(raw, "unknown_session")
    assert body["type"] == "error" and body["user_id"] == "u1"  # the seed's keys are all still there
    status, _, raw = raw_post(
        app,
        "/",
        {"user_id": "u1", "type": "handshake", "info": {}, "input": {"type": "audio", "media": "UklGRg=="}},
    )
    assert status == 501
    assert_refusal(raw, "not_enabled")
    status, ctype, raw = raw_post(
        app,
        "/handshake",
        {
            "user_id": "u2",
            "type": "handshake",
            "info": {},
            "input": {"type": "text", "text": "我要办身份证件"},
        },
    )
    assert status == 200 and "charset=utf-8" in ctype
    text = raw.decode("utf-8")
    assert "身份证" in text and "\\u" not in text
    hash_ = json.loads(text)["hash"]
    status, _, raw = raw_post(app, "/storage", {"user_id": "u2", "type": "storage", "hash": hash_})
    assert status == 400
    assert_refusal(raw, "out_of_order")


def test_websocket_frames_are_utf8_with_codes(app):
    ws = app.ws("flow_socket", "/")
    ws.send("not json")
    assert_refusal(ws.recv(), "bad_json")
    ws = app.ws("flow_socket", "/")
    ws.send(json.dumps({"type": "dance", "user_id": "u"}))
    assert_refusal(ws.recv(), "bad_handshake")
    ws = app.ws("flow_socket", "/")
    ws.send(json.dumps({"type": "qna", "user_id": "u", "hash": "0" * 32}))
    assert_refusal(ws.recv(), "unknown_session")
    ws = app.ws("flow_socket", "/face_train")
    ws.send(json.dumps({"type": "face_train", "user_id": "u", "hash": ""}))
    assert_refusal(ws.recv(), "not_enabled")
    tts = app.ws("tool", "/tts")
    tts.send_binary(b"\x00binary on a text route")
    assert_refusal(tts.recv(), "bad_frame")
    predict = app.ws("tool", "/face_predict")
    predict.send_binary(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert_refusal(predict.recv(), "not_enabled")


def test_a_lone_surrogate_is_refused_cleanly(app):
    # JSON may spell "\ud800"; no UTF-8 text (the bus, the database) can hold it: a clear 400, never a 500
    status, ctype, raw = raw_post(app, "/storage", b'{"user_id": "u\\ud800", "type": "storage", "hash": "x"}')
    assert status == 400 and "charset=utf-8" in ctype
    body = json.loads(raw.decode("utf-8"))
    assert body["code"] == "bad_json" and "surrogate" in body["reason"]
    ws = app.ws("flow_socket", "/")
    ws.send('{"type": "qna", "user_id": "u\\ud800", "hash": "0"}')
    assert json.loads(ws.recv())["code"] == "bad_json"
    status, _, raw = raw_post(app, "/", b"{not json")  # still serving
    assert status == 400
