"""SE box records (seed 001) in both dialects, normalised to one shape.

The seed's table and its own example disagree, and other SOPHON firmware
differs again (PROTOCOL.md §2.1).  Everything lenient lives here:

- ``event_id`` and ``user_type`` may be missing: the record's identity for
  deduplication is then ``device + timestamp + identity`` (see ``dedup_key``).
- ``score`` may be on 0–1 (the seed's example: 0.62) or 0–100 (the table:
  82.05); anything ≤ 1 is taken as 0–1.  Stored on 0–100.
- images: ``recognize_face_image`` / ``spot_pic`` (live crop) and
  ``register_image`` / ``reg_pic`` (enrolled photo), with or without the
  ``data:image/jpeg;base64,`` prefix; an empty string means "no image".
- ``person_type`` 1–5 (SOPHON) maps to the seed's ``user_type`` words in the
  seed table's order; ``group_name`` is kept in the payload.

A record that is not a JSON object, or lacks a usable timestamp, raises
``RecordError`` so the caller logs and skips it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

PERSON_TYPES = {1: "employee", 2: "visitor", 3: "blacklist", 4: "stranger", 5: "vip"}
"""SOPHON's person_type codes, in the order of the seed's user_type table."""
FACE_KEYS = ("recognize_face_image", "spot_pic")
REGISTER_KEYS = ("register_image", "reg_pic")
IMAGE_KEYS = FACE_KEYS + REGISTER_KEYS
MAX_ID = 128
"""Longest identifier stored (event_id column width)."""


class RecordError(ValueError):
    """A frame from the box that is not a usable record."""


@dataclass
class BoxRecord:
    event_id: str
    """The box's event_id, or a derived ``dedup:<sha1>`` when the box sent none."""
    timestamp_ms: int
    identity_id: str = ""
    identity_name: str = ""
    user_type: str = ""
    score: float | None = None
    """0–100."""
    device_id: str = ""
    device_ip: str = ""
    device_type: str = ""
    face_image: bytes | None = None
    register_image: bytes | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    """The record as received, images removed (their sizes noted instead)."""

    def event_header(self) -> dict[str, Any]:
        """What is published on the bus (endpoints.TOPIC_SEBOX)."""
        return {
            "source": "sebox",
            "event_id": self.event_id,
            "identity_id": self.identity_id,
            "identity_name": self.identity_name,
            "user_type": self.user_type,
            "score": self.score,
            "device_id": self.device_id,
            "device_ip": self.device_ip,
            "timestamp_ms": self.timestamp_ms,
            "group_name": self.payload.get("group_name", ""),
        }


def config_message(
    dialect: str,
    with_face_image: bool,
    with_register_image: bool,
    media_device_ids: tuple[str, ...] | list[str],
) -> dict[str, Any]:
    """The configuration the client sends after every (re)connect.

    ``seed``: the seed's three keys.  ``sophon``: ``need_face``,
    ``need_register`` and ``event_list`` (the cameras whose events are wanted;
    the same list as media_device_ids)."""
    ids = list(media_device_ids)
    if dialect == "sophon":
        return {
            "need_face": bool(with_face_image),
            "need_register": bool(with_register_image),
            "event_list": ids,
        }
    return {
        "with_face_image": bool(with_face_image),
        "with_register_image": bool(with_register_image),
        "media_device_ids": ids,
    }


def parse_frame(data: str | bytes) -> dict[str, Any]:
    """A WebSocket frame as a JSON object, or RecordError."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError("frame is not UTF-8 text") from None
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise RecordError(f"frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RecordError(f"frame is JSON {type(obj).__name__}, not an object")
    return obj


def decode_image(value: Any) -> bytes | None:
    """A base64 JPEG (with or without a data: prefix); None when absent or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError("image is not a base64 string")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise RecordError("image is not valid base64") from None
    return raw or None


def _text(obj: dict, *keys: str) -> str:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise RecordError(f"{key} is not a scalar")
        return str(value)[: MAX_ID * 2]
    return ""


