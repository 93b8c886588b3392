"""FaceEngine: image bytes in, a FaceAnalysis (verdict, geometry, embedding) out.

This is the one object the face worker holds.  It owns the detector and the
recogniser, each on the runtime measured faster on this machine
(:mod:`.runtimes`), and is not thread-safe: one engine per worker process,
calls in sequence.  One frame is decoded and detected once: liveness gets
the decoded frame and the landmarks from the analysis, and the camera's
recogniser hands its detections to :meth:`FaceEngine.analyse_array`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import quality, runtimes
from .detector import Detection, YuNetDetector
from .embedder import SFaceEmbedder, align_face
from .imagedecode import DecodeLimits, ImageError, decode_image
from .locate import locate
from .modelfiles import CONVERTED, original_paths, verify_models

# Measured defaults (docs/face-calibration.md, appliance/face/calibrate.py).
DEFAULT_MATCH_THRESHOLD = 0.50
DEFAULT_MATCH_MARGIN = 0.05


@dataclass(frozen=True)
class FaceSettings:
    """Everything tunable about the engine; the worker builds it from config."""

    threads: int = 2
    detect_score: float = 0.6
    detect_nms: float = 0.3
    detect_max_side: int = 640
    detect_face_px: float = 80.0
    """The first detection pass shrinks the frame so the smallest face the quality gate keeps
    (quality.min_face_px, 80) is this many pixels; the subject is then re-detected at full
    resolution (locate.py). 40 halves a 640×480 frame (0.63× the detection time) but lowered
    real genuine scores by up to 0.07 on the calibration set (docs/face-calibration.md), so the
    default, 80, detects at full resolution in one pass, as before."""
    detector_runtime: str = runtimes.AUTO
    """"auto" (measured, stored in models_dir), "onnxruntime" or "opencv"."""
    recognizer_runtime: str = runtimes.AUTO
    """Same choice for SFace."""
    quality: quality.QualitySettings = field(default_factory=quality.QualitySettings)
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    match_threshold: float = DEFAULT_MATCH_THRESHOLD
    match_margin: float = DEFAULT_MATCH_MARGIN
    verify_checksums: bool = True

    @classmethod
    def from_mapping(cls, data: dict) -> FaceSettings:
        """Build from a config table, e.g. ``{"match_threshold": 0.55,
        "quality": {"min_face_px": 100}, "limits": {"max_pixels": 20e6}}``.
        Unknown keys raise ValueError so a typo in the config is not ignored."""
        data = dict(data or {})
        nested: dict[str, type[quality.QualitySettings] | type[DecodeLimits]] = {
            "quality": quality.QualitySettings,
            "limits": DecodeLimits,
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in nested:
                known = nested[key].__dataclass_fields__
                bad = set(value) - set(known)
                if bad:
                    raise ValueError(f"unknown face.{key} settings: {sorted(bad)}")
                sub: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in value.items()}
                kwargs[key] = nested[key](**sub)
            elif key in cls.__dataclass_fields__:
                kwargs[key] = value
            else:
                raise ValueError(f"unknown face setting: {key}")
        return cls(**kwargs)


@dataclass
class FaceAnalysis:
    """Result of analysing one image.

    ``ok`` is True when a single usable face was found and embedded; otherwise
    ``reason`` is one of quality.REASONS and ``detail`` says more (for
    ``bad_image`` it starts with the ImageError reason_code).  ``image`` and
    ``aligned`` are kept for the enrolment's best sample and for liveness;
    :meth:`to_dict` leaves them out.
    """

    ok: bool
    reason: str | None = None
    detail: str = ""
    box: list[float] | None = None
    landmarks: list[list[float]] | None = None
    det_score: float | None = None
    embedding: np.ndarray | None = None
    quality: dict = field(default_factory=dict)
    timings_ms: dict = field(default_factory=dict)
    image_size: tuple[int, int] | None = None  # (width, height)
    faces: list[Detection] = field(default_factory=list, repr=False)
    image: np.ndarray | None = field(default=None, repr=False)
    aligned: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-friendly summary (no pixel arrays; embedding as a list if present)."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "detail": self.detail,
            "box": self.box,
            "landmarks": self.landmarks,
            "det_score": self.det_score,
            "embedding": None if self.embedding is None else self.embedding.tolist(),
            "quality": self.quality,
            "timings_ms": self.timings_ms,
            "image_size": self.image_size,
        }


class _Clock:
    """Collects per-stage wall times in milliseconds."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.times[stage] = round((now - self._last) * 1000, 2)
        self._last = now

    def done(self) -> dict[str, float]:
        self.times["total"] = round((time.perf_counter() - self._start) * 1000, 2)
        return self.times


