"""Start the real appliance as a subprocess on free ports, a temporary data
dir and a fake NOTIFY_SOCKET, and talk to it like its clients do."""

from __future__ import annotations

import json
import os
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

import websocket

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifyListener:
    """A fake systemd: a datagram socket that records what the service says."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self) -> list[str]:
        return [line for _, line in list(self.messages)]

    def wait_for(self, line: str, timeout: float, alive=lambda: True) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if line in self.lines():
                return True
            time.sleep(0.05)
        return line in self.lines()

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


class Appliance:
    """One running `appliance run`."""

    def __init__(
        self,
        workers: str = "dialogue,face,speech,gateway",
        env: dict | None = None,
        watchdog_usec: int | None = None,
    ):
        self.dir = Path(tempfile.mkdtemp(prefix="ka-"))  # short: unix socket paths are limited
        # metrics too: the default 9925 would be shared by every appliance a test run starts
        self.ports = {
            "tool": free_port(),
            "flow_socket": free_port(),
            "flow_http": free_port(),
            "metrics": free_port(),
        }
        self.env = {
            **os.environ,
            "APPLIANCE_CONFIG": str(ROOT / "firmware-config" / "appliance.toml"),
            "APPLIANCE_PATHS_DATA_DIR": str(self.dir / "data"),
            "APPLIANCE_PATHS_RUNTIME_DIR": str(self.dir / "run"),
            "APPLIANCE_PATHS_MODELS_DIR": str(MODELS),
            "APPLIANCE_SUPERVISOR_WORKERS": workers,
            "APPLIANCE_SUPERVISOR_HEARTBEAT_INTERVAL": "0.2",
            "APPLIANCE_SUPERVISOR_HEARTBEAT_TIMEOUT": "3",
            "APPLIANCE_SUPERVISOR_BACKOFF_MAX": "0.5",
            "APPLIANCE_LOGGING_LEVEL": "INFO",
            # no TTS prewarm: each test's speech worker would synthesise every fixed prompt for minutes
            # of CPU, starving the other tests on 2 cores (the cache's own tests turn it on)
            "APPLIANCE_SPEECH_TTS_CACHE_MB": "0",
            # no warm spares: each would load every model a second time (speech: ~40 s of CPU) in each
            # appliance a test starts; the tests of spares and of recovery under kill -9 turn them on
            "APPLIANCE_SUPERVISOR_SPARES": "",
            "NOTIFY_SOCKET": str(self.dir / "notify"),
            **{f"APPLIANCE_PORTS_{k.upper()}": str(v) for k, v in self.ports.items()},
            **(env or {}),
        }
        self.env.pop("WATCHDOG_USEC", None)
        if watchdog_usec:
            self.env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.notify = NotifyListener(self.dir / "notify")
        self.log = open(self.dir / "appliance.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def wait_ready(self, timeout: float = 180.0) -> Appliance:
        if not self.notify.wait_for("READY=1", timeout, alive=lambda: self.proc.poll() is None):
            raise AssertionError(
                f"not READY within {timeout}s (exit code {self.proc.poll()}); log:\n{self.logtext()}"
            )
        return self

    def logtext(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.dir / "appliance.log").read_text(errors="replace")[-6000:]

    # -- clients -----------------------------------------------------------
    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports['flow_http']}{path}"

    def post(self, path: str, body, timeout: float = 60.0) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.url(path), data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        return _open(request, timeout)

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, dict]:
        return _open(urllib.request.Request(self.url(path)), timeout)

    def health(self) -> dict:
        return self.get("/health")[1]

    def ws(self, port: str, path: str, timeout: float = 60.0) -> websocket.WebSocket:
        conn = DeadlineWebSocket()
        conn.settimeout(timeout)
        conn.connect(f"ws://127.0.0.1:{self.ports[port]}{path}")
        return conn

    def worker_pid(self, name: str) -> int | None:
        for worker in self.health().get("workers", []):
            if worker["name"] == name:
                return worker["pid"]
        return None

    def wait_healthy(self, timeout: float = 120.0, predicate=None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = self.health()
            except OSError:
                health = {}
            if health.get("healthy") and (predicate is None or predicate(health)):
                return health
            time.sleep(0.1)
        raise AssertionError(f"not healthy within {timeout}s: {health}\n{self.logtext()}")

    def pids(self) -> list[int]:
        return [self.proc.pid] + [w["pid"] for w in self.health()["workers"] if w["pid"]]

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        self.log.close()
        return self.proc.returncode


def _open(request, timeout) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body else {}


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def assert_closed_by_server(ws: websocket.WebSocket) -> None:
    """The next thing on the socket is the server's close (or the socket is gone)."""
    try:
        opcode, _ = ws.recv_data(control_frame=True)
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return
    assert opcode == websocket.ABNF.OPCODE_CLOSE, f"expected a close frame, got opcode {opcode}"


class DeadlineWebSocket(websocket.WebSocket):
    """``recv()`` gives up after the socket's timeout even while the server sends pings.

    websocket-client answers a ping inside ``recv()`` and starts its wait over, so against the
    gateway's heartbeat a frame that never came left a test waiting forever instead of failing."""

    def recv(self):
        deadline = time.monotonic() + (self.gettimeout() or 60.0)
        while True:
            opcode, frame = self.recv_data_frame(control_frame=True)
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                if time.monotonic() > deadline:
                    raise websocket.WebSocketTimeoutException("only pings within the timeout")
                continue
            if opcode == websocket.ABNF.OPCODE_TEXT:
                return frame.data.decode("utf-8")
            return frame.data if opcode == websocket.ABNF.OPCODE_BINARY else ""
