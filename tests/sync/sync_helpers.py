"""Helpers of the sync tests: the simulators as real processes, enrolment over
port 444, and the sync worker's status over the bus."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness import MODELS, ROOT, free_port
from PIL import Image

from appliance.runtime import bus, endpoints

FACES = ROOT / "tests" / "data" / "faces"
TOKEN = "test-token-1234"


def variant(name: str, op: str, quality: int = 90) -> bytes:
    """A second "frame" of the same person, made by geometry."""
    img = Image.open(FACES / name).convert("RGB")
    if op == "mirror":
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif op == "rot":
        img = img.rotate(5, fillcolor=(128, 128, 128))
    elif op == "crop":
        img = img.crop((img.width // 20, img.height // 20, img.width * 19 // 20, img.height * 19 // 20))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def frames_of(name: str) -> list[bytes]:
    return [variant(name, op) for op in ("none", "mirror", "rot", "crop")]


class SimProcess:
    """One simulator subprocess with its HTTP control endpoints."""

    def __init__(self, kind: str, args: list[str], log: Path, port: int | None = None):
        self.kind, self.args, self.log_path = kind, args, log
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> SimProcess:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"appliance.simulators.{self.kind}", "--port", str(self.port), *self.args],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.state()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"{self.kind} simulator did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        if self.proc is not None:
            self.log.close()
        self.proc = None

    def control(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method="GET" if body is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def state(self) -> dict:
        return self.control("/_sim/state")


def tencent_sim(tmp: Path, journal: Path, port: int | None = None) -> SimProcess:
    return SimProcess(
        "tencent",
        ["--token", TOKEN, "--journal", str(journal), "--models", str(MODELS)],
        tmp / "tencent-sim.log",
        port,
    )


def sync_env(base_url: str, **extra: str) -> dict:
    return {
        "APPLIANCE_TENCENT_ENABLED": "true",
        "APPLIANCE_TENCENT_BASE_URL": base_url,
        "APPLIANCE_TENCENT_TOKEN": TOKEN,
        "APPLIANCE_TENCENT_TIMEOUT": "3",
        "APPLIANCE_SYNC_BACKOFF_BASE": "0.2",
        "APPLIANCE_SYNC_BACKOFF_MAX": "1",
        "APPLIANCE_SYNC_RECORD_WAIT": "0.3",
        "APPLIANCE_SYNC_RECONCILE_INTERVAL": "2",
        "APPLIANCE_SYNC_MAX_FAILURES": "2",
        **extra,
    }


def sync_request(app, op: str, fields: dict | None = None, timeout: float = 10.0) -> dict:
    client = bus.BusClient(endpoints.worker_requests(app.dir / "run", "sync"), timeout=timeout)
    try:
        return client.request(op, fields or {})[0]
    finally:
        client.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # e.g. the worker restarting: try again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def train(app, user_id: str, frames: list[bytes]) -> dict:
    """face_train over port 444 until success."""
    ws = app.ws("flow_socket", "/")
    try:
        ws.send(json.dumps({"user_id": user_id, "hash": "", "type": "face_train"}))
        reply: dict = {}
        for frame in frames:
            ws.send_binary(frame)
            reply = json.loads(ws.recv())
            if reply["message"] == "success":
                return reply
        raise AssertionError(f"face_train of {user_id} did not succeed: {reply}")
    finally:
        ws.close()
