"""The camera's series from a running camera worker: up while it delivers frames, its fps and frames;
down (0) while it has no camera, the service staying up."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from harness import ROOT, Appliance, free_port

sys.path.insert(0, str(Path(__file__).parent))

from test_fleet_metrics import samples, scrape, value  # noqa: E402


def wait_page(app, condition, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        page = samples(scrape(app))
        if condition(page) or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def test_camera_up_fps_and_frames(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    for i in range(4):
        shutil.copy(ROOT / "tests" / "data" / "faces" / "obama_2.jpg", stills / f"{i:03d}.jpg")
    env = {
        "APPLIANCE_CAMERA_SOURCE": f"stills:{stills}",
        "APPLIANCE_CAMERA_FPS": "8",
        "APPLIANCE_PORTS_EVENT_FEED": str(free_port()),
    }
    app = Appliance(workers="camera,face,gateway", env=env).wait_ready()
    try:
        page = wait_page(app, lambda p: value(p, "kiosk_camera_fps") > 0)
        assert value(page, "kiosk_camera_up") == 1 and value(page, "kiosk_camera_fps") > 0
        first = value(page, "kiosk_camera_frames_total")
        later = wait_page(app, lambda p: value(p, "kiosk_camera_frames_total") > first)
        assert value(later, "kiosk_camera_frames_total") > first > 0
        # frames that never reached the recogniser: a counter from the face worker (how many depends
        # on the machine's pace; the counting itself is tested in test_workers_recognition.py)
        assert ("kiosk_camera_frames_dropped_total", ()) in later
        assert value(later, "kiosk_camera_frames_dropped_total") >= 0
    finally:
        app.stop()


def test_no_camera_is_down_and_the_kiosk_serves(tmp_path):
    env = {"APPLIANCE_CAMERA_SOURCE": "v4l2:/dev/video-none", "APPLIANCE_PORTS_EVENT_FEED": str(free_port())}
    app = Appliance(workers="camera,gateway", env=env).wait_ready()
    try:
        page = wait_page(app, lambda p: ("kiosk_camera_up", ()) in p)
        assert value(page, "kiosk_camera_up") == 0 and ("kiosk_camera_up", ()) in page
        assert value(page, "kiosk_worker_up", worker="camera") == 1  # the worker runs, its camera does not
    finally:
        app.stop()
