"""Quality gates: is this frame good enough to identify or enrol from?

Order of the checks (the first failure is the reason reported):
1. ``no_face``        – the detector found nothing above its score threshold.
2. ``multiple_faces`` – another face is comparable in size to the largest one
   (a small face in the background is ignored: the citizen in front of the
   kiosk is by far the biggest face).
3. ``too_small``      – the subject's face box is shorter than ``min_face_px``.
4. ``not_frontal``    – head turned/tilted too far, estimated from landmarks.
5. ``blurry``         – variance of the Laplacian of the aligned 112×112 crop
   below ``min_sharpness`` (computed on the crop, so it measures the face and
   is independent of the frame size).
``bad_image`` comes from decoding; ``not_live`` and ``unknown`` are added by
the worker (liveness, matching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .detector import Detection

NO_FACE = "no_face"
MULTIPLE_FACES = "multiple_faces"
TOO_SMALL = "too_small"
NOT_FRONTAL = "not_frontal"
BLURRY = "blurry"
BAD_IMAGE = "bad_image"
REASONS = (NO_FACE, MULTIPLE_FACES, TOO_SMALL, NOT_FRONTAL, BLURRY, BAD_IMAGE)


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of the gates; defaults measured in docs/face-calibration.md."""

    dominance_ratio: float = 0.5  # another face with area >= ratio × largest → multiple_faces
    min_face_px: float = 80.0  # shorter side of the face box in original pixels
    max_yaw: float = 0.30  # |nose offset from eye midpoint| / eye distance
    max_roll_deg: float = 30.0  # eye-line angle (alignment removes roll; only extremes)
    pitch_range: tuple = (0.25, 0.80)  # (nose depth below eyes) / (mouth depth below eyes)
    min_sharpness: float = 40.0  # variance of Laplacian on the aligned gray crop


def pick_subject(faces: list[Detection], dominance_ratio: float) -> tuple[Detection | None, str | None]:
    """Return (subject, None) or (None, reason) among detections."""
    if not faces:
        return None, NO_FACE
    by_area = sorted(faces, key=lambda f: f.area, reverse=True)
    subject = by_area[0]
    rivals = [f for f in by_area[1:] if f.area >= dominance_ratio * subject.area]
    if rivals:
        return None, MULTIPLE_FACES
    return subject, None


def head_pose(landmarks: np.ndarray) -> dict[str, float]:
    """Rough pose from the 5 points: roll (degrees), yaw and pitch ratios.

    Points are first rotated so the eye line is horizontal.  ``yaw`` is the
    nose tip's horizontal offset from the eye midpoint divided by the eye
    distance (0 frontal, ~±0.5 near profile); ``pitch`` is where the nose tip
    lies between the eye line (0) and the mouth line (1), ~0.5 when frontal.
    """
    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    right_eye, left_eye, nose, mouth_r, mouth_l = pts
    dx, dy = left_eye - right_eye
    roll = math.degrees(math.atan2(dy, dx))
    eye_dist = math.hypot(dx, dy)
    if eye_dist < 1e-6:
        return {"roll": roll, "yaw": 9.9, "pitch": 9.9}
    cos_r, sin_r = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    eye_mid = (right_eye + left_eye) / 2
    nose_r = rot @ (nose - eye_mid)
    mouth_r_ = rot @ ((mouth_r + mouth_l) / 2 - eye_mid)
    yaw = nose_r[0] / eye_dist
    pitch = nose_r[1] / mouth_r_[1] if mouth_r_[1] > 1e-6 else 9.9
    return {"roll": roll, "yaw": float(yaw), "pitch": float(pitch)}


def is_frontal(pose: dict[str, float], settings: QualitySettings) -> bool:
    lo, hi = settings.pitch_range
    return (
        abs(pose["yaw"]) <= settings.max_yaw
        and abs(pose["roll"]) <= settings.max_roll_deg
        and lo <= pose["pitch"] <= hi
    )


def sharpness(aligned_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned crop's gray image (higher = sharper)."""
    gray = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def check_geometry(
    faces: list[Detection], settings: QualitySettings
) -> tuple[Detection | None, str | None, dict]:
    """Gates 1–4. Returns (subject or None, reason or None, quality numbers)."""
    subject, reason = pick_subject(faces, settings.dominance_ratio)
    numbers: dict = {"faces": len(faces)}
    if subject is None:
        return None, reason, numbers
    pose = head_pose(subject.landmarks)
    numbers.update(
        face_px=round(subject.short_side, 1),
        det_score=round(subject.score, 4),
        yaw=round(pose["yaw"], 3),
        roll=round(pose["roll"], 1),
        pitch=round(pose["pitch"], 3),
    )
    if subject.short_side < settings.min_face_px:
        return subject, TOO_SMALL, numbers
    if not is_frontal(pose, settings):
        return subject, NOT_FRONTAL, numbers
    return subject, None, numbers
