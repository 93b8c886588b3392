"""The dialogue worker: the citizen's flow (PROTOCOL.md §1.2 and qna).

The only writer of sessions and citizen records. Classifies the request,
gives the procedure, plans and checks the questions, stores the record and
builds the summary. An audio handshake is transcribed by the speech worker
in the background while the client is told `processing`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from typing import Any

import peewee

from .. import bus, endpoints, store
from ..dialogue.catalogue import load_catalogue
from ..dialogue.media import MediaError, decode_media
from ..dialogue.classifier import Classifier
from ..dialogue.info import validate_info
from ..dialogue.numbers import compute_age
from ..dialogue.qna import QnaPlanner, state_is_valid
from ..store import citizens, retention, sessions
from ..store.models import RECORD_FIELDS, PendingRequest
from ..sync.remote import verify_citizen
from ..worker import HandlerError, ServiceWorker

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0


def response(status: int, body: dict, kind: str, **fields) -> dict:
    """A flow answer: HTTP status plus a body that always has user_id, type, hash."""
    base = {"user_id": body.get("user_id", ""), "type": kind, "hash": body.get("hash", "")
            if isinstance(body.get("hash"), str) else ""}
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

    def setup(self) -> None:
        store.open_settings(self.settings)
        self.catalogue = load_catalogue(self.settings.path("services"))
        self.classifier = Classifier(self.catalogue)
        self.planner = QnaPlanner(max_tries=self.settings.dialogue.max_tries)
        self.ttl = self.settings.dialogue.session_ttl
        self._transcribing: set[str] = set()
        self._lock = threading.Lock()
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
        return {"flow": self.flow, "qna.open": storage_errors(self.qna_open),
                "qna.answer": storage_errors(self.qna_answer), "citizen.delete": storage_errors(self.delete_citizen)}

    def status(self) -> dict[str, Any]:
        return {"services": len(self.catalogue.services)} if hasattr(self, "catalogue") else {}

    # -- HTTP flow ---------------------------------------------------------
    def flow(self, header: dict, _payloads) -> dict:
        try:
            return self._flow(header["body"], header.get("digest", ""))
        except peewee.PeeweeException as exc:  # disk full, failing storage: say so, stay up
            log.error("database failure on %s: %s", header["body"].get("type"), store.db.describe_failure(exc))
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
        check = validate_info(body.get("info"))
        if not check.well_formed:  # wrong types: the back end's request is broken
            fields = ", ".join(f"{k}: {v}" for k, v in check.malformed.items())
            return error(body, f"malformed info ({fields})", fields=check.malformed)
        # wrong values (a bad check digit…) are left out of the record and asked again
        given = body.get("input")
        if not isinstance(given, dict) or given.get("type") not in ("text", "audio"):
            return error(body, 'input must be {"type": "text", "text": ...} or {"type": "audio", "media": <base64>}')
        if given["type"] == "text":
            if not isinstance(given.get("text"), str) or not given["text"].strip():
                return error(body, "input.text must be a non-empty string")
            return self._open_session(body, check.record, given["text"], "", check.errors)
        return self._audio_handshake(body, check, given.get("media"), digest)

    def _open_session(self, body: dict, record: dict, text: str, transcript: str, problems: dict) -> dict:
        result = self.classifier.classify(text)
        session = sessions.create(body["user_id"], self.ttl, classify=result.classify, flow=result.flow,
                                  transcript=transcript or text, info=record)
        log.info("handshake %s: %s", body["user_id"], result.classify)
        extra = {"invalid_info": problems} if problems else {}  # tells the back end what will be asked again
        return response(200, {**body, "hash": session.hash}, "handshake", classify=result.classify, flow=result.flow,
                        **extra)

    def storage(self, body: dict, session) -> dict:
        if session.state == "handshake":
            return error(body, "storage comes after the questions: open the qna socket first")
        record = self._record(session)
        verification = None
        if self.settings.tencent.verify_before_storage and record.get("name") and record.get("id_card"):
            # faceAdv authmatch; None or an "error" means it could not be made: never block the kiosk
            verification = verify_citizen(self.settings, session.user_id, record["name"], record["id_card"])
            if verification and verification.get("passed") is False:
                sessions.save(session, self.ttl, verification=verification)
                return error(body, "the identity check failed: the face does not match the name and ID number",
                             status=403, verification=verification)
        citizen = citizens.upsert(session.user_id, record)
        sessions.save(session, self.ttl, state="stored", verification=verification)
        return response(200, body, "storage", output=self._output(citizen.record()))

    def summary(self, body: dict, session) -> dict:
        if session.state != "stored":
            return error(body, "summary comes after storage")
        citizen = citizens.get(session.user_id)
        record = self._output(citizen.record() if citizen else self._record(session))
        tables = [record, *self.catalogue.documents_for(session.classify)]
        return response(200, body, "summary",
                        output={"tables": tables, "classify": session.classify, "flow": session.flow})

    def _record(self, session) -> dict:
        return {**session.info, **session.answers}

    @staticmethod
    def _output(record: dict) -> dict:
        out = {k: record[k] for k in RECORD_FIELDS if record.get(k) is not None}
        if out.get("birth"):
            try:
                out["age"] = compute_age(out["birth"])
            except ValueError:  # an unreadable birth date is shown, just without an age
                pass
        return out

    # -- audio handshake: processing until transcribed ----------------------------
    def _audio_handshake(self, body: dict, check, media: Any, digest: str) -> dict:
        if "speech" not in self.settings.supervisor.workers:
            return error(body, "speech recognition not available", status=501)
        try:  # plain base64 (the seed) or a data:audio/...;base64, URI (a browser's readAsDataURL)
            audio = decode_media(media)
        except MediaError as exc:
            return error(body, str(exc))
        pending = PendingRequest.get_or_none(PendingRequest.key == digest)
        if pending is not None and pending.state != "running":
            return pending.response
        with self._lock:
            if digest in self._transcribing:
                return response(202, body, "processing")
            self._transcribing.add(digest)
        if pending is None:
            with store.database.atomic("IMMEDIATE"):
                PendingRequest.get_or_create(key=digest, defaults={"user_id": body["user_id"]})
        threading.Thread(target=self._transcribe_then_open, args=(body, check, audio, digest), daemon=True).start()
        return response(202, body, "processing")

    def _transcribe_then_open(self, body: dict, check, audio: bytes, digest: str) -> None:
        client = bus.BusClient(endpoints.worker_requests(self.settings.runtime_dir, "speech"), timeout=120)
        try:
            reply, _ = client.request("transcribe", {}, [audio])
            text = reply.get("text", "").strip()
            result = (self._open_session(body, check.record, text, text, check.errors) if text else
                      error(body, "no speech was heard in the audio; please speak again"))
        except bus.RemoteError as exc:
            result = error(body, f"the audio could not be transcribed: {exc.reason}")
        except bus.BusError as exc:
            result = error(body, f"speech recognition failed: {exc}; send the request again", status=503)
        finally:
            client.close()
        with store.database.atomic("IMMEDIATE"):
            if result["status"] == 503:  # transient: let a retry start over
                PendingRequest.delete().where(PendingRequest.key == digest).execute()
            else:
                PendingRequest.update(state="done", response=result).where(PendingRequest.key == digest).execute()
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
        session = self._qna_session(header)
        state = session.qna_state
        if not state_is_valid(state):  # first connection, or a state from an older version
            needed = self.catalogue.needed_fields(session.classify)
            state = self.planner.start(needed, self._record(session))
        question = self.planner.current_question(state)
        step = "qna" if session.state == "handshake" else session.state
        sessions.save(session, self.ttl, qna_state=state, state="answered" if question is None else step)
        if question is None:
            return {"text": "您的信息已经齐全，不需要再回答问题了。", "done": True}
        return {"text": question, "done": False}

    def qna_answer(self, header: dict, _payloads) -> dict:
        session = self._qna_session(header)
        state = session.qna_state
        if not state_is_valid(state):
            raise HandlerError("out_of_order", "open the qna socket with its handshake first")
        text = header.get("text")
        if not isinstance(text, str):
            raise HandlerError("bad_data", "an answer must be text")
        reply = self.planner.answer(state, text[: self.settings.limits.max_text_bytes],
                                    from_audio=bool(header.get("from_audio")))
        answers = dict(state.get("answers", {}))
        sessions.save(session, self.ttl, qna_state=state, answers=answers,
                      state="answered" if reply.done else "qna")
        return {"text": reply.text, "done": reply.done, "field": reply.field, "event": reply.event}
