"""Supervisor: start to READY, and a worker's restart after kill -9.

References, measured in the same run: a fresh interpreter that only imports
and loads what the slowest worker loads (its floor: no bus, no supervisor),
and the same floor for the face worker for the restart.  The ratio is what
process management, the bus handshake and readiness reporting add.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .service import ROOT, Service
from .stats import figure

FLOORS = {
    "face": "from appliance.face.engine import FaceEngine; FaceEngine(M)",
    "speech": ("from appliance.speech.stt import SpeechToText; from appliance.speech.tts import TextToSpeech; "
               "SpeechToText(M); TextToSpeech(M)"),
    "gateway": "import appliance.gateway.server",
    "dialogue": "import appliance.workers.dialogue",
}


def floor_seconds(worker: str, models_dir) -> float:
    """Wall time of a fresh interpreter doing only the worker's imports and model loads."""
    code = f"from pathlib import Path; M = Path({str(models_dir)!r}); " + FLOORS.get(worker, "import appliance.runtime.worker")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t0


def restart_after_kill(service: Service, name: str, timeout: float = 120.0) -> float:
    """Seconds from SIGKILL of the worker to the supervisor reporting a new pid ready."""
    old = service.worker(name)["pid"]
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        w = service.worker(name)
        if w.get("pid") not in (None, old) and w.get("state") == "ready":
            return time.perf_counter() - t0
        time.sleep(0.02)
    raise RuntimeError(f"{name} not ready again {timeout} s after kill -9")


def run(service: Service, workers: list[str], models_dir, quick: bool) -> dict:
    floors = {w: floor_seconds(w, models_dir) for w in workers if w in ("face", "speech")}
    slowest = max(floors, key=floors.get) if floors else "gateway"
    floor = floors.get(slowest) or floor_seconds(slowest, models_dir)
    out = {"start_to_ready": figure(service.ready_s * 1000, "ms", floor * 1000,
                                    f"fresh python loading {slowest} alone", n=1,
                                    note=f"workers {','.join(workers)}")}
    rounds = 1 if quick else 3
    times = [restart_after_kill(service, "face") for _ in range(rounds)]
    times.sort()
    out["face_restart_after_kill9"] = figure(times[len(times) // 2] * 1000, "ms", floors["face"] * 1000,
                                             "fresh python loading the face engine", n=rounds,
                                             note="includes the supervisor's restart backoff")
    return out
