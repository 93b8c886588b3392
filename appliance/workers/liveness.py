"""The liveness worker: is the face in front of the camera a live person?

The face worker asks it about every frame it analysed (op ``observe``) and
answers ``continue`` + ``reason: not_live`` until the verdict is live.

Ops (bus requests to worker "liveness"):
- ``observe`` header ``{"hash", "box": [x,y,w,h], "landmarks": [[x,y]*5],
  "image_size": [w,h], "shape": [h,w,3], "embedding"?: [128 floats]}`` + ONE payload: the decoded frame,
  raw BGR uint8 bytes (numpy ``tobytes()``) →
  ``{"live": true|false|null, "score", "reason", "cues": {...}, "frames"}``
  (null: not decided yet, send more frames; a decided verdict is final for the hash)
- ``observe.close``  ``{"hash"}`` → ``{"forgot": bool}`` (drop the hash's state)
- ``status``  ``{}`` → policy, sessions, model and remote API in use

State per hash is bounded (liveness.max_sessions, LRU; liveness.idle_expiry).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..liveness.checker import LivenessChecker
from ..liveness.policy import Policy
from ..metrics import upstream
from ..runtime.worker import HandlerError, ServiceWorker
from .ops import Liveness

log = logging.getLogger(__name__)
MAX_SIDE = 8192


def build_checker(settings) -> LivenessChecker:
    """The checker the worker and the CLI use, from [liveness] and [liveness_api]."""
    cfg = settings.liveness
    model = None
    if cfg.model_file:
        from ..liveness.onnx_model import OnnxLivenessModel

        model = OnnxLivenessModel(
            settings.models_dir / cfg.model_file,
            crop_scale=cfg.model_crop_scale,
            input_scale=cfg.model_input_scale,
        )
    remote = None
    if settings.liveness_api.enabled:
        from ..liveness.remote import SilentLivenessClient

        remote = SilentLivenessClient.from_settings(settings.liveness_api)
    policy = Policy.from_settings(cfg)
    return LivenessChecker(
        policy,
        model=model,
        remote=remote,
        max_sessions=cfg.max_sessions,
        idle_expiry=cfg.idle_expiry,
        mesh=load_mesh(settings) if policy.blink else None,
    )


def load_mesh(settings):
    """The face mesh for the blink cue, or None (then only a head turn proves life; logged)."""
    from ..liveness.modelfiles import mesh_path, verify_models

    problems = verify_models(settings.models_dir)
    if problems:
        log.warning("liveness: no blink cue, only head turns prove life: %s", "; ".join(problems))
        return None
    try:
        from ..liveness.mesh import FaceMesh

        return FaceMesh(mesh_path(settings.models_dir))
    except (ImportError, RuntimeError, ValueError) as exc:  # ai-edge-litert missing or the file unusable
        log.warning("liveness: no blink cue, the face mesh did not load: %s", exc)
        return None


def decode_frame(header: dict, payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Validate an observe request; return (frame, landmarks, box)."""
    if len(payloads) != 1:
        raise HandlerError("bad_request", "exactly one payload (the raw BGR frame) expected")
    shape = header.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or shape[2] != 3
        or not all(isinstance(v, int) and 0 < v <= MAX_SIDE for v in shape)
    ):
        raise HandlerError("bad_request", f"shape must be [h, w, 3], got {shape!r}")
    if len(payloads[0]) != shape[0] * shape[1] * 3:
        raise HandlerError(
            "bad_request",
            f"payload has {len(payloads[0])} bytes, shape {shape} needs {shape[0] * shape[1] * 3}",
        )
    frame = np.frombuffer(payloads[0], np.uint8).reshape(shape)
    try:
        landmarks = np.asarray(header.get("landmarks"), np.float32).reshape(5, 2)
        raw_box = header.get("box")
        if raw_box is None:
            raise TypeError("box is missing")
        box = [float(v) for v in raw_box]
        assert len(box) == 4
    except (TypeError, ValueError, AssertionError):
        raise HandlerError("bad_request", "landmarks must be 5 [x, y] points and box [x, y, w, h]") from None
    if not np.isfinite(landmarks).all():
        raise HandlerError("bad_request", "landmarks must be finite numbers")
    return frame, landmarks, box


def decode_embedding(header: dict) -> np.ndarray | None:
    """The optional face embedding (the identity check across frames)."""
    raw = header.get("embedding")
    if raw is None:
        return None
    try:
        embedding = np.asarray(raw, np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise HandlerError("bad_request", "embedding must be a list of numbers") from None
    if not 16 <= embedding.size <= 4096 or not np.isfinite(embedding).all():
        raise HandlerError("bad_request", "embedding must be 16..4096 finite numbers")
    return embedding


class LivenessWorker(ServiceWorker):
    name = "liveness"
    threads = 2

    def __init__(self, settings):
        super().__init__(settings)
        self.checker: LivenessChecker | None = None

    def prepare(self) -> None:  # models only: the sessions start empty in any case
        self.checker = build_checker(self.settings)
        log.info(
            "liveness: required %s, vetoes %s, model %s, remote API %s, blink %s",
            self.checker.policy.required,
            self.checker.policy.vetoes,
            self.settings.liveness.model_file or "none",
            "on" if self.checker.remote is not None else "off",
            "on" if self.checker.mesh is not None else "off",
        )

    def ops(self):
        return {Liveness.OBSERVE: self.observe, Liveness.OBSERVE_CLOSE: self.forget}

    def inline_ops(self) -> frozenset[str]:
        # forget: a pop under the checker's table lock (held for dict operations only, never during a
        # frame's model calls); describe: counts and settings
        return super().inline_ops() | {Liveness.OBSERVE_CLOSE}

    def status(self) -> dict[str, Any]:
        # the remote liveness API's calls by outcome, for /metrics (kiosk_upstream_*{api="liveness_api"})
        return {"sessions": self.checker.sessions if self.checker else 0, **upstream.status()}

    def observe(self, header: dict, payloads: list[bytes]) -> dict:
        key = header.get("hash")
        if not isinstance(key, str) or not key:
            raise HandlerError("bad_request", "hash (the connection id) is required")
        frame, landmarks, box = decode_frame(header, payloads)
        assert self.checker is not None  # prepare() runs before any request
        return self.checker.observe(key, frame, landmarks, box, embedding=decode_embedding(header)).to_dict()

    def forget(self, header: dict, _payloads) -> dict:
        assert self.checker is not None  # prepare() runs before any request
        return {"forgot": self.checker.forget(str(header.get("hash", "")))}

    def describe(self, _header: dict, _payloads) -> dict:
        assert self.checker is not None  # prepare() runs before any request
        p = self.checker.policy
        return {
            "sessions": self.checker.sessions,
            "required": list(p.required),
            "vetoes": list(p.vetoes),
            "blink": self.checker.mesh is not None,
            "model": self.settings.liveness.model_file or None,
            "remote": self.settings.liveness_api.url if self.checker.remote is not None else None,
        }
