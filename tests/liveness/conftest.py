"""Shared fixtures of the liveness tests: the face engine, the real photos, the API simulator."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from appliance.face.engine import FaceEngine
from appliance.liveness.evaluate import load_photos

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def liveness_engine() -> FaceEngine:
    return FaceEngine(ROOT / "models")


@pytest.fixture(scope="session")
def liveness_photos(liveness_engine) -> dict:
    """name -> (BGR image, 5 landmarks) of every real test photo."""
    return load_photos(liveness_engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    """The silent-liveness API simulator, a real process on a free port."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/aipaas/live/v1/detection/silent"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appliance.simulators.liveness_api",
                "--port",
                str(self.port),
                "--app-id",
                "app-1",
                "--authorization",
                "secret-1",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.requests()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("simulator did not start")

    def configure(self, **behaviour) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_sim/config",
            method="POST",
            data=json.dumps(behaviour).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def requests(self) -> list:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_sim/requests", timeout=5) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self.configure(score=0.98, error=None, delay=0.0, http_status=None, count=None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def liveness_api():
    sim = Simulator()
    yield sim
    sim.stop()
