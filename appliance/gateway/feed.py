"""The kiosk's own recognition events, served in the SE box's protocol (seed 001).

A client connects, sends its configuration (`with_face_image`,
`with_register_image`, `media_device_ids`); until then the server says
nothing. Then it receives one JSON record per recognition. No WebSocket
pings are sent: the seed's reference client reads with `recv_data(4096)`,
which hands control frames to the caller, and would choke on a ping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import zmq
import zmq.asyncio
from aiohttp import WSMsgType, web

from .. import bus, endpoints
from ..config import Settings
from . import wsutil

log = logging.getLogger(__name__)

CONFIG_TIMEOUT = 300.0
"""Seconds a client has to send its configuration before it is dropped."""


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


def render(record: dict, payloads: list[bytes], config: dict) -> str | None:
    """The record as this client asked for it, or None if its cameras are not wanted."""
    wanted = config["media_device_ids"]
    if wanted and record.get("media_device_id") not in wanted:  # an empty list means every camera
        return None
    out = dict(record)
    if config["with_face_image"] and payloads and payloads[0]:
        out["recognize_face_image"] = data_uri(payloads[0])
    if config["with_register_image"] and len(payloads) > 1 and payloads[1]:
        out["register_image"] = data_uri(payloads[1])
    return json.dumps(out, ensure_ascii=False)


class EventFeed:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.clients: dict[web.WebSocketResponse, dict] = {}
        self._pump: asyncio.Task | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=65536, timeout=2.0)
        await ws.prepare(request)
        wsutil.OPEN.add(ws)
        if self._pump is None:
            self._pump = asyncio.ensure_future(self.pump())
        try:
            first = await ws.receive(timeout=CONFIG_TIMEOUT)
        except asyncio.TimeoutError:
            await ws.close(message=b"no configuration")
            return ws
        async for msg in _chain(first, ws):
            if msg.type != WSMsgType.TEXT:
                break
            config = parse_config(msg.data)
            if isinstance(config, str):
                await ws.send_str(json.dumps({"type": "error", "reason": config}))
                break
            self.clients[ws] = config  # a later configuration replaces the earlier one
        self.clients.pop(ws, None)
        await ws.close()
        return ws

    async def pump(self) -> None:
        """Fan the bus's recognition events out to the configured clients."""
        ctx = zmq.asyncio.Context.instance()
        sock = bus.subscriber(self.settings.runtime_dir, [endpoints.TOPIC_RECOGNISED], ctx)
        try:
            while True:
                frames = await sock.recv_multipart()
                record, payloads = bus.decode(frames[1:])
                for ws, config in list(self.clients.items()):
                    text = render(record, payloads, config)
                    if text is not None and not ws.closed:
                        await ws.send_str(text)
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
