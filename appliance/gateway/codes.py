"""Stable machine-readable codes for every refusal on the kiosk's ports, each
with a Simplified-Chinese sentence a kiosk may show to a citizen as is.

Every JSON reply or frame that refuses something (`type` error/busy/processing,
or a `reason` on a face frame) keeps its English `reason` (for technicians)
and gets `code` (from the table below; never renamed once published) and
`message_zh`. Seed clients are unaffected: these are extra keys.

Where the code comes from, in order: the producer names it (the gateway's own
refusals, a bus error's code); a face frame's `reason` is already a code;
else the English reason of a worker's answer is matched against RULES (a test
walks every known path); else the HTTP status or the reply type decides.
README's port section prints this table (`python -m appliance.gateway.codes`).
"""

from __future__ import annotations

import re
from typing import Any

CODES: dict[str, tuple[str, str]] = {
    # code: (message_zh for the citizen, what it means, for the front-end developer)
    "bad_json": ("系统收到的请求有误，请联系工作人员。", "the body or frame is not the expected JSON object"),
    "bad_request": (
        "系统收到的请求有误，请联系工作人员。",
        "a field is missing, has the wrong type or value",
    ),
    "bad_handshake": ("连接未能建立，请重新开始。", "a missing, late or malformed socket handshake"),
    "bad_info": ("您的资料格式有误，请联系工作人员。", "handshake `info` has fields of the wrong type"),
    "bad_input": ("没有收到您的需求，请重新说一遍或输入文字。", "handshake `input` is missing or malformed"),
    "not_found": ("系统收到的请求有误，请联系工作人员。", "no such path (HTTP 404)"),
    "method_not_allowed": ("系统收到的请求有误，请联系工作人员。", "not POST (HTTP 405)"),
    "too_large": ("发送的内容过大，请重新拍摄或缩短录音。", "a body or frame over its size limit"),
    "forbidden_client": (
        "此设备无权使用本服务，请联系工作人员。",
        "client address not in ports.allow_clients",
    ),
    "forbidden_origin": (
        "此页面无权使用本服务，请联系工作人员。",
        "browser origin not in ports.allow_origins",
    ),
    "unknown_session": (
        "您的办理已超时或无效，请重新开始。",
        "hash missing, unknown, expired or another user's",
    ),
    "out_of_order": ("请按顺序完成办理步骤。", "a step before the one it depends on"),
    "not_enabled": ("本机暂不提供此项服务，请咨询工作人员。", "the capability's worker is not running here"),
    "busy": ("系统正忙，请稍候再试。", "overloaded; send the same request again later"),
    "unavailable": ("系统正在恢复，请稍候几秒再试。", "a worker is restarting; send again"),
    "timeout": ("系统响应超时，请稍候再试。", "a worker did not answer within limits.bus_timeout"),
    "processing": ("正在处理，请稍候。", "still working (audio handshake); send the same body again"),
    "internal": ("系统出现故障，请联系工作人员。", "an unexpected failure inside the kiosk"),
    "disk_full": ("系统存储空间不足，请联系工作人员。", "the database cannot be written: disk full"),
    "storage_failed": ("您的资料暂时无法保存，请联系工作人员。", "the database failed"),
    "verification_failed": (
        "身份核验未通过：人脸与姓名、身份证号不一致，请咨询工作人员。",
        "faceAdv authmatch said the face does not match name and ID number",
    ),
    "no_speech": ("没有听到您的声音，请再说一遍。", "the audio holds no speech"),
    "not_understood": (
        "抱歉，没听清，请再说一遍。",
        "speech heard but not trustworthy (noise, a voice the "
        "recogniser cannot follow): ask the citizen to say it again",
    ),
    "bad_audio": ("无法识别这段录音，请再说一遍。", "the audio cannot be decoded or is too long"),
    "stt_failed": ("语音识别失败，请再说一遍或改用文字输入。", "speech recognition failed"),
    "bad_text": ("要朗读的文字有误。", "/tts got no usable text"),
    "bad_frame": ("图像数据有误，请重新拍摄。", "a text frame where a binary image or audio frame belongs"),
    "bad_feed_config": ("事件订阅配置有误。", "the event feed's configuration is not as seed 001 says"),
    "bad_image": ("图像无法识别，请重新拍摄。", "the image cannot be decoded"),
    "no_face": ("没有检测到人脸，请正对摄像头。", "no face in the image"),
    "multiple_faces": ("镜头前有多张人脸，请确保只有您一人。", "several faces, none clearly the subject"),
    "too_small": ("请靠近摄像头一些。", "the face is too small"),
    "not_frontal": ("请正对摄像头，不要侧脸或低头。", "the face is turned away"),
    "blurry": ("图像模糊，请保持不动。", "the image is blurred"),
    "unknown": ("暂未识别出您的身份，请正对摄像头稍候。", "the face matches nobody enrolled (yet)"),
    "not_live": ("请轻轻左右转动头部，完成活体检测。", "liveness not established (turn the head)"),
    "person_changed": ("检测到换了一个人，请由同一人完成采集。", "face_train saw a different person"),
    "enrolled_as_other": (
        "此人脸已登记在其他用户名下，请咨询工作人员。",
        "the face is enrolled under another user_id",
    ),
    "error": ("系统出现问题，请联系工作人员。", "an error without a more precise code"),
}
"""Every code a reply may carry. Add codes; never rename or remove one."""

