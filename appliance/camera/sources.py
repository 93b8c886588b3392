"""Where frames come from: picamera2, V4L2, RTSP, a video file, a folder of stills.

Every source gives BGR uint8 frames or None (nothing now: ended, unplugged).
picamera2 is imported lazily: it exists only on Raspberry Pi OS (apt package
python3-picamera2, venv created with --system-site-packages).
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class SourceError(RuntimeError):
    """The source cannot be opened (no device, no file, no stream)."""


class Source:
    kind = "rtsp"
    """The SE-box media_device_type this source reports: photo, rtsp or file."""
    paced = False
    """True when read() returns as fast as it can and the caller must keep the frame rate."""

    def __init__(self, spec: str, width: int, height: int, fps: float, loop: bool = True):
        self.spec, self.width, self.height, self.fps, self.loop = spec, width, height, fps, loop

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class OpenCVSource(Source):
    """V4L2 devices, RTSP streams and video files through OpenCV's capture."""

    def __init__(self, spec: str, width: int, height: int, fps: float, loop: bool = True):
        super().__init__(spec, width, height, fps, loop)
        self.target, self.kind, self.paced = self._target(spec)
        self._cap: cv2.VideoCapture | None = None

    @staticmethod
    def _target(spec: str):
        if spec.startswith("v4l2:"):
            return spec[5:], "rtsp", False
        if spec.startswith("file:"):
            return spec[5:], "file", True
        return spec, "rtsp", False  # rtsp://, http://

    def open(self) -> None:
        if self.kind == "file" and not Path(self.target).is_file():
            raise SourceError(f"video file {self.target} does not exist")
        api = cv2.CAP_V4L2 if self.spec.startswith("v4l2:") else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.target, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.spec}")
        if self.spec.startswith("v4l2:"):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.spec}: read before open")
        ok, frame = self._cap.read()
        if not ok and self.kind == "file" and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        return frame if ok else None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class StillsSource(Source):
    """A folder of images shown in name order, one per frame (demos, tests)."""

    kind = "photo"
    paced = True

    def open(self) -> None:
        folder = self.spec[len("stills:") :]
        self.files = sorted(
            p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(IMAGE_SUFFIXES)
        )
        if not self.files:
            raise SourceError(f"no images in {folder}")
        self.index = 0

    def read(self) -> np.ndarray | None:
        if self.index >= len(self.files):
            if not self.loop:
                return None
            self.index = 0
        frame = cv2.imread(self.files[self.index], cv2.IMREAD_COLOR)
        self.index += 1
        return frame


class PiCamera2Source(Source):
    """The Raspberry Pi camera through libcamera."""

    kind = "rtsp"

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # only on Raspberry Pi OS
        except ImportError as exc:
            raise SourceError(
                f"picamera2 is not available ({exc}); on Raspberry Pi OS: apt install "
                "python3-picamera2 and create the venv with --system-site-packages"
            ) from None
        try:
            self._cam = Picamera2()
            config = self._cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"}
            )
            self._cam.configure(config)
            self._cam.start()
        except Exception as exc:  # libcamera raises many kinds; all mean "no camera now"
            raise SourceError(f"picamera2 cannot open the camera: {exc}") from None

    def read(self) -> np.ndarray | None:
        # picamera2's "RGB888" is BGR in memory order, what OpenCV expects
        return self._cam.capture_array("main")

    def close(self) -> None:
        cam = getattr(self, "_cam", None)
        if cam is not None:
            cam.close()


def video_devices() -> list[str]:
    return sorted(glob.glob("/dev/video*"))


def make_source(spec: str, width: int, height: int, fps: float, loop: bool = True) -> Source | None:
    """The source a camera.source setting names; None for `none` or an `auto` that finds nothing."""
    if spec == "none":
        return None
    if spec == "auto":
        try:
            import picamera2  # noqa: F401

            return PiCamera2Source("picamera2", width, height, fps)
        except ImportError:
            pass
        devices = video_devices()
        return OpenCVSource(f"v4l2:{devices[0]}", width, height, fps) if devices else None
    if spec == "picamera2":
        return PiCamera2Source(spec, width, height, fps)
    if spec.startswith("stills:"):
        return StillsSource(spec, width, height, fps, loop)
    if spec.startswith(("v4l2:", "file:", "rtsp://", "rtsps://", "http://", "https://")):
        return OpenCVSource(spec, width, height, fps, loop)
    raise SourceError(f"unknown camera source {spec!r}")


def transform(frame: np.ndarray, width: int, height: int, rotate: int, mirror: bool) -> np.ndarray:
    """Rotation, mirroring and size as configured; grayscale/BGRA become BGR."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if rotate:
        frame = cv2.rotate(
            frame,
            {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[rotate],
        )
    if mirror:
        frame = cv2.flip(frame, 1)
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = letterbox(frame, width, height)
    return np.ascontiguousarray(frame)


def letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit into width×height keeping the aspect ratio (faces must not be squashed)."""
    scale = min(width / frame.shape[1], height / frame.shape[0])
    w, h = max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))
    resized = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y : y + h, x : x + w] = resized
    return canvas
