"""HTTP flow port (10925): POST / and /<type> for handshake, storage, summary;
GET /health. The dialogue worker owns the flow; this module checks the
envelope and maps failures to the protocol's special responses."""

from __future__ import annotations

import hashlib
import json
import logging

from aiohttp import web

from ..metrics.http import flow_operation
from ..runtime import bus, logs
from . import codes, replies
from .backends import Backends, NotEnabled, describe, is_transient

log = logging.getLogger(__name__)

FLOW_TYPES = ("handshake", "storage", "summary")
MAX_JSON_DEPTH = 32


@web.middleware
async def protocol_errors(request: web.Request, handler):
    """aiohttp's own refusals (404, 405, 413) in the protocol's JSON shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = {
            413: "request body too large",
            404: f"no such path {request.path}",
            405: f"{request.method} is not allowed here; use POST with a JSON body",
        }
        return replies.error(
            None,
            reason.get(exc.status, exc.reason),
            status=exc.status,
            code=codes.BY_STATUS.get(exc.status, "bad_request"),
        )


def too_deep(value, depth: int = 0) -> bool:
    if depth > MAX_JSON_DEPTH:
        return True
    if isinstance(value, dict):
        return any(too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(too_deep(v, depth + 1) for v in value)
    return False


def valid_unicode(value) -> bool:
    """JSON's \\u escapes can spell lone surrogates, which no UTF-8 text (the bus, the database) can hold."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_body(raw: bytes, path_type: str | None) -> tuple[dict | None, web.Response | None]:
    """The request body as a dict, or the error response to send instead."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, replies.error(None, f"malformed JSON: {exc}"[:300], code="bad_json")
    if not isinstance(body, dict):
        return None, replies.error(None, "the body must be a JSON object", code="bad_json")
    if too_deep(body):
        return None, replies.error(body, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", code="bad_json")
    if not valid_unicode(body):
        return None, replies.error(
            None,
            "the JSON carries a lone UTF-16 surrogate (such as \\ud800): not valid Unicode",
            code="bad_json",
        )
    kind = body.get("type", path_type)
    if path_type and kind != path_type:
        return None, replies.error(
            body, f"type {kind!r} does not match the path /{path_type}", code="bad_request"
        )
    if kind not in FLOW_TYPES:
        return None, replies.error(
            body, f"unknown type {kind!r}; expected one of {', '.join(FLOW_TYPES)}", code="bad_request"
        )
    if not isinstance(body.get("user_id"), str) or not body["user_id"].strip():
        return None, replies.error(body, "user_id must be a non-empty string", code="bad_request")
    body["type"] = kind
    return body, None


class FlowHttp:
    def __init__(self, backends: Backends):
        self.backends = backends

    async def post(self, request: web.Request) -> web.Response:
        body, refusal = parse_body(await request.read(), request.match_info.get("type"))
        if refusal is not None:
            return refusal
        assert body is not None  # parse_body gives a body whenever it gives no refusal
        request["operation"] = flow_operation(body)  # the metrics middleware's label
        logs.CORRELATION.set(logs.correlation_for(body["user_id"]))  # this citizen's journey, in every log
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        try:
            reply, _ = await self.backends.call("dialogue", "flow", {"body": body, "digest": digest})
        except NotEnabled as exc:
            return replies.error(body, str(exc), status=501, code="not_enabled")
        except bus.BusError as exc:
            if is_transient(exc):
                return replies.busy(body, describe(exc, "dialogue"), code=codes.from_bus(exc.code))
            log.error("dialogue failed on %s: %s", body["type"], exc)
            return replies.error(body, f"internal error: {exc}", status=500, code=codes.from_bus(exc.code))
        status = int(reply.get("status", 200))
        if status == 202:
            return replies.processing(body)
        if status == 503:
            return replies.busy(body, reply.get("body", {}).get("reason", "busy"))
        return replies.respond(reply["body"], status=status)

    async def health(self, request: web.Request) -> web.Response:
        try:
            status, _ = await self.backends.supervisor.request("status")
        except bus.BusError as exc:
            return replies.respond(
                {"healthy": False, "reason": f"supervisor not answering: {exc}"},
                status=503,
                code="unavailable",
            )
        status.pop("id", None)
        status.pop("ok", None)
        status["gateway_inflight"] = self.backends.inflight()
        return replies.respond(status, status=200 if status.get("healthy") else 503)

    def app(self, max_body: int) -> web.Application:
        app = web.Application(client_max_size=max_body, middlewares=[protocol_errors])
        app.router.add_get("/health", self.health)
        app.router.add_post("/", self.post)
        app.router.add_post("/{type}", self.post)
        return app
