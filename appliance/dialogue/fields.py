"""Parse and check each record field (PROTOCOL section 3) from a spoken answer.

Every parser takes the citizen's answer as text and returns a ParseResult:
``ok`` with the stored ``value``, or not ok with a ``hint`` that says what was
wrong and gives an example. ``confirm`` marks numbers that should be read back
when they came from speech, because recognisers get digits wrong.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from .choices import parse_education, parse_marital_status, parse_political_status, parse_religion
from .ethnic import find_ethnic_group
from .idcard import IdCardError, birth_of, gender_of, validate_id_card
from .numbers import DIGIT_CHARS, DateError, compute_age, format_date, parse_date, spoken_digits, to_halfwidth
from .result import MAX_ANSWER, ParseResult, clean, strip_filler
from .result import bad as _bad

# -- necessary fields ---------------------------------------------------------

_NAME_PREFIX = re.compile(
    r"^(你好|您好)?[，,\s]*(我的?(名字|姓名)?(叫做?|是)|名字(叫做?|是)|姓名(是)?|本人(叫)?|叫)"
)
# Han names (· joins minority names), Latin names, and the mixes people really use ("英锐gg").
_NAME_CHARS = re.compile(r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·• .'-]{1,39}$")


def parse_name(text: str) -> ParseResult:
    """ "我叫李明" -> 李明; Chinese names (with · for minority names) or Latin names."""
    s = _NAME_PREFIX.sub("", clean(text)).strip()
    s = re.sub(r"(吧|啊|呀|哦|呢|的)$", "", s).strip().replace("•", "·")
    if not s:
        return _bad("请告诉我您的姓名，比如：我叫李明。")
    if len(s) < 2:
        return _bad("请说您的全名，比如：我叫李明。", f"姓名应为2–40个汉字或字母，收到的“{s}”只有1个字符")
    if not _NAME_CHARS.match(s) or s.startswith("·") or s.endswith("·"):
        return _bad(
            "姓名只能是汉字或字母，请再说一遍，比如：我叫李明。",
            f"姓名应为2–40个汉字或字母（可含·、空格、'、-，不以·开头或结尾），收到的是“{s[:40]}”",
        )
    return ParseResult(True, s)


def parse_gender(text: str) -> ParseResult:
    """ "男的"/"男性"/"先生" -> 男, "女"/"女士" -> 女."""
    s = clean(text).lower()
    male = any(w in s for w in ("男", "先生", "male", "man"))
    female = any(w in s for w in ("女", "female", "woman"))
    if male and "female" in s:
        male = False
    if male == female:
        return _bad("请说男或者女，比如：男。", f"性别应为“男”或“女”，收到的是“{s[:20]}”")
    return ParseResult(True, "男" if male else "女")


def parse_nationality(text: str) -> ParseResult:
    """ "我是汉族的" -> 汉 (one of the 56 groups, without 族)."""
    s = strip_filler(clean(text))
    if any(w in s for w in ("中国", "华人")):
        return _bad("这里问的是民族，不是国籍，请说比如：汉族、回族、壮族。")
    group = find_ethnic_group(s)
    if group is None:
        return _bad("没听出是哪个民族，请说比如：汉族、回族、壮族。")
    return ParseResult(True, group)


def parse_phone(text: str) -> ParseResult:
    """Digits or spoken digits -> an 11-digit mainland mobile number."""
    s = spoken_digits(strip_filler(clean(text)), keep_letters=True)
    s = re.sub(r"^(我的)?(手机|电话)(号码|号)?(是)?", "", s)
    s = re.sub(r"^(\+?86)(?=1\d{10}$)", "", s)
    if not s:
        return _bad("请说您的手机号，比如：一三九一二三四五六七八。")
    rule = "手机号应为1开头的11位大陆手机号，第二位为3–9"
    if re.search(r"[A-Za-z]", s):
        return _bad("手机号只能是数字，请一位一位地说，比如：一三九一二三四五六七八。", f"{rule}，只能是数字")
    if not s.isdigit():
        return _bad("没听清手机号，请一位一位地说数字。", f"{rule}，只能是数字")
    if len(s) != 11:
        return _bad(f"手机号是11位，我听到的是{len(s)}位，请再说一遍。", f"{rule}，收到的是{len(s)}位")
    if not re.match(r"^1[3-9]\d{9}$", s):
        which = f"第一位是{s[0]}" if s[0] != "1" else f"第二位是{s[1]}"
        return _bad(
            "这不像大陆手机号，手机号以1开头、第二位是3到9，请再说一遍。", f"{rule}，收到的“{s}”{which}"
        )
    return ParseResult(True, s, confirm=True)


def parse_id_card(text: str | int, record: dict | None = None, today: _dt.date | None = None) -> ParseResult:
    """18-character ID with check digit; must agree with a known birth date and gender."""
    s = clean(text)
    if len(s) > MAX_ANSWER:
        return _bad("请只说身份证号码，18位，比如：四四零一零六一九九零零三零七一二三四。")
    try:
        number = validate_id_card(s, today)
    except IdCardError as exc:
        return _bad(f"{exc}，请再说一遍身份证号码，一位一位地说。", exc.reason)
    problem = id_card_conflict(number, record or {}, today)
    if problem:
        return _bad(problem)
    return ParseResult(True, number, confirm=True)


def id_card_conflict(number: str, record: dict, today: _dt.date | None = None) -> str | None:
    """A hint when the ID's birth date or gender disagrees with the record, else None."""
    gender = record.get("gender")
    if gender in ("男", "女") and gender_of(number) != gender:
        return (
            f"这个身份证号对应的性别是{gender_of(number)}，和您说的{gender}不一致，请核对后再说一遍身份证号。"
        )
    birth = record.get("birth")
    if birth not in (None, ""):
        try:
            known = parse_date(birth, today)
        except DateError:
            return None  # an unreadable stored birth date cannot contradict anything
        id_birth = birth_of(number)
        if id_birth != known:
            assert id_birth is not None  # number is a validated ID: its birth date exists
            return (
                f"这个身份证号里的出生日期是{format_date(id_birth)}，和登记的"
                f"{format_date(known)}不一致，请核对后再说一遍身份证号。"
            )
    return None


