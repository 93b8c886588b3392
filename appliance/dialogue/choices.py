"""Fields whose value comes from a fixed list: political status, education,
marital status, religion. Each maps the many ways of saying a value to one
stored form; order matters where one phrase contains another (预备党员 ⊃ 党员,
博士研究生 ⊃ 研究生, 没有宗教信仰 ⊃ 宗教)."""

from __future__ import annotations

from .result import ParseResult, bad, clean, strip_filler

POLITICAL_STATUSES = ("党员", "预备党员", "团员", "民主党派", "无党派人士", "群众")
EDUCATION_LEVELS = ("无", "小学", "初中", "高中", "中专", "大专", "本科", "硕士", "博士")
RELIGIONS = ("无", "佛教", "道教", "伊斯兰教", "基督教", "天主教")

# (stored value, phrases) checked in this order; first phrase found wins.
_POLITICAL = (
    ("无党派人士", ("无党派",)),
    (
        "预备党员",
        (
            "预备党员",
            "预备",
        ),
    ),
    ("民主党派", ("民主党派", "民革", "民盟", "民建", "民进", "农工党", "致公党", "九三学社", "台盟")),
    ("党员", ("中共党员", "共产党员", "党员", "共产党", "中共")),
    ("团员", ("共青团员", "团员", "共青团")),
    ("群众", ("群众", "老百姓", "普通人", "什么都不是", "都不是", "没有", "无")),
)
_EDUCATION = (
    ("博士", ("博士",)),
    ("硕士", ("硕士", "研究生", "mba")),
    ("本科", ("本科", "学士", "大学")),
    ("大专", ("大专", "专科", "高职")),
    ("中专", ("中专", "技校", "职高", "中职", "职业高中")),
    ("高中", ("高中",)),
    ("初中", ("初中",)),
    ("小学", ("小学",)),
    ("无", ("没上过学", "没读过书", "没念过书", "文盲", "没有学历", "没上学", "无")),
)
# Negative answers first: "没有宗教信仰" must not be read as a religion.
_RELIGION = (
    ("无", ("没有", "没信", "不信", "无神论", "无宗教", "无")),
    ("伊斯兰教", ("伊斯兰", "穆斯林", "回教", "清真")),
    ("天主教", ("天主",)),
    ("基督教", ("基督", "新教", "耶稣")),
    ("佛教", ("佛教", "信佛", "佛")),
    ("道教", ("道教", "信道")),
)
_MARRIED = (
    "已婚",
    "结婚",
    "结过婚",
    "结了婚",
    "结了",
    "有老婆",
    "有老公",
    "有爱人",
    "已经结婚",
    "初婚",
    "再婚",
)
_NOT_MARRIED = (
    "未婚",
    "未结婚",
    "不结婚",
    "没结婚",
    "没有结婚",
    "还没结",
    "没结",
    "单身",
    "离异",
    "离婚",
    "离了",
    "丧偶",
    "去世",
    "不在了",
    "没有对象",
    "没对象",
)


def _lookup(text: str, table) -> str | None:
    for value, phrases in table:
        if any(p in text for p in phrases):
            return value
    return None


def parse_political_status(text: str) -> ParseResult:
    """ "中共党员" -> 党员, "共青团员" -> 团员, "普通群众" -> 群众 ..."""
    s = strip_filler(clean(text)).lower()
    if ("不是" in s or "非" in s) and "都不是" not in s:
        # "我不是党员" says what they are not; ask for what they are.
        return bad("请直接说您的政治面貌：党员、团员、群众或者民主党派。")
    value = _lookup(s, _POLITICAL)
    if value is None:
        return bad("请说您的政治面貌，比如：党员、团员、群众。")
    return ParseResult(True, value)


def parse_education(text: str) -> ParseResult:
    """ "大学本科" -> 本科, "研究生" -> 硕士, "没上过学" -> 无 ..."""
    s = strip_filler(clean(text)).lower()
    value = _lookup(s, _EDUCATION)
    if value is None:
        return bad("请说您的最高学历，比如：高中、大专、本科、硕士。")
    return ParseResult(True, value)


def parse_marital_status(text) -> ParseResult:
    """已婚 -> True; 未婚/离异/丧偶 -> False (the record keeps a boolean)."""
    if isinstance(text, bool):
        return ParseResult(True, text)
    s = strip_filler(clean(text))
    if _lookup(s, (("n", _NOT_MARRIED),)):
        return ParseResult(True, False)
    if _lookup(s, (("y", _MARRIED),)):
        return ParseResult(True, True)
    return bad("请说已婚还是未婚，离异或丧偶也请直接说。")


def parse_religion(text: str) -> ParseResult:
    """ "没有宗教信仰" -> 无, "信佛" -> 佛教, "穆斯林" -> 伊斯兰教 ..."""
    s = strip_filler(clean(text))
    value = _lookup(s, _RELIGION)
    if value is None:
        return bad("请说您的宗教信仰，比如：无、佛教、基督教、伊斯兰教。")
    return ParseResult(True, value)
