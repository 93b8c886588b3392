"""The parallax cue: does the face move like a 3-D head or like a plane?

A photo or a screen is (nearly) flat.  However it is moved, rotated or
tilted, the image motion of every point on it between two frames is one
homography.  A real head is not flat: when it turns, the nose, the cheeks
and the eye sockets move by different amounts (parallax), and no homography
explains the motion of the whole face.

Per pair of frames (an earlier reference, the current frame):

1. corners are found on the inner face (the hull of the 5 landmarks, grown
   a little, so no background is in it) and tracked with pyramidal
   Lucas–Kanade after the current frame was warped back by the homography
   of the eyes and mouth corners (so a plane's patches are not distorted),
   and checked forward–backward;
2. a homography and a similarity are fitted to the tracks (RANSAC);
3. ``turn`` = how much of the motion a similarity (shift, scale, in-plane
   rotation) does not explain — evidence that the face turned or tilted, in
   eye-distance units; ``parallax`` = how much a homography does not explain,
   in the same units, and ``nose`` = the nose landmark's departure from the
   homography of the other four landmarks.

Without enough ``turn`` a pair says nothing (a still face is neither live nor
an attack).  With it, a plane leaves ``parallax`` at tracking noise; a head
does not.  Thresholds are measured: docs/liveness.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

WORK_IOD = 50.0
"""Frames are scaled so the eye distance is about this many pixels: the same
tracking precision whatever the camera's resolution and the face's distance."""
MIN_TRACKS = 25
FB_MAX = 0.7  # forward-backward disagreement allowed, pixels at WORK_IOD
LK: dict[str, Any] = dict(
    winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
)


@dataclass
class FrameView:
    """What the cue keeps of one frame: scaled grey image and landmarks."""

    gray: np.ndarray
    landmarks: np.ndarray  # 5×2, in the scaled image
    iod: float


@dataclass
class PairMeasure:
    turn: float  # non-similarity motion, eye distances
    parallax: float  # motion a homography does not explain, eye distances
    nose: float  # nose landmark's departure from the 4-point homography, eye distances
    tracks: int
    fraction: float = 0.0  # share of the inner face's corners tracked forward and back
    ncc: float = 0.0  # inner face (eyes left out) of b warped onto a: normalised correlation
    moved: float = 0.0  # root-mean-square motion of the tracked face (eyes left out), eye distances


def iod_of(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(landmarks[1], np.float32) - np.asarray(landmarks[0], np.float32)))


def frame_scale(landmarks) -> float:
    """Scale factor that brings the eye distance to WORK_IOD (never more than 2× up)."""
    return min(2.0, WORK_IOD / max(iod_of(np.asarray(landmarks, np.float32)), 1.0))


def view(frame_bgr: np.ndarray, landmarks, scale: float) -> FrameView:
    gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if abs(scale - 1.0) > 1e-3:
        gray = cv2.resize(
            gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
    lm = np.asarray(landmarks, np.float32) * scale
    return FrameView(gray=gray, landmarks=lm, iod=iod_of(lm))


def inner_face_mask(shape, landmarks: np.ndarray, grow: float = 1.35) -> np.ndarray:
    """Hull of the 5 landmarks grown about its centre: eyes, nose, cheeks, mouth — no background."""
    centre = landmarks.mean(axis=0)
    pts = centre + (landmarks - centre) * grow
    pts[:2, 1] -= 0.25 * iod_of(landmarks)  # reach up to the brows and the nose bridge
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.astype(np.int32)), 255)
    return mask


def without_eyes(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``mask`` with a disc over each eye: a blink changes them, it is not a cut."""
    keep = mask.copy()
    for eye in landmarks[:2]:
        cv2.circle(keep, (int(eye[0]), int(eye[1])), int(0.3 * iod_of(landmarks)) + 1, 0, -1)
    return keep


def appearance(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    """Normalised correlation of two aligned grey faces on ``keep`` (the inner face without the eyes)."""
    sel = keep > 0
    if sel.sum() < 50:
        return 0.0
    x = cv2.GaussianBlur(a, (0, 0), 1.0)[sel].astype(np.float32)
    y = cv2.GaussianBlur(b, (0, 0), 1.0)[sel].astype(np.float32)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / max(np.sqrt((x @ x) * (y @ y)), 1e-6))