# -- basic fields -----------------------------------------------------------


def parse_birth(text: str | int, today: _dt.date | None = None) -> ParseResult:
    """Date in any usual form -> "1990年3月7日"; no future dates, nobody older than 130."""
    today = today or _dt.date.today()
    if isinstance(text, str) and len(text) > MAX_ANSWER:
        return _bad("请只说出生日期，比如：一九九零年三月七日。")
    try:
        born = parse_date(text if isinstance(text, int) else clean(text), today)
    except DateError as exc:
        return _bad(f"{exc}，请说出生的年月日，比如：一九九零年三月七日。")
    if born > today:
        return _bad("出生日期不能晚于今天，请再说一遍，比如：一九九零年三月七日。")
    if compute_age(born, today) > 130:
        return _bad("这个出生年份太早了，请再说一遍，比如：一九九零年三月七日。")
    return ParseResult(True, format_date(born), confirm=True)


_EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
_EMAIL_WORDS = (
    ("艾特", "@"),
    ("爱特", "@"),
    ("圈a", "@"),
    (" at ", "@"),
    ("点", "."),
    (" dot ", "."),
    ("下划线", "_"),
    ("杠", "-"),
    ("。", "."),
)


def parse_email(text: str) -> ParseResult:
    """ "幺零九二五艾特qq点com" -> 10925@qq.com; checks the usual address form."""
    s = clean(text).lower()
    s = re.sub(r"^(我的)?(邮箱|电子邮件|邮件)(地址)?(是)?", "", s)
    for spoken, written in _EMAIL_WORDS:
        s = s.replace(spoken, written)
    # Digit by digit only: spoken_digits() would also drop the dots.
    s = "".join(DIGIT_CHARS.get(ch, ch) if ch not in "oO" else ch for ch in to_halfwidth(s))
    s = re.sub(r"\s+", "", s)
    if not s or len(s) > 254 or not _EMAIL.match(s):
        return _bad("邮箱格式不对，请再说一遍，比如：一二三四五艾特qq点com。")
    return ParseResult(True, s, confirm=sum(c.isdigit() for c in s) >= 5)


