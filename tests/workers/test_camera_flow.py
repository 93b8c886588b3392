"""The kiosk's own camera: stills and a video file through the capture worker, one
recognition event per person per visit, and the seed's reference client on the feed."""

import json
import sqlite3
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import websocket
from harness import ROOT, Appliance

from appliance.camera.sources import SourceError, make_source, transform

FACES = ROOT / "tests" / "data" / "faces"


def scene(name: str | None) -> np.ndarray:
    frame = np.zeros((480, 640, 3), np.uint8)
    if name:
        frame = transform(cv2.imread(str(FACES / name)), 640, 480, 0, False)
    return frame


def write_visits(folder, visits):
    """stills: one image per frame — a person for a while, then nobody."""
    folder.mkdir()
    index = 0
    for name, count in visits:
        for _ in range(count):
            cv2.imwrite(str(folder / f"{index:04d}.png"), scene(name))
            index += 1


@pytest.fixture
def enrolled_data(tmp_path):
    """A data dir where obama is already enrolled (offline, through the CLI)."""
    data = tmp_path / "data"
    env = {
        "APPLIANCE_PATHS_DATA_DIR": str(data),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "r"),
        "APPLIANCE_PATHS_MODELS_DIR": str(ROOT / "models"),
    }
    flipped = tmp_path / "obama_flip.jpg"
    cv2.imwrite(str(flipped), cv2.flip(cv2.imread(str(FACES / "obama_1.jpg")), 1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "enrol",
            "obama",
            str(FACES / "obama_1.jpg"),
            str(flipped),
            str(FACES / "obama_2.jpg"),
        ],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return data


def test_source_selection_and_errors(tmp_path):
    assert make_source("none", 640, 480, 10) is None
    with pytest.raises(SourceError):
        make_source("floppy:/dev/fd0", 640, 480, 10)
    with pytest.raises(SourceError):
        make_source(f"file:{tmp_path}/missing.mp4", 640, 480, 10).open()
    with pytest.raises(SourceError):
        make_source(f"stills:{tmp_path}", 640, 480, 10).open()
    rotated = transform(np.zeros((100, 200, 3), np.uint8), 640, 480, 90, True)
    assert rotated.shape == (480, 640, 3)


def test_video_file_source_delivers_frames(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(5):
        writer.write(scene("obama_2.jpg"))
    writer.release()
    source = make_source(f"file:{path}", 640, 480, 10, loop=False)
    source.open()
    frames = [source.read() for _ in range(6)]
    assert all(f is not None and f.shape == (480, 640, 3) for f in frames[:5]) and frames[5] is None


def test_one_event_per_visit_and_the_reference_client(tmp_path, enrolled_data):
    stills = tmp_path / "stills"
    # a cycle of 3 s at 8 fps: obama for 0.75 s, nobody for 1.5 s, a stranger for 0.75 s
    write_visits(stills, [("obama_2.jpg", 6), (None, 6), ("biden.jpg", 6), (None, 6)])
    app = Appliance(
        workers="camera,face,gateway",
        env={
            "APPLIANCE_PATHS_DATA_DIR": str(enrolled_data),
            "APPLIANCE_CAMERA_SOURCE": f"stills:{stills}",
            "APPLIANCE_CAMERA_FPS": "8",
            "APPLIANCE_CAMERA_RECOGNISE_FPS": "8",
            "APPLIANCE_CAMERA_VISIT_GAP": "0.5",
            "APPLIANCE_CAMERA_DEVICE_ID": "04f98265-1fad-47e5-9dda-66e191272055",
            "APPLIANCE_PORTS_EVENT_FEED": str(__import__("harness").free_port()),
        },
    )
    try:
        app.wait_ready()
        port = app.env["APPLIANCE_PORTS_EVENT_FEED"]
        # the seed's reference client, unchanged but for the address
        s = websocket.WebSocket()
        s.connect(f"ws://127.0.0.1:{port}")
        config = {
            "with_face_image": True,
            "with_register_image": True,
            "media_device_ids": ["04f98265-1fad-47e5-9dda-66e191272055"],
        }
        s.send(json.dumps(config))
        events = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(events) < 4:
            info = s.recv_data(4096)
            events.append(json.loads(str(info[1], encoding="utf8")))
        kinds = [(e["identity_id"], e["user_type"]) for e in events]
        assert ("obama", "visitor") in kinds and ("", "stranger") in kinds, kinds
        known = next(e for e in events if e["identity_id"] == "obama")
        for key in (
            "event_id",
            "timestamp",
            "identity_name",
            "score",
            "media_device_ip",
            "media_device_id",
            "media_device_type",
        ):
            assert key in known
        assert known["media_device_type"] == "photo" and known["score"] >= 70
        assert known["recognize_face_image"].startswith("data:image/jpeg;base64,")
        assert known["register_image"].startswith("data:image/jpeg;base64,")
        # one event per visit: two obama events are a whole cycle (3 s) apart, never two in one visit
        db = sqlite3.connect(enrolled_data / "appliance.sqlite3")
        times = [
            t
            for (t,) in db.execute(
                "select timestamp_ms from recognition_event where identity_id = 'obama' order by timestamp_ms"
            )
        ]
        assert times and all(b - a > 2000 for a, b in zip(times, times[1:], strict=False)), times
        s.close()
        health = app.health()
        camera = next(w for w in health["workers"] if w["name"] == "camera")
        assert camera["status"]["state"] == "capturing" and camera["status"]["frames"] > 10
    finally:
        app.stop()


def test_no_camera_never_takes_the_service_down():
    app = Appliance(workers="camera,gateway", env={"APPLIANCE_CAMERA_SOURCE": "v4l2:/dev/video-none"})
    try:
        app.wait_ready()
        health = app.wait_healthy()
        camera = next(w for w in health["workers"] if w["name"] == "camera")
        assert camera["status"]["state"] in ("retrying", "starting") and health["healthy"]
    finally:
        app.stop()
