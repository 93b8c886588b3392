"""The ZeroMQ bus: request/reply over DEALER/ROUTER, events over PUB/SUB.

A request is a multipart message: one small JSON header, then raw payload
frames (images, audio) sent without copying.  The header carries ``id``,
``op`` and ``expires`` (when the caller stops waiting); the reply header
carries the same ``id`` and ``ok``.  Every receive has a timeout, and a
request to a worker that is not connected fails at once (``ZMQ_IMMEDIATE``)
instead of queueing for a peer that may never come.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from . import endpoints, logs

log = logging.getLogger(__name__)

Payloads = Sequence[bytes | memoryview | zmq.Frame]

EVENT_HWM = 100
"""Events a slow subscriber may lag behind before old ones are dropped."""
FRAME_HWM = 2
"""Camera frames: a slow consumer gets the newest frame, never a growing queue."""
_ids = itertools.count(1)
_Socket = TypeVar("_Socket", bound=zmq.Socket)
CONNECT_GRACE = 0.25
"""Seconds a new client waits for its first connection before calling a worker unavailable."""
EXPIRES = "expires"
"""Request header: the wall-clock time (epoch seconds) after which the caller no longer waits.
A worker skips a request that waited in its queue past it: nobody would read the answer."""


class BusError(Exception):
    """Base of every bus failure; ``code`` is what the gateway reports."""

    code = "bus_error"


class WorkerUnavailable(BusError):
    """Nobody is listening (the worker is dead, restarting or not configured)."""

    code = "unavailable"


class BusTimeout(BusError):
    """The worker did not answer in time."""

    code = "timeout"


class WorkerBusy(BusError):
    """The worker's queue is full."""

    code = "busy"


class RemoteError(BusError):
    """The worker answered with an error."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder()
# One encoder and decoder for every message: json.dumps with any argument builds a new encoder per call,
# and json.loads of bytes sniffs the encoding first; a header is always UTF-8. Both matter at ~10 µs of
# Python per round trip (`appliance bench`, bus_rtt).


def encode(header: dict[str, Any], payloads: Payloads = ()) -> list:
    first = _ENCODER.encode(header).encode()
    return [first, *payloads] if payloads else [first]


def decode(frames: Sequence[bytes | zmq.Frame]) -> tuple[dict[str, Any], list]:
    """The header (a JSON object; anything else, or bytes that are not UTF-8, raise ValueError) and
    the payload frames."""
    first = frames[0]
    header = _DECODER.decode(str(first.buffer if isinstance(first, zmq.Frame) else first, "utf-8"))
    if not isinstance(header, dict):
        raise ValueError("bus header is not a JSON object")
    return header, list(frames[1:])


def check_reply(header: dict[str, Any]) -> dict[str, Any]:
    """Raise the reply's error, if it is one."""
    if header.get("ok"):
        return header
    code = header.get("error", "error")
    if code == "busy":
        raise WorkerBusy(header.get("reason", "worker queue full"))
    raise RemoteError(code, header.get("reason", "worker error"))


def _dealer(ctx: zmq.Context[_Socket], endpoint: str) -> _Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IMMEDIATE, 1)  # refuse to queue when no worker is connected
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 1000)
    sock.connect(endpoint)
    return sock


