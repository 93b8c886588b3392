"""Find the faces of a frame cheaply, and the subject's landmarks precisely.

A kiosk only keeps faces whose shorter side is at least
``quality.min_face_px`` (80 px): such a face is still ≥ 40 px when the frame
is shrunk to half, and YuNet finds faces from ~10 px up.  So the first pass
runs on the frame shrunk by ``min(1, face_px / min_face_px)`` (a 640×480
frame becomes 320×240: a quarter of the pixels).  Landmarks found at half
resolution are, however, coarse: the embedding of the same photo moved to a
cosine of 0.89–0.97 against full-resolution landmarks (measured on the test
photos), which would eat the genuine/impostor margin.  So the second pass
re-detects the *subject* (the largest face, the one the quality gate and the
embedding use) in a crop around it at full resolution: the crop is ~2× the
face, a fraction of the frame.  Other faces keep their first-pass geometry:
they are only counted and sized (``multiple_faces``).
"""

from __future__ import annotations

import numpy as np

from .detector import Detection

CONTEXT = 0.6
"""The refinement crop adds this fraction of the face box on each side (YuNet
needs some context around a face to find it)."""


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(float(a[2] * a[3] + b[2] * b[3] - inter), 1e-9)


def refine(detector, bgr: np.ndarray, face: Detection) -> Detection:
    """The face re-detected at full resolution in a crop around it (itself if not found)."""
    h, w = bgr.shape[:2]
    x, y, bw, bh = (float(v) for v in face.box)
    x0, y0 = int(max(0, x - CONTEXT * bw)), int(max(0, y - CONTEXT * bh))
    x1, y1 = int(min(w, x + bw * (1 + CONTEXT))), int(min(h, y + bh * (1 + CONTEXT)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return face
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
    offset = np.array([x0, y0], np.float32)
    best, best_iou = face, 0.3  # a re-detection must overlap the first one
    for found in detector.detect(crop, max_scale=1.0):
        moved = Detection(
            box=found.box + np.tile(offset, 2), landmarks=found.landmarks + offset, score=found.score
        )
        overlap = _iou(moved.box, face.box)
        if overlap > best_iou:
            best, best_iou = moved, overlap
    return best


def locate(detector, bgr: np.ndarray, max_scale: float) -> list[Detection]:
    """All faces (first pass at ``max_scale``), the largest refined; best score first."""
    faces = detector.detect(bgr, max_scale=max_scale)
    if not faces or max_scale >= 1.0:
        return faces
    largest = max(range(len(faces)), key=lambda i: faces[i].area)
    faces[largest] = refine(detector, bgr, faces[largest])
    return sorted(faces, key=lambda d: -d.score)
