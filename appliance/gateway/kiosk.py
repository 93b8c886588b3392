"""The reference front end, served on the HTTP port (10925): /kiosk/ and /kiosk/status.

Static files only (HTML, CSS, JavaScript modules in ./static, no build step,
nothing fetched from outside), sent with the headers a security review of a
government kiosk expects: a Content-Security-Policy without 'unsafe-inline'
whose connect-src names exactly the kiosk's two WebSocket ports, no framing,
no referrer, camera and microphone for this page only.

Two small JSON views feed the pages: /kiosk/config.json (the ports the page
talks to) and /kiosk/status.json (the technician view: /health, the outbox,
the latest recognition events). Both are read-only.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import re
from pathlib import Path

import zmq
import zmq.asyncio
from aiohttp import web

from ..config import Settings
from ..runtime import bus, endpoints
from ..workers.ops import Sync
from .backends import Backends

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
NAME = re.compile(r"^[a-z0-9_-]+\.(html|js|css|svg|png)$")
RECENT_EVENTS = 12
TOPIC_KIOSK = endpoints.TOPIC_RECOGNISED.decode()
THUMBNAIL_MAX = 60_000
"""Bytes; larger face images are listed without a thumbnail (the view refreshes every few seconds)."""


def security_headers(host: str, ports: dict[str, int]) -> dict[str, str]:
    """Headers on every page and static file. `host` is the address the browser used."""
    hostname = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    sockets = " ".join(f"ws://{hostname}:{ports[k]}" for k in ("tool", "flow_socket") if k in ports)
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob: data:; connect-src 'self' {sockets}; worker-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), usb=(), payment=()",
        "Cache-Control": "no-cache",
    }


class RecentEvents:
    """The latest recognition events (the kiosk's camera and the SE box) as they pass on the bus."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.items: collections.deque[dict] = collections.deque(maxlen=RECENT_EVENTS)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        ctx = zmq.asyncio.Context.instance()
        topics = [endpoints.TOPIC_RECOGNISED, endpoints.TOPIC_SEBOX]
        sock = bus.subscriber(self.settings.runtime_dir, topics, ctx)
        assert isinstance(sock, zmq.asyncio.Socket)  # made by the asyncio context
        try:
            while True:
                frames = await sock.recv_multipart()
                record, payloads = bus.decode(frames[1:])
                self.add(frames[0].decode(errors="replace"), record, payloads)
        except (asyncio.CancelledError, zmq.ZMQError):
            pass
        finally:
            sock.close(linger=0)

    def add(self, topic: str, record: dict, payloads: list) -> None:
        face = bytes(payloads[0]) if payloads and payloads[0] else b""
        self.items.appendleft(
            {
                "source": record.get("source", "kiosk" if topic == TOPIC_KIOSK else "sebox"),
                "identity_id": record.get("identity_id", ""),
                "user_type": record.get("user_type", ""),
                "score": record.get("score"),
                "timestamp_ms": record.get("timestamp", record.get("timestamp_ms")),
                "device_id": record.get("media_device_id", record.get("device_id", "")),
                "thumbnail": ("data:image/jpeg;base64," + base64.b64encode(face).decode())
                if face and len(face) <= THUMBNAIL_MAX
                else None,
            }
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class KioskPages:
    def __init__(self, backends: Backends, settings: Settings, ports: dict[str, int]):
        self.backends = backends
        self.settings = settings
        self.ports = ports  # the ports actually bound (filled in by the server as sites start)
        self.events = RecentEvents(settings)

    def _ports(self) -> dict[str, int]:
        configured = {k: getattr(self.settings.ports, k) for k in ("tool", "flow_socket", "flow_http")}
        return {**configured, **{k: v for k, v in self.ports.items() if k in configured}}

    async def file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name") or "index.html"
        if name == "status":
            name = "status.html"
        path = STATIC / name
        if not NAME.match(name) or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            headers={"Content-Type": TYPES[path.suffix], **security_headers(request.host, self._ports())},
        )

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/kiosk/")

    async def config(self, request: web.Request) -> web.Response:
        """What the page needs to find the other ports (they are configurable)."""
        face = self.settings.face
        return web.json_response(
            {
                "ports": self._ports(),
                "predict_max_frames": face.predict_max_frames,
                "train_samples": face.train_samples,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def status(self, request: web.Request) -> web.Response:
        """The technician view's data: /health, the outbox backlog, the latest events."""
        out: dict = {"events": list(self.events.items)}
        try:
            health, _ = await self.backends.supervisor.request("status")
            health.pop("id", None)
            health.pop("ok", None)
            out["health"] = health
        except bus.BusError as exc:
            out["health"] = {"healthy": False, "reason": f"supervisor not answering: {exc}", "workers": []}
        if self.backends.enabled("sync"):
            try:
                reply, _ = await self.backends.call("sync", Sync.STATUS, {"limit": 5}, timeout=2.0)
                out["outbox"] = reply.get("outbox")
            except bus.BusError as exc:
                out["outbox"] = {"error": str(exc)}
        return web.json_response(out, headers={"Cache-Control": "no-store"}, dumps=_dumps)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/kiosk", self.redirect)
        app.router.add_get("/kiosk/", self.file)
        app.router.add_get("/kiosk/config.json", self.config)
        app.router.add_get("/kiosk/status.json", self.status)
        app.router.add_get("/kiosk/{name}", self.file)
        app.on_startup.append(self._start_listening)  # from the start: one event per visit, none to miss
        app.on_cleanup.append(lambda _app: self.events.close())

    async def _start_listening(self, _app) -> None:
        self.events.start()


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