class BusClient:
    """Blocking client for the CLI, tests and worker-to-worker calls."""

    def __init__(self, endpoint: str, timeout: float = 10.0, ctx: zmq.Context | None = None):
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx = ctx or zmq.Context.instance()
        self._sock = _dealer(self._ctx, endpoint)
        self._rcvtimeo = -1  # the socket's RCVTIMEO (ms), set only when a request's differs

    def request(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        payloads: Payloads = (),
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], list[bytes]]:
        timeout = self.timeout if timeout is None else timeout
        req_id = f"{os.getpid()}-{next(_ids)}"
        header = {**logs.bus_fields(), **(fields or {}), "id": req_id, "op": op}  # cid: the journey
        header[EXPIRES] = round(time.time() + timeout, 3)
        sock = self._sock
        try:  # the common case: connected, sent at once
            sock.send_multipart(encode(header, payloads), flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # a fresh socket needs a few ms to connect; a worker that is down stays down
            self._send_when_connected(encode(header, payloads), min(timeout, CONNECT_GRACE))
        deadline = time.monotonic() + timeout
        while True:
            # a blocking receive with a timeout: no poller built and torn down per request
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                raise BusTimeout(f"{op}: no answer from {self.endpoint} within {timeout:.1f}s")
            if remaining != self._rcvtimeo:
                sock.setsockopt(zmq.RCVTIMEO, remaining)
                self._rcvtimeo = remaining
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                raise BusTimeout(f"{op}: no answer from {self.endpoint} within {timeout:.1f}s") from None
            reply, payloads = decode(frames)
            if reply.get("id") == req_id:  # older replies belong to timed-out requests
                return check_reply(reply), payloads

    def _send_when_connected(self, frames: list, grace: float) -> None:
        connect_deadline = time.monotonic() + grace
        while True:
            time.sleep(0.01)
            try:
                self._sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return
            except zmq.Again:
                if time.monotonic() >= connect_deadline:
                    raise WorkerUnavailable(f"no worker listening at {self.endpoint}") from None

    def close(self) -> None:
        self._sock.close(linger=0)


class AsyncBusClient:
    """asyncio client for the gateway: many requests in flight on one socket.

    A monitor watches the connection: when the worker goes away, every request
    waiting on it fails at once with WorkerUnavailable instead of waiting for
    its timeout.
    """

    def __init__(self, endpoint: str, timeout: float = 10.0, ctx: zmq.asyncio.Context | None = None):
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx = ctx or zmq.asyncio.Context.instance()
        self._sock = _dealer(self._ctx, endpoint)
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self._pending: dict[str, asyncio.Future] = {}
        self.connected = False
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._watch())]

    @property
    def inflight(self) -> int:
        return len(self._pending)

    async def request(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        payloads: Payloads = (),
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], list]:
        timeout = self.timeout if timeout is None else timeout
        req_id = f"{os.getpid()}-{next(_ids)}"
        header = {**logs.bus_fields(), **(fields or {}), "id": req_id, "op": op}  # cid: the journey
        header[EXPIRES] = round(time.time() + timeout, 3)
        future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            await self._send(encode(header, payloads), min(timeout, CONNECT_GRACE))
            try:
                reply, frames = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise BusTimeout(f"{op}: no answer from {self.endpoint} within {timeout:.1f}s") from None
            return check_reply(reply), frames
        finally:
            self._pending.pop(req_id, None)

    async def _send(self, frames: list, grace: float) -> None:
        connect_deadline = time.monotonic() + grace
        while True:
            try:
                await self._sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return
            except zmq.Again:
                if time.monotonic() >= connect_deadline:
                    raise WorkerUnavailable(f"no worker listening at {self.endpoint}") from None
                await asyncio.sleep(0.01)

    async def _read(self) -> None:
        while True:
            try:
                frames = await self._sock.recv_multipart(copy=False)
                reply, payloads = decode(frames)
            except (zmq.ZMQError, asyncio.CancelledError):
                return
            except ValueError:
                log.warning("undecodable reply on %s dropped", self.endpoint)
                continue
            future = self._pending.get(reply.get("id", ""))
            if future is not None and not future.done():
                future.set_result((reply, [f.bytes for f in payloads]))

    async def _watch(self) -> None:
        while True:
            try:
                event = parse_monitor_message(await self._monitor.recv_multipart())
            except (zmq.ZMQError, asyncio.CancelledError):
                return
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connected = True
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self.connected = False
                self._fail_pending()

    def _fail_pending(self) -> None:
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(WorkerUnavailable(f"worker at {self.endpoint} went away"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=0)


class Publisher:
    """PUB into the supervisor's event proxy."""

    def __init__(self, runtime_dir, ctx: zmq.Context | None = None, hwm: int = EVENT_HWM):
        self._sock = (ctx or zmq.Context.instance()).socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 500)
        self._sock.connect(endpoints.events_in(runtime_dir))

    def publish(self, topic: bytes, header: dict[str, Any], payloads: Payloads = ()) -> None:
        try:
            self._sock.send_multipart([topic, *encode(header, payloads)], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # nobody keeping up: events are dropped, never queued without bound
            log.debug("event %s dropped (high-water mark)", topic)

    def close(self) -> None:
        self._sock.close()


def subscriber(
    runtime_dir,
    topics: Sequence[bytes],
    ctx: zmq.Context | None = None,
    hwm: int = EVENT_HWM,
    endpoint: str | None = None,
) -> zmq.Socket:
    """A SUB on the event proxy (or on `endpoint`); receive with ``decode(frames[1:])``."""
    sock = (ctx or zmq.Context.instance()).socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    for topic in topics:
        sock.setsockopt(zmq.SUBSCRIBE, topic)
    sock.connect(endpoint or endpoints.events_out(runtime_dir))
    return sock
