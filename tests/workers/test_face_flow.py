"""face_train (444) and /face_predict (3304) end to end with real photos and the real models."""

import io
import json

import pytest
from harness import ROOT, Appliance, assert_closed_by_server
from PIL import Image

FACES = ROOT / "tests" / "data" / "faces"


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def mirrored(name: str) -> bytes:
    """A second frame of the same person: the photo mirrored (as a selfie camera shows it)."""
    out = io.BytesIO()
    Image.open(FACES / name).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="face,gateway", env={"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "3"}).wait_ready()
    yield app
    app.stop()


def train(app, user_id, frames):
    ws = app.ws("flow_socket", "/")
    ws.send(json.dumps({"user_id": user_id, "hash": "", "type": "face_train"}))
    replies = []
    for frame in frames:
        ws.send_binary(frame)
        reply = json.loads(ws.recv())
        replies.append(reply)
        assert reply["type"] == "face_train" and reply["user_id"] == user_id and reply["hash"]
        if reply["message"] == "success":
            break
    return ws, replies


def test_enrol_then_recognise_a_different_photo(app):
    ws, replies = train(app, "obama", [photo("obama_1.jpg"), mirrored("obama_1.jpg"), photo("obama_2.jpg")])
    assert [r["message"] for r in replies] == ["continue", "continue", "success"]
    assert len({r["hash"] for r in replies}) == 1
    assert_closed_by_server(ws)  # the server closes after success

    fp = app.ws("tool", "/face_predict")
    fp.send_binary(photo("obama_3.jpg"))  # a photo the enrolment never saw
    reply = json.loads(fp.recv())
    assert reply["message"] == "success" and reply["user_id"] == "obama", reply
    assert reply["type"] == "face_predict" and reply["hash"] and reply["score"] >= 70


def test_stranger_never_succeeds_then_fail_and_close(app):
    train(
        app, "obama", [photo("obama_1.jpg"), mirrored("obama_1.jpg"), photo("obama_2.jpg")]
    )  # a gallery to miss
    fp = app.ws("tool", "/face_predict")
    replies = []
    for _ in range(3):
        fp.send_binary(photo("biden.jpg"))
        replies.append(json.loads(fp.recv()))
    assert [r["message"] for r in replies] == ["continue", "continue", "fail"]
    assert all(r["user_id"] == "" for r in replies) and replies[0]["reason"] in ("unknown",)
    assert len({r["hash"] for r in replies}) == 1
    assert_closed_by_server(fp)


def test_person_change_restarts_the_count(app):
    _, replies = train(app, "someone", [photo("astronaut.jpg"), photo("biden.jpg"), mirrored("biden.jpg")])
    assert replies[0]["samples"] == 1
    assert replies[1]["reason"] == "person_changed" and replies[1]["samples"] == 1  # biden is the new first
    assert replies[2]["message"] == "continue" and replies[2]["samples"] == 2


def test_face_enrolled_under_another_id_is_reported(app):
    train(app, "obama", [photo("obama_1.jpg"), mirrored("obama_1.jpg"), photo("obama_2.jpg")])
    _, replies = train(app, "impostor-account", [photo("obama_2.jpg")])
    assert replies[0]["reason"] == "enrolled_as_other" and replies[0]["enrolled_as"] == "obama"
    assert replies[0]["message"] == "continue"


def png(width, height, mode="RGB"):
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def cmyk_and_grey():
    img = Image.open(FACES / "obama_2.jpg")
    grey, cmyk = io.BytesIO(), io.BytesIO()
    img.convert("L").save(grey, "JPEG")
    img.convert("CMYK").save(cmyk, "JPEG")
    return grey.getvalue(), cmyk.getvalue()


def test_bad_images_get_a_reason_and_the_socket_stays_usable(app):
    fp = app.ws("tool", "/face_predict")
    grey, cmyk = cmyk_and_grey()
    cases = [
        (b"\x00garbage bytes, not an image" * 10, "bad_image"),
        (photo("obama_2.jpg")[:2000], "bad_image"),  # truncated JPEG
        (png(50_000, 1000, "1"), "bad_image"),  # 50 megapixels, a tiny file
    ]
    # a fresh connection per 3 frames (predict_max_frames = 3)
    for data, reason in cases:
        fp = app.ws("tool", "/face_predict")
        fp.send_binary(data)
        reply = json.loads(fp.recv())
        assert reply["message"] == "continue" and reply["reason"] == reason, reply
        fp.send_binary(grey)  # still usable afterwards: a grayscale photo is analysed
        reply = json.loads(fp.recv())
        assert reply["message"] in ("continue", "success") and reply.get("reason") != "bad_image", reply
    fp = app.ws("tool", "/face_predict")
    fp.send_binary(cmyk)
    assert json.loads(fp.recv()).get("reason") != "bad_image"
    status, health = app.get("/health")
    assert status == 200
