"""face_train with the liveness worker, through the real port 444 (issue 16 §1):
a presentation attack is never enrolled, and a connection that never establishes
liveness ends as /face_predict does — `fail`, then the server closes."""

import json

import cv2
import pytest
import websocket
from harness import MODELS, ROOT, Appliance

from appliance.face.engine import FaceEngine
from appliance.liveness import modelfiles, splices

FACES = ROOT / "tests" / "data" / "faces"
LIMIT = 14


@pytest.fixture(scope="module")
def app():
    modelfiles.ensure_models(MODELS)
    # The worker times frames as they arrive; this client sends the next frame only after the
    # reply, so on a loaded test machine a 4-frame blink (or one frame) can take seconds: timing is
    # not what these tests judge (tests/liveness/test_liveness_blink.py does).
    app = Appliance(
        workers="face,liveness,gateway",
        env={
            "APPLIANCE_FACE_PREDICT_MAX_FRAMES": str(LIMIT),
            "APPLIANCE_LIVENESS_MAX_FRAMES": str(LIMIT),
            "APPLIANCE_LIVENESS_BLINK_MAX_SECONDS": "60",
            "APPLIANCE_LIVENESS_MAX_GAP": "60",
        },
    ).wait_ready()
    yield app
    app.stop()


def photo(name):
    analysis = FaceEngine(MODELS).analyse((FACES / f"{name}.jpg").read_bytes())
    return analysis.image, analysis.landmarks


def jpeg(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def train(app, user_id, frames):
    """Send the frames until success, fail or a closed socket; the replies and whether it closed."""
    ws = app.ws("flow_socket", "/face_train")
    ws.send(json.dumps({"user_id": user_id, "type": "face_train", "hash": ""}))
    replies = []
    for frame in frames:
        try:
            ws.send_binary(jpeg(frame))
            replies.append(json.loads(ws.recv()))
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
            return replies, True
        if replies[-1]["message"] in ("success", "fail"):
            break
    try:
        ws.settimeout(10)
        closed = ws.recv() in ("", None) or not ws.connected
    except (websocket.WebSocketConnectionClosedException, ConnectionResetError):
        closed = True
    return replies, closed


def test_a_photo_swap_is_never_enrolled_and_the_connection_ends_with_fail(app):
    frames, _ = splices.sequence_with_target("photo_swap", *photo("biden"), 0, n=LIMIT)
    replies, closed = train(app, "biden", frames)
    assert all(r["message"] != "success" for r in replies), replies
    assert all(r.get("reason") == "not_live" for r in replies), replies
    assert {r.get("liveness") for r in replies} & {"face_changed", "discontinuous"}, replies
    assert len(replies) == LIMIT and replies[-1]["message"] == "fail" and closed, replies[-1]


def test_a_still_photo_ends_with_fail_after_the_frame_limit(app):
    image, _ = photo("obama_1")
    replies, closed = train(app, "obama", [image] * (LIMIT + 3))
    assert [r["message"] for r in replies] == ["continue"] * (LIMIT - 1) + ["fail"], replies
    assert replies[0]["liveness"] == "collecting" and replies[-1]["reason"] == "not_live"
    assert closed


def test_a_citizen_who_blinks_is_enrolled(app):
    frames, _ = splices.sequence_with_target("bona_fide_blink", *photo("astronaut"), 5, n=12)
    replies, _ = train(app, "astronaut", frames + frames[-1:] * 4)
    assert replies[-1]["message"] == "success", [
        (r["message"], r.get("liveness"), r.get("reason")) for r in replies
    ]
    waiting = [r.get("liveness") for r in replies if r.get("reason") == "not_live"]
    assert "blink_or_turn" in waiting, waiting  # the front end was told what to wait for
