"""Alignment to SFace's 112×112 template and 128-d SFace embeddings on onnxruntime.

Alignment: a least-squares similarity transform (rotation, uniform scale,
translation; Umeyama 1991) maps YuNet's 5 landmarks onto the template that
OpenCV's ``FaceRecognizerSF.alignCrop`` uses, then ``cv2.warpAffine``.
Embedding: the model normalises pixels itself ((x - 127.5) / 128 inside the
graph) and, as OpenCV feeds it, expects RGB; the output is L2-normalised so a
dot product is the cosine similarity.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detector import make_session

# Landmark template of OpenCV's face_recognize.cpp (112×112 crop):
# right eye, left eye, nose tip, right mouth corner, left mouth corner.
SFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
CROP_SIZE = 112
EMBEDDING_DIM = 128


def similarity_transform(src: np.ndarray, dst: np.ndarray = SFACE_TEMPLATE) -> np.ndarray:
    """2×3 matrix of the least-squares similarity transform taking src points to dst."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sing, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1  # avoid a reflection
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (sing * d).sum() / var_src if var_src > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """112×112 BGR crop with the 5 landmarks moved onto the SFace template."""
    matrix = similarity_transform(landmarks)
    return cv2.warpAffine(
        bgr,
        matrix,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SFaceEmbedder:
    """``embed(aligned_bgr)`` -> unit-length float32 (128,) vector."""

    def __init__(self, model_path: Path, threads: int = 2):
        self.session = make_session(model_path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def embed_batch(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embeddings of several 112×112 BGR crops, shape (n, 128)."""
        if not crops:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        # The graph is declared with batch 1, so run crops one by one.
        out = []
        for crop in crops:
            if crop.shape != (CROP_SIZE, CROP_SIZE, 3):
                raise ValueError(f"expected a 112x112x3 crop, got {crop.shape}")
            blob = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
            out.append(self.session.run(None, {self.input_name: blob})[0][0])
        return l2_normalise(np.stack(out))

    def embed(self, crop: np.ndarray) -> np.ndarray:
        return self.embed_batch([crop])[0]
