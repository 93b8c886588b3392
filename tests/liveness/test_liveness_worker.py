"""The liveness worker in the real service: observe/forget over the bus, bounded state."""

import numpy as np
import pytest
from harness import Appliance

from appliance.liveness import attacks
from appliance.runtime import bus, endpoints


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="liveness", env={"APPLIANCE_LIVENESS_MAX_SESSIONS": "2"}).wait_ready()
    yield app
    app.stop()


@pytest.fixture
def client(app):
    c = bus.BusClient(endpoints.worker_requests(app.dir / "run", "liveness"), timeout=30)
    yield c
    c.close()


def observe(client, key, frame, face):
    header = {
        "hash": key,
        "box": [float(v) for v in face.box],
        "landmarks": [[float(x), float(y)] for x, y in face.landmarks],
        "image_size": [frame.shape[1], frame.shape[0]],
        "shape": list(frame.shape),
    }
    reply, _ = client.request("observe", header, [np.ascontiguousarray(frame).tobytes()])
    return reply


def present(client, engine, key, frames):
    replies = []
    for frame in frames:
        faces = engine.detector.detect(frame)
        if faces:
            replies.append(observe(client, key, frame, max(faces, key=lambda f: f.area)))
            if replies[-1]["live"] is not None:
                break
    return replies


def test_turning_head_is_live_and_a_print_never_is(client, liveness_engine, liveness_photos):
    image, landmarks = liveness_photos["biden"]
    replies = present(
        client, liveness_engine, "bf", attacks.sequence("bona_fide", image, landmarks, 11, n=12)
    )
    assert replies[0]["live"] is None and replies[0]["reason"] == "collecting" and replies[0]["frames"] == 1
    assert replies[-1]["live"] is True and replies[-1]["reason"] == "live", replies[-1]
    assert 0.5 <= replies[-1]["score"] <= 1 and replies[-1]["cues"]["parallax"] > 0
    replies = present(client, liveness_engine, "pa", attacks.sequence("print", image, landmarks, 12, n=12))
    assert all(r["live"] is not True for r in replies) and replies[-1]["live"] is False, replies[-1]
    again = observe(client, "pa", *_one(liveness_engine, image, landmarks))
    assert again["live"] is False  # a verdict is final for the hash
    assert client.request("observe.close", {"hash": "pa"})[0]["forgot"] is True
    assert observe(client, "pa", *_one(liveness_engine, image, landmarks))["frames"] == 1


def _one(engine, image, landmarks):
    frame = attacks.sequence("bona_fide_still", image, landmarks, 3, n=1)[0]
    return frame, engine.detector.detect(frame)[0]


def test_state_is_bounded_by_max_sessions(client, liveness_engine, liveness_photos):
    frame, face = _one(liveness_engine, *liveness_photos["obama_1"])
    for key in ("s1", "s2", "s3"):  # max_sessions = 2: s1 is evicted
        observe(client, key, frame, face)
    assert observe(client, "s1", frame, face)["frames"] == 1
    assert observe(client, "s3", frame, face)["frames"] == 2
    status, _ = client.request("status")
    assert status["sessions"] == 2 and status["required"] == ["motion"]


@pytest.mark.parametrize(
    "change,words",
    [
        ({"shape": [10, 10, 3]}, "bytes"),
        ({"shape": [10, 10]}, "shape"),
        ({"landmarks": [[1, 2]]}, "landmarks"),
        ({"hash": ""}, "hash"),
        ({"embedding": ["x"] * 128}, "embedding"),
    ],
)
def test_bad_requests_get_a_reason(client, change, words):
    header = {
        "hash": "x",
        "box": [0, 0, 10, 10],
        "landmarks": [[1, 1]] * 5,
        "image_size": [20, 20],
        "shape": [20, 20, 3],
        **change,
    }
    with pytest.raises(bus.BusError) as info:
        client.request("observe", header, [bytes(20 * 20 * 3)])
    assert words in str(info.value)
