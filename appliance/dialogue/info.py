"""Check the back end's record of a citizen (the handshake's ``info``)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from .fields import id_card_conflict, parse_field
from .numbers import compute_age
from .record import RECORD_FIELDS

# Fields that must be strings when present (marital_status is a boolean, birth may be an int).
_STRING_FIELDS = set(RECORD_FIELDS) - {"marital_status", "birth"}


@dataclass
class InfoCheck:
    """``record``: the usable fields, normalised; ``errors``: field -> what is wrong."""

    record: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # keys that are not record fields
    malformed: dict[str, str] = field(default_factory=dict)  # the subset of errors that are wrong types

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def well_formed(self) -> bool:
        """No wrong types. Wrong values (a bad phone number) only mean: ask that field again."""
        return not self.malformed


def validate_info(info: Any, today: _dt.date | None = None) -> InfoCheck:
    """Validate a handshake ``info`` dict.

    null / missing = absent (not an error). A present value of the wrong type
    or with a wrong value is reported under its field name and left out of
    ``record`` (so the kiosk asks for it again). ``age`` is accepted and
    ignored (it is computed from ``birth``); other unknown keys are listed in
    ``ignored``. Raises nothing; a non-dict ``info`` is one error under "info".
    """
    check = InfoCheck()
    if info is None:
        return check
    if not isinstance(info, dict):
        check.errors["info"] = check.malformed["info"] = "info 必须是一个对象 (JSON object)"
        return check
    for key, value in info.items():
        if key not in RECORD_FIELDS:
            if key != "age":
                check.ignored.append(key)
            continue
        if value is None or value == "":
            continue
        problem = _type_problem(key, value)
        if problem:
            check.errors[key] = check.malformed[key] = problem
            continue
        result = parse_field(key, value, today=today)
        if result.ok:
            check.record[key] = result.value
        else:  # the exact written reason where the parser gives one (the spoken hint is for citizens)
            check.errors[key] = result.reason or result.hint
    _cross_check(check, today)
    return check


def _type_problem(key: str, value: Any) -> str | None:
    if key == "marital_status" and not isinstance(value, bool):
        return "marital_status 必须是 true 或 false"
    if key == "birth" and (isinstance(value, bool) or not isinstance(value, (str, int))):
        return 'birth 必须是 "1990年3月7日" 这样的字符串或 19900307 这样的整数'
    if key in _STRING_FIELDS and not isinstance(value, str):
        if key == "phone" and isinstance(value, int) and not isinstance(value, bool):
            return None  # a phone number sent as a JSON number is still a phone number
        return f"{key} 必须是字符串"
    return None


def _cross_check(check: InfoCheck, today: _dt.date | None) -> None:
    """An ID number that disagrees with the stored birth date or gender is an error."""
    number = check.record.get("id_card")
    if number:
        problem = id_card_conflict(number, check.record, today)
        if problem:
            check.errors["id_card"] = problem
            del check.record["id_card"]


def age_of(record: dict[str, Any], today: _dt.date | None = None) -> int | None:
    """``age`` for storage output: from birth, else None."""
    birth = record.get("birth")
    if birth in (None, ""):
        return None
    try:
        return compute_age(birth, today)
    except ValueError:
        return None
