"""ports.metrics: ``GET /metrics`` in Prometheus' text format, and the flow port's timing middleware.

A scrape asks the supervisor for its snapshot and the sync worker for its outbox summary (both with a
short timeout, both off the citizens' workers' queues: the supervisor answers from memory, sync's
summary is one grouped COUNT), then renders. The port is optional: a kiosk whose metrics port is taken
still serves citizens, says so in the log, and the fleet sees the scrape fail.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..config import Settings
from ..runtime import bus
from . import fleet, recorder

log = logging.getLogger(__name__)

BUS_TIMEOUT = 1.0
"""Seconds a scrape waits for the supervisor or the sync worker; a missing part is left out."""
OUTBOX_ITEMS = 20
"""Open items read to find the oldest (they come in id order: the first open one is the oldest)."""


class _Families:
    """A collector over families already built for this scrape."""

    def __init__(self, families: list):
        self.families = families

    def collect(self):
        return iter(self.families)


class MetricsPage:
    def __init__(self, backends, settings: Settings, rec: recorder.Recorder):
        self.backends, self.settings, self.recorder = backends, settings, rec

    async def _ask(self, client, op: str, fields: dict[str, Any] | None = None) -> dict | None:
        try:
            reply, _ = await client.request(op, fields, timeout=BUS_TIMEOUT)
            return reply
        except bus.BusError as exc:
            log.debug("metrics: %s did not answer: %s", op, exc)
            return None

    async def families(self) -> list:
        snapshot = await self._ask(self.backends.supervisor, "status")
        out = fleet.supervisor_families(snapshot, self.settings)
        sync = self.backends.clients.get("sync")
        if sync is not None:
            status = await self._ask(sync, "status", {"limit": OUTBOX_ITEMS})
            if not (status or {}).get("outbox"):  # a sync worker of the time before the common `status` op
                status = await self._ask(sync, "sync.status", {"limit": OUTBOX_ITEMS})
            out += fleet.outbox_families((status or {}).get("outbox"))
        return out + fleet.host_families(self.settings, self.backends.inflight())

    async def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(await self.families()))
        return generate_latest(self.recorder.registry) + generate_latest(registry)

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=await self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        return app


async def start(
    page: MetricsPage, bind: str, port: int, middlewares: list
) -> tuple[web.AppRunner | None, int]:
    """Serve the page; (None, 0) and an error in the log when the port cannot be opened."""
    app = page.app()
    app.middlewares.extend(middlewares)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, bind, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        log.error(
            "no metrics: cannot listen on %s:%d (ports.metrics): %s; the kiosk serves on", bind, port, exc
        )
        return None, 0
    return runner, runner.addresses[0][1]


# -- port 10925: one count and one latency per POST ------------------------------------------------
def flow_operation(body: dict[str, Any]) -> str:
    """The operation a checked flow body asks for (handshake by its input kind)."""
    kind = body.get("type")
    if kind == "handshake":
        given = body.get("input")
        audio = isinstance(given, dict) and given.get("type") == "audio"
        return "handshake_audio" if audio else "handshake_text"
    return kind if kind in ("storage", "summary") else "flow"


def status_outcome(status: int, reply_type: str | None) -> str:
    if status == 202:
        return "processing"
    if status == 503:
        return "busy"
    if status == 413:
        return "too_large"
    if status == 403:
        return "forbidden"
    if status == 501:
        return "not_enabled"
    return "ok" if status < 400 and reply_type != "error" else "error"


def flow_middleware(rec: recorder.Recorder):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.method != "POST":
            return await handler(request)
        started = time.perf_counter()
        response = await handler(request)
        operation = request.get("operation", "flow")
        reply = _json(response) if operation.startswith("handshake") else {}
        rec.operation(operation, status_outcome(response.status, reply.get("type")), started)
        if operation.startswith("handshake") and response.status == 200:
            rec.handshake(reply, operation.split("_")[1])
        return response

    return middleware


def _json(response: web.StreamResponse) -> dict:
    body = getattr(response, "body", None)
    if not isinstance(body, (bytes, bytearray)) or len(body) > 1 << 20:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def services_of(settings: Settings) -> frozenset[str]:
    """The catalogue's service names: the only values the handshake's `service` label may take."""
    from ..dialogue.catalogue import CatalogueError, load_catalogue

    try:
        return frozenset(s.classify for s in load_catalogue(settings.path("services")).services)
    except (OSError, CatalogueError, ValueError) as exc:
        log.warning("metrics: no service catalogue (%s); handshakes counted as `other`", exc)
        return frozenset()


async def serve(
    backends, settings: Settings, ports: dict[str, int], middlewares: list
) -> web.AppRunner | None:
    """The gateway's one call: the recorder (with the catalogue's names) and the metrics port."""
    rec = recorder.get()
    rec.services = services_of(settings)
    page = MetricsPage(backends, settings, rec)
    runner, port = await start(page, settings.ports.metrics_bind, settings.ports.metrics, middlewares)
    if runner is not None:
        ports["metrics"] = port
    return runner
