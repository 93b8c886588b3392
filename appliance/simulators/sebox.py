"""A simulator of the SE-series AI box's real-time recognition feed (seed 001).

    python -m appliance.simulators.sebox --port 5679 [--rate 2] [--devices ID,ID] [--images DIR]
    appliance simulate sebox --port 5679 --rate 2

Speaks the seed's protocol: ``ws://host:port`` (any path); says nothing
after the connection opens; a client must first send its configuration, in
the seed's dialect (``with_face_image``, ``with_register_image``,
``media_device_ids``) or SOPHON's (``need_face``, ``need_register``,
``event_list``); then each record goes to every configured client whose
camera list is empty or names the record's ``media_device_id``, with the
images that client asked for (base64 JPEG with the ``data:image/jpeg;base64,``
prefix; ``spot_pic``/``reg_pic`` for SOPHON clients).

Control (HTTP on the same port), for tests and technicians:
- ``POST /_sim/push``  ``{"records": [...]}`` sends these records as they are
  (add images with ``"images": true``), or ``{"count": n, "variant":
  "seed"|"example"|"sophon", "device_id": ...}`` generates n records;
  answers ``{"sent": {connection: [event ids]}}``.
- ``POST /_sim/drop``  ``{"how": "abort"|"close"}`` drops every connection
  (abort: the TCP link dies without a close frame, as when a cable is pulled).
- ``POST /_sim/malformed`` sends a non-JSON frame, a JSON array, a record
  without a timestamp and one with a non-numeric score to every configured
  client.
- ``GET /_sim/state``  connections, configurations received, records sent.

``--rate R`` also pushes a generated record every R seconds (a demo feed).
Variants: ``seed`` has every field of the seed's table (score 0–100);
``example`` is the seed's own example (no event_id or user_type, ``reg_pic``,
score 0–1); ``sophon`` uses person_type 1–5, group_name, spot_pic/reg_pic.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import logging
import random
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from ..data import FACES_DIR

log = logging.getLogger("sebox-sim")

DEFAULT_DEVICES = ("04f98265-1fad-47e5-9dda-66e191272055", "f9f0768f-497c-45f3-9307-ae80a9d89390")
PEOPLE = (
    ("100000", "小王", "employee", 1),
    ("666666", "小明", "visitor", 2),
    ("", "", "stranger", 4),
    ("200001", "张三", "vip", 5),
)


def default_images_dir() -> Path:
    return FACES_DIR


def load_images(folder: Path | None) -> list[bytes]:
    """Real JPEGs to send (the test photos by default); a generated one if none exist."""
    if folder is not None and folder.is_dir():
        images = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]
        if images:
            return images
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (112, 112), (180, 140, 120)).save(out, "JPEG")
    return [out.getvalue()]


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


class Client:
    """One connected WebSocket and what it asked for."""

    ids = itertools.count(1)

    def __init__(self, ws: web.WebSocketResponse, peer: str, transport):
        self.id = next(self.ids)
        self.ws = ws
        self.transport = transport
        self.peer = peer
        self.config: dict | None = None
        self.dialect = ""
        self.sent: list[str] = []

    def configure(self, config: dict) -> None:
        self.config = config
        self.dialect = (
            "sophon" if any(k in config for k in ("need_face", "need_register", "event_list")) else "seed"
        )

    @property
    def devices(self) -> list:
        if self.config is None:
            return []
        return list(self.config.get("event_list" if self.dialect == "sophon" else "media_device_ids") or [])

    def wants(self, record: dict) -> bool:
        devices = self.devices
        return self.config is not None and (not devices or record.get("media_device_id") in devices)

    def frame(self, record: dict, face: bytes | None, register: bytes | None) -> str:
        """The record as this client asked for it: images only if configured."""
        out = dict(record)
        cfg = self.config or {}
        want_face = cfg.get("need_face" if self.dialect == "sophon" else "with_face_image", False)
        want_reg = cfg.get("need_register" if self.dialect == "sophon" else "with_register_image", False)
        face_key, reg_key = (
            ("spot_pic", "reg_pic")
            if self.dialect == "sophon"
            else ("recognize_face_image", "register_image")
        )
        if want_face and face is not None:
            out[face_key] = data_uri(face)
        if want_reg and register is not None:
            out[reg_key] = data_uri(register)
        return json.dumps(out, ensure_ascii=False)


class SeboxSimulator:
    def __init__(self, devices: tuple[str, ...] = DEFAULT_DEVICES, images: list[bytes] | None = None):
        self.devices = devices
        self.images = images or load_images(default_images_dir())
        self.clients: dict[int, Client] = {}
        self.configs: list[dict] = []
        self.connections = 0
        self.sent = 0
        self._counter = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_sim/state", self.state)
        app.router.add_post("/_sim/push", self.push)
        app.router.add_post("/_sim/drop", self.drop)
        app.router.add_post("/_sim/malformed", self.malformed)
        app.router.add_get("/{tail:.*}", self.websocket)
        return app

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        client = Client(ws, request.remote or "?", request.transport)
        self.clients[client.id] = client
        self.connections += 1
        log.info("client %d connected from %s", client.id, client.peer)
        try:
            async for message in ws:  # the box only ever reads configurations
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    config = json.loads(message.data)
                    if not isinstance(config, dict):
                        raise ValueError("not an object")
                except ValueError:
                    log.warning("client %d sent a configuration that is not a JSON object", client.id)
                    continue
                client.configure(config)
                self.configs.append({"client": client.id, **config})
                log.info("client %d configured (%s): %s", client.id, client.dialect, config)
        finally:
            self.clients.pop(client.id, None)
            log.info("client %d gone", client.id)
        return ws

    # -- records -----------------------------------------------------------------------
    def generate(self, variant: str = "seed", device_id: str | None = None) -> dict:
        n = next(self._counter)
        identity_id, name, user_type, person_type = PEOPLE[n % len(PEOPLE)]
        device = device_id or self.devices[n % len(self.devices)]
        timestamp = int(time.time() * 1000) + n  # distinct even when generated within one millisecond
        if variant == "example":  # the seed's own example record
            return {
                "reg_pic": "",
                "media_device_ip": "192.168.1.243",
                "media_device_type": "rtsp",
                "identity_id": identity_id,
                "media_device_id": device,
                "score": round(random.uniform(0.5, 0.99), 4),
                "timestamp": timestamp,
                "identity_name": name,
            }
        if variant == "sophon":
            return {
                "event_id": uuid.uuid4().hex,
                "timestamp": timestamp,
                "identity_id": identity_id,
                "identity_name": name,
                "person_type": person_type,
                "group_name": "默认分组",
                "score": round(random.uniform(60, 99), 2),
                "media_device_ip": "192.168.1.101",
                "media_device_id": device,
                "media_device_type": "rtsp",
            }
        return {
            "event_id": str(uuid.uuid4()),
            "timestamp": timestamp,
            "identity_id": identity_id,
            "identity_name": name,
            "user_type": user_type,
            "score": round(random.uniform(60, 99), 2),
            "media_device_ip": "192.168.1.101",
            "media_device_id": device,
            "media_device_type": "rtsp",
            "recognize_face_attr": {"gender": "male", "age": 30, "glasses": False},
        }

    async def send(self, record: dict, with_images: bool = True) -> dict[int, str]:
        """Send one record to every configured client that wants it."""
        face = self.images[hash(str(record.get("timestamp"))) % len(self.images)] if with_images else None
        register = self.images[0] if with_images else None
        key = str(record.get("event_id") or record.get("timestamp"))
        delivered = {}
        for client in list(self.clients.values()):
            if not client.wants(record) or client.ws.closed:
                continue
            try:
                await client.ws.send_str(client.frame(record, face, register))
            except (ConnectionError, RuntimeError):
                continue
            client.sent.append(key)
            delivered[client.id] = key
            self.sent += 1
        return delivered

    async def push(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        records = body.get("records")
        if records is None:
            records = [
                self.generate(body.get("variant", "seed"), body.get("device_id"))
                for _ in range(int(body.get("count", 1)))
            ]
        sent: dict[int, list] = {}
        for record in records:
            for client_id, key in (await self.send(record, bool(body.get("images", True)))).items():
                sent.setdefault(client_id, []).append(key)
        return web.json_response({"sent": sent, "records": records})

    async def drop(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        dropped = 0
        for client in list(self.clients.values()):
            if body.get("how", "abort") == "close":
                await client.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"simulated drop")
            else:
                if client.transport is not None:
                    client.transport.abort()
            dropped += 1
        return web.json_response({"dropped": dropped})

    async def malformed(self, _request: web.Request) -> web.Response:
        frames = [
            "this is not JSON {",
            json.dumps([1, 2, 3]),
            json.dumps({"event_id": "no-ts", "identity_id": "1", "score": 80}),
            json.dumps({"event_id": "bad-score", "timestamp": int(time.time() * 1000), "score": "high"}),
        ]
        count = 0
        for client in list(self.clients.values()):
            if client.config is None:
                continue
            for frame in frames:
                await client.ws.send_str(frame)
                count += 1
        return web.json_response({"sent": count})

    async def state(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "connections": self.connections,
                "sent": self.sent,
                "configs": self.configs,
                "clients": [
                    {
                        "id": c.id,
                        "configured": c.config is not None,
                        "dialect": c.dialect,
                        "sent": len(c.sent),
                    }
                    for c in self.clients.values()
                ],
            },
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    async def feed(self, rate: float, variant: str) -> None:
        while True:
            await asyncio.sleep(rate)
            await self.send(self.generate(variant))


def serve(
    host: str, port: int, devices: tuple[str, ...], images: str | None, rate: float, variant: str
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sebox-sim %(levelname)s %(message)s")
    simulator = SeboxSimulator(devices, load_images(Path(images) if images else default_images_dir()))
    app = simulator.app()
    if rate > 0:

        async def start_feed(app):
            app["feed"] = asyncio.create_task(simulator.feed(rate, variant))

        app.on_startup.append(start_feed)
    log.info("SE box simulator on ws://%s:%d (cameras %s)", host, port, ", ".join(devices))
    web.run_app(app, host=host, port=port, print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="appliance.simulators.sebox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5679)
    parser.add_argument("--devices", default=",".join(DEFAULT_DEVICES), help="camera ids (comma-separated)")
    parser.add_argument(
        "--images", help="folder of JPEG faces to send (default: the photos shipped in appliance/data/faces)"
    )
    parser.add_argument("--rate", type=float, default=0.0, help="push a generated record every RATE seconds")
    parser.add_argument("--variant", default="seed", choices=("seed", "example", "sophon"))
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        tuple(d for d in args.devices.split(",") if d),
        args.images,
        args.rate,
        args.variant,
    )


if __name__ == "__main__":
    main()
