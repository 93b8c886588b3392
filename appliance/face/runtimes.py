"""Two runtimes for each face model, and the choice of the faster one on this machine.

The detector (YuNet) and the recogniser (SFace) run either on onnxruntime
(our float32 expansions, :mod:`.detector`, :mod:`.embedder`) or on OpenCV's
own ``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF`` (the wheel's original
int8 block-quantised files, which OpenCV dequantises itself).  Both compute
the same network: on the test photos the boxes agree to 0.1 px and the
embeddings to a cosine ≥ 0.9999 (tests/face/test_face_runtimes.py holds the
measured tolerance), so templates made by one are matched by the other.

Which is faster depends on the CPU and the libraries (issue 18 measured
OpenCV's SFace 1.5× faster here, and onnxruntime's YuNet faster), so it is
measured, not assumed: :func:`choose` times both on a real photo, a few
interleaved calls each, and stores the verdict in ``models_dir`` keyed by
CPU, library versions and model checksums; the next start reads it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from .detector import Detection, shrink
from .embedder import CROP_SIZE, l2_normalise
from .modelfiles import ORIGINALS, original_paths, sha256_file

log = logging.getLogger(__name__)

ONNXRUNTIME = "onnxruntime"
OPENCV = "opencv"
AUTO = "auto"
RUNTIMES = (AUTO, ONNXRUNTIME, OPENCV)
CHOICE_FILE = "face_runtime.json"
"""The stored measurement, in models_dir (rewritten when its key no longer matches)."""
ROUNDS = 4
"""Interleaved timed calls per runtime: the two medians decide (~0.5 s at start)."""


def originals_ok(models_dir: Path) -> bool:
    """True when OpenCV's input, the wheel's original int8 files, are there and intact."""
    paths = original_paths(models_dir)
    return all(p.exists() and sha256_file(p) == ORIGINALS[k][1] for k, p in paths.items())


@dataclass
class OpenCVDetector:
    """YuNet in ``cv2.FaceDetectorYN``, with the same shrink rule and output as YuNetDetector."""

    model_path: Path
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    max_side: int = 640
    threads: int = 2
    top_k: int = 50
    max_scale: float = 1.0

    def __post_init__(self):
        cv2.setNumThreads(self.threads)
        self.net = cv2.FaceDetectorYN.create(
            str(self.model_path),
            "",
            (320, 320),
            self.score_threshold,
            self.nms_threshold,
            5000,
            cv2.dnn.DNN_BACKEND_OPENCV,
            cv2.dnn.DNN_TARGET_CPU,
        )
        self._size = (320, 320)

    def detect(self, bgr: np.ndarray, max_scale: float | None = None) -> list[Detection]:
        """Faces in ``bgr`` (original coordinates), best score first."""
        small = shrink(bgr, self.max_side, self.max_scale if max_scale is None else max_scale)
        size = (small.shape[1], small.shape[0])
        if size != self._size:  # FaceDetectorYN pads to multiples of 32 itself
            self.net.setInputSize(size)
            self._size = size
        _, faces = self.net.detect(small)
        if faces is None:
            return []
        sx, sy = bgr.shape[1] / small.shape[1], bgr.shape[0] / small.shape[0]
        scale = np.array([sx, sy], np.float32)
        out = [
            Detection(
                box=f[:4].astype(np.float32) * np.tile(scale, 2),
                landmarks=f[4:14].reshape(5, 2).astype(np.float32) * scale,
                score=float(f[14]),
            )
            for f in faces[: self.top_k]
        ]
        return sorted(out, key=lambda d: -d.score)


class OpenCVEmbedder:
    """SFace in ``cv2.FaceRecognizerSF``: ``embed(aligned_bgr)`` -> unit float32 (128,)."""

    def __init__(self, model_path: Path, threads: int = 2):
        cv2.setNumThreads(threads)
        self.net = cv2.FaceRecognizerSF.create(str(model_path), "")

    def embed_batch(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for crop in crops:
            if crop.shape != (CROP_SIZE, CROP_SIZE, 3):
                raise ValueError(f"expected a 112x112x3 crop, got {crop.shape}")
            # feature() swaps BGR->RGB itself, as our onnxruntime path does.
            out.append(self.net.feature(np.ascontiguousarray(crop)).reshape(-1))
        return l2_normalise(np.stack(out)) if out else np.zeros((0, 128), np.float32)

    def embed(self, crop: np.ndarray) -> np.ndarray:
        return self.embed_batch([crop])[0]


def interleaved_medians(calls: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median ms per call, one warm-up each, then the calls in turn (same load for each)."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: float(np.median(v)) for name, v in times.items()}


def machine_key(models_dir: Path, threads: int, max_side: int, max_scale: float) -> dict:
    """What the measurement depends on: a change in any of it means measure again."""
    import onnxruntime

    sums = {}
    try:
        sums = json.loads((Path(models_dir) / "face_checksums.json").read_text())
    except (OSError, ValueError):
        pass
    return {
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpus": os.cpu_count(),
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": threads,
        "max_side": max_side,
        "max_scale": max_scale,
        "models": {k: v.get("sha256") for k, v in sums.items()},
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def stored_choice(models_dir: Path, key: dict) -> dict | None:
    """The stored verdict if it was measured under the same key (and names known runtimes)."""
    try:
        data = json.loads((Path(models_dir) / CHOICE_FILE).read_text())
    except (OSError, ValueError):
        return None
    known = all(data.get(m) in (ONNXRUNTIME, OPENCV) for m in ("detector", "recognizer"))
    if data.get("key") != key or not known:
        return None
    return data


def store_choice(models_dir: Path, data: dict) -> None:
    """Best effort: a read-only models dir just means measuring at every start."""
    path = Path(models_dir) / CHOICE_FILE
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        log.info("face runtime choice not stored (%s): measured again at next start", exc)


def measure(
    models_dir: Path,
    pairs: dict[str, dict[str, object]],
    sample: dict[str, Callable[[object], object]],
    key: dict,
) -> dict:
    """{'detector': name, 'recognizer': name, 'measured_ms': {...}}, measured now and stored.

    ``pairs[model][runtime]`` are ready instances; ``sample[model](instance)`` runs
    one call on the probe photo.
    """
    measured, verdict = {}, {}
    for model, candidates in pairs.items():
        ms = interleaved_medians({name: partial(sample[model], inst) for name, inst in candidates.items()})
        measured[model] = {name: round(v, 2) for name, v in ms.items()}
        verdict[model] = min(ms, key=lambda name: ms[name])
    data = {
        "key": key,
        **verdict,
        "measured_ms": measured,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    store_choice(models_dir, data)
    log.info("face runtimes measured: %s", measured)
    return data
