"""One real appliance for the browser tests (face, speech, dialogue, gateway on free ports) and the
screenshot folder. Liveness is off for these tests: the camera is a still photo, which the liveness
worker rightly refuses, so `liveness` is left out of supervisor.workers (that is how a technician
switches it off too)."""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import websocket

sys.path.insert(0, str(Path(__file__).parent))  # browser.py

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
SHOTS = Path(os.environ.get("KIOSK_SCREENSHOTS") or tempfile.mkdtemp(prefix="ka-shots-"))


@pytest.fixture(scope="session")
def kiosk():
    from harness import Appliance, free_port

    stills = Path(tempfile.mkdtemp(prefix="ka-stills-"))  # the kiosk's own camera: someone walking by
    shutil.copy(FACES / "biden.jpg", stills / "0001.jpg")
    app = Appliance(
        workers="camera,dialogue,face,speech,gateway",
        env={
            "APPLIANCE_FACE_PREDICT_MAX_FRAMES": "6",  # an unknown face is told "fail" after 6 frames, not 20
            "APPLIANCE_CAMERA_SOURCE": f"stills:{stills}",
            "APPLIANCE_CAMERA_FPS": "2",
            "APPLIANCE_CAMERA_RECOGNISE_FPS": "1",
            "APPLIANCE_PORTS_EVENT_FEED": str(free_port()),
            # a shared 2-core CI machine can be slow: the page's own timeouts (60-90 s) are what is tested
            "APPLIANCE_LIMITS_BUS_TIMEOUT": "60",
            "APPLIANCE_SUPERVISOR_STUCK_TIMEOUT": "300",
            "APPLIANCE_SUPERVISOR_HEARTBEAT_TIMEOUT": "30",
        },
    )
    try:
        app.wait_ready(240)
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def tts(app, text: str) -> bytes:
    """The kiosk's own voice (/tts on the tool port)."""
    conn = app.ws("tool", "/tts", timeout=120)
    try:
        for _ in range(4):  # a `busy` frame says: send again (a loaded CI machine)
            conn.send(text)
            opcode, data = conn.recv_data()
            if opcode == websocket.ABNF.OPCODE_BINARY:
                return data
            assert json.loads(data)["type"] == "busy", data[:300]
        raise AssertionError(f"/tts stayed busy: {data[:300]!r}")
    finally:
        conn.close()
