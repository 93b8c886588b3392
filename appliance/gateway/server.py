"""The gateway process: one asyncio loop, three aiohttp sites, a heartbeat
that comes from the same loop (so a wedged loop goes quiet).

A ServiceWorker like the others (ready, heartbeats, a fatal reason, a warm
spare); what it serves is HTTP and WebSocket instead of bus requests, so it
overrides ``serve``. Its heartbeat counts HTTP requests (in flight, answered,
the oldest's age); a WebSocket counts once, when it opens, since a citizen's
socket may rightly stay open for minutes."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import logging
import os
import signal
from typing import Any

from aiohttp import web

from ..config import Settings
from ..metrics import http as metrics_http
from ..metrics import recorder as metrics_recorder
from ..runtime import logs
from ..runtime.worker import CannotStart, Control, ServiceWorker
from . import replies, wsutil
from .backends import Backends
from .cors import cors, websocket_origin
from .feed import EventFeed
from .flow_http import FlowHttp
from .flow_socket import FlowSockets
from .kiosk import KioskPages
from .origins import OriginPolicy
from .tool import ToolSockets

log = logging.getLogger(__name__)


def client_filter(allow: tuple[str, ...]):
    """Refuse (403) clients outside ports.allow_clients, before any WebSocket upgrade."""
    networks = [ipaddress.ip_network(item, strict=False) for item in allow]

    @web.middleware
    async def middleware(request: web.Request, handler):
        if networks:
            try:
                address = ipaddress.ip_address(request.remote or "")
            except ValueError:
                address = None
            if address is None or not any(address in net for net in networks):
                log.warning("refused a client at %s (not in ports.allow_clients)", request.remote)
                return replies.error(
                    None,
                    "this client is not allowed (ports.allow_clients)",
                    status=403,
                    code="forbidden_client",
                )
        return await handler(request)

    return middleware


class PortError(CannotStart):
    """A port cannot be opened; restarting will not help."""


class GatewayWorker(ServiceWorker):
    name = "gateway"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.ports: dict[str, int] = {}
        self.feed: EventFeed | None = None
        self._request_ids = itertools.count()

    def status(self) -> dict[str, Any]:
        return {
            "ports": self.ports,
            "pid": os.getpid(),
            **({"event_feed": self.feed.status()} if self.feed else {}),
        }

    def serve(self, control: Control) -> None:
        asyncio.run(self._main(control))

    @web.middleware
    async def _metered(self, request: web.Request, handler):
        """Every HTTP request in the heartbeat; a WebSocket only as it opens (see the module's note)."""
        key = str(next(self._request_ids))
        self.meter.begin(key)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self.meter.end(key)
            return await handler(request)
        try:
            return await handler(request)
        finally:
            self.meter.end(key)

    async def _main(self, control: Control) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        backends = Backends(self.settings)
        limits = self.settings.limits
        apps = {
            "tool": ToolSockets(backends, self.settings).app(),
            "flow_socket": FlowSockets(backends, self.settings).app(),
            "flow_http": FlowHttp(backends).app(limits.max_http_body),
        }
        apps["flow_http"].middlewares.insert(0, metrics_http.flow_middleware(metrics_recorder.get()))
        if self.peers.enabled("camera"):  # the kiosk's own events, SE-box style
            self.feed = EventFeed(self.settings)
            apps["event_feed"] = self.feed.app()
        KioskPages(backends, self.settings, self.ports).routes(apps["flow_http"])  # /kiosk/, /kiosk/status
        allowed = client_filter(self.settings.ports.allow_clients)
        policy = OriginPolicy(self.settings.ports.allow_origins, self.settings.ports.flow_http)
        for key, app in apps.items():
            app.middlewares.insert(0, logs.correlation_middleware())
            app.middlewares.insert(0, allowed)
            app.middlewares.insert(0, self._metered)
            # outermost: a browser must be able to read every reply, the client filter's refusals included
            app.middlewares.insert(0, cors(policy) if key == "flow_http" else websocket_origin(policy, key))
        if not ipaddress.ip_address(self.settings.ports.bind).is_loopback:
            log.warning(
                "ports bound to %s: citizens' data is reachable from the network (ports.allow_remote); "
                "allowed clients: %s",
                self.settings.ports.bind,
                list(self.settings.ports.allow_clients) or "any",
            )
        runners = []
        try:
            for key, app in apps.items():
                runners.append(await self._serve_app(key, app))
            runners += [
                r for r in [await metrics_http.serve(backends, self.settings, self.ports, [allowed])] if r
            ]
            policy.page_port = self.ports["flow_http"]  # ports.flow_http = 0 picks one: "self" is that one
            self.report_ready(control)
            log.info("gateway listening on %s %s", self.settings.ports.bind, self.ports)
            await self._beat(control, stop)
        finally:
            await wsutil.close_all()
            for runner in runners:
                await runner.cleanup()
            await backends.close()

    async def _serve_app(self, key: str, app: web.Application) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        port = getattr(self.settings.ports, key)
        site = web.TCPSite(runner, self.settings.ports.bind, port, reuse_address=True, backlog=512)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EACCES:
                raise PortError(
                    f"cannot listen on port {port} (ports.{key}): ports below 1024 need root or "
                    "CAP_NET_BIND_SERVICE (the systemd unit grants it)"
                ) from None
            if exc.errno == errno.EADDRINUSE:
                raise OSError(f"port {port} (ports.{key}) is already in use") from None
            raise
        self.ports[key] = runner.addresses[0][1]  # the site's first socket (its only site)
        return runner

    async def _beat(self, control: Control, stop: asyncio.Event) -> None:
        interval = self.settings.supervisor.heartbeat_interval
        while not stop.is_set():
            control.beat(self.meter.heartbeat(self.status()))
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