def _track(a: FrameView, b: FrameView):
    """(p0, p1, fraction tracked, appearance, which of p0/p1 lie off the eyes) or None when the
    face has too little texture."""
    mask = inner_face_mask(a.gray.shape, a.landmarks)
    p0 = cv2.goodFeaturesToTrack(a.gray, maxCorners=200, qualityLevel=0.003, minDistance=3, mask=mask)
    if p0 is None or len(p0) < MIN_TRACKS:
        return None
    p0 = p0.reshape(-1, 2).astype(np.float32)
    # Undo the plane through the eyes and mouth corners first: B is resampled into A's
    # frame, so LK (which models translation only) never sees a foreshortened patch.
    # A print then needs no correction at all; a head only its parallax (a few pixels).
    plane = cv2.getPerspectiveTransform(a.landmarks[[0, 1, 4, 3]], b.landmarks[[0, 1, 4, 3]])
    if not np.isfinite(plane).all() or abs(np.linalg.det(plane)) < 1e-9:
        return None
    b_in_a = cv2.warpPerspective(
        b.gray,
        plane,
        (a.gray.shape[1], a.gray.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    # cv2 stubs omit that nextPts may be None (no initial guess), which OpenCV accepts
    q, st1, _ = cv2.calcOpticalFlowPyrLK(a.gray, b_in_a, p0, None, **LK)  # type: ignore[call-overload]
    if q is None:
        return None
    back, st2, _ = cv2.calcOpticalFlowPyrLK(
        b_in_a, a.gray, q, p0.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **LK
    )
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - p0, axis=1) < FB_MAX)
    keep = without_eyes(mask, a.landmarks)
    off_eyes = (
        keep[
            np.clip(p0[:, 1].astype(int), 0, keep.shape[0] - 1),
            np.clip(p0[:, 0].astype(int), 0, keep.shape[1] - 1),
        ]
        > 0
    )
    fraction = float(good[off_eyes].mean()) if off_eyes.sum() >= 10 else float(good.mean())
    similar = appearance(a.gray, b_in_a, keep)
    if good.sum() < MIN_TRACKS:
        return None, None, fraction, similar, None
    p1 = cv2.perspectiveTransform(q.reshape(-1, 1, 2), plane).reshape(-1, 2)
    return p0[good], p1[good], fraction, similar, off_eyes[good]


def _residual(src: np.ndarray, dst: np.ndarray, model: np.ndarray | None) -> np.ndarray:
    if model is None:
        return np.full(len(src), np.inf, np.float32)
    if model.shape == (2, 3):
        pred = src @ model[:, :2].T + model[:, 2]
    else:
        pred = cv2.perspectiveTransform(src.reshape(-1, 1, 2), model).reshape(-1, 2)
    return np.linalg.norm(pred - dst, axis=1)


def nose_parallax(a: np.ndarray, b: np.ndarray) -> float:
    """Where the 4-point (eyes, mouth corners) homography puts the nose vs where it is."""
    h = cv2.getPerspectiveTransform(a[[0, 1, 4, 3]].astype(np.float32), b[[0, 1, 4, 3]].astype(np.float32))
    pred = cv2.perspectiveTransform(a[2].reshape(1, 1, 2).astype(np.float32), h).reshape(2)
    return float(np.linalg.norm(pred - b[2]))


def measure(a: FrameView, b: FrameView) -> PairMeasure | None:
    """Turn and parallax between two views of the same face (None: too few tracks)."""
    return measure_linked(a, b)[0]


def measure_linked(a: FrameView, b: FrameView) -> tuple[PairMeasure | None, tuple | None]:
    """(the pair's measure or None, (fraction tracked, appearance, texture shift) or None: nothing
    to track).  The shift is the median motion (dx, dy) of the tracked face, eye distances."""
    tracks = _track(a, b)
    if tracks is None:
        return None, None
    p0, p1, fraction, similar, off_eyes = tracks
    if p0 is None:
        return None, (fraction, similar, None)
    iod = max((a.iod + b.iod) / 2, 1.0)
    shift = np.median(p1 - p0, axis=0) / iod
    steady = off_eyes if off_eyes.sum() >= 10 else np.ones(len(p0), bool)  # lids move in a blink
    moved = float(np.sqrt(np.mean(np.sum((p1 - p0)[steady] ** 2, axis=1)))) / iod
    sim, _ = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    hom, _ = cv2.findHomography(p0, p1, cv2.RANSAC, 1.0)
    r_sim, r_hom = _residual(p0, p1, sim), _residual(p0, p1, hom)
    pair = PairMeasure(
        turn=float(np.median(r_sim)) / iod,
        parallax=float(np.percentile(r_hom, 75)) / iod,
        nose=nose_parallax(a.landmarks, b.landmarks) / iod,
        tracks=int(len(p0)),
        fraction=round(fraction, 3),
        ncc=round(similar, 3),
        moved=moved,
    )
    return pair, (fraction, similar, shift)
