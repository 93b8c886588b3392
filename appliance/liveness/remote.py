"""Client of the remote silent-liveness API (seed 004, PROTOCOL.md §2.3).

POST JSON ``{"code": 1019, "data": {"taskId", "algoTasks": [{"algoTask": 1031,
"algoConfig": {"silentface": {"algoType": 1031}}}], "imageList": [{"image":
<base64>}]}}`` with ``Content-Type``, ``X-APP-ID``, ``Authorization`` and,
when set, ``Device-Uuid``.  Success is ``code`` 1020 with
``data.results[0].score`` (−1: no live face).  Failures carry
``data.task_code`` and ``data.msg``; every code of the seed's table has a
message below.  The Authorization value is never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import cv2
import numpy as np

from ..metrics import upstream

REQUEST_CODE = 1019
ALGO_TASK = 1031
SUCCESS_CODE = 1020
log = logging.getLogger(__name__)
NO_LIVE_FACE = -1.0

# The seed's error table: code -> (name, what it means for the kiosk's technician).
ERRORS: dict[int, tuple[str, str]] = {
    0: ("APP_ERR_OK", "ok"),
    1001: ("APP_ERR_COMM_FAILURE", "general failure of the liveness service"),
    1002: ("APP_ERR_COMM_INNER", "internal error of the liveness service"),
    1003: ("APP_ERR_COMM_INVALID_POINTER", "invalid pointer inside the liveness service"),
    1004: ("APP_ERR_COMM_INVALID_PARAM", "invalid parameter in the request (e.g. images of different sizes)"),
    1005: ("APP_ERR_COMM_UNREALIZED", "not implemented by this liveness service"),
    1006: ("APP_ERR_COMM_OUT_OF_MEM", "the liveness service ran out of memory"),
    1007: ("APP_ERR_COMM_ALLOC_MEM", "memory allocation error in the liveness service"),
    1008: ("APP_ERR_COMM_FREE_MEM", "memory release error in the liveness service"),
    1009: ("APP_ERR_COMM_OUT_OF_RANGE", "out-of-range access in the liveness service"),
    1010: ("APP_ERR_COMM_NO_PERMISSION", "no permission: check X-APP-ID and Authorization"),
    1011: ("APP_ERR_COMM_TIMEOUT", "the liveness service timed out"),
    1012: ("APP_ERR_COMM_NOT_INIT", "the liveness service is not initialised"),
    1013: ("APP_ERR_COMM_INIT_FAIL", "the liveness service failed to initialise"),
    1014: ("APP_ERR_COMM_INPROGRESS", "the operation is still in progress"),
    1015: ("APP_ERR_COMM_EXIST", "resource already exists"),
    1016: ("APP_ERR_COMM_NO_EXIST", "resource does not exist"),
    1017: ("APP_ERR_COMM_BUSY", "the liveness service is busy"),
    1018: ("APP_ERR_COMM_FULL", "no device or resource available in the liveness service"),
    1019: ("APP_ERR_COMM_OPEN_FAIL", "device, file or resource open failed"),
    1020: ("APP_ERR_COMM_READ_FAIL", "device, file or resource read failed"),
    1021: ("APP_ERR_COMM_WRITE_FAIL", "device, file or resource write failed"),
    1022: ("APP_ERR_COMM_DESTORY_FAIL", "device, file or resource release failed"),
    1023: ("APP_ERR_COMM_EXIT", "end of data stream"),
    1024: ("APP_ERR_COMM_CONNECTION_CLOSE", "the service's connection was closed"),
    1025: ("APP_ERR_COMM_CONNECTION_FAILURE", "the service's connection failed"),
    1026: ("APP_ERR_COMM_STREAM_INVALID", "invalid stream (null ACL stream)"),
    1027: ("APP_ERR_COMM_REGION_ERROR", "region check failed"),
    1028: ("APP_ERR_COMM_DECODE_FAIL", "the service could not decode the image"),
    1029: ("APP_ERR_COMM_MODELINIT_FAIL", "the service's model failed to initialise"),
    1030: ("APP_ERR_COMM_MODELINFER_FAIL", "the service's model inference failed"),
    1031: ("APP_ERR_COMM_PARAM_FAILURE", "parameter check failed (code, taskId, algoTasks or imageList)"),
    2001: ("APP_ERR_STREAMPULLER_OPEN_FAIL", "stream puller: opening the input stream failed"),
    2002: ("APP_ERR_STREAMPULLER_STREAMINFOFIND_FAIL", "stream puller: finding stream information failed"),
    2003: ("APP_ERR_STREAMPULLER_EOF", "stream puller: end of stream"),
    2004: ("APP_ERR_STREAMPULLER_READFRAME_FAIL", "stream puller: reading a frame failed"),
    2005: ("APP_ERR_STREAMPULLER_REOPEN_FAIL", "stream puller: reopening the stream failed"),
    2006: ("APP_ERR_STREAMPULLER_STREAMFIND_FAIL", "stream puller: no video stream found"),
    2007: ("APP_ERR_STREAMPULLER_STREAMFORMAT_ERROR", "stream puller: unsupported video format"),
    2020: ("APP_ERR_VIDEODECODER_BASE", "video decoder error"),
    2021: ("APP_ERR_VIDEODECODER_CREATE_FAIL", "video decoder could not be created"),
    2022: ("APP_ERR_VIDEODECODER_UNSUPPORT_FORMAT", "video decoder: unsupported format"),
    2023: ("APP_ERR_VIDEODECODER_DECODE_FAIL", "video decoding failed"),
    2040: ("APP_ERR_CONFIG_BASE", "service configuration error"),
    2041: ("APP_ERR_CONFIG_ADD_FAIL", "adding an algorithm configuration failed"),
    2042: ("APP_ERR_CONFIG_UPDATE_FAIL", "updating the configuration failed"),
    2043: ("APP_ERR_CONFIG_DELETE_FAIL", "deleting the configuration failed"),
    5001: ("APP_ERR_QUEUE_EMPTY", "the service's queue is empty"),
    5002: ("APP_ERR_QUEUE_STOPED", "the service's queue is stopped"),
    5003: ("APP_ERR_QUEUE_FULL", "the service's queue is full"),
}


def describe(code: int, msg: str = "") -> str:
    """A clear message for an error code of the seed's table (and unknown ones)."""
    name, text = ERRORS.get(int(code), ("UNKNOWN", f"unknown error code {code}"))
    return f"{text} ({name} {code})" + (f": {msg}" if msg else "")


