"""Browser-facing middlewares: CORS on the HTTP port, the Origin check on WebSocket upgrades.

A page's `fetch()` POST with a JSON body is preceded by a CORS preflight
(`OPTIONS`); without an answer the browser never sends the request. Every
reply to an allowed origin, errors included, carries
`Access-Control-Allow-Origin`, or the page could not even read why it failed.
A request whose `Origin` is not allowed is refused before any work (a
"simple" cross-site POST is sent without a preflight, so the CORS headers
alone would not stop it from acting).
"""

from __future__ import annotations

import logging

from aiohttp import web

from . import replies
from .origins import OriginPolicy

log = logging.getLogger(__name__)

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type"
EXPOSE_HEADERS = "Retry-After"
"""The page reads Retry-After on `busy` and `processing` to pace its retries."""
MAX_AGE = "600"


def _refusal(origin: str) -> web.Response:
    return replies.error(
        None,
        f"pages from {origin} may not use the kiosk (ports.allow_origins)",
        status=403,
        code="forbidden_origin",
    )


def _decorate(headers, origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    _vary(headers)


def _vary(headers) -> None:
    """The answer depends on Origin: caches must not hand one page's answer to another."""
    vary = headers.get("Vary", "")
    if "origin" not in vary.lower():
        headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


def _preflight(request: web.Request, origin: str) -> web.Response:
    response = web.Response(status=204)
    response.headers.update(
        {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }
    )
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        # Chromium's Private Network Access: a page on a LAN address calling the kiosk's loopback port
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    _decorate(response.headers, origin)
    return response


def cors(policy: OriginPolicy):
    """CORS for the HTTP port (10925): preflight, headers on every reply, other origins refused."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is None:  # not a browser, or a same-origin GET: nothing to add
            return await handler(request)
        if not policy.allows(origin, request.host):
            log.warning(
                "refused %s %s from a page at %r (not in ports.allow_origins)",
                request.method,
                request.path,
                origin[:100],
            )
            return _refusal(origin)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return _preflight(request, origin)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and refusals aiohttp raises itself
            _decorate(exc.headers, origin)
            raise
        except Exception:  # an unexpected failure must still be readable by the page
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = replies.error(None, "internal error", status=500)
        _decorate(response.headers, origin)
        return response

    return middleware


def websocket_origin(policy: OriginPolicy, port_name: str):
    """Refuse (403, before the upgrade) WebSockets opened by pages not in ports.allow_origins."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is not None and not policy.allows(origin, request.host):
            log.warning(
                "refused a WebSocket on %s %s from a page at %r (not in ports.allow_origins)",
                port_name,
                request.path,
                origin[:100],
            )
            return _refusal(origin)
        return await handler(request)

    return middleware
