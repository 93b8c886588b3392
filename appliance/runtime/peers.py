"""Synchronous calls from one process to a worker: the one client that workers (face →
liveness, dialogue → speech, face/dialogue → sync) and the CLI use.

``Peers(settings).call(worker, op, fields, payloads)`` sends one request with the
worker's timeout from TIMEOUTS and returns ``(reply, payload frames)``; a worker that
is not in ``supervisor.workers`` fails at once with NotEnabled and the same words the
gateway answers a client with. A socket serves one call at a time (ZeroMQ sockets are not
thread-safe) and is reused from a pool; ``close()`` closes them all when the caller stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from . import bus, endpoints

TIMEOUTS: dict[str, Callable[[Settings], float]] = {
    # a transcription of speech.max_seconds of audio on a loaded two-core CPU
    "speech": lambda s: 120.0,
    # the technician's enrolment of a folder of photos runs as one request
    "face": lambda s: 120.0,
    # one frame's liveness cues; the face worker fails closed (not live) past it
    "liveness": lambda s: 10.0,
    # the sync worker waits up to twice the upstream's timeout plus its grace: wait a little longer
    "sync": lambda s: s.tencent.timeout * 2 + 10.0,
}
"""Seconds a caller waits for each worker; any other worker: limits.bus_timeout."""

NOT_ENABLED = {
    "face": "face recognition is not enabled on this kiosk",
    "speech": "speech recognition not available",
    "dialogue": "the citizen's flow is not enabled on this kiosk",
}
"""What a caller is told when the worker is not in supervisor.workers (the gateway says the same)."""


class NotEnabled(bus.BusError):
    """The capability's worker is not in supervisor.workers."""

    code = "not_enabled"

    def __init__(self, worker: str):
        self.reason = not_enabled(worker)
        super().__init__(self.reason)


def not_enabled(worker: str) -> str:
    return NOT_ENABLED.get(worker, f"the {worker} worker is not enabled on this kiosk")


def timeout_for(settings: Settings, worker: str) -> float:
    rule = TIMEOUTS.get(worker)
    return rule(settings) if rule else settings.limits.bus_timeout


class Peers:
    """The workers this process may call. Sockets are pooled: a call borrows an idle one (or opens
    one) and gives it back, so threads that come and go (one per audio handshake) leak none, and at
    most one socket per concurrent call is open."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._idle: dict[str, list[bus.BusClient]] = {}
        self._open: list[bus.BusClient] = []
        self._lock = threading.Lock()

    def enabled(self, worker: str) -> bool:
        return worker in self.settings.supervisor.workers

    def call(
        self, worker: str, op: str, fields: dict[str, Any] | None = None, payloads: bus.Payloads = ()
    ) -> tuple[dict[str, Any], list]:
        """The worker's reply; raises NotEnabled, or a bus.BusError (unavailable, timeout, busy,
        RemoteError with the worker's error code)."""
        if not self.enabled(worker):
            raise NotEnabled(worker)
        client = self._borrow(worker)
        try:
            return client.request(op, fields, payloads)
        finally:  # a late reply to a timed-out request is skipped by the next one (ids differ)
            with self._lock:
                self._idle.setdefault(worker, []).append(client)

    def _borrow(self, worker: str) -> bus.BusClient:
        with self._lock:
            idle = self._idle.get(worker)
            if idle:
                return idle.pop()
        client = bus.BusClient(
            endpoints.worker_requests(self.settings.runtime_dir, worker),
            timeout=timeout_for(self.settings, worker),
        )
        with self._lock:
            self._open.append(client)
        return client

    def open_sockets(self) -> int:
        return len(self._open)

    def close(self) -> None:
        """Close every socket; call once no call is in progress."""
        with self._lock:
            clients, self._open, self._idle = self._open, [], {}
        for client in clients:
            client.close()