class RemoteError(Exception):
    """The API answered with an error code (``code``, ``message``)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class RemoteUnavailable(Exception):
    """No usable answer: connection refused, timeout, TLS, HTTP error, malformed body."""


@dataclass
class RemoteVerdict:
    score: float  # 0..1, or −1: no live face found
    task_id: str
    elapsed_ms: float

    @property
    def live_face(self) -> bool:
        return self.score != NO_LIVE_FACE


def encode_jpeg(frame_bgr: np.ndarray, quality: int = 90) -> str:
    ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("frame could not be encoded as JPEG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def build_request(images_b64: list[str], task_id: str) -> dict:
    """The request body, field for field as the seed documents it."""
    return {
        "code": REQUEST_CODE,
        "data": {
            "taskId": task_id,
            "algoTasks": [{"algoTask": ALGO_TASK, "algoConfig": {"silentface": {"algoType": ALGO_TASK}}}],
            "imageList": [{"image": image} for image in images_b64],
        },
    }


class SilentLivenessClient:
    def __init__(
        self,
        url: str,
        app_id: str,
        authorization: str,
        device_uuid: str = "",
        timeout: float = 3.0,
        verify_tls: bool = True,
    ):
        self.url, self.app_id, self._authorization = url, app_id, authorization
        self.device_uuid, self.timeout = device_uuid, timeout
        self._ssl = None if verify_tls else ssl._create_unverified_context()  # a technician's explicit choice

    @classmethod
    def from_settings(cls, cfg) -> SilentLivenessClient:
        return cls(
            cfg.url,
            cfg.app_id,
            cfg.authorization,
            cfg.device_uuid,
            timeout=getattr(cfg, "timeout", 3.0),
            verify_tls=getattr(cfg, "verify_tls", True),
        )

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-APP-ID": self.app_id,
            "Authorization": self._authorization,
        }
        if self.device_uuid:
            headers["Device-Uuid"] = self.device_uuid
        return headers

    def check(self, frames_bgr: list[np.ndarray]) -> RemoteVerdict:
        """Send same-size frames (the API refuses mixed resolutions); return the score."""
        if not frames_bgr:
            raise ValueError("at least one frame is needed")
        if len({f.shape for f in frames_bgr}) != 1:
            raise ValueError("all frames sent together must have the same resolution")
        return self.check_images([encode_jpeg(f) for f in frames_bgr])

    def check_images(self, images_b64: list[str], task_id: str | None = None) -> RemoteVerdict:
        task_id = task_id or f"kiosk-{uuid.uuid4().hex[:16]}"
        body = json.dumps(build_request(images_b64, task_id)).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers=self.headers())
        start = time.monotonic()
        outcome = "unreachable"
        try:
            raw = self._post(request)
            outcome = "ok"
        except RemoteError:
            outcome = "refused"
            raise
        finally:
            upstream.record("liveness", outcome, time.monotonic() - start)
        elapsed = (time.monotonic() - start) * 1000
        return parse_response(raw, task_id, elapsed)

    def _post(self, request: urllib.request.Request) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            if exc.code in (401, 403):
                raise RemoteError(
                    exc.code,
                    f"gateway refused the credentials (HTTP {exc.code}): "
                    f"check liveness_api.app_id and authorization; {detail}",
                ) from None
            raise RemoteUnavailable(f"HTTP {exc.code} from the liveness API: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RemoteUnavailable(
                f"liveness API unreachable at {self.url}: {getattr(exc, 'reason', exc)}"
            ) from None


def parse_response(raw: bytes, task_id: str = "", elapsed_ms: float = 0.0) -> RemoteVerdict:
    try:
        reply = json.loads(raw)
        data = reply.get("data") or {}
        code = reply.get("code")
    except (ValueError, AttributeError) as exc:
        raise RemoteUnavailable(
            f"liveness API answered something that is not the documented JSON: {raw[:120]!r}"
        ) from exc
    task_code = data.get("task_code") if isinstance(data, dict) else None
    if task_code not in (None, 0):
        raise RemoteError(int(task_code), describe(int(task_code), str(data.get("msg", ""))))
    if code != SUCCESS_CODE:
        code_int = int(code) if isinstance(code, (int, float)) else -1
        raise RemoteError(
            code_int, describe(code_int, str(data.get("msg", "") if isinstance(data, dict) else ""))
        )
    try:
        score = float(data["results"][0]["score"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise RemoteUnavailable("liveness API success without data.results[0].score") from None
    return RemoteVerdict(
        score=score, task_id=str(data.get("task_id", task_id)), elapsed_ms=round(elapsed_ms, 1)
    )


def ask(remote, policy, frames) -> tuple[dict, str | None]:
    """One check by the remote API for a LivenessChecker: (what it answered, for the verdict's
    cues; a reason to reject, or None).  Unreachable: decided locally unless the policy says reject."""
    try:
        answer = remote.check(frames)
    except (RemoteError, RemoteUnavailable, ValueError) as exc:
        log.warning("liveness API: %s", exc)
        if "remote" in policy.required and policy.remote_on_unreachable == "reject":
            return {"error": str(exc)}, "remote_unavailable"
        return {"error": str(exc)}, None  # decide locally: the kiosk never blocks on the remote API
    answered = {"score": answer.score, "ms": answer.elapsed_ms}
    if answer.score == NO_LIVE_FACE:
        return answered, "remote_no_live_face"
    if answer.score < policy.remote_threshold:
        return answered, "remote_low_score"
    return answered, None
