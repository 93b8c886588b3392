"""One real appliance for the browser tests (face, speech, dialogue, gateway on free ports) and the
screenshot folder. Liveness is off for these tests: the camera is a still photo, which the liveness
worker rightly refuses, so `liveness` is left out of supervisor.workers (that is how a technician
switches it off too)."""

import os
import sys
import tempfile
from pathlib import Path

import pytest
import websocket

sys.path.insert(0, str(Path(__file__).parent))  # browser.py

SHOTS = Path(os.environ.get("KIOSK_SCREENSHOTS") or tempfile.mkdtemp(prefix="ka-shots-"))


@pytest.fixture(scope="session")
def kiosk():
    from harness import Appliance

    app = Appliance(workers="dialogue,face,speech,gateway", env={
        "APPLIANCE_FACE_PREDICT_MAX_FRAMES": "6",  # an unknown face is told "fail" after 6 frames, not 20
    })
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
    conn = app.ws("tool", "/tts", timeout=60)
    try:
        conn.send(text)
        opcode, data = conn.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY, data[:200]
        return data
    finally:
        conn.close()
