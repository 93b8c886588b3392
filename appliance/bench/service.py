"""The real service started for measuring: `appliance run` as a subprocess on free
ports, temporary data/runtime dirs and a fake systemd (a NOTIFY_SOCKET we read).

Written for the bench (the test harness has its own): it keeps the moment each
notify line arrived, so start-to-READY is measured from the Popen call to the
datagram, not from a polling loop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..config import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One `appliance run` with the given workers; ``ready_s`` once READY=1 arrived."""

    def __init__(self, settings: Settings, workers: str, extra_env: dict | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="kb-"))  # short: unix socket paths are limited
        self.ports = {
            "tool": free_port(),
            "flow_socket": free_port(),
            "flow_http": free_port(),
            "metrics": free_port(),
        }
        self.runtime_dir = self.dir / "run"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_") and k != "WATCHDOG_USEC"}
        if settings.source:
            env["APPLIANCE_CONFIG"] = settings.source
        env.update(
            {
                "APPLIANCE_PATHS_DATA_DIR": str(self.dir / "data"),
                "APPLIANCE_PATHS_RUNTIME_DIR": str(self.runtime_dir),
                "APPLIANCE_PATHS_MODELS_DIR": str(settings.models_dir),
                "APPLIANCE_SUPERVISOR_WORKERS": workers,
                "APPLIANCE_SUPERVISOR_HEARTBEAT_INTERVAL": "0.2",
                "APPLIANCE_SUPERVISOR_HEARTBEAT_TIMEOUT": "5",
                "APPLIANCE_SUPERVISOR_BACKOFF_MAX": "0.5",
                "APPLIANCE_LOGGING_LEVEL": "WARNING",
                "NOTIFY_SOCKET": str(self.dir / "notify"),
                **{f"APPLIANCE_PORTS_{k.upper()}": str(v) for k, v in self.ports.items()},
                **(extra_env or {}),
            }
        )
        self.env = env
        self.lines: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(env["NOTIFY_SOCKET"])
        self._sock.settimeout(0.1)
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.log = open(self.dir / "service.log", "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.ready_s: float | None = None

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self._sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            now = time.perf_counter()
            self.lines.extend((now, line) for line in data.decode().splitlines())

    def wait_ready(self, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            for at, line in list(self.lines):
                if line == "READY=1":
                    self.ready_s = at - self.started
                    return self.ready_s
            time.sleep(0.01)
        raise RuntimeError(f"service not READY (exit {self.proc.poll()}): {self.logtail()}")

    def logtail(self) -> str:
        self.log.flush()
        return (self.dir / "service.log").read_text(errors="replace")[-3000:]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports['flow_http']}{path}"

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(self.url("/health"), timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")

    def worker(self, name: str) -> dict:
        return next((w for w in self.health().get("workers", []) if w["name"] == name), {})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stop = True
        self._reader.join(1)
        self._sock.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
