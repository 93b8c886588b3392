"""Spoken Chinese numbers and dates -> digits and datetime.date.

Speech recognisers write numbers in every possible way: "一三九", "幺三九",
"139", "１３９", "一百三十九" (rare for phone numbers). Dates come as
"1990年3月7日", "九零年三月七号", "1990-03-07" or "19900307".
"""

from __future__ import annotations

import datetime as _dt
import re

#: Spoken digit characters, including the radio/telephone variants (幺 for 1,
#: 拐 for 7, 洞 for 0) people use when reading numbers aloud.
DIGIT_CHARS = {
    "零": "0",
    "〇": "0",
    "○": "0",
    "洞": "0",
    "o": "0",
    "O": "0",
    "一": "1",
    "幺": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "拐": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "勾": "9",
    "玖": "9",
}
# Full-width digits and letters that some input methods produce.
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_SEPARATORS = re.compile(r"[\s\-－—_,，、.。·:：/]+")


def to_halfwidth(text: str) -> str:
    """Full-width digits/letters -> ASCII."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _FULLWIDTH:
            out.append(_FULLWIDTH[ch])
        elif 0xFF21 <= code <= 0xFF5A:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def spoken_digits(text: str, keep_letters: bool = False) -> str:
    """Read a number spoken digit by digit: "一三九 1234" -> "1391234".

    Separators are dropped; other characters are kept so the caller can tell
    that something that is not a digit was said (letters in a phone number).
    Latin o/O counts as zero only when ``keep_letters`` is False.
    """
    text = to_halfwidth(text or "")
    out = []
    for ch in text:
        if ch in "oO" and keep_letters:
            out.append(ch)
        elif ch in DIGIT_CHARS:
            out.append(DIGIT_CHARS[ch])
        else:
            out.append(ch)
    return _SEPARATORS.sub("", "".join(out))


def small_number(token: str) -> int | None:
    """ "七"->7, "十二"->12, "二十七"->27, "三十一"->31, "07"->7, "一二"->12; None if not a number."""
    token = to_halfwidth(token or "").strip()
    if not token:
        return None
    if token.isdigit():
        return int(token)
    if "十" in token:
        head, _, tail = token.partition("十")
        tens = 1 if head == "" else _digit_value(head)
        units = 0 if tail == "" else _digit_value(tail)
        if tens is None or units is None:
            return None
        return tens * 10 + units
    digits = "".join(DIGIT_CHARS.get(ch, "?") for ch in token)
    return int(digits) if digits.isdigit() else None


def _digit_value(ch: str) -> int | None:
    d = DIGIT_CHARS.get(ch) if len(ch) == 1 else None
    return int(d) if d is not None else None


class DateError(ValueError):
    """A date that cannot be understood or does not exist; str() is a spoken hint."""


_NUM = r"[0-9零〇○一二两三四五六七八九十]"
_CN_DATE = re.compile(rf"({_NUM}{{2,4}})\s*年\s*({_NUM}{{1,3}})\s*月\s*(?:({_NUM}{{1,3}})\s*[日号]?)?")
_ISO_DATE = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})")
_COMPACT = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def _full_year(raw: str, today: _dt.date) -> int:
    """4-digit years as said; 2-digit ones ("九零") to the most recent past century."""
    digits = "".join(DIGIT_CHARS.get(ch, ch) for ch in raw)
    if not digits.isdigit():
        raise DateError("年份没听清")
    year = int(digits)
    if len(digits) == 2:
        year += 2000 if year <= today.year % 100 else 1900
    elif len(digits) != 4:
        raise DateError("年份请说四位数，比如一九九零年")
    return year


def parse_date(text: str | int | _dt.date, today: _dt.date | None = None) -> _dt.date:
    """Any usual written or spoken date -> date. Raises DateError with a hint."""
    today = today or _dt.date.today()
    if isinstance(text, bool):
        raise DateError("日期格式不对")
    if isinstance(text, int):  # the seed's birth: 20250721
        text = str(text)
    if isinstance(text, _dt.date):
        return text
    raw = to_halfwidth(str(text or ""))
    m = _CN_DATE.search(raw)
    if m:
        if not m.group(3):
            raise DateError("还缺少日子，请说完整的年月日")
        year = _full_year(m.group(1), today)
        month, day = small_number(m.group(2)), small_number(m.group(3))
    elif iso := _ISO_DATE.search(raw):
        y, mo, d = iso.groups()
        year, month, day = int(y), int(mo), int(d)
    elif compact := _COMPACT.search(spoken_digits(raw)):
        s = compact.group(1)
        year, month, day = int(s[:4]), int(s[4:6]), int(s[6:])
    else:
        raise DateError("没听清日期")
    if month is None or day is None:
        raise DateError("月份或日子没听清")
    if not 1 <= month <= 12:
        raise DateError(f"没有{month}月")
    try:
        return _dt.date(year, month, day)
    except ValueError:
        raise DateError(f"{year}年{month}月没有{day}日") from None


def format_date(d: _dt.date) -> str:
    """The storage form used by the seed: 1990年3月7日 (no leading zeros)."""
    return f"{d.year}年{d.month}月{d.day}日"


def compute_age(birth: str | int | _dt.date, today: _dt.date | None = None) -> int:
    """Whole years from ``birth`` (any form parse_date accepts) to ``today``.

    Raises ValueError (DateError) for an unreadable or future birth date.
    """
    today = today or _dt.date.today()
    born = parse_date(birth, today)
    if born > today:
        raise DateError("出生日期晚于今天")
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def spell_digits(digits: str) -> str:
    """ "139" -> "1 3 9": read back digit by digit so TTS does not say 'one hundred...'."""
    return " ".join(digits)
