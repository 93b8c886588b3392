"""Bus clients to the workers the gateway talks to."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..runtime import bus, endpoints
from ..runtime.peers import NotEnabled  # the same refusal, in the same words, as every other caller gets
from ..store.sessions import new_hash  # noqa: F401  (connection ids: the same 128-bit tokens)


class Backends:
    def __init__(self, settings: Settings):
        self.settings = settings
        run = settings.runtime_dir
        timeout = settings.limits.bus_timeout
        self.clients = {
            name: bus.AsyncBusClient(endpoints.worker_requests(run, name), timeout)
            for name in settings.supervisor.workers
            if name != "gateway"
        }
        self.supervisor = bus.AsyncBusClient(endpoints.supervisor_requests(run), timeout=2.0)

    def enabled(self, worker: str) -> bool:
        return worker in self.clients

    async def call(
        self,
        worker: str,
        op: str,
        fields: dict[str, Any] | None = None,
        payloads=(),
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], list[bytes]]:
        client = self.clients.get(worker)
        if client is None:
            raise NotEnabled(worker)
        return await client.request(op, fields, payloads, timeout)

    def inflight(self) -> dict[str, int]:
        return {name: client.inflight for name, client in self.clients.items()}

    async def close(self) -> None:
        for client in [*self.clients.values(), self.supervisor]:
            await client.close()


def describe(exc: bus.BusError, worker: str) -> str:
    """A reason a front-end developer can act on."""
    if isinstance(exc, bus.WorkerUnavailable):
        return f"the {worker} worker is restarting; try again in a few seconds"
    if isinstance(exc, bus.BusTimeout):
        return f"the {worker} worker did not answer in time"
    if isinstance(exc, bus.WorkerBusy):
        return f"the {worker} worker is overloaded"
    return str(exc)


def is_transient(exc: bus.BusError) -> bool:
    """Worth retrying: the protocol's `busy`."""
    return isinstance(exc, (bus.WorkerUnavailable, bus.BusTimeout, bus.WorkerBusy))