BUS_CODES = {
    "bad_session": "unknown_session",
    "disabled": "not_enabled",
    "storage": "storage_failed",
    "bad_data": "bad_request",
    "no_frame": "bad_frame",
    "refused": "internal",
    "unreachable": "unavailable",
    "bus_error": "internal",
    "not_enabled": "not_enabled",
}
"""A worker's HandlerError code (or a bus failure's) → the published code, where they differ."""

RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(p, re.IGNORECASE), c)
    for p, c in [
        (r"disk is full", "disk_full"),
        (
            r"hash is missing|unknown hash|hash belongs to another|hash has expired"
            r"|shake hands (first|again)",
            "unknown_session",
        ),
        (r"comes after|open the qna socket|out of order|no face_train in progress", "out_of_order"),
        (r"identity check failed", "verification_failed"),
        (r"no speech was heard", "no_speech"),
        (r"not understood", "not_understood"),
        (r"could not be transcribed", "bad_audio"),
        (r"speech recognition failed", "unavailable"),
        (r"not enabled|not available", "not_enabled"),
        (r"malformed info", "bad_info"),
        (r"^input", "bad_input"),
        (r"malformed json|must be a json object|not a json object|nested deeper", "bad_json"),
        (r"handshake", "bad_handshake"),
        (r"too large|exceeds the limit", "too_large"),
        (r"restarting", "unavailable"),
        (r"did not answer in time", "timeout"),
        (r"overloaded", "busy"),
        (r"allow_clients", "forbidden_client"),
        (r"allow_origins", "forbidden_origin"),
    ]
]
"""English reasons of the workers' answers → code (first match wins)."""

BY_STATUS = {
    400: "bad_request",
    403: "forbidden_client",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal",
    501: "not_enabled",
    503: "busy",
    507: "disk_full",
}


def message_zh(code: str) -> str:
    return CODES.get(code, CODES["error"])[0]


def from_bus(code: str | None) -> str:
    """The published code for a bus error's code."""
    code = BUS_CODES.get(code or "", code or "error")
    return code if code in CODES else "internal"


def infer(reason: Any, kind: str = "error", status: int | None = None, fallback: str = "error") -> str:
    """The code for a reply that was not given one (`fallback` when nothing more precise fits)."""
    if isinstance(reason, str):
        if reason in CODES:  # face frames: the reason is a code already
            return reason
        for pattern, code in RULES:
            if pattern.search(reason):
                return code
    if kind in ("busy", "processing"):
        return kind
    if status in BY_STATUS:
        return BY_STATUS[status]
    return fallback


def needs_code(payload: dict) -> bool:
    return payload.get("type") in ("error", "busy", "processing") or bool(payload.get("reason"))


def annotate(
    payload: dict, code: str | None = None, status: int | None = None, fallback: str = "error"
) -> dict:
    """The payload with `code` and `message_zh` added when it refuses something (a copy;
    a code already present wins, so a worker may name its own)."""
    if not isinstance(payload, dict) or not needs_code(payload):
        return payload
    chosen = payload.get("code") if payload.get("code") in CODES else None
    chosen = chosen or code or infer(payload.get("reason"), str(payload.get("type", "")), status, fallback)
    return {**payload, "code": chosen, "message_zh": message_zh(chosen)}


def markdown_table() -> str:
    rows = ["| code | meaning | `message_zh` |", "|---|---|---|"]
    rows += [f"| `{code}` | {meaning} | {zh} |" for code, (zh, meaning) in CODES.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