_PLACE_MARK = re.compile(r"[省市区县镇乡村州旗盟路街道巷弄号栋幢楼室屯组里]|小区|大厦|花园|公寓")
_FREE_PREFIX = re.compile(r"^(我的?)?(户口|户籍|籍贯|老家|家|住址|地址|职业|工作)?(在|是|住在|就在)?")


def _free_text(
    text: str, minimum: int, maximum: int, example: str, what: str, need_place: bool = False
) -> ParseResult:
    """Shared sanity checks for free-text fields."""
    s = strip_filler(_FREE_PREFIX.sub("", clean(text)))
    s = re.sub(r"\s+", " ", s).strip()
    if not s:
        return _bad(f"请说您的{what}，比如：{example}。")
    if len(s) > maximum:
        return _bad(f"{what}太长了，请简单地说，比如：{example}。")
    if len(s) < minimum or not re.search(r"[\u3400-\u9fffA-Za-z]", s) or re.fullmatch(r"[\d\s]+", s):
        return _bad(f"没听清{what}，请再说一遍，比如：{example}。")
    if need_place and not _PLACE_MARK.search(s):
        return _bad(f"请说到省、市或区县，比如：{example}。")
    return ParseResult(True, s)


def parse_address(text: str) -> ParseResult:
    """Current address: free text with some place marker, 5-100 characters."""
    return _free_text(text, 5, 100, "广东省广州市番禺区大学城外环西路100号", "现住址", need_place=True)


def parse_hukou(text: str) -> ParseResult:
    """Where the household registration is: a place, 2-60 characters."""
    return _free_text(text, 2, 60, "广州市天河区", "户口所在地", need_place=True)


def parse_native_place(text: str) -> ParseResult:
    """籍贯: "我是广州人" -> 广州; 2-30 characters."""
    s = re.sub(r"^(我是|我老家是|老家)", "", clean(text))
    s = re.sub(r"(人|的人)$", "", s)
    return _free_text(s, 2, 30, "广东广州", "籍贯")


_CAREER_SPECIAL = (
    ("无业", ("没有工作", "没工作", "无业", "待业", "失业")),
    ("退休", ("退休",)),
    ("学生", ("学生", "上学", "读书")),
)


def parse_career(text: str) -> ParseResult:
    """Occupation: free text; common 'no job' answers are normalised."""
    s = clean(text)
    for value, words in _CAREER_SPECIAL:
        if any(w in s for w in words):
            return ParseResult(True, value)
    s = re.sub(r"^(我是(一[名个位])?|我在|我做|我干|做|干|在)", "", s)
    s = re.sub(r"(工作|的)$", "", s) or s
    return _free_text(s, 2, 30, "教师、公司职员、个体经营", "职业")


# -- dispatch ---------------------------------------------------------------

PARSERS: dict[str, Callable[..., ParseResult]] = {
    "name": parse_name,
    "gender": parse_gender,
    "nationality": parse_nationality,
    "phone": parse_phone,
    "id_card": parse_id_card,
    "birth": parse_birth,
    "email": parse_email,
    "career": parse_career,
    "address": parse_address,
    "hukou": parse_hukou,
    "native_place": parse_native_place,
    "political_status": parse_political_status,
    "marital_status": parse_marital_status,
    "religion": parse_religion,
    "education": parse_education,
}


def parse_field(
    name: str, text: Any, record: dict | None = None, today: _dt.date | None = None
) -> ParseResult:
    """Parse ``text`` as field ``name``; KeyError for an unknown field."""
    parser = PARSERS[name]
    if isinstance(text, bool) and name != "marital_status":
        return _bad(parser("").hint)
    if text is not None and not isinstance(text, (str, int)):
        return _bad(parser("").hint)  # lists, dicts, floats: not an answer
    if text is None or (isinstance(text, str) and not clean(text)):
        return _bad(parser("").hint or "没听清，请再说一遍。")
    if isinstance(text, str) and len(text) > 4 * MAX_ANSWER:
        return _bad("回答太长了，请简单地说。")
    if name == "id_card":
        return parse_id_card(text, record, today)
    if name == "birth":
        return parse_birth(text, today)
    return parser(text)
