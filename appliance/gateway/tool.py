"""Tool port (3304): /face_predict, /stt, /tts — no handshake, answer fast.

`/stt` answers the seed's plain text frame (the transcript, "" for silence or speech it does not
trust); `/stt?confidence=1` opts in to a JSON frame with the trust verdict instead.

`/tts` answers the seed's one WAV frame; `/tts?stream=1` opts in to one WAV frame per piece (the first
clause of uncached text first, the cached fixed prompts at once) and an empty text frame at the end.

Errors on /stt and /tts are sent as a JSON text frame ``{"type": "error",
"reason": ...}`` and the connection stays open for the next request.  Frames
over the size limit close the socket with 1009 (message too big) before any
decoding.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from ..config import Settings
from ..metrics import recorder as metrics
from ..runtime import bus
from . import wsutil
from .backends import Backends, NotEnabled, new_hash

log = logging.getLogger(__name__)

STT_KEYS = ("text", "heard", "trusted", "confidence", "reasons", "language", "duration")
"""`/stt?confidence=1`: one JSON frame per utterance with these keys (README "Speech")."""


class ToolSockets:
    def __init__(self, backends: Backends, settings: Settings):
        self.backends = backends
        self.settings = settings

    async def face_predict(self, request: web.Request) -> web.WebSocketResponse:
        ws = await wsutil.open_socket(request, self.settings.limits.max_image_bytes)
        conn = new_hash()
        base = {"user_id": "", "type": "face_predict", "hash": conn}
        max_frames = self.settings.face.predict_max_frames
        frames = 0
        presentation = metrics.get().presentation("face_predict")
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                frames += 1
                started = time.perf_counter()
                oversize = wsutil.too_large(msg.data, self.settings.limits.max_image_bytes)
                reply: dict[str, Any]
                if msg.type == WSMsgType.TEXT:
                    reply = {
                        **base,
                        "message": "continue",
                        "reason": "bad_frame",
                        "detail": "send each camera image as a binary frame (JPEG or PNG)",
                    }
                elif oversize:
                    reply = {**base, "message": "continue", "reason": "too_large", "detail": oversize}
                else:
                    predicted = await self._predict(ws, base, frames, msg.data)
                    if predicted is None:
                        return ws
                    reply = predicted
                if reply["message"] != "success" and frames >= max_frames:
                    reply = {**reply, "message": "fail", "user_id": ""}
                metrics.get().face_reply(reply, started)
                presentation.frame(reply)
                await wsutil.send_json(ws, reply)
                if reply["message"] == "fail":
                    await ws.close(message=b"too many frames without a match")
        finally:
            presentation.close()
            await self._forget("face", "predict.close", {"hash": conn})
        return ws

    async def _predict(self, ws, base: dict, frame_no: int, image: bytes) -> dict | None:
        try:
            reply, _ = await self.backends.call(
                "face", "predict", {"hash": base["hash"], "frame": frame_no}, [image]
            )
        except NotEnabled as exc:
            await wsutil.refuse(ws, str(exc))
            return None
        except bus.BusError as exc:  # the client may simply send its next frame
            return {
                **base,
                "message": "continue",
                "reason": "busy" if isinstance(exc, bus.WorkerBusy) else "unavailable",
                "detail": str(exc),
            }
        extra = {k: v for k, v in reply.items() if k not in ("id", "ok", "hash", "type")}
        return {**base, "message": "continue", **extra}

    async def stt(self, request: web.Request) -> web.WebSocketResponse:
        ws = await wsutil.open_socket(request, self.settings.limits.max_audio_bytes)
        detailed = request.query.get("confidence", "").lower() in ("1", "true", "yes")  # opt-in JSON replies
        async for msg in ws:
            started = time.perf_counter()
            if msg.type == WSMsgType.TEXT:
                await _frame_error(
                    ws,
                    "stt",
                    started,
                    reason="send the utterance as one binary audio frame",
                    code="bad_frame",
                )
            elif msg.type == WSMsgType.BINARY and wsutil.too_large(
                msg.data, self.settings.limits.max_audio_bytes
            ):
                await _frame_error(
                    ws,
                    "stt",
                    started,
                    reason="too_large",
                    detail=wsutil.too_large(msg.data, self.settings.limits.max_audio_bytes),
                )
            elif msg.type == WSMsgType.BINARY:
                try:
                    reply, _ = await self.backends.call("speech", "transcribe", {}, [msg.data])
                    metrics.get().operation("stt", "ok", started)
                    metrics.get().transcription("stt", reply, started)
                    if detailed:
                        await wsutil.send_json(
                            ws, {"type": "transcript", **{k: reply.get(k) for k in STT_KEYS}}
                        )
                    else:  # the seed's plain text frame: the words only when trusted, else ""
                        await ws.send_str(reply.get("text", ""))
                except bus.BusError as exc:
                    metrics.get().operation("stt", metrics.bus_outcome(exc), started)
                    await wsutil.send_json(ws, wsutil.bus_failure(exc, "speech"))
            else:
                break
        return ws

    async def tts(self, request: web.Request) -> web.WebSocketResponse:
        ws = await wsutil.open_socket(request, self.settings.limits.max_text_bytes)
        streamed = request.query.get("stream", "").lower() in ("1", "true", "yes")  # opt-in pieces
        async for msg in ws:
            started = time.perf_counter()
            if msg.type == WSMsgType.BINARY:
                await _frame_error(
                    ws, "tts", started, reason="send the text to speak as a text frame", code="bad_frame"
                )
            elif msg.type == WSMsgType.TEXT and wsutil.too_large(
                msg.data.encode(), self.settings.limits.max_text_bytes
            ):
                await _frame_error(
                    ws,
                    "tts",
                    started,
                    reason="too_large",
                    detail=wsutil.too_large(msg.data.encode(), self.settings.limits.max_text_bytes),
                )
            elif msg.type == WSMsgType.TEXT:
                try:
                    if streamed:
                        await self._tts_pieces(ws, msg.data)
                    else:
                        _, payloads = await self.backends.call("speech", "synthesize", {"text": msg.data})
                        await ws.send_bytes(payloads[0])
                    metrics.get().operation("tts", "ok", started)
                except bus.BusError as exc:
                    metrics.get().operation("tts", metrics.bus_outcome(exc), started)
                    await wsutil.send_json(ws, wsutil.bus_failure(exc, "speech"))
            else:
                break
        return ws

    async def _tts_pieces(self, ws: web.WebSocketResponse, text: str) -> None:
        """`/tts?stream=1`: one WAV frame per piece as soon as it is made (the cached sentences at once,
        else the first clause first, then a sentence at a time), then an empty text frame."""
        fields: dict = {"text": text, "stream": "clause"}
        started, queued = 0.0, 0.0  # when the first piece went out; seconds of audio sent since
        while True:  # at least one call: empty text gets the worker's error, as without stream
            reply, payloads = await self.backends.call("speech", "synthesize", fields)
            await ws.send_bytes(payloads[0])
            started = started or time.monotonic()
            queued += float(reply.get("seconds") or 0.0)
            # the next piece is sized to what the client still has to play (tts.head's `ahead`)
            ahead = round(queued - (time.monotonic() - started), 3)
            fields = {"text": reply.get("rest", ""), "stream": "sentence", "ahead": ahead}
            if not fields["text"]:
                break
        await ws.send_str("")

    async def _forget(self, worker: str, op: str, fields: dict) -> None:
        """Tell a worker to drop per-connection state; best effort."""
        if self.backends.enabled(worker):
            try:
                await self.backends.call(worker, op, fields, timeout=2.0)
            except bus.BusError:
                pass

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/face_predict", self.face_predict)
        app.router.add_get("/stt", self.stt)
        app.router.add_get("/tts", self.tts)
        return app


async def _frame_error(ws, operation: str, started: float, **fields: Any) -> None:
    """A frame the operation cannot take: counted under its outcome (the `code`, else the `reason`:
    bad_frame, too_large) and answered with the protocol's error frame; the socket stays open."""
    metrics.get().operation(operation, fields.get("code") or fields["reason"], started)
    await wsutil.send_json(ws, {"type": "error", **fields})
