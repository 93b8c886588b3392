"""The kiosk's own recognition events, served in the SE box's protocol (seed 001).

A client connects, sends its configuration (`with_face_image`,
`with_register_image`, `media_device_ids`); until then the server says
nothing. Then it receives one JSON record per recognition. No WebSocket
pings are sent: the seed's reference client reads with `recv_data(4096)`,
which hands control frames to the caller, and would choke on a ping.

Backpressure: one client that stops reading must not stall the others.
Every client has its own bounded queue (`limits.feed_queue_bytes`) and its
own sender task; the bus pump only appends to queues and never waits on a
socket. A client whose queue overflows, or whose socket accepts nothing for
`limits.feed_send_timeout` seconds, is dropped (logged, counted in
`/health`): its connection is aborted, since its stream may end mid-frame.
A peer that vanished without a FIN is found by TCP keepalive and
TCP_USER_TIMEOUT (pings are not an option, see above), and every
connection is read all the time, so a close or a reset is seen at once.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import socket

import zmq
import zmq.asyncio
from aiohttp import WSMsgType, web

from ..config import Settings
from ..runtime import bus, endpoints
from . import codes, replies, wsutil

log = logging.getLogger(__name__)

CONFIG_TIMEOUT = 300.0
"""Seconds a client has to send its configuration before it is dropped."""
SEND_BUFFER = 256 * 1024
"""Kernel send buffer of one feed connection: bounds what a stuck client pins in
the kernel (autotuning would let it grow to megabytes) and makes it show up fast."""
KEEPALIVE = (30, 10, 3)
"""TCP keepalive: first probe after 30 s idle, then every 10 s, dead after 3 unanswered."""
USER_TIMEOUT_MS = 60_000
"""Sent data unacknowledged this long (a peer that vanished mid-transfer): the kernel drops it."""


def parse_config(text: str) -> dict | str:
    """The client's configuration, or why it is refused."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        return "the configuration must be a JSON object"
    if not isinstance(config, dict):
        return "the configuration must be a JSON object"
    ids = config.get("media_device_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return "media_device_ids must be a list of strings"
    flags = {k: config.get(k, False) for k in ("with_face_image", "with_register_image")}
    if not all(isinstance(v, bool) for v in flags.values()):
        return "with_face_image and with_register_image must be true or false"
    return {**flags, "media_device_ids": set(ids)}


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def wanted(record: dict, config: dict) -> bool:
    ids = config["media_device_ids"]
    return not ids or record.get("media_device_id") in ids  # an empty list means every camera


def render(record: dict, payloads: list[bytes], config: dict) -> str | None:
    """The record as this client asked for it, or None if its cameras are not wanted."""
    if not wanted(record, config):
        return None
    out = dict(record)
    if config["with_face_image"] and payloads and payloads[0]:
        out["recognize_face_image"] = data_uri(payloads[0])
    if config["with_register_image"] and len(payloads) > 1 and payloads[1]:
        out["register_image"] = data_uri(payloads[1])
    return replies.dumps(out)


def tune_socket(request: web.Request) -> None:
    """Keepalive, user timeout and a bounded send buffer on this connection (Linux options)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        return
    idle, interval, count = KEEPALIVE
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER),
    ]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError as exc:  # not fatal: the send timeout still catches a stuck client
            log.debug("event feed: socket option %s not set: %s", option, exc)


class FeedClient:
    """One configured connection: its own queue and its own sender task."""

    def __init__(self, feed: EventFeed, ws: web.WebSocketResponse, request: web.Request, config: dict):
        self.feed, self.ws, self.config = feed, ws, config
        self.peer = request.remote or "?"
        self.transport = request.transport
        self.queue: collections.deque[str] = collections.deque()
        self.queued_bytes = 0
        self.dropped = False
        self._ready = asyncio.Event()
        self.task = asyncio.ensure_future(self._send_loop())

    def offer(self, text: str) -> None:
        """Queue one record; a client that cannot keep up is dropped instead of waited for."""
        limit = self.feed.settings.limits.feed_queue_bytes
        if self.queue and self.queued_bytes + len(text) > limit:
            self.drop("slow", f"fell {len(self.queue)} records ({self.queued_bytes} bytes) behind")
            return
        self.queue.append(text)
        self.queued_bytes += len(text)
        self._ready.set()

    async def _send_loop(self) -> None:
        timeout = self.feed.settings.limits.feed_send_timeout
        while not self.dropped:
            await self._ready.wait()
            self._ready.clear()
            while self.queue and not self.dropped:
                text = self.queue.popleft()
                self.queued_bytes -= len(text)
                try:
                    await asyncio.wait_for(self.ws.send_str(text), timeout)
                except TimeoutError:
                    self.drop("slow", f"accepted nothing for {timeout:.0f}s")
                    return
                except (ConnectionError, RuntimeError) as exc:  # reset, or closed under us
                    self.drop("dead", f"{type(exc).__name__}: {exc}")
                    return
                self.feed.stats["sent"] += 1

    def drop(self, why: str, detail: str) -> None:
        """Abort the connection: after a timed-out send its stream may end mid-frame."""
        if self.dropped:
            return
        self.dropped = True
        self.queue.clear()
        self.queued_bytes = 0
        self.feed.stats[f"dropped_{why}"] += 1
        log.warning("event feed: dropped the client at %s (%s): %s", self.peer, why, detail)
        if self.transport is not None:
            self.transport.abort()
        if asyncio.current_task() is not self.task:
            self.task.cancel()


class EventFeed:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.clients: dict[web.WebSocketResponse, FeedClient] = {}
        self.stats = {"sent": 0, "dropped_slow": 0, "dropped_dead": 0}
        self._pump: asyncio.Task | None = None

    def status(self) -> dict:
        """For the gateway's heartbeat (and so /health)."""
        lag = max((c.queued_bytes for c in self.clients.values()), default=0)
        return {"clients": len(self.clients), "max_queued_bytes": lag, **self.stats}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # compress=False: base64 images hardly shrink, and a compressed send cannot be abandoned cleanly
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=65536, timeout=2.0, compress=False)
        await ws.prepare(request)
        tune_socket(request)
        wsutil.OPEN.add(ws)
        if self._pump is None:
            self._pump = asyncio.ensure_future(self.pump())
        try:
            first = await ws.receive(timeout=CONFIG_TIMEOUT)
        except TimeoutError:
            await ws.close(message=b"no configuration")
            return ws
        try:
            async for msg in _chain(first, ws):  # read for ever: a close or a reset ends the client
                if msg.type != WSMsgType.TEXT:
                    break
                config = parse_config(msg.data)
                if isinstance(config, str):
                    await wsutil.send_json(
                        ws, codes.annotate({"type": "error", "reason": config}, code="bad_feed_config")
                    )
                    break
                client = self.clients.get(ws)
                if client is None:
                    self.clients[ws] = FeedClient(self, ws, request, config)
                else:
                    client.config = config  # a later configuration replaces the earlier one
        finally:
            client = self.clients.pop(ws, None)
            if client is not None and not client.dropped:
                client.dropped = True
                client.task.cancel()
        if not ws.closed:
            await ws.close()
        return ws

    async def pump(self) -> None:
        """Fan the bus's recognition events out to the clients' queues; never waits on a client."""
        ctx = zmq.asyncio.Context.instance()
        sock = bus.subscriber(self.settings.runtime_dir, [endpoints.TOPIC_RECOGNISED], ctx)
        assert isinstance(sock, zmq.asyncio.Socket)  # made by the asyncio context
        try:
            while True:
                frames = await sock.recv_multipart()
                record, payloads = bus.decode(frames[1:])
                rendered: dict[tuple[bool, bool], str | None] = {}  # one encoding per image choice
                for client in list(self.clients.values()):
                    if client.dropped or not wanted(record, client.config):
                        continue
                    key = (client.config["with_face_image"], client.config["with_register_image"])
                    if key not in rendered:
                        rendered[key] = render(record, payloads, {**client.config, "media_device_ids": ()})
                    text = rendered[key]
                    assert text is not None  # rendered with media_device_ids=(): every camera is wanted
                    client.offer(text)
        except (asyncio.CancelledError, zmq.ZMQError):
            pass
        finally:
            sock.close(linger=0)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app


async def _chain(first, ws):
    yield first
    async for msg in ws:
        yield msg
