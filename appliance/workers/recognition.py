"""Continuous recognition of the kiosk's own camera frames (inside the face worker).

Cheap detection first; the full pipeline only on a face that is big enough
and steady across two looks. One recognition event per person per visit: a
visit ends when the person has not been seen for camera.visit_gap seconds.
Strangers are told apart by their embeddings, so two strangers are two visits.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import numpy as np
import zmq

from ..face.imagedecode import encode_jpeg
from ..runtime import bus, endpoints
from ..store import RecognitionEvent, database
from ..store.models import Citizen

log = logging.getLogger(__name__)

STEADY = 0.25
"""A face whose centre moved more than this fraction of its size since the last look is not steady."""


class VisitTracker:
    """Decides whether a sighting starts a new visit."""

    def __init__(self, gap: float, same_stranger: float):
        self.gap, self.same_stranger = gap, same_stranger
        self.known: dict[str, float] = {}
        self.strangers: list[tuple[np.ndarray, float]] = []

    def new_visit(self, identity: str | None, embedding: np.ndarray, now: float) -> bool:
        self.strangers = [(e, t) for e, t in self.strangers if now - t <= self.gap]
        if identity is not None:
            fresh = now - self.known.get(identity, -1e18) > self.gap
            self.known[identity] = now
            return fresh
        for index, (known, _) in enumerate(self.strangers):
            if float(known @ embedding) >= self.same_stranger:
                self.strangers[index] = (known, now)
                return False
        self.strangers.append((embedding, now))
        return True


class Recogniser:
    """Reads the newest camera frame at camera.recognise_fps and publishes recognition events."""

    def __init__(self, worker, match: Callable):
        self.worker, self.match = worker, match
        self.cfg = worker.settings.camera
        self.tracker = VisitTracker(self.cfg.visit_gap, worker.settings.face.match_threshold)
        self.stats = {"examined": 0, "events": 0, "received": 0, "lost": 0}
        self._last_frame_id: int | None = None
        self._last_box = None
        self._thread = threading.Thread(target=self._run, name="recognise", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        run = self.worker.settings.runtime_dir
        sock = bus.subscriber(
            run,
            [endpoints.TOPIC_FRAME],
            self.worker.ctx,
            hwm=bus.FRAME_HWM,
            endpoint=endpoints.camera_frames(run),
        )
        period = 1.0 / self.cfg.recognise_fps
        while not self.worker._stop.is_set():
            frames = self._newest(sock)
            if frames is not None:
                try:
                    self.examine(frames)
                except Exception:  # one bad frame must not end recognition
                    log.exception("recognition of a camera frame failed")
            self.worker._stop.wait(period)
        sock.close(linger=0)

    def _newest(self, sock: zmq.Socket):
        """Drain the socket and keep only the newest frame. Frames skipped here are skipped on
        purpose (recognise_fps); frames whose ids never arrive were dropped on the way (the PUB
        socket's high-water mark drops silently), and are counted as ``lost``."""
        newest = None
        while sock.poll(0 if newest is not None else 200):
            newest = sock.recv_multipart()
            self.count_frame(newest)
        return newest

    def count_frame(self, frames: list[bytes]) -> None:
        """Account one received frame: a gap in the camera's frame ids is frames lost."""
        frame_id = bus.decode(frames[1:])[0].get("frame_id")
        if not isinstance(frame_id, int):
            return
        last = self._last_frame_id
        if last is not None and frame_id > last + 1:
            self.stats["lost"] += frame_id - last - 1
        self.stats["received"] += 1
        self._last_frame_id = frame_id  # a restarted camera counts from 1 again: no gap

    def examine(self, frames: list[bytes]) -> dict | None:
        header, payloads = bus.decode(frames[1:])
        image = np.frombuffer(payloads[0], np.uint8).reshape(header["shape"])
        self.stats["examined"] += 1
        faces = self.worker.engine.locate(image)  # the analysis below reuses them: one detection
        big = [f for f in faces if min(f.box[2], f.box[3]) >= self.cfg.min_face_px]
        if not big:
            self._last_box = None
            return None
        box = max(big, key=lambda f: f.box[2] * f.box[3]).box
        steady = self._last_box is not None and _moved(self._last_box, box) <= STEADY
        self._last_box = box
        if not steady:
            return None
        analysis = self.worker.engine.analyse_array(image, faces=faces)
        if not analysis.ok:
            return None
        verdict = self.match(analysis)
        identity = verdict.get("user_id") if verdict["message"] == "success" else None
        if not self.tracker.new_visit(identity, analysis.embedding, time.monotonic()):
            return None
        return self._event(header, analysis, identity, verdict.get("score"))

    def _event(self, header: dict, analysis, identity: str | None, score) -> dict:
        name = ""
        if identity:
            citizen = Citizen.get_or_none(Citizen.user_id == identity)
            name = (citizen.name if citizen else "") or ""
        record = {
            "event_id": str(uuid.uuid4()),
            "timestamp": int(header["ts"] * 1000),
            "identity_id": identity or "",
            "identity_name": name,
            "user_type": "visitor" if identity else "stranger",
            "score": score if score is not None else 0.0,
            "media_device_ip": self.cfg.device_ip,
            "media_device_id": header["device_id"],
            "media_device_type": header["source"],
            "recognize_face_attr": {k: analysis.quality.get(k) for k in ("face_px", "yaw", "pitch", "roll")},
        }
        x, y, w, h = (int(v) for v in analysis.box)
        crop = analysis.image[max(0, y) : y + h, max(0, x) : x + w]
        face_jpeg = encode_jpeg(crop, max_bytes=100_000, max_side=256)
        with database.atomic("IMMEDIATE"):
            RecognitionEvent.create(
                event_id=record["event_id"],
                source="kiosk",
                identity_id=record["identity_id"],
                identity_name=name,
                user_type=record["user_type"],
                score=record["score"],
                device_id=record["media_device_id"],
                device_ip=record["media_device_ip"],
                device_type=record["media_device_type"],
                timestamp_ms=record["timestamp"],
                payload=record,
                image=face_jpeg,
            )
        register = self.worker.sample_of(identity) if identity else None
        self.worker.publisher.publish(endpoints.TOPIC_RECOGNISED, record, [face_jpeg, register or b""])
        self.stats["events"] += 1
        log.info("recognised %s (%s)", identity or "a stranger", record["event_id"])
        return record


def _moved(a, b) -> float:
    """Centre displacement between two boxes, relative to their size."""
    ax, ay, bx, by = a[0] + a[2] / 2, a[1] + a[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    return float(np.hypot(ax - bx, ay - by) / max(1.0, (a[2] + b[2]) / 2))
