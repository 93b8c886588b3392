"""The special responses of PROTOCOL.md §1.2, always with user_id, type and hash."""

from __future__ import annotations

from typing import Any

from aiohttp import web

RETRY_AFTER = "2"


def ids(body: Any) -> tuple[str, str]:
    """user_id and hash from a request body, whatever shape it has."""
    if not isinstance(body, dict):
        return "", ""
    user_id, hash_ = body.get("user_id"), body.get("hash")
    return (user_id if isinstance(user_id, str) else "", hash_ if isinstance(hash_, str) else "")


def message(body: Any, kind: str, **extra: Any) -> dict[str, Any]:
    user_id, hash_ = ids(body)
    return {"user_id": user_id, "type": kind, "hash": hash_, **extra}


def error(body: Any, reason: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response(message(body, "error", reason=reason, **extra), status=status)


def busy(body: Any, reason: str) -> web.Response:
    return web.json_response(message(body, "busy", reason=reason), status=503,
                             headers={"Retry-After": RETRY_AFTER})


def processing(body: Any) -> web.Response:
    return web.json_response(message(body, "processing"), status=202, headers={"Retry-After": RETRY_AFTER})
