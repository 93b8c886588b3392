"""Rendered blinks for the evaluation set: eyelids painted over a real photo's eyes.

No video of real people blinking ships in any package registry, so a blink is
drawn: over each eye (placed from the photo's own 5 landmarks, not from the
mesh that later judges it) the upper lid comes down — skin taken from just
above the eye slides over it, with a dark lash line at its edge and a soft
crease.  ``closure`` 0 is the photo as it is, 1 a closed eye.

Timing follows the physiology literature (Kwon et al. 2013; VanderWerf et al.
2003): the lid closes in 70–110 ms, stays closed 30–100 ms, and reopens more
slowly, 120–220 ms.  ``profile`` samples that at the camera's frame times.
It represents a lid over a still eye.  It does NOT represent lashes, the
eyeball rolling, the lower lid, skin folds or the lighting of a real eyelid.
"""

from __future__ import annotations

import cv2
import numpy as np

FPS = 10.0
"""Frame rate of the evaluation sequences (a /face_predict client sends a few frames a second)."""


def profile(rng: np.random.Generator, n: int, fps: float = FPS, blinks: int = 1) -> list[float]:
    """Closure (0..1) at each frame time for ``blinks`` blinks at random moments."""
    t = np.arange(n) / fps
    closure = np.zeros(n)
    starts = np.sort(rng.uniform(0.25, max(0.3, n / fps - 0.6), blinks))
    for start in starts:
        close, hold, reopen = rng.uniform(0.07, 0.11), rng.uniform(0.03, 0.10), rng.uniform(0.12, 0.22)
        rise = np.clip((t - start) / close, 0, 1)
        fall = np.clip(1 - (t - start - close - hold) / reopen, 0, 1)
        closure = np.maximum(closure, np.minimum(rise, fall))
    return [float(c) for c in closure]


def closing_frames(rng: np.random.Generator, n: int, fps: float = FPS) -> list[float]:
    """A profile where the lid is at least 80 % down on one frame (a camera at ``fps`` may miss
    a fast blink altogether; the evaluation models a blink the camera saw)."""
    for _ in range(50):
        closure = profile(rng, n, fps)
        if max(closure) >= 0.8:
            return closure
    closure = profile(rng, n, fps)
    peak = int(np.argmax(closure))
    closure[peak] = 1.0
    return closure


def paint_lids(image: np.ndarray, landmarks, closure: float) -> np.ndarray:
    """``image`` (float32 or uint8 BGR) with both upper lids ``closure`` of the way down."""
    if closure <= 0.01:
        return image
    out = image.astype(np.float32).copy()
    lm = np.asarray(landmarks, np.float32)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    angle = float(np.degrees(np.arctan2(lm[1, 1] - lm[0, 1], lm[1, 0] - lm[0, 0])))
    half_w, half_h = 0.30 * iod, 0.13 * iod  # a little larger than the visible eye
    h, w = out.shape[:2]
    # only a window around the eyes is touched (and computed)
    x0, y0 = int(max(0, lm[:2, 0].min() - 0.6 * iod)), int(max(0, lm[:2, 1].min() - 0.6 * iod))
    x1, y1 = int(min(w, lm[:2, 0].max() + 0.6 * iod)), int(min(h, lm[:2, 1].max() + 0.6 * iod))
    if x1 <= x0 or y1 <= y0:
        return image
    full, out = out, out[y0:y1, x0:x1]
    lm = lm - np.array([x0, y0], np.float32)
    yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
    rad = float(np.radians(angle))
    for eye in lm[:2]:
        # eye-aligned coordinates: u along the eye line, v downward
        u = (xx - eye[0]) * np.cos(rad) + (yy - eye[1]) * np.sin(rad)
        v = -(xx - eye[0]) * np.sin(rad) + (yy - eye[1]) * np.cos(rad)
        inside = (u / half_w) ** 2 + (v / half_h) ** 2 <= 1.0
        edge = -half_h + closure * 2 * half_h * np.sqrt(np.clip(1 - (u / half_w) ** 2, 0, 1))
        lid = inside & (v <= edge)
        if not lid.any():
            continue
        # the lid's skin: the colour of the cheek just below the eye, a little darker toward the crease
        cheek = (np.abs(u) < half_w) & (v > 1.6 * half_h) & (v < 2.6 * half_h)
        colour = np.median(out[cheek], axis=0) if cheek.any() else out[inside].mean(axis=0)
        shade = (0.93 + 0.07 * np.clip((v + half_h) / (2 * half_h), 0, 1))[..., None]
        skin = colour[None, None, :] * shade
        soft = cv2.GaussianBlur(lid.astype(np.float32), (0, 0), 0.02 * iod + 0.5)[..., None]
        out = out * (1 - soft) + skin * 0.97 * soft
        lash = (
            np.exp(-(((v - edge) / (0.012 * iod + 0.5)) ** 2)) * ((u / half_w) ** 2 < 0.9) * (closure > 0.3)
        )
        out *= (1 - 0.55 * lash)[..., None]
    full[y0:y1, x0:x1] = out
    out = full
    return out.astype(image.dtype) if image.dtype == np.float32 else np.clip(out, 0, 255).astype(image.dtype)
