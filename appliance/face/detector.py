"""YuNet face detection on onnxruntime: any input size, own decoding and NMS.

The image is shrunk (never enlarged) so its longer side is at most
``max_side`` and zero-padded on the right/bottom to multiples of 32, exactly
as OpenCV's ``FaceDetectorYN`` pads; the converted model takes any H×W (see
modelfiles).  YuNet (2023mar) gives, per stride 8/16/32 and grid cell, a class
and an objectness score, a box (centre offset, log size) and 5 landmarks.
Decoding follows OpenCV's ``face_detect.cpp`` so detections match it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from ..runtime import onnx

STRIDES = (8, 16, 32)


def make_session(model_path: Path, threads: int = 2) -> ort.InferenceSession:
    """An onnxruntime CPU session limited to ``threads`` (the kiosk has 2 cores), not spinning."""
    return onnx.session(model_path, threads, quiet=True)


@dataclass
class Detection:
    """One face in original-image pixel coordinates."""

    box: np.ndarray  # (4,) float32: x, y, w, h
    landmarks: np.ndarray  # (5, 2) float32: right eye, left eye, nose, mouth right, mouth left
    score: float

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    @property
    def short_side(self) -> float:
        return float(min(self.box[2], self.box[3]))

    def as_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "score": round(self.score, 4),
        }


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression on x,y,w,h boxes; returns kept indices by score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = boxes[:, 2] * boxes[:, 3]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode_outputs(
    outputs: dict[str, np.ndarray], pad_h: int, pad_w: int, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet raw outputs -> (boxes N×4, landmarks N×5×2, scores N) above threshold."""
    all_boxes, all_kps, all_scores = [], [], []
    for stride in STRIDES:
        rows, cols = pad_h // stride, pad_w // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        sel = np.nonzero(score >= score_threshold)[0]
        if sel.size == 0:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[sel]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[sel].reshape(-1, 5, 2)
        grid = np.stack([sel % cols, sel // cols], axis=1).astype(np.float32)  # (c, r)
        assert rows * cols == cls.size, "output size does not match padded input"
        centre = (grid + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:4]) * stride
        all_boxes.append(np.concatenate([centre - size / 2, size], axis=1))
        all_kps.append((kps + grid[:, None, :]) * stride)
        all_scores.append(score[sel])
    if not all_boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
    return (
        np.concatenate(all_boxes).astype(np.float32),
        np.concatenate(all_kps).astype(np.float32),
        np.concatenate(all_scores).astype(np.float32),
    )


def shrink(bgr: np.ndarray, max_side: int, max_scale: float = 1.0) -> np.ndarray:
    """The frame the detector sees: scaled by min(1, max_scale, max_side / longer side)."""
    h, w = bgr.shape[:2]
    scale = min(1.0, max_scale, max_side / max(h, w))
    if scale >= 1.0:
        return bgr
    return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


@dataclass
class YuNetDetector:
    """Face detector; ``detect(bgr)`` returns faces sorted by score, best first."""

    model_path: Path
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    max_side: int = 640
    threads: int = 2
    top_k: int = 50
    max_scale: float = 1.0  # < 1: shrink even small frames (see FaceSettings.detect_face_px)
    session: ort.InferenceSession = field(init=False, repr=False)

    def __post_init__(self):
        self.session = make_session(self.model_path, self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def prepare(self, bgr: np.ndarray, max_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Shrink (see :func:`shrink`), pad to multiples of 32; return (padded BGR, (sx, sy)).

        (sx, sy) multiply padded-image coordinates back to the original.
        """
        h, w = bgr.shape[:2]
        bgr = shrink(bgr, self.max_side, self.max_scale if max_scale is None else max_scale)
        h2, w2 = bgr.shape[:2]
        pad_h, pad_w = -(-h2 // 32) * 32, -(-w2 // 32) * 32
        padded = cv2.copyMakeBorder(bgr, 0, pad_h - h2, 0, pad_w - w2, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return padded, np.array([w / w2, h / h2], np.float32)

    def detect_prepared(self, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network on an already padded BGR image (coordinates in it)."""
        blob = padded.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0..255, no scaling
        outputs = self.session.run(self.output_names, {self.input_name: blob})
        raw = dict(zip(self.output_names, outputs, strict=True))
        boxes, kps, scores = decode_outputs(raw, padded.shape[0], padded.shape[1], self.score_threshold)
        keep = nms(boxes, scores, self.nms_threshold)[: self.top_k]
        return boxes[keep], kps[keep], scores[keep]

    def detect(self, bgr: np.ndarray, max_scale: float | None = None) -> list[Detection]:
        """Faces in ``bgr`` (original coordinates), best score first."""
        padded, scale = self.prepare(bgr, max_scale)
        boxes, kps, scores = self.detect_prepared(padded)
        box_scale = np.tile(scale, 2)
        return [
            Detection(box=b * box_scale, landmarks=k * scale, score=float(s))
            for b, k, s in zip(boxes, kps, scores, strict=False)
        ]
