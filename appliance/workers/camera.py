"""The camera worker: captures frames and publishes them on its own PUB.

A camera that is missing or disappears is retried with backoff and reported
in the status (so /health and doctor show it); it never takes the service
down, and the kiosk keeps working from the front end's images.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import zmq

from ..camera.sources import SourceError, make_source, transform
from ..runtime import bus, endpoints
from ..runtime.worker import HandlerError, ServiceWorker
from .ops import Camera

log = logging.getLogger(__name__)

RETRY_MAX = 30.0


def device_uuid(configured: str) -> str:
    """The camera's stable identity in the event feed."""
    if configured:
        return configured
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = "unknown-machine"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kiosk-appliance:camera:{machine}"))


class CameraWorker(ServiceWorker):
    name = "camera"

    def __init__(self, settings):
        super().__init__(settings)
        self.cfg = self.settings.camera
        self.device_id = device_uuid(self.cfg.device_id)
        self.state: dict[str, Any] = {
            "state": "starting",
            "source": self.cfg.source,
            "frames": 0,
            "fps": 0.0,
            "error": "",
            "device_id": self.device_id,
        }
        self.latest = None
        self._thread = threading.Thread(target=self._capture, name="capture", daemon=True)

    def start(self) -> None:  # the device is opened by the serving process only, never by a spare
        self._thread.start()

    def ops(self):
        return {Camera.SNAPSHOT: self.snapshot}  # and `status`: the capture state below

    def status(self) -> dict[str, Any]:
        return dict(self.state)

    def snapshot(self, header: dict, _payloads) -> tuple[dict, list[bytes]]:
        frame = self.latest
        if frame is None:
            raise HandlerError(
                "no_frame", f"no frame yet (camera {self.state['state']}: {self.state['error']})"
            )
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return {"width": frame.shape[1], "height": frame.shape[0]}, [jpeg.tobytes()]

    # -- capture thread ---------------------------------------------------------
    def _capture(self) -> None:
        sock = self.ctx.socket(zmq.PUB)  # created here: a zmq socket belongs to one thread
        sock.setsockopt(zmq.SNDHWM, bus.FRAME_HWM)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoints.camera_frames(self.settings.runtime_dir))
        backoff = 1.0
        while not self._stop.is_set():
            try:
                source = make_source(
                    self.cfg.source, self.cfg.width, self.cfg.height, self.cfg.fps, self.cfg.loop
                )
            except SourceError as exc:
                self._set("misconfigured", str(exc))
                return
            if source is None:
                self._set("no_camera", "no camera found; the kiosk works from the front end's images")
                self._stop.wait(RETRY_MAX)  # a camera plugged in later is found on the next look
                continue
            try:
                source.open()
            except SourceError as exc:
                self._set("retrying", str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RETRY_MAX)
                continue
            backoff = 1.0
            self._set("capturing", "")
            ended = self._stream(source, sock)
            source.close()
            if ended:
                self._set("ended", "the video/stills source ended (camera.loop = false)")
                return
            self._set("retrying", "the camera stopped delivering frames")
        sock.close()

    def _stream(self, source, sock: zmq.Socket) -> bool:
        """Publish frames until the source fails; True when a non-looping file ended."""
        period = 1.0 / self.cfg.fps
        next_at, window_start, window_frames = time.monotonic(), time.monotonic(), 0
        while not self._stop.is_set():
            frame = source.read()
            if frame is None:
                return source.kind in ("file", "photo") and not source.loop
            frame = transform(frame, self.cfg.width, self.cfg.height, self.cfg.rotate, self.cfg.mirror)
            self.latest = frame
            self.state["frames"] += 1
            header = {
                "frame_id": self.state["frames"],
                "ts": time.time(),
                "shape": list(frame.shape),
                "source": source.kind,
                "device_id": self.device_id,
            }
            try:
                sock.send_multipart(
                    [endpoints.TOPIC_FRAME, *bus.encode(header, [frame.data])], flags=zmq.NOBLOCK, copy=False
                )
            except zmq.Again:  # nobody keeping up: drop this frame
                pass
            window_frames += 1
            now = time.monotonic()
            if now - window_start >= 2.0:
                self.state["fps"] = round(window_frames / (now - window_start), 1)
                window_start, window_frames = now, 0
            if source.paced:
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        return False

    def _set(self, state: str, error: str) -> None:
        if state != self.state["state"]:
            (log.warning if error else log.info)("camera %s%s", state, f": {error}" if error else "")
        self.state.update(state=state, error=error)
