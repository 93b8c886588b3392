"""A pluggable single-image liveness model (MiniFASNet-style) that a technician installs.

No passive anti-spoofing model ships in any package registry, so none is
bundled.  A technician may put one into the models folder and name it in
``liveness.model_file``.  Expected signature (as the Silent-Face-Anti-Spoofing
MiniFASNet exports): one input ``N×3×80×80`` float32, BGR, pixel values
0..255 times ``input_scale``; one output ``N×3`` logits; after a softmax,
class 1 is "real" (0 and 2 are attack classes).  The crop is the detector's
face box scaled by ``crop_scale`` (2.7 for MiniFASNetV2, 4.0 for V1SE) about
its centre, shifted to stay inside the image, resized to 80×80.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..runtime import onnx

INPUT_SIZE = 80
REAL_CLASS = 1


class ModelError(RuntimeError):
    """The model file is missing or does not have the expected signature."""


def crop_face(frame_bgr: np.ndarray, box, scale: float, size: int = INPUT_SIZE) -> np.ndarray:
    """The MiniFASNet crop: box × scale about its centre, kept inside the image (as its authors do)."""
    h, w = frame_bgr.shape[:2]
    x, y, bw, bh = (float(v) for v in box)
    scale = min(scale, (h - 1) / max(bh, 1), (w - 1) / max(bw, 1))
    nw, nh = bw * scale, bh * scale
    cx, cy = x + bw / 2, y + bh / 2
    left, top = cx - nw / 2, cy - nh / 2
    left = min(max(left, 0), w - 1 - nw)
    top = min(max(top, 0), h - 1 - nh)
    x0, y0, x1, y1 = int(left), int(top), int(left + nw), int(top + nh)
    crop = frame_bgr[y0 : y1 + 1, x0 : x1 + 1]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class OnnxLivenessModel:
    """``real_probability(frame_bgr, box) -> float`` in 0..1."""

    def __init__(self, path: Path, crop_scale: float = 2.7, input_scale: float = 1.0, threads: int = 1):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"liveness model {path} does not exist")
        try:
            self.session = onnx.session(path, threads)
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise ModelError(f"liveness model {path} cannot be loaded: {exc}") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(
                f"{path.name}: expected one input and one output, got {len(inputs)}/{len(outputs)}"
            )
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{path.name}: input shape {shape}, expected N×3×80×80")
        self.size = shape[2] if isinstance(shape[2], int) else INPUT_SIZE
        self.input_name = inputs[0].name
        self.crop_scale, self.input_scale = crop_scale, input_scale
        self.path = path

    def preprocess(self, frame_bgr: np.ndarray, box) -> np.ndarray:
        crop = crop_face(frame_bgr, box, self.crop_scale, self.size).astype(np.float32) * self.input_scale
        return crop.transpose(2, 0, 1)[None]  # HWC BGR -> 1×3×H×W

    def real_probability(self, frame_bgr: np.ndarray, box) -> float:
        logits = np.asarray(self.session.run(None, {self.input_name: self.preprocess(frame_bgr, box)})[0])
        if logits.ndim != 2 or logits.shape[1] != 3:
            raise ModelError(f"{self.path.name}: output shape {logits.shape}, expected N×3")
        return float(softmax(logits.astype(np.float64))[0, REAL_CLASS])
