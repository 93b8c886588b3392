"""Single-frame cue: the moiré of a screen's pixel grid.

A camera that films a display samples the display's regular pixel grid with
its own grid; the two beat into moiré: a few sharp peaks in the spatial
spectrum of the face region.  Skin, hair and camera noise have a smooth,
broad spectrum.  ``moire_score`` is the strongest peak in the mid/high
frequency band relative to the band's median, on the inner face, after a
high-pass.  JPEG's 8×8 block grid also makes peaks (at multiples of 1/8
cycle per pixel): those bins are ignored.

Honest limits: the threshold was set on simulated screens
(appliance/liveness/attacks.py); real displays at other distances and
pixel pitches, or a camera with a strong optical low-pass filter, make
weaker or no moiré.  It is a veto cue (it can only reject), never proof of life.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 96  # analysis window (pixels at the camera's resolution)


def inner_face_crop(gray: np.ndarray, landmarks) -> np.ndarray | None:
    """A SIZE×SIZE window centred between the eyes and the mouth, at native resolution."""
    lm = np.asarray(landmarks, np.float32)
    cx, cy = lm.mean(axis=0)
    half = SIZE // 2
    x0, y0 = int(round(cx)) - half, int(round(cy)) - half
    h, w = gray.shape[:2]
    if x0 < 0 or y0 < 0 or x0 + SIZE > w or y0 + SIZE > h:
        return None
    return gray[y0 : y0 + SIZE, x0 : x0 + SIZE]


def _band_mask() -> np.ndarray:
    f = np.fft.fftfreq(SIZE)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    band = (np.hypot(fx, fy) >= 0.12) & (np.hypot(fx, fy) <= 0.48)
    step = 1.0 / SIZE

    def on_block_grid(axis):  # within one bin of a multiple of 1/8 cycle per pixel
        return np.abs(axis - np.round(axis * 8) / 8) <= 1.01 * step

    return band & ~(on_block_grid(fx) & on_block_grid(fy))


_BAND = np.fft.fftshift(_band_mask())
_WINDOW = np.outer(np.hanning(SIZE), np.hanning(SIZE)).astype(np.float32)


def _local_level(spectrum: np.ndarray) -> np.ndarray:
    """Mean magnitude in a 9×9 neighbourhood (peaks barely raise it)."""
    return cv2.blur(spectrum.astype(np.float32), (9, 9), borderType=cv2.BORDER_REFLECT)


def moire_score(frame_bgr: np.ndarray, landmarks) -> float | None:
    """Peak-to-median ratio of the face's high-passed spectrum (None: face too near the edge)."""
    gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    crop = inner_face_crop(gray, landmarks)
    if crop is None:
        return None
    crop = crop.astype(np.float32)
    high = crop - cv2.GaussianBlur(crop, (0, 0), 2.0)
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2(high * _WINDOW)))
    # whiten: each bin against the median of its neighbourhood, so the face's
    # smooth fall-off with frequency does not count, only isolated peaks do
    local = _local_level(spectrum)
    ratio = spectrum / np.maximum(local, 1e-6)
    return float(ratio[_BAND].max())
