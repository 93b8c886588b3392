"""Client of the Tencent-style face library and verification API (seeds 002, 003).

Every call is ``POST <base_url><path>`` with a JSON body and the header
``Authorization: <token>``; the answer is ``{"errcode", "errmsg", "data"}``
and ``errcode`` 0 means success.  Failures come in two kinds, because the
outbox treats them differently:

- ``Refused``: the service answered and said no (``errcode`` ≠ 0, or an HTTP
  4xx).  Sending the same body again will get the same answer: counted
  towards dead-lettering.
- ``Unreachable``: no answer we can trust (connection refused or reset,
  timeout, HTTP 5xx, a body that is not the documented JSON).  Retried for
  ever.  ``ambiguous`` is True when the request may have been received
  (a timeout or a reset after sending): the outbox then checks before
  sending again.

Images travel as base64 JPEG under 400 KB of base64 text (the seeds:
"base64内容需在400k以内"); ``fit_image`` re-encodes and downsizes to fit.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import aiohttp

from ..metrics import upstream

log = logging.getLogger(__name__)

MAX_BASE64 = 400 * 1024
"""Largest base64 text of one image the service accepts."""
REG, RECONG, ADV, ADV_RESULT = "faceLib/person/reg", "faceLib/person/recong", "faceAdv", "faceAdvResult"


class TencentError(Exception):
    pass


class Refused(TencentError):
    """The service answered errcode ≠ 0 (or HTTP 4xx): a permanent answer for this body."""

    def __init__(self, errcode: Any, errmsg: str):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class Unreachable(TencentError):
    """No trustworthy answer; ``ambiguous`` if the request may have arrived."""

    def __init__(self, reason: str, ambiguous: bool = False):
        super().__init__(reason)
        self.ambiguous = ambiguous


def fit_image(jpeg: bytes, max_base64: int = MAX_BASE64) -> str:
    """base64 of a JPEG whose base64 text is at most ``max_base64`` characters."""
    text = base64.b64encode(jpeg).decode("ascii")
    if len(text) <= max_base64 and jpeg[:3] == b"\xff\xd8\xff":
        return text
    from ..face.imagedecode import decode_image, encode_jpeg

    bgr = decode_image(jpeg)  # PNG or oversize JPEG: decode and re-encode as a JPEG that fits
    smaller = encode_jpeg(bgr, max_bytes=max_base64 * 3 // 4 - 4)
    return base64.b64encode(smaller).decode("ascii")


def self_image(jpeg: bytes) -> dict[str, str]:
    """The seeds' image object with inline base64 (origin "self")."""
    return {"type": "image", "origin": "self", "data": fit_image(jpeg)}


class TencentClient:
    """One aiohttp session, used from the sync worker's event loop."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Authorization": self._token, "Content-Type": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """POST and return ``data`` (a dict) or raise Refused / Unreachable; timed per API (/metrics)."""
        started, outcome = time.perf_counter(), "unreachable"
        try:
            data = await self._post(path, body, timeout)
            outcome = "ok"
            return data
        except Refused:
            outcome = "refused"
            raise
        finally:
            upstream.record(path, outcome, time.perf_counter() - started)

    async def _post(self, path: str, body: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        url = self.base_url + path
        sent = False
        try:
            limit = aiohttp.ClientTimeout(total=timeout) if timeout is not None else None
            post = (
                self._http().post(url, json=body, timeout=limit)
                if limit
                else self._http().post(url, json=body)
            )
            async with post as response:
                sent = True
                text = await response.text()
                status = response.status
        except TimeoutError:
            raise Unreachable(
                f"{path}: no answer within {timeout or self.timeout:.1f}s", ambiguous=True
            ) from None
        except aiohttp.ServerDisconnectedError as exc:
            raise Unreachable(f"{path}: server disconnected ({exc})", ambiguous=True) from None
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            raise Unreachable(f"{path}: cannot connect ({exc.__class__.__name__})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(f"{path}: {type(exc).__name__}: {exc}", ambiguous=sent) from None
        if status >= 500:
            raise Unreachable(f"{path}: HTTP {status}", ambiguous=True)
        try:
            answer = json.loads(text)
        except ValueError:
            if 400 <= status < 500 and status not in (408, 429):
                raise Refused(f"HTTP{status}", text[:200]) from None
            raise Unreachable(f"{path}: HTTP {status}, body is not JSON", ambiguous=True) from None
        if not isinstance(answer, dict) or "errcode" not in answer:
            raise Unreachable(f"{path}: HTTP {status}, answer lacks errcode", ambiguous=True)
        if status in (408, 429):
            raise Unreachable(f"{path}: HTTP {status}", ambiguous=True)
        if answer["errcode"] not in (0, "0"):
            raise Refused(answer["errcode"], str(answer.get("errmsg") or ""))
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    # -- the four calls, bodies exactly as the seeds ---------------------------------
    async def register(
        self, id_num: str, name: str, person_type: str, jpeg: bytes, customer_id: str = ""
    ) -> dict[str, Any]:
        """faceLib/person/reg; returns data ({"ok": "true"}).

        The seed says ``data.ok`` is always returned. An answer without it is not
        a success: the outcome is uncertain (Unreachable, ambiguous), so the outbox
        asks recong whether the person arrived before it sends again."""
        data = await self.call(
            REG,
            {
                "personType": person_type,
                "idNum": id_num,
                "name": name,
                "customerID": customer_id,
                "faceImage": self_image(jpeg),
                "async": False,
            },
        )
        ok = data.get("ok")
        if ok is None or ok == "":
            raise Unreachable(f"{REG}: errcode 0 but no data.ok; outcome uncertain", ambiguous=True)
        if str(ok).lower() != "true":
            raise Refused("ok=false", f"{REG} answered ok={ok}")
        return data

    async def recognise(self, jpeg: bytes) -> dict[str, Any]:
        """faceLib/person/recong: isMatch as a bool and score as a number (strings on the wire)."""
        data = await self.call(RECONG, {"async": False, "faceImage": self_image(jpeg)})
        out = dict(data)
        out["isMatch"] = str(data.get("isMatch", "false")).lower() == "true"
        try:
            out["score"] = float(data["score"]) if data.get("score") not in (None, "") else None
        except (TypeError, ValueError):
            out["score"] = None
        return out

    async def face_adv(
        self,
        user_id: str,
        kind: str,
        *,
        name: str = "",
        id_no: str = "",
        source_jpeg: bytes | None = None,
        ext_data: dict | None = None,
    ) -> dict[str, Any]:
        """faceAdv: type "authmatch" (name + idNo) or "match" (a source photo)."""
        body: dict[str, Any] = {"async": False, "userId": user_id, "type": kind}
        if kind == "match" and source_jpeg is not None:
            body["sourcePhotoStr"] = {"origin": "self", "data": fit_image(source_jpeg)}
        if kind == "authmatch":
            body["name"], body["idNo"] = name, id_no
        if ext_data:
            body["extData"] = ext_data
        return await self.call(ADV, body)

    async def face_adv_result(self, order_no: str, get_file: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"async": False, "orderNo": order_no}
        if get_file:
            body["getFile"] = get_file
        return await self.call(ADV_RESULT, body)
