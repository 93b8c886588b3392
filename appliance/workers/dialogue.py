"""The dialogue worker: the citizen's flow (PROTOCOL.md §1.2 and qna).

The only writer of sessions and citizen records. It owns transport (bus
requests in, answers out), sessions and transactions; every word and value it
answers comes from the DialogueEngine (appliance/dialogue/engine.py), the
code the dialogue tests check. An audio handshake is transcribed by the
speech worker in the background while the client is told `processing`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import peewee

from .. import store
from ..dialogue.catalogue import load_catalogue
from ..dialogue.engine import DialogueEngine
from ..dialogue.media import MediaError, decode_media
from ..dialogue.qna import state_is_valid
from ..runtime import bus
from ..runtime.peers import not_enabled
from ..runtime.worker import HandlerError, ServiceWorker
from ..store import citizens, retention, sessions
from ..store.models import PendingRequest, now
from ..sync.remote import verify_citizen
from ..sync.verify import summary_note, summary_table
from .ops import Dialogue, Speech

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0
REPLAY_GRACE = 30.0
"""Seconds after an audio handshake's answer was ready during which the same body gets that answer again
(the client asking again after `processing`); later, the same body is a new request (a kiosk replaying
a canned prompt) and gets a new session."""
FAULTS_ENV = "KIOSK_TEST_FAULTS"
"""Tests only: a folder; a file in it named after a fault point makes the worker kill -9 itself there."""


def fault_point(name: str) -> None:
    """kill -9 this worker here when a test asked for it (a file `name` in $KIOSK_TEST_FAULTS).

    The file goes first, so the restarted worker passes the point: each request is one kill."""
    folder = os.environ.get(FAULTS_ENV)
    if not folder:
        return
    try:
        (Path(folder) / name).unlink()
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def response(status: int, body: dict, kind: str, **fields) -> dict:
    """A flow answer: HTTP status plus a body that always has user_id, type, hash."""
    base = {
        "user_id": body.get("user_id", ""),
        "type": kind,
        "hash": body.get("hash", "") if isinstance(body.get("hash"), str) else "",
    }
    return {"status": status, "body": {**base, **fields}}


def error(body: dict, reason: str, status: int = 400, **extra) -> dict:
    return response(status, body, "error", reason=reason, **extra)


def storage_errors(handler):
    """A database failure becomes a clear answer (`storage` error), not an internal one."""

    def wrapped(header: dict, payloads):
        try:
            return handler(header, payloads)
        except peewee.PeeweeException as exc:
            raise HandlerError("storage", store.db.describe_failure(exc)) from None

    return wrapped


class DialogueWorker(ServiceWorker):
    name = "dialogue"
    threads = 4

    def __init__(self, settings):
        super().__init__(settings)
        self._services = 0  # heartbeats may ask before prepare() has read the catalogue

    def prepare(self) -> None:
        # the catalogue is read before serving (a spare too): status() and every handler have it
        self.engine = DialogueEngine(
            load_catalogue(self.settings.path("services")), max_tries=self.settings.dialogue.max_tries
        )
        self._services = len(self.engine.catalogue.services)
        self.ttl = self.settings.dialogue.session_ttl
        self._transcribing: set[str] = set()
        self._lock = threading.Lock()

    def setup(self) -> None:
        store.open_settings(self.settings)
        threading.Thread(target=self._retention, name="retention", daemon=True).start()

    def _retention(self) -> None:
        """Purge at start and then hourly (dialogue.retention_days)."""
        while not self._stop.is_set():
            try:
                purged = retention.purge(self.settings.dialogue.retention_days)
                if any(purged.values()):
                    log.info("retention: purged %s", purged)
            except Exception as exc:  # a locked or full database: try again next hour
                log.warning("retention purge failed: %s", exc)
            self._stop.wait(RETENTION_INTERVAL)

    def ops(self):
        return {
            Dialogue.FLOW: self.flow,
            Dialogue.QNA_OPEN: storage_errors(self.qna_open),
            Dialogue.QNA_ANSWER: storage_errors(self.qna_answer),
            Dialogue.USER_DELETE: storage_errors(self.delete_citizen),
        }

    def status(self) -> dict[str, Any]:
        return {"services": self._services}

    # -- HTTP flow ---------------------------------------------------------
    def flow(self, header: dict, _payloads) -> dict:
        try:
            return self._flow(header["body"], header.get("digest", ""))
        except peewee.PeeweeException as exc:  # disk full, failing storage: say so, stay up
            log.error(
                "database failure on %s: %s", header["body"].get("type"), store.db.describe_failure(exc)
            )
            return error(header["body"], store.db.describe_failure(exc), status=507)

    def _flow(self, body: dict, digest: str) -> dict:
        kind = body["type"]
        if kind == "handshake":
            return self.handshake(body, digest)
        try:
            session = sessions.fetch(body.get("hash"), body["user_id"])
        except sessions.SessionError as exc:
            return error(body, str(exc))
        if kind == "storage":
            return self.storage(body, session)
        return self.summary(body, session)

    def handshake(self, body: dict, digest: str) -> dict:
        check = self.engine.check_info(body.get("info"))
        if not check.well_formed:  # wrong types: the back end's request is broken
            fields = ", ".join(f"{k}: {v}" for k, v in check.malformed.items())
            return error(body, f"malformed info ({fields})", fields=check.malformed)
        # wrong values (a bad check digit…) are left out of the record and asked again
        given = body.get("input")
        if not isinstance(given, dict) or given.get("type") not in ("text", "audio"):
            return error(
                body, 'input must be {"type": "text", "text": ...} or {"type": "audio", "media": <base64>}'
            )
        if given["type"] == "text":
            if not isinstance(given.get("text"), str) or not given["text"].strip():
                return error(body, "input.text must be a non-empty string")
            return self._open_session(body, check, given["text"], "")
        return self._audio_handshake(body, check, given.get("media"), digest)

    def _open_session(self, body: dict, check, text: str, transcript: str) -> dict:
        """``transcript``: the words were heard, not typed ("" for text input)."""
        # The user's last handshake may have asked which service (dialogue/clarify.py): this one answers
        # it, once; taking the question and opening the session are one transaction.
        with store.database.atomic("IMMEDIATE"):
            waiting = sessions.take_clarification(body["user_id"], text)
            hs = self.engine.handshake(check, text, waiting, spoken=bool(transcript))
            session = sessions.create(
                body["user_id"],
                self.ttl,
                classify=hs.classify,
                flow=hs.flow,
                transcript=transcript or text,
                info=hs.record,
                qna_state=hs.qna_state,
            )
        log.info(
            "handshake %s: %s%s",
            body["user_id"],
            hs.classify,
            f" (asks: {hs.candidates})" if hs.candidates else "",
        )
        # what will be asked again
        extra: dict[str, Any] = {"invalid_info": hs.info_errors} if hs.info_errors else {}
        if hs.candidates:  # not sure which service: `flow` asks, the next handshake answers
            extra["candidates"] = hs.candidates
        return response(
            200, {**body, "hash": session.hash}, "handshake", classify=hs.classify, flow=hs.flow, **extra
        )

    def storage(self, body: dict, session) -> dict:
        if session.state == "handshake":
            return error(body, "storage comes after the questions: open the qna socket first")
        record = self.engine.record(session.info, session.answers)
        verification = None
        if self.settings.tencent.verify_before_storage and record.get("name") and record.get("id_card"):
            # faceAdv authmatch; None or an "error" means it could not be made: never block the kiosk
            verification = verify_citizen(self.peers, session.user_id, record["name"], record["id_card"])
            if verification and verification.get("passed") is False:
                sessions.save(session, self.ttl, verification=verification)
                return error(
                    body,
                    "the identity check failed: the face does not match the name and ID number",
                    status=403,
                    verification=verification,
                )
        with store.database.atomic("IMMEDIATE"):  # the record and the session's step: both or neither
            citizen = citizens.upsert(session.user_id, record)
            sessions.save(session, self.ttl, state="stored", verification=verification)
        return response(200, body, "storage", output=self.engine.storage_output(citizen.record()))

    def summary(self, body: dict, session) -> dict:
        if session.state != "stored":
            return error(body, "summary comes after storage")
        citizen = citizens.get(session.user_id)
        record = citizen.record() if citizen else self.engine.record(session.info, session.answers)
        table = self.engine.storage_output(record)
        output = self.engine.summary_output(table, session.classify, session.flow)
        note = summary_note(session.verification)  # verify_before_storage could not be made: say so
        if note is not None:
            output = {**output, "verification": note, "tables": [*output["tables"], summary_table(note)]}
        return response(200, body, "summary", output=output)

    # -- audio handshake: processing until transcribed ----------------------------
    def _audio_handshake(self, body: dict, check, media: Any, digest: str) -> dict:
        if not self.peers.enabled("speech"):
            return error(body, not_enabled("speech"), status=501)
        try:  # plain base64 (the seed) or a data:audio/...;base64, URI (a browser's readAsDataURL)
            audio = decode_media(media)
        except MediaError as exc:
            return error(body, str(exc))
        pending = PendingRequest.get_or_none(PendingRequest.key == digest)
        if pending is not None and pending.state != "running":
            if self._replayable(pending):
                return pending.response
            with store.database.atomic("IMMEDIATE"):  # the same body later is a new request: start over
                PendingRequest.delete().where(
                    PendingRequest.key == digest, PendingRequest.state != "running"
                ).execute()
            pending = None
        with self._lock:
            if digest in self._transcribing:
                return response(202, body, "processing")
            self._transcribing.add(digest)
        if pending is None:
            with store.database.atomic("IMMEDIATE"):
                PendingRequest.get_or_create(key=digest, defaults={"user_id": body["user_id"]})
        threading.Thread(
            target=self._transcribe_then_open, args=(body, check, audio, digest), daemon=True
        ).start()
        return response(202, body, "processing")

    @staticmethod
    def _replayable(pending: PendingRequest) -> bool:
        """Whether an identical audio handshake may get the stored answer: only the client asking
        again shortly after it was ready (REPLAY_GRACE), and never with a hash no longer valid."""
        if pending.finished_at is None or now() - pending.finished_at > dt.timedelta(seconds=REPLAY_GRACE):
            return False
        body = (pending.response or {}).get("body", {})
        if body.get("type") != "handshake":
            return True  # an error answer names no session
        try:
            sessions.fetch(body.get("hash"), pending.user_id)
        except sessions.SessionError:  # expired (or deleted): a stale hash is never handed out
            return False
        return True

    def _transcribe_then_open(self, body: dict, check, audio: bytes, digest: str) -> None:
        try:
            reply, _ = self.peers.call("speech", Speech.TRANSCRIBE, {}, [audio])
            text = reply.get("text", "").strip()
            result = (
                self._open_session(body, check, text, text)
                if text
                else error(body, "no speech was heard in the audio; please speak again")
                if not reply.get("heard")
                # words heard but not trustworthy (speech/trust.py): never classified, asked again
                else error(
                    body,
                    "the speech was not understood clearly enough; please speak again",
                    code="not_understood",
                    reasons=reply.get("reasons", []),
                    retry=True,
                )
            )
        except bus.RemoteError as exc:
            result = error(body, f"the audio could not be transcribed: {exc.reason}")
        except bus.BusError as exc:
            result = error(body, f"speech recognition failed: {exc}; send the request again", status=503)
        with store.database.atomic("IMMEDIATE"):
            if result["status"] == 503:  # transient: let a retry start over
                PendingRequest.delete().where(PendingRequest.key == digest).execute()
            else:
                PendingRequest.update(state="done", response=result, finished_at=now()).where(
                    PendingRequest.key == digest
                ).execute()
        with self._lock:
            self._transcribing.discard(digest)

    def delete_citizen(self, header: dict, _payloads) -> dict:
        """The technician's `appliance users delete`: the record and every session."""
        user_id = header.get("user_id", "")
        removed, count = citizens.delete(user_id)
        return {"removed": removed, "sessions": count}

    # -- qna socket ----------------------------------------------------------
    def _qna_session(self, header: dict):
        try:
            return sessions.fetch(header.get("hash"), header.get("user_id", ""))
        except sessions.SessionError as exc:
            raise HandlerError("bad_session", str(exc)) from None

    def qna_open(self, header: dict, _payloads) -> dict:
        """The question being asked now and its number (`seq`), for a new socket or a reconnect."""
        with store.database.atomic("IMMEDIATE"):
            session = self._qna_session(header)
            state = session.qna_state
            if not state_is_valid(state):  # a session from an older version without a usable plan
                state = self.engine.plan(session.classify, self.engine.record(session.info, session.answers))
            turn = self.engine.open_qna(state)
            step = "qna" if session.state == "handshake" else session.state
            sessions.save(session, self.ttl, qna_state=state, state="answered" if turn["done"] else step)
        return turn

    def qna_answer(self, header: dict, _payloads) -> dict:
        """Apply an answer to question `seq` once; a resent one gets the first reply again."""
        text, seq = header.get("text"), header.get("seq")
        if not isinstance(text, str):
            raise HandlerError("bad_data", "an answer must be text")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise HandlerError("bad_data", "an answer must carry the number (seq) of its question")
        text = text[: self.settings.limits.max_text_bytes]
        fault_point("qna.answer.before_store")
        with store.database.atomic("IMMEDIATE"):  # read, apply and write as one step: no lost answer
            session = self._qna_session(header)
            state = session.qna_state
            if not state_is_valid(state):
                raise HandlerError("out_of_order", "open the qna socket with its handshake first")
            reply = self.engine.answer(state, seq, text, from_audio=bool(header.get("from_audio")))
            if reply["applied"]:
                sessions.save(
                    session,
                    self.ttl,
                    qna_state=state,
                    answers=dict(state["answers"]),
                    state="answered" if reply["done"] else "qna",
                )
        fault_point("qna.answer.after_store")
        return reply
