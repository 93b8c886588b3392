"""The special responses of PROTOCOL.md §1.2, always with user_id, type and hash,
and the one JSON encoder of every HTTP answer: UTF-8, Chinese unescaped
(`charset=utf-8`), a refusal annotated with its `code` and `message_zh`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import codes

RETRY_AFTER = "2"


def dumps(value: Any) -> str:
    """JSON as a Chinese front-end developer reads it in curl: 护照, not \\u62a4\\u7167."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from a request: only a \\u escape can carry it
        return json.dumps(value)
    return text


def respond(
    payload: Any, status: int = 200, headers: dict | None = None, code: str | None = None
) -> web.Response:
    """Every JSON answer of port 10925 goes out here."""
    if isinstance(payload, dict):
        payload = codes.annotate(payload, code=code, status=status)
    # json_response sets `application/json; charset=utf-8`
    return web.json_response(payload, status=status, headers=headers, dumps=dumps)


def ids(body: Any) -> tuple[str, str]:
    """user_id and hash from a request body, whatever shape it has."""
    if not isinstance(body, dict):
        return "", ""
    user_id, hash_ = body.get("user_id"), body.get("hash")
    return (user_id if isinstance(user_id, str) else "", hash_ if isinstance(hash_, str) else "")


def message(body: Any, kind: str, **extra: Any) -> dict[str, Any]:
    user_id, hash_ = ids(body)
    return {"user_id": user_id, "type": kind, "hash": hash_, **extra}


def error(body: Any, reason: str, status: int = 400, code: str | None = None, **extra: Any) -> web.Response:
    return respond(message(body, "error", reason=reason, **extra), status=status, code=code)


def busy(body: Any, reason: str, code: str | None = None) -> web.Response:
    return respond(
        message(body, "busy", reason=reason), status=503, headers={"Retry-After": RETRY_AFTER}, code=code
    )


def processing(body: Any) -> web.Response:
    return respond(message(body, "processing"), status=202, headers={"Retry-After": RETRY_AFTER})
