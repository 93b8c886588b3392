"""The one place that spells bus addresses and on-disk file names.

Every worker binds one ROUTER for requests (``ipc://<run>/<worker>.req``).
The supervisor binds a PULL for workers' control messages (ready, heartbeat),
a ROUTER for status requests, and the event proxy (workers publish into
XSUB, subscribers read from XPUB).  No other module builds an address.
"""

from __future__ import annotations

from pathlib import Path

# unix socket paths are limited to ~107 bytes; keep names short.
_IPC_LIMIT = 100

DATABASE_FILE = "appliance.sqlite3"
"""The SQLite database inside paths.data_dir."""


def _ipc(runtime_dir: Path, name: str) -> str:
    path = Path(runtime_dir) / name
    if len(str(path)) > _IPC_LIMIT:
        raise ValueError(
            f"runtime dir {runtime_dir} is too long for a unix socket path; choose a shorter one"
        )
    return f"ipc://{path}"


def worker_requests(runtime_dir: Path, worker: str) -> str:
    """Where a worker's ROUTER listens for requests."""
    return _ipc(runtime_dir, f"{worker}.req")


def supervisor_control(runtime_dir: Path) -> str:
    """PUSH→PULL: workers tell the supervisor they are ready and alive."""
    return _ipc(runtime_dir, "supervisor.ctl")


def supervisor_requests(runtime_dir: Path) -> str:
    """The supervisor's ROUTER: status of every worker."""
    return worker_requests(runtime_dir, "supervisor")


def events_in(runtime_dir: Path) -> str:
    """Publishers connect a PUB here (the proxy's XSUB)."""
    return _ipc(runtime_dir, "events.in")


def events_out(runtime_dir: Path) -> str:
    """Subscribers connect a SUB here (the proxy's XPUB)."""
    return _ipc(runtime_dir, "events.out")


def camera_frames(runtime_dir: Path) -> str:
    """The camera worker's own PUB (high-water mark 2: consumers get the newest frame)."""
    return _ipc(runtime_dir, "camera.frames")


def database_path(data_dir: Path) -> Path:
    return Path(data_dir) / DATABASE_FILE


TTS_CACHE_DIR = "tts-cache"
"""Synthesised fixed prompts (speech/ttscache.py) inside paths.data_dir: survives restarts."""


def tts_cache_dir(data_dir: Path) -> Path:
    return Path(data_dir) / TTS_CACHE_DIR


# Event topics (first frame of every PUB/SUB message).
TOPIC_ENROLLED = b"face.enrolled"
TOPIC_RECOGNISED = b"face.recognised"
TOPIC_FRAME = b"camera.frame"
"""Header {frame_id, ts, shape, source}; one payload: the BGR pixels."""
TOPIC_SEBOX = b"sebox.recognised"
"""An SE box identified someone (header: event_id, identity_id, identity_name, user_type, score 0–100,
device_id, timestamp_ms, source "sebox"; one payload frame, the face crop, when images are kept)."""
