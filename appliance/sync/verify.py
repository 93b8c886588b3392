"""Reading faceAdv / faceAdvResult answers (seed 002) into one verdict.

A verdict is ``passed`` True (the face is the person named), False (the
service says it is not: similarity or liveRate too low), or None when no
verdict could be reached: the service answered but not with a usable result
(faceAdv's own ``data.status`` not SUCCESS, no orderNo, faceAdvResult not
SUCCESS, no similarity). None is "could not verify", which never blocks the
kiosk: ``storage`` goes on, the session keeps the verdict, ``summary`` says so.

The seed's table types ``result`` as a String while its example shows an
object: both are accepted (a string is parsed as JSON). ``liveRate`` is used
when given: a face scored below ``tencent.verify_live_threshold`` is not live.
"""

from __future__ import annotations

import json
from typing import Any

UNVERIFIED_ZH = "身份核验暂时无法完成，请工作人员人工核对您的身份证件。"
"""What the summary shows a citizen when the check could not be made."""


def result_of(data: dict[str, Any]) -> dict[str, Any]:
    """``data.result`` as a dict, whether the service sent an object or a JSON string."""
    result = data.get("result")
    if isinstance(result, str) and result.strip():
        try:
            result = json.loads(result)
        except ValueError:
            return {}
    return result if isinstance(result, dict) else {}


def number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def unverified(code: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"passed": None, "error": code, "reason": reason, **extra}


def order_of(adv: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """faceAdv's orderNo, or '' and the unverified verdict that explains why there is none."""
    status = adv.get("status")
    if status != "SUCCESS":
        return "", unverified(
            "adv_status", f"faceAdv answered status {status!r}, not SUCCESS", traceNo=adv.get("traceNo")
        )
    order_no = result_of(adv).get("orderNo") or ""
    if not order_no:
        return "", unverified("no_order", "faceAdv answered without an orderNo", traceNo=adv.get("traceNo"))
    return str(order_no), None


def judge(
    final: dict[str, Any], order_no: str, kind: str, threshold: float, live_threshold: float
) -> dict[str, Any]:
    """The verdict of a faceAdvResult answer."""
    detail = result_of(final)
    similarity, live_rate = number(detail.get("similarity")), number(detail.get("liveRate"))
    facts = {
        "type": kind,
        "similarity": similarity,
        "liveRate": live_rate,
        "orderNo": order_no,
        "traceNo": final.get("traceNo"),
        "tencentCode": detail.get("tencentCode"),
        "tencentMsg": detail.get("tencentMsg"),
        "threshold": threshold,
        "live_threshold": live_threshold,
    }
    if final.get("status") != "SUCCESS":
        return unverified("result_status", f"faceAdvResult answered status {final.get('status')!r}", **facts)
    if similarity is None:
        return unverified(
            "no_similarity",
            f"faceAdvResult gave no similarity (tencentCode "
            f"{detail.get('tencentCode')}: {detail.get('tencentMsg')})",
            **facts,
        )
    if similarity < threshold:
        return {"passed": False, "reason": f"similarity {similarity:g} below {threshold:g}", **facts}
    if live_rate is not None and live_rate < live_threshold:
        return {"passed": False, "reason": f"liveRate {live_rate:g} below {live_threshold:g}", **facts}
    return {"passed": True, **facts}


def summary_note(verification: Any) -> dict[str, Any] | None:
    """For ``summary``: a note when the check was asked for but could not be made, else None."""
    if not isinstance(verification, dict) or verification.get("passed") is not None:
        return None
    return {
        "done": False,
        "code": verification.get("error") or "unverified",
        "reason": verification.get("reason") or "the identity check could not be made",
        "message_zh": UNVERIFIED_ZH,
    }


def summary_table(note: dict[str, Any]) -> dict[str, str]:
    """The same note as a flat table, so a seed-only front end (which shows `tables`) shows it too."""
    return {"身份核验": "未能完成", "说明": note["message_zh"]}