class FaceEngine:
    """Detect, gate, align and embed faces. ``analyse(bytes)`` or ``analyse_array(bgr)``."""

    def __init__(self, models_dir: Path, settings: FaceSettings | None = None):
        self.settings = settings or FaceSettings()
        models_dir = Path(models_dir)
        if self.settings.verify_checksums:
            problems = verify_models(models_dir)
            if problems:
                raise FileNotFoundError("face models not ready (run ensure_models): " + "; ".join(problems))
        for value in (self.settings.detector_runtime, self.settings.recognizer_runtime):
            if value not in runtimes.RUNTIMES:
                raise ValueError(f"face runtime must be one of {runtimes.RUNTIMES}, got {value!r}")
        self.detect_scale = min(1.0, self.settings.detect_face_px / self.settings.quality.min_face_px)
        self.runtime_choice = self._choose(models_dir)
        self.detector = self._make("detector", self.runtime_choice["detector"], models_dir)
        self.embedder = self._make("recognizer", self.runtime_choice["recognizer"], models_dir)

    def _make(self, model: str, runtime: str, models_dir: Path):
        """One model on one runtime."""
        s = self.settings
        if model == "detector":
            args: dict[str, Any] = dict(
                score_threshold=s.detect_score,
                nms_threshold=s.detect_nms,
                max_side=s.detect_max_side,
                threads=s.threads,
                max_scale=self.detect_scale,
            )
            if runtime == runtimes.OPENCV:
                return runtimes.OpenCVDetector(original_paths(models_dir)["detector"], **args)
            return YuNetDetector(models_dir / CONVERTED["detector"], **args)
        if runtime == runtimes.OPENCV:
            return runtimes.OpenCVEmbedder(original_paths(models_dir)["recognizer"], s.threads)
        return SFaceEmbedder(models_dir / CONVERTED["recognizer"], threads=s.threads)

    def _choose(self, models_dir: Path) -> dict:
        """The runtime per model: as set, or the stored/measured faster one ("auto")."""
        wanted = {"detector": self.settings.detector_runtime, "recognizer": self.settings.recognizer_runtime}
        opencv_ok = runtimes.originals_ok(models_dir)
        if not opencv_ok and runtimes.OPENCV in wanted.values():
            raise FileNotFoundError("face runtime opencv asked for, but the original model files are missing")
        if runtimes.AUTO not in wanted.values():
            return wanted
        if not opencv_ok:  # only onnxruntime can run: nothing to measure
            return {m: runtimes.ONNXRUNTIME if v == runtimes.AUTO else v for m, v in wanted.items()}
        key = runtimes.machine_key(
            models_dir, self.settings.threads, self.settings.detect_max_side, self.detect_scale
        )
        found = runtimes.stored_choice(models_dir, key)
        if found is None:
            found = self._measure(models_dir, key)
        return {m: found[m] if v == runtimes.AUTO else v for m, v in wanted.items()}

    def _measure(self, models_dir: Path, key: dict) -> dict:
        """Time both runtimes of each model on the probe photo; stored for the next start."""
        from ..data import PROBE_PHOTO

        pairs = {
            model: {r: self._make(model, r, models_dir) for r in (runtimes.ONNXRUNTIME, runtimes.OPENCV)}
            for model in ("detector", "recognizer")
        }
        bgr = decode_image(PROBE_PHOTO.read_bytes())
        face = max(pairs["detector"][runtimes.ONNXRUNTIME].detect(bgr), key=lambda f: f.area)
        crop = align_face(bgr, face.landmarks)
        sample = {"detector": lambda det: det.detect(bgr), "recognizer": lambda emb: emb.embed(crop)}
        return runtimes.measure(models_dir, pairs, sample, key)

    def locate(self, bgr: np.ndarray) -> list[Detection]:
        """The faces of a frame as the analysis finds them (shrunk pass, subject refined)."""
        return locate(self.detector, bgr, self.detect_scale)

    def analyse(self, image_bytes: bytes) -> FaceAnalysis:
        """Decode and analyse untrusted image bytes; never raises for bad input."""
        clock = _Clock()
        try:
            bgr = decode_image(image_bytes, self.settings.limits)
        except ImageError as exc:
            clock.lap("decode")
            return FaceAnalysis(ok=False, reason=quality.BAD_IMAGE, detail=str(exc), timings_ms=clock.done())
        clock.lap("decode")
        return self._analyse(bgr, clock)

    def analyse_array(self, bgr: np.ndarray, faces: list[Detection] | None = None) -> FaceAnalysis:
        """Analyse an already decoded HxWx3 BGR uint8 frame (e.g. from the camera).

        ``faces``: what :meth:`locate` returned for this very frame, so it is not detected twice."""
        clock = _Clock()
        frame = np.asarray(bgr)
        if (
            frame.dtype != np.uint8
            or frame.ndim not in (2, 3)
            or frame.size == 0
            or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4))
        ):
            clock.lap("decode")
            return FaceAnalysis(
                ok=False,
                reason=quality.BAD_IMAGE,
                timings_ms=clock.done(),
                detail=f"decode_failed: frame {frame.dtype} {frame.shape}",
            )
        if frame.ndim == 2 or frame.shape[2] == 1:
            frame = np.repeat(frame.reshape(frame.shape[0], frame.shape[1], 1), 3, axis=2)
        elif frame.shape[2] == 4:
            frame = frame[:, :, :3]  # BGRA from some camera back ends: drop alpha
        clock.lap("decode")
        return self._analyse(np.ascontiguousarray(frame), clock, faces)

    def _analyse(self, bgr: np.ndarray, clock: _Clock, faces: list[Detection] | None = None) -> FaceAnalysis:
        if faces is None:
            faces = self.locate(bgr)
        clock.lap("detect")
        result = FaceAnalysis(
            ok=False, image=bgr, faces=faces, image_size=(int(bgr.shape[1]), int(bgr.shape[0]))
        )
        subject, reason, numbers = quality.check_geometry(faces, self.settings.quality)
        result.quality = numbers
        if subject is not None:
            result.box = [round(float(v), 1) for v in subject.box]
            result.landmarks = [[round(float(x), 1), round(float(y), 1)] for x, y in subject.landmarks]
            result.det_score = round(subject.score, 4)
        if reason is not None:
            result.reason, result.detail = reason, _describe(reason, numbers, self.settings)
            result.timings_ms = clock.done()
            return result
        assert subject is not None  # check_geometry gives a reason whenever there is no subject
        result.aligned = align_face(bgr, subject.landmarks)
        numbers["sharpness"] = round(quality.sharpness(result.aligned), 1)
        clock.lap("align")
        if numbers["sharpness"] < self.settings.quality.min_sharpness:
            result.reason = quality.BLURRY
            result.detail = _describe(quality.BLURRY, numbers, self.settings)
            result.timings_ms = clock.done()
            return result
        result.embedding = self.embedder.embed(result.aligned)
        clock.lap("embed")
        result.ok = True
        result.timings_ms = clock.done()
        return result

    def embed_aligned(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """Embedding of a ready 112×112 crop (tests, calibration)."""
        return self.embedder.embed(aligned_bgr)


def _describe(reason: str, numbers: dict, settings: FaceSettings) -> str:
    """One human-readable line for logs and the technician UI."""
    q = settings.quality
    if reason == quality.NO_FACE:
        return "no face detected"
    if reason == quality.MULTIPLE_FACES:
        return f"{numbers.get('faces')} faces, none clearly the largest"
    if reason == quality.TOO_SMALL:
        return f"face {numbers.get('face_px')} px < {q.min_face_px} px"
    if reason == quality.NOT_FRONTAL:
        return (
            f"head pose yaw={numbers.get('yaw')} roll={numbers.get('roll')} "
            f"pitch={numbers.get('pitch')} outside limits"
        )
    if reason == quality.BLURRY:
        return f"sharpness {numbers.get('sharpness')} < {q.min_sharpness}"
    return reason
