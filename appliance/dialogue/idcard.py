"""Resident identity card numbers (GB 11643-1999)."""

from __future__ import annotations

import datetime as _dt
import re

from .numbers import spoken_digits

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CODES = "10X98765432"
# First two digits: the province-level division codes of GB/T 2260 (71 Taiwan, 81/82 HK/Macau
# residence permits, 83 the residence permit for Taiwan residents).
PROVINCE_CODES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
    }
)
# Ways people and recognisers say the final X.
_X_WORDS = ("艾克斯", "爱克斯", "埃克斯", "叉", "x")


class IdCardError(ValueError):
    """An ID number that cannot be right; str() is a spoken hint, ``reason`` the exact written one."""

    def __init__(self, hint: str, reason: str = "") -> None:
        super().__init__(hint)
        self.reason = reason or f"身份证号无效：{hint}"


def check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=False))
    return _CHECK_CODES[total % 11]


def normalise_id_text(text: str) -> str:
    """Spoken/written ID -> a candidate string of digits and X."""
    s = spoken_digits(text or "").upper()
    for word in _X_WORDS:
        s = s.replace(word.upper(), "X")
    s = re.sub(r"^(我的)?(身份证)?(号码|号)?(是)?", "", s)
    return s


def validate_id_card(text: str, today: _dt.date | None = None) -> str:
    """Return the normalised 18-character number or raise IdCardError with a hint."""
    today = today or _dt.date.today()
    s = normalise_id_text(text)
    if not s:
        raise IdCardError("没有听到身份证号")
    if re.search(r"[^0-9X]", s):
        raise IdCardError("身份证号只有数字和最后一位可能的X")
    if len(s) == 15:
        raise IdCardError("这是老的15位号码，请说18位的新身份证号")
    if len(s) != 18:
        raise IdCardError(f"身份证号是18位，我听到的是{len(s)}位", f"身份证号应为18位，收到的是{len(s)}位")
    if "X" in s[:17]:
        raise IdCardError("只有最后一位可能是X")
    if int(s[:2]) not in PROVINCE_CODES:
        raise IdCardError("前两位地区代码不对")
    born = birth_of(s)
    if born is None:
        raise IdCardError("号码里的出生日期不存在")
    if born > today or born.year < 1900:
        raise IdCardError("号码里的出生日期不对")
    if check_digit(s[:17]) != s[17]:
        raise IdCardError(
            "最后一位校验码对不上，可能有一位数字说错了",
            f"身份证号第18位校验码应为{check_digit(s[:17])}（按前17位计算，GB 11643），收到的是{s[17]}",
        )
    return s


def birth_of(id_card: str) -> _dt.date | None:
    """Birth date encoded in digits 7-14, or None if it is not a real date."""
    try:
        return _dt.date(int(id_card[6:10]), int(id_card[10:12]), int(id_card[12:14]))
    except ValueError:
        return None


def gender_of(id_card: str) -> str:
    """'男' when the 17th digit is odd, '女' when even."""
    return "男" if int(id_card[16]) % 2 else "女"