def _number(value: Any, key: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key} is a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{key} = {value!r} is not a number") from None
    if not math.isfinite(number):
        raise RecordError(f"{key} is not finite")
    return number


def normalise_score(value: Any) -> float | None:
    """0–1 or 0–100 in, 0–100 out (None if absent)."""
    score = _number(value, "score")
    if score is None:
        return None
    if score < 0 or score > 100:
        raise RecordError(f"score {score} is outside 0–100")
    return round(score * 100 if score <= 1.0 else score, 2)


def _timestamp(value: Any) -> int:
    ts = _number(value, "timestamp")
    if ts is None or ts <= 0:
        raise RecordError("timestamp is missing")
    if ts < 1e11:  # seconds, not milliseconds (some firmware)
        ts *= 1000
    return int(ts)


def _user_type(obj: dict) -> str:
    if obj.get("user_type") not in (None, ""):
        return _text(obj, "user_type")
    code = obj.get("person_type")
    if code in (None, ""):
        return ""
    try:
        return PERSON_TYPES.get(int(code), f"type{int(code)}")
    except (TypeError, ValueError):
        raise RecordError(f"person_type = {code!r} is not 1–5") from None


def dedup_key(device_id: str, timestamp_ms: int, identity_id: str, identity_name: str) -> str:
    """The identity of a record that has no event_id: the same camera, the same
    millisecond and the same person is the same event."""
    digest = hashlib.sha1(f"{device_id}|{timestamp_ms}|{identity_id}|{identity_name}".encode()).hexdigest()
    return f"dedup:{digest}"


def normalise(obj: dict[str, Any]) -> BoxRecord:
    """One box record (either dialect) as a BoxRecord; RecordError if unusable."""
    if not isinstance(obj, dict):
        raise RecordError("record is not a JSON object")
    timestamp_ms = _timestamp(obj.get("timestamp"))
    identity_id = _text(obj, "identity_id", "user_id", "person_id")
    identity_name = _text(obj, "identity_name", "name", "person_name")
    device_id = _text(obj, "media_device_id", "device_id")
    face = next((decode_image(obj[k]) for k in FACE_KEYS if obj.get(k)), None)
    register = next((decode_image(obj[k]) for k in REGISTER_KEYS if obj.get(k)), None)
    event_id = _text(obj, "event_id")[:MAX_ID]
    if not event_id:
        event_id = dedup_key(device_id, timestamp_ms, identity_id, identity_name)
    payload = {k: v for k, v in obj.items() if k not in IMAGE_KEYS}
    for key in IMAGE_KEYS:
        if obj.get(key):
            payload[f"{key}_bytes"] = len(obj[key]) * 3 // 4
    return BoxRecord(
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        identity_id=identity_id,
        identity_name=identity_name,
        user_type=_user_type(obj),
        score=normalise_score(obj.get("score")),
        device_id=device_id,
        device_ip=_text(obj, "media_device_ip", "device_ip"),
        device_type=_text(obj, "media_device_type"),
        face_image=face,
        register_image=register,
        payload=payload,
    )


def store(record: BoxRecord, keep_images: bool) -> bool:
    """Insert into RecognitionEvent; False if this event was stored before."""
    from ..store.db import database
    from ..store.models import RecognitionEvent

    with database.atomic("IMMEDIATE"):
        (
            RecognitionEvent.insert(
                event_id=record.event_id,
                source="sebox",
                identity_id=record.identity_id,
                identity_name=record.identity_name,
                user_type=record.user_type,
                score=record.score,
                device_id=record.device_id,
                device_ip=record.device_ip,
                device_type=record.device_type,
                timestamp_ms=record.timestamp_ms,
                payload=record.payload,
                image=record.face_image if keep_images else None,
            )
            .on_conflict_ignore()
            .execute()
        )
        # INSERT OR IGNORE leaves lastrowid unchanged when it ignores: ask SQLite what changed
        return database.execute_sql("SELECT changes()").fetchone()[0] > 0
