"""/face_predict with the liveness worker: a photo held up to the camera never succeeds;
a head that turns (a rendered 3-D head textured with the enrolled person's photo) does."""

import json

import cv2
import pytest
from harness import MODELS, ROOT, Appliance

from appliance.face.engine import FaceEngine
from appliance.liveness.attacks import sequence

FACES = ROOT / "tests" / "data" / "faces"


@pytest.fixture(scope="module")
def app():
    app = Appliance(
        workers="face,liveness,gateway", env={"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "16"}
    ).wait_ready()
    yield app
    app.stop()


def jpeg(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def predict(app, frames):
    fp = app.ws("tool", "/face_predict")
    replies = []
    for frame in frames:
        fp.send_binary(jpeg(frame))
        replies.append(json.loads(fp.recv()))
        if replies[-1]["message"] in ("success", "fail"):
            break
    return fp, replies


def enrol(app):
    ws = app.ws("flow_socket", "/face_train")
    ws.send(json.dumps({"user_id": "obama", "type": "face_train", "hash": ""}))
    frames = sequence("bona_fide", *obama_frames(), seed=11, n=16)
    for frame in frames:
        ws.send_binary(jpeg(frame))
        reply = json.loads(ws.recv())
        if reply["message"] == "success":
            return reply
    raise AssertionError(f"no enrolment: {reply}")


_cache = {}


def obama_frames():
    if "obama" not in _cache:
        analysis = FaceEngine(MODELS).analyse((FACES / "obama_2.jpg").read_bytes())
        _cache["obama"] = (analysis.image, analysis.landmarks)
    return _cache["obama"]


def test_liveness_gates_enrolment_and_recognition(app):
    # a still photo, a static frame sent again and again: never enrolled
    ws = app.ws("flow_socket", "/face_train")
    ws.send(json.dumps({"user_id": "obama", "type": "face_train", "hash": ""}))
    for _ in range(4):
        ws.send_binary((FACES / "obama_1.jpg").read_bytes())
        reply = json.loads(ws.recv())
        assert reply["message"] == "continue" and reply["reason"] == "not_live", reply
    ws.close()
    assert enrol(app)["message"] == "success"  # a head that turns is enrolled

    # a printed photo moved in front of the camera: never success, fail after 16 frames
    _, replies = predict(app, sequence("print", *obama_frames(), seed=21, n=16) * 2)
    assert all(r["message"] != "success" for r in replies), replies
    assert any(r.get("reason") == "not_live" for r in replies)

    # the live (turning) head is recognised
    fp, replies = predict(app, sequence("bona_fide", *obama_frames(), seed=31, n=16))
    assert replies[-1]["message"] == "success" and replies[-1]["user_id"] == "obama", replies
    assert any(r.get("reason") == "not_live" for r in replies[:-1])  # liveness came first
