"""Flow socket port (444): face_train and qna.

The first frame is the socket handshake, a JSON object whose `type` names
the flow (or the path does: /face_train, /qna). A bad or missing handshake
gets one ``{"type": "error", "reason": ...}`` frame and the socket closes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSCloseCode, WSMsgType, web

from ..config import Settings
from ..metrics import recorder as metrics
from ..runtime import bus, logs, peers
from . import wsutil
from .backends import Backends, NotEnabled, is_transient, new_hash

log = logging.getLogger(__name__)

FLOWS = ("face_train", "qna")
NOT_HEARD = "抱歉，没听清，请再说一遍。"
"""Said before the same question again when a spoken answer was silence or not trustworthy."""
RETRY_FIRST = 0.1
"""Seconds before the first resend to a worker that is restarting; doubles up to RETRY_MAX."""
RETRY_MAX = 1.0


def check_handshake(text: str | None, path_flow: str | None) -> tuple[dict | None, str]:
    """The handshake dict, or None and why it is refused."""
    if text is None:
        return None, "the first frame must be the JSON socket handshake (a text frame)"
    hs = wsutil.parse_json_object(text)
    if hs is None:
        return None, "the socket handshake is not a JSON object"
    kind = hs.get("type", path_flow)
    if path_flow and kind != path_flow:
        return None, f"handshake type {kind!r} does not match the path /{path_flow}"
    if kind not in FLOWS:
        return None, f"unknown flow type {kind!r}; expected one of {', '.join(FLOWS)}"
    if not isinstance(hs.get("user_id"), str) or not hs["user_id"].strip():
        return None, "user_id must be a non-empty string"
    if not isinstance(hs.get("hash", ""), str):
        return None, "hash must be a string"
    hs["type"], hs["hash"] = kind, hs.get("hash", "")
    return hs, ""


class FlowSockets:
    def __init__(self, backends: Backends, settings: Settings):
        self.backends = backends
        self.settings = settings
        limits = settings.limits
        self.max_size = max(limits.max_text_bytes, limits.max_image_bytes, limits.max_audio_bytes)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = await wsutil.open_socket(request, self.max_size)
        path_flow = request.match_info.get("flow") or None
        if path_flow is not None and path_flow not in FLOWS:
            await wsutil.refuse(ws, f"no flow at /{path_flow}; use /face_train or /qna")
            return ws
        try:
            first = await ws.receive(timeout=wsutil.HANDSHAKE_TIMEOUT)
        except TimeoutError:
            await wsutil.refuse(ws, f"no socket handshake within {wsutil.HANDSHAKE_TIMEOUT:.0f}s")
            return ws
        if first.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return ws
        hs, why = check_handshake(first.data if first.type == WSMsgType.TEXT else None, path_flow)
        if hs is None:
            await wsutil.refuse(ws, why)
            return ws
        logs.CORRELATION.set(logs.correlation_for(hs["user_id"]))  # this citizen's journey, in every log
        if hs["type"] == "face_train":
            await self.face_train(ws, hs)
        else:
            await self.qna(ws, hs)
            metrics.get().qna_ended(bool(ws.get("qna_done")))
        return ws

    # -- face_train ----------------------------------------------------------
    async def face_train(self, ws: web.WebSocketResponse, hs: dict) -> None:
        conn = new_hash()
        base = {"user_id": hs["user_id"], "type": "face_train", "hash": conn}
        try:
            await self.backends.call("face", "train.open", {"user_id": hs["user_id"], "hash": conn})
        except bus.BusError as exc:
            await wsutil.refuse(
                ws, str(exc) if isinstance(exc, NotEnabled) else wsutil.bus_failure(exc, "face")["reason"]
            )
            return
        unproven = 0  # frames answered not_live: face.predict_max_frames of them end the connection
        presentation = metrics.get().presentation("face_train")
        try:
            async for msg in ws:
                started = time.perf_counter()
                if msg.type == WSMsgType.TEXT:
                    await wsutil.send_json(
                        ws,
                        {
                            **base,
                            "message": "continue",
                            "reason": "bad_frame",
                            "detail": "send each image as a binary frame (JPEG or PNG)",
                        },
                    )
                    continue
                if msg.type != WSMsgType.BINARY:
                    break
                oversize = wsutil.too_large(msg.data, self.settings.limits.max_image_bytes)
                if oversize:
                    await wsutil.send_json(
                        ws, {**base, "message": "continue", "reason": "too_large", "detail": oversize}
                    )
                    continue
                try:
                    reply, _ = await self.backends.call(
                        "face", "train.frame", {"user_id": hs["user_id"], "hash": conn}, [msg.data]
                    )
                    metrics.get().operation("face_train", "ok", started)
                except bus.BusError as exc:
                    metrics.get().operation("face_train", metrics.bus_outcome(exc), started)
                    reason = "busy" if isinstance(exc, bus.WorkerBusy) else "unavailable"
                    await wsutil.send_json(
                        ws, {**base, "message": "continue", "reason": reason, "detail": str(exc)}
                    )
                    continue
                extra = {k: v for k, v in reply.items() if k not in ("id", "ok", "hash", "type", "user_id")}
                answer = {**base, "message": "continue", **extra}
                unproven += extra.get("reason") == "not_live"
                if answer["message"] != "success" and unproven >= self.settings.face.predict_max_frames:
                    answer["message"] = "fail"  # liveness never established: end as /face_predict does
                presentation.frame(answer)
                await wsutil.send_json(ws, answer)
                if answer["message"] == "success":
                    await ws.close()
                elif answer["message"] == "fail":
                    await ws.close(message=b"liveness not established")
                    break
        finally:
            presentation.close()
            try:
                await self.backends.call("face", "train.close", {"hash": conn}, timeout=2.0)
            except bus.BusError:
                pass

    # -- qna -------------------------------------------------------------------
    async def qna(self, ws: web.WebSocketResponse, hs: dict) -> None:
        """Questions as text frames, answers back; each answer carries the number of its question.

        The gateway remembers, per connection, which question (`seq`) is being answered and sends it
        with the answer: the dialogue applies an answer only to that question, so one resent after a
        crash is never taken for the next. A worker restarting is ridden out (`_patiently`): the
        citizen sees only questions; a final failure is one error frame, then the socket closes."""
        ids = {"user_id": hs["user_id"], "hash": hs["hash"]}
        try:
            turn = await self._patiently("dialogue", "qna.open", ids)
        except bus.BusError as exc:
            await wsutil.refuse(ws, self._why(exc, "dialogue"))
            return
        if await self._say(ws, turn):
            return
        seq = turn.get("seq")
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                fields = {**ids, "text": msg.data, "from_audio": False}
            elif msg.type == WSMsgType.BINARY:
                oversize = wsutil.too_large(msg.data, self.settings.limits.max_audio_bytes)
                if oversize:  # a JSON frame here would be read as a question: not heard, asked again
                    log.info("qna %s: spoken answer refused: %s", hs["user_id"], oversize)
                try:
                    text = "" if oversize else await self._transcribe(msg.data)
                    fields = {**ids, "text": text, "from_audio": True}
                except bus.BusError as exc:
                    await wsutil.refuse(ws, self._why(exc, "speech"), code=WSCloseCode.TRY_AGAIN_LATER)
                    return
                if not fields["text"]:  # nothing (trustworthy) heard: fill nothing, ask the same question
                    try:
                        turn = await self._patiently("dialogue", "qna.open", ids)
                    except bus.BusError as exc:
                        await wsutil.refuse(ws, self._why(exc, "dialogue"), code=WSCloseCode.TRY_AGAIN_LATER)
                        return
                    again = NOT_HEARD if not turn.get("done") else ""
                    if again:
                        metrics.get().asked_again.inc()
                    turn, seq = {**turn, "text": again + turn.get("text", "")}, turn.get("seq", seq)
                    if await self._say(ws, turn):
                        return
                    continue
            else:
                break
            started = time.perf_counter()
            try:
                turn = await self._patiently("dialogue", "qna.answer", {**fields, "seq": seq})
                metrics.get().operation("qna_answer", "ok", started)
                metrics.get().qna_turn(turn)
            except bus.BusError as exc:
                metrics.get().operation("qna_answer", metrics.bus_outcome(exc), started)
                final = isinstance(exc, bus.RemoteError)  # refused (e.g. an expired hash), not unreachable
                await wsutil.refuse(
                    ws,
                    self._why(exc, "dialogue"),
                    code=WSCloseCode.POLICY_VIOLATION if final else WSCloseCode.TRY_AGAIN_LATER,
                )
                return
            seq = turn.get("seq", seq)
            if await self._say(ws, turn):
                return

    async def _patiently(self, worker: str, op: str, fields: dict, payloads=()) -> dict:
        """One worker call that rides out the worker's restart within limits.bus_timeout.

        Only transient failures (restarting, overloaded, no answer yet) are retried, with the same
        fields: the dialogue recognises a resent answer by its question number and applies it once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.limits.bus_timeout
        delay = RETRY_FIRST
        while True:
            try:
                reply, _ = await self.backends.call(
                    worker, op, fields, payloads, timeout=max(deadline - loop.time(), RETRY_FIRST)
                )
                return reply
            except bus.BusError as exc:
                if not is_transient(exc) or loop.time() + delay >= deadline:
                    raise
                log.info("%s %s: %s; trying again", worker, op, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    @staticmethod
    def _why(exc: bus.BusError, worker: str) -> str:
        """The reason of a final failure: the worker's own words, or what happened on the bus."""
        if isinstance(exc, (bus.RemoteError, NotEnabled)):
            return getattr(exc, "reason", None) or str(exc)
        return wsutil.bus_failure(exc, worker)["reason"]

    async def _transcribe(self, audio: bytes) -> str:
        """A spoken answer as text. Audio the recogniser cannot read, and a transcript it does not
        trust (speech/trust.py: its `text` is then ""), count as not heard (""): asked again."""
        started = time.perf_counter()
        try:
            reply = await self._patiently("speech", "transcribe", {}, [audio])
        except bus.RemoteError as exc:
            log.info("a spoken answer could not be transcribed: %s", exc.reason)
            return ""
        metrics.get().transcription("qna", reply, started)
        return reply.get("text", "")

    async def _say(self, ws: web.WebSocketResponse, reply: dict) -> bool:
        """Send the dialogue's next words; True when the questions are over."""
        if reply.get("text"):
            await ws.send_str(reply["text"])
            await self._speak(ws, reply["text"])
        if reply.get("done"):
            ws["qna_done"] = True  # the metrics' completed flow
            await ws.send_str("")  # the seed's end-of-questions marker
            await ws.close()
            return True
        return False

    async def _speak(self, ws: web.WebSocketResponse, text: str) -> None:
        """Spoken questions (speech.speak_questions): a binary WAV frame after the text frame."""
        if not self.settings.speech.speak_questions:
            return
        try:
            # the text frame is already out: the audio may take the speech worker's own timeout
            # (a long question on a busy kiosk outlasts limits.bus_timeout), not arrive never
            _, payloads = await self.backends.call(
                "speech", "synthesize", {"text": text}, timeout=peers.timeout_for(self.settings, "speech")
            )
            await ws.send_bytes(payloads[0])
        except bus.BusError as exc:
            log.warning("could not speak a question: %s", exc)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        app.router.add_get("/{flow}", self.handle)
        return app
