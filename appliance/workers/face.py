"""The face worker: owns the face engine and the gallery.

face_train (port 444) and /face_predict (port 3304) arrive here as bus
requests with the image as a raw payload frame. The gallery is the single
normalised matrix of every enrolled template, loaded from the database at
start and updated in place on enrolment or deletion.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from .. import store
from ..face.engine import FaceAnalysis, FaceEngine
from ..face.engine import FaceSettings as EngineSettings
from ..face.enrolment import EnrolmentSession, EnrolmentSettings
from ..face.gallery import Gallery, decide, to_percent
from ..runtime import bus, endpoints
from ..runtime.worker import HandlerError, ServiceWorker
from ..store import faces as face_store
from ..sync.remote import remote_identify
from .ops import Face, Liveness
from .recognition import Recogniser

log = logging.getLogger(__name__)

MODEL_NAME = "sface-2021dec"
"""Templates carry the model that made them: another model's are not comparable."""
IDLE_CONNECTION = 600.0
"""Per-connection state not touched for this long is dropped (a client that vanished)."""


class FaceWorker(ServiceWorker):
    name = "face"
    threads = 2

    def __init__(self, settings):
        super().__init__(settings)
        self.engine: FaceEngine | None = None
        self.gallery = Gallery()
        self._lock = threading.Lock()  # the gallery has one owner at a time (a search at 1M: ~25 ms)
        self._tables = threading.Lock()  # the connection tables: held for a dict operation, never longer
        self._training: dict[str, tuple[str, EnrolmentSession, float]] = {}
        self._predicting: dict[str, float] = {}
        self.publisher: bus.Publisher | None = None
        self.check_liveness = self.peers.enabled("liveness")
        self.recogniser: Recogniser | None = None

    def prepare(self) -> None:
        cfg = self.settings.face
        self.engine = FaceEngine(
            self.settings.models_dir,
            EngineSettings(threads=2, match_threshold=cfg.match_threshold, match_margin=cfg.match_margin),
        )

    def setup(self) -> None:
        store.open_settings(self.settings)  # the gallery is read now, not in a spare: enrolments since count
        self.publisher = bus.Publisher(self.settings.runtime_dir)
        loaded = 0
        for user_id, embeddings in face_store.load_templates(MODEL_NAME):
            self.gallery.set_user(user_id, embeddings)
            loaded += 1
        log.info("gallery: %d users, %d templates", loaded, len(self.gallery))

    def start(self) -> None:
        if self.peers.enabled("camera"):  # the kiosk's own camera: recognise continuously
            self.recogniser = Recogniser(self, self._match)
            self.recogniser.start()

    def sample_of(self, user_id: str) -> bytes | None:
        return face_store.sample_of(user_id)

    def ops(self):
        return {
            Face.PREDICT: self.predict,
            Face.PREDICT_CLOSE: self.predict_close,
            Face.TRAIN_OPEN: self.train_open,
            Face.TRAIN_FRAME: self.train_frame,
            Face.TRAIN_CLOSE: self.train_close,
            Face.IDENTIFY: self.identify,
            Face.ENROL: self.enrol,
            Face.USER_DELETE: self.delete_user,
        }

    def inline_ops(self) -> frozenset[str]:
        # the closes only drop a connection's state (under _tables, never the gallery's lock) unless
        # they also tell the liveness worker, a bus call: then they wait for a pool thread like the rest
        closes = () if self.check_liveness else (Face.PREDICT_CLOSE, Face.TRAIN_CLOSE)
        return super().inline_ops() | set(closes)

    def status(self) -> dict[str, Any]:
        return {
            "users": self.gallery.user_count,
            "templates": len(self.gallery),
            "training": len(self._training),
            "predicting": len(self._predicting),
            **({"camera": dict(self.recogniser.stats)} if self.recogniser else {}),
        }

    # -- helpers ---------------------------------------------------------------
    def _image(self, payloads: list[bytes]) -> bytes:
        if len(payloads) != 1:
            raise HandlerError("bad_request", "exactly one image payload expected")
        return payloads[0]

    def _match(self, analysis: FaceAnalysis) -> dict[str, Any]:
        """The gallery's verdict on an analysed face, in protocol terms."""
        cfg = self.settings.face
        with self._lock:
            found = self.gallery.search(analysis.embedding)
        score = to_percent(found.best_score, cfg.match_threshold)
        if decide(found.best_score, found.second_score, cfg.match_threshold, cfg.match_margin):
            return {"message": "success", "user_id": found.best_id, "score": score}
        return {"message": "continue", "reason": "unknown", "score": score}

    def _sweep(self) -> None:
        """Drop idle connections' state; the caller holds _tables."""
        cutoff = time.monotonic() - IDLE_CONNECTION
        for table in (self._training, self._predicting):
            for key in [k for k, v in table.items() if (v[-1] if isinstance(v, tuple) else v) < cutoff]:
                table.pop(key, None)

    # -- liveness ------------------------------------------------------------------
    def _liveness(self, hash_: str, analysis: FaceAnalysis) -> dict | None:
        """None when the connection's face is established live (or liveness is off);
        else the `not_live` answer. Every frame with a face is observed, turned heads
        included: the multi-frame cues need the head to move."""
        if not self.check_liveness or analysis.box is None or analysis.image is None:
            return None
        assert analysis.image_size is not None  # set together with the image (face/engine.py)
        frame = np.ascontiguousarray(analysis.image)
        try:
            header = {
                "hash": hash_,
                "box": analysis.box,
                "landmarks": analysis.landmarks,
                "image_size": list(analysis.image_size),
                "shape": list(frame.shape),
            }
            if analysis.embedding is not None:  # the identity check: one person across the frames
                header["embedding"] = [round(float(v), 6) for v in analysis.embedding]
            verdict, _ = self.peers.call("liveness", Liveness.OBSERVE, header, [frame.data])
        except bus.BusError as exc:  # fail closed: no success without a liveness verdict
            return {
                "message": "continue",
                "reason": "not_live",
                "detail": f"liveness check unavailable: {exc}",
            }
        if verdict.get("live") is True:
            return None
        hint = {
            "turn_head": "please turn your head slowly left and right",
            "blink_or_turn": "look at the camera: a blink or a small turn of the head",
            "face_changed": "one face, kept in view: starting again",
            "collecting": "keep looking at the camera",
        }.get(verdict.get("reason", ""), "")
        return {
            "message": "continue",
            "reason": "not_live",
            "liveness": verdict.get("reason"),
            "live": verdict.get("live"),
            "detail": hint or f"presentation refused ({verdict.get('reason')})",
        }

    def _forget_liveness(self, hash_: str) -> None:
        if self.check_liveness:
            try:
                self.peers.call("liveness", Liveness.OBSERVE_CLOSE, {"hash": hash_})
            except bus.BusError:
                pass  # its idle expiry drops the state anyway

    # -- /face_predict ---------------------------------------------------------
    def predict(self, header: dict, payloads: list[bytes]) -> dict:
        hash_ = header.get("hash", "")
        with self._tables:
            self._predicting[hash_] = time.monotonic()
        image = self._image(payloads)
        assert self.engine is not None  # prepare() runs before any request
        analysis = self.engine.analyse(image)
        refused = self._liveness(hash_, analysis)
        if refused is not None and refused.get("live") is False:
            return refused  # the verdict is final for this connection
        if not analysis.ok:
            return {"message": "continue", "reason": analysis.reason, "detail": analysis.detail}
        if refused is not None:
            return refused
        verdict = self._match(analysis)
        if verdict["message"] != "success" and self.settings.tencent.recong_fallback:
            remote = remote_identify(self.peers, image)  # None when the upstream is off or down
            if remote is not None:
                return {
                    "message": "success",
                    "user_id": remote["user_id"],
                    "score": remote["score"],
                    "source": "remote",
                }
        return verdict

    def predict_close(self, header: dict, _payloads) -> dict:
        with self._tables:
            self._predicting.pop(header.get("hash", ""), None)
            self._sweep()
        self._forget_liveness(header.get("hash", ""))
        return {}

    # -- face_train ----------------------------------------------------------------
    def train_open(self, header: dict, _payloads) -> dict:
        user_id = header.get("user_id")
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128:
            raise HandlerError("bad_data", "user_id must be a non-empty string of at most 128 characters")
        session = EnrolmentSession(
            EnrolmentSettings(
                required=self.settings.face.train_samples,
                same_person_threshold=self.settings.face.match_threshold,
            )
        )
        with self._tables:
            self._sweep()
            self._training[header["hash"]] = (user_id, session, time.monotonic())
        return {}

    def train_close(self, header: dict, _payloads) -> dict:
        with self._tables:
            self._training.pop(header.get("hash", ""), None)
        self._forget_liveness(header.get("hash", ""))
        return {}

    def train_frame(self, header: dict, payloads: list[bytes]) -> dict:
        with self._tables:
            entry = self._training.get(header.get("hash", ""))
        if entry is None:
            raise HandlerError("out_of_order", "no face_train in progress on this connection")
        user_id, session, _ = entry
        assert self.engine is not None  # prepare() runs before any request
        analysis = self.engine.analyse(self._image(payloads))
        refused = None if header.get("trusted") else self._liveness(header["hash"], analysis)
        if refused is not None and (refused.get("live") is False or analysis.ok):
            return {**refused, "samples": session.good_samples, "required": session.settings.required}
        extra: dict[str, Any] = {}
        if analysis.ok:
            other = self._enrolled_as_other(user_id, analysis)
            if other is not None:
                extra["enrolled_as"] = other
                if not self.settings.face.allow_duplicate_enrolment:
                    return {
                        "message": "continue",
                        "reason": "enrolled_as_other",
                        **extra,
                        "detail": f"this face is already enrolled as {other}",
                    }
        step = session.feed(analysis)
        with self._tables:
            self._training[header["hash"]] = (user_id, session, time.monotonic())
        reply = {"message": step.message, "samples": step.good_samples, "required": step.required, **extra}
        if step.reason:
            reply["reason"] = step.reason
            if not analysis.ok:
                reply["detail"] = analysis.detail
        if step.message == "success":
            result = session.result
            assert result is not None  # a successful step has made the result
            self._store(user_id, result.template, result.best_jpeg)
            reply["consistency"] = result.consistency
        return reply

    def _enrolled_as_other(self, user_id: str, analysis: FaceAnalysis) -> str | None:
        with self._lock:
            found = self.gallery.search(analysis.embedding)
        if found.best_id not in (None, user_id) and found.best_score >= self.settings.face.match_threshold:
            return found.best_id
        return None

    def _store(self, user_id: str, template: np.ndarray, sample_jpeg: bytes) -> None:
        face_store.save_template(user_id, MODEL_NAME, template, sample_jpeg)
        with self._lock:
            self.gallery.set_user(user_id, template)
        assert self.publisher is not None  # setup() runs before any request
        self.publisher.publish(
            endpoints.TOPIC_ENROLLED,
            {"user_id": user_id, "model": MODEL_NAME, "templates": int(template.shape[0])},
            [sample_jpeg],
        )
        log.info("enrolled %s (%d templates)", user_id, template.shape[0])

    # -- technician's tools (CLI) ------------------------------------------------------
    def identify(self, header: dict, payloads: list[bytes]) -> dict:
        assert self.engine is not None  # prepare() runs before any request
        analysis = self.engine.analyse(self._image(payloads))
        if not analysis.ok:
            return {"found": False, "reason": analysis.reason, "detail": analysis.detail}
        with self._lock:
            scores = self.gallery.scores(analysis.embedding)
            best = top_identities(self.gallery, scores, int(header.get("top", 5)))
        threshold = self.settings.face.match_threshold
        return {
            "found": True,
            **self._match(analysis),
            "box": analysis.box,
            "timings_ms": analysis.timings_ms,
            "top": [
                {"user_id": u, "cosine": round(s, 4), "score": to_percent(s, threshold)} for u, s in best
            ],
        }

    def enrol(self, header: dict, payloads: list[bytes]) -> dict:
        """Enrol from still images (all of the same person), as face_train would."""
        user_id = header.get("user_id", "")
        key = f"cli-{id(payloads)}"
        self.train_open({"user_id": user_id, "hash": key}, [])
        try:
            reply: dict = {"message": "continue"}
            for index, image in enumerate(payloads):
                reply = self.train_frame({"hash": key, "trusted": True}, [image])  # a technician's photos
                reply["image"] = index
                if reply["message"] == "success":
                    break
            return reply
        finally:
            self.train_close({"hash": key}, [])

    def delete_user(self, header: dict, _payloads) -> dict:
        user_id = header.get("user_id", "")
        removed = face_store.delete_template(user_id)
        with self._lock:
            in_gallery = self.gallery.remove(user_id)
        return {"removed": bool(removed or in_gallery)}


def top_identities(gallery: Gallery, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The k best identities (one entry per user: their best template)."""
    best: dict[str, float] = {}
    for row in np.argsort(-scores)[: max(k * 8, k)]:
        user = gallery.owner_of_row(int(row))
        if user is not None and user not in best:
            best[user] = float(scores[row])
        if len(best) >= k:
            break
    return list(best.items())
