"""Small helpers shared by the two WebSocket ports."""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from aiohttp import WSCloseCode, web

from ..runtime import bus
from . import codes, replies
from .backends import describe, is_transient

OPEN: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
"""Every open WebSocket, so a shutdown can say goodbye (1001) instead of waiting on them."""

HANDSHAKE_TIMEOUT = 30.0
"""Seconds a flow-socket client has to send its handshake."""


HARD_LIMIT_FACTOR = 2
"""Frames up to the configured limit are processed; up to twice it they are
answered with a `too_large` reason (the connection stays usable); larger ones
drop the connection (1009) before they are even read whole."""


async def open_socket(request: web.Request, max_size: int) -> web.WebSocketResponse:
    # heartbeat: pings find dead peers (a kiosk front end that crashed) so they don't pile up
    # timeout: how long close() waits for the peer's close reply (a vanished client must not hold a handler)
    ws = web.WebSocketResponse(max_msg_size=max_size * HARD_LIMIT_FACTOR, heartbeat=30.0, timeout=2.0)
    await ws.prepare(request)
    OPEN.add(ws)
    return ws


async def close_all(reason: bytes = b"server shutting down") -> None:
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=reason) for ws in list(OPEN)), return_exceptions=True
    )


async def send_json(ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
    """Every JSON frame: UTF-8, Chinese unescaped; a refusal gets its `code` and `message_zh`."""
    if not ws.closed:
        await ws.send_str(replies.dumps(codes.annotate(payload)))


async def refuse(ws: web.WebSocketResponse, reason: str, code: int = WSCloseCode.POLICY_VIOLATION) -> None:
    """One error frame, then close: the answer to a bad socket handshake."""
    await send_json(ws, codes.annotate({"type": "error", "reason": reason}, fallback="bad_handshake"))
    await ws.close(code=code, message=reason[:120].encode())


def bus_failure(exc: bus.BusError, worker: str) -> dict[str, Any]:
    """An error frame for a failed worker call; `retry` tells the client it may resend."""
    return {
        "type": "busy" if is_transient(exc) else "error",
        "reason": describe(exc, worker),
        "retry": is_transient(exc),
        "code": codes.from_bus(exc.code),
    }


def too_large(data: bytes | str, limit: int) -> str:
    """A reason when a frame exceeds its limit, else ''."""
    size = len(data)
    return f"frame of {size} bytes exceeds the limit of {limit}" if size > limit else ""


def parse_json_object(text: str) -> dict[str, Any] | None:
    """A JSON object of valid Unicode (a \\ud800 escape spells a lone surrogate no UTF-8 can
    carry), or None."""
    try:
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (json.JSONDecodeError, RecursionError, UnicodeEncodeError):
        return None
    return value if isinstance(value, dict) else None
