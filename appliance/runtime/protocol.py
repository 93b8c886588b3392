"""The worker protocol, typed once: what a worker tells the supervisor (control
messages and their heartbeat), the states the supervisor keeps for a worker,
and every exit code of the service's processes.

The values are the strings and numbers on the wire and in ``/health``; the
enums are ``str``/``int`` subclasses, so JSON and the shell see no change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class ExitCode(IntEnum):
    """Every exit code of `appliance` and of a worker process (the CLI's too)."""

    OK = 0
    FAIL = 1
    """A check or request failed (CLI)."""
    USAGE = 2
    """Usage or configuration error: `appliance run` with a bad file or database (systemd: do not retry)."""
    BUDGET = 3
    """The supervisor's restart budget ran out: systemd restarts the whole service."""
    START = 4
    """A worker cannot start (it exited with WORKER_CONFIG): restarting would not help."""
    WORKER_CONFIG = 78
    """EX_CONFIG, from a worker: its configuration, a port or a model file is wrong; the supervisor stops."""


class WorkerState(StrEnum):
    """A worker as the supervisor sees it (``/health`` workers[].state)."""

    STARTING = "starting"
    """Spawned (or a spare promoted), not ready yet."""
    READY = "ready"
    BACKOFF = "backoff"
    """Dead, waiting for its restart."""
    STOPPED = "stopped"


class Kind(StrEnum):
    """A control message from a worker to the supervisor."""

    READY = "ready"
    HEARTBEAT = "heartbeat"
    FATAL = "fatal"
    """The worker cannot start; ``reason`` says why (sent once, before it exits WORKER_CONFIG)."""
    SPARE = "spare"
    """A warm spare has loaded and waits to be promoted (see supervisor.spares)."""


@dataclass(frozen=True)
class Heartbeat:
    """What a serving worker reports every supervisor.heartbeat_interval."""

    inflight: int = 0
    """Requests being handled now."""
    handled: int = 0
    """Requests answered since the process started."""
    rss: int = 0
    """Resident memory, bytes."""
    oldest: float = 0.0
    """Seconds the oldest request in flight has run (beyond supervisor.stuck_timeout: stuck)."""
    status: dict[str, Any] = field(default_factory=dict)
    """The worker's own figures (gallery size, ports, counts…)."""

    def fields(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, message: dict[str, Any]) -> Heartbeat:
        """From a control message; missing or malformed figures read as zero."""

        def number(key: str, kind: type) -> Any:
            value = message.get(key, 0)
            return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else kind(0)

        status = message.get("status")
        return cls(
            inflight=number("inflight", int),
            handled=number("handled", int),
            rss=number("rss", int),
            oldest=number("oldest", float),
            status=status if isinstance(status, dict) else {},
        )
