"""The result type shared by all field parsers, and the common clean-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_ANSWER = 200  # longer answers are not answers to one question
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")
_FILLER_HEAD = re.compile(r"^(嗯+|呃+|啊+|那个|就是|我是|我的是|是)+")
_FILLER_TAIL = re.compile(r"(的|吧|啊|呀|哦|呢|嘛|了)+$")


@dataclass
class ParseResult:
    """Outcome of parsing one answer."""

    ok: bool
    value: Any = None
    hint: str = ""  # spoken explanation + example when not ok
    confirm: bool = False  # a number worth reading back if it came from speech
    reason: str = ""  # written: exactly what is wrong, for a front-end developer (invalid_info)


def bad(hint: str, reason: str = "") -> ParseResult:
    """A failed parse with its spoken hint and, where the hint is not exact enough, a written reason."""
    return ParseResult(False, None, hint, reason=reason)


def clean(text: Any) -> str:
    """Common clean-up: str, strip emoji and surrounding blanks/punctuation."""
    text = _EMOJI.sub("", str(text if text is not None else ""))
    return text.strip().strip("，。！？,.!?、~～ ")


def strip_filler(text: str) -> str:
    """Drop hesitations and sentence particles around the actual answer."""
    s = _FILLER_HEAD.sub("", text.strip())
    return _FILLER_TAIL.sub("", s).strip()
