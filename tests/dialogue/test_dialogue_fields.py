"""Field parsers: realistic spoken answers and adversarial ones."""

import datetime as dt

import pytest

from appliance.dialogue.ethnic import ETHNIC_GROUPS
from appliance.dialogue.fields import PARSERS, parse_field
from appliance.dialogue.idcard import IdCardError, check_digit, validate_id_card
from appliance.dialogue.numbers import DateError, compute_age, parse_date, small_number

TODAY = dt.date(2026, 11, 22)
MALE_ID = "110105199003071239"  # 1990-03-07, 17th digit odd -> 男
FEMALE_ID = "440106198512240027"  # 1985-12-24, even -> 女
X_ID = "51010720000229453X"  # 2000-02-29 (leap day), check digit X


def ok(field, text, **kw):
    r = parse_field(field, text, today=TODAY, **kw)
    assert r.ok, (field, text, r.hint)
    return r.value


def bad(field, text, **kw):
    r = parse_field(field, text, today=TODAY, **kw)
    assert not r.ok and r.value is None, (field, text, r.value)
    assert "比如" in r.hint or "请" in r.hint, r.hint  # every hint tells what to say
    return r.hint


@pytest.mark.parametrize("field", sorted(PARSERS))
@pytest.mark.parametrize("text", ["", "   ", "😀", "？？", None])
def test_every_parser_rejects_empty_answers(field, text):
    bad(field, text)


@pytest.mark.parametrize("field", sorted(PARSERS))
def test_every_parser_survives_huge_input(field):
    r = parse_field(field, "我" * 100000, today=TODAY)
    assert not r.ok


@pytest.mark.parametrize(
    "text, value",
    [
        ("我叫李明", "李明"),
        ("李明", "李明"),
        ("我的名字是欧阳娜娜", "欧阳娜娜"),
        ("名字叫王小二吧", "王小二"),
        ("买买提·艾力", "买买提·艾力"),
        ("John Smith", "John Smith"),
        ("英锐gg", "英锐gg"),
        ("您好，我叫张三。", "张三"),
    ],
)
def test_name(text, value):
    assert ok("name", text) == value


@pytest.mark.parametrize("text", ["李", "李明123", "<script>", "我叫", "·李明"])
def test_name_rejects(text):
    bad("name", text)


@pytest.mark.parametrize(
    "text, value",
    [("男的", "男"), ("女", "女"), ("男性", "男"), ("我是女士", "女"), ("male", "男"), ("female", "女")],
)
def test_gender(text, value):
    assert ok("gender", text) == value


@pytest.mark.parametrize("text", ["男女都行", "不告诉你", "123"])
def test_gender_rejects(text):
    bad("gender", text)


@pytest.mark.parametrize(
    "text, value",
    [
        ("我是汉族的", "汉"),
        ("汉族", "汉"),
        ("汉", "汉"),
        ("回族", "回"),
        ("土家族", "土家"),
        ("土族", "土"),
        ("维族", "维吾尔"),
        ("蒙古族", "蒙古"),
        ("我是白族", "白"),
        ("汗族", "汉"),
        ("柯尔克孜族", "柯尔克孜"),
    ],
)
def test_nationality(text, value):
    assert ok("nationality", text) == value


def test_all_56_groups_parse_with_and_without_zu():
    assert len(set(ETHNIC_GROUPS)) == 56
    for group in ETHNIC_GROUPS:
        assert ok("nationality", group + "族") == group
        assert ok("nationality", group) == group


@pytest.mark.parametrize("text", ["中国人", "明白了", "火星族", "美国"])
def test_nationality_rejects(text):
    bad("nationality", text)


@pytest.mark.parametrize(
    "text",
    [
        "手机号是一三九一二三四五六七八",
        "13912345678",
        "139 1234 5678",
        "139-1234-5678",
        "幺三九幺二三四五六七八",
        "+8613912345678",
        "１３９１２３４５６７８",
    ],
)
def test_phone(text):
    r = parse_field("phone", text)
    assert r.ok and r.confirm
    assert r.value in ("13912345678", "13912345678".replace("1", "1"))


def test_phone_with_yao():
    assert ok("phone", "幺三九幺二三四五六七八") == "13912345678"


@pytest.mark.parametrize(
    "text, word",
    [
        ("1391234567a", "数字"),
        ("1391234567", "10位"),
        ("139123456789", "12位"),
        ("12345678901", "1开头"),
        ("一二三", "3位"),
        ("我没有手机", ""),
    ],
)
def test_phone_rejects(text, word):
    assert word in bad("phone", text)


def test_check_digit_reference_values():
    # Reference numbers from GB 11643 examples / widely published test vectors.
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    assert check_digit("11010519900307123") == "9"


@pytest.mark.parametrize(
    "text, value",
    [
        (MALE_ID, MALE_ID),
        ("一一零一零五一九九零零三零七一二三九", MALE_ID),
        (X_ID.lower(), X_ID),
        ("五一零一零七二零零零零二二九四五三叉", X_ID),
        ("我的身份证号是 110105 19900307 1239", MALE_ID),
    ],
)
def test_id_card(text, value):
    r = parse_field("id_card", text, today=TODAY)
    assert r.ok and r.value == value and r.confirm


@pytest.mark.parametrize(
    "text, word",
    [
        ("110105199003071238", "校验码"),  # wrong checksum
        ("11010519900307123", "17位"),
        ("110105900307123", "15位"),
        ("11010519900230123X", "出生日期"),  # 2月30日 does not exist
        ("110105203001011234", "出生日期"),  # born in 2030
        ("990105199003071239", "地区"),
        ("1101051990030712X9", "X"),
        ("11010519900307123a", "数字"),
    ],
)
def test_id_card_rejects(text, word):
    assert word in bad("id_card", text)


def test_id_card_must_agree_with_record():
    assert "性别" in bad("id_card", MALE_ID, record={"gender": "女"})
    assert "出生日期" in bad("id_card", MALE_ID, record={"birth": "1991年3月7日"})
    assert "出生日期" in bad("id_card", MALE_ID, record={"birth": 19910307})
    assert ok("id_card", MALE_ID, record={"gender": "男", "birth": "1990年3月7日"}) == MALE_ID
    assert ok("id_card", FEMALE_ID, record={"gender": "女", "birth": 19851224}) == FEMALE_ID


@pytest.mark.parametrize(
    "text",
    [
        "1990年3月7日",
        "1990-03-07",
        "九零年三月七号",
        "19900307",
        "一九九零年三月七日",
        "1990/3/7",
        "我是1990年3月7号出生的",
        "九零年三月初七号".replace("初", ""),
    ],
)
def test_birth(text):
    r = parse_field("birth", text, today=TODAY)
    assert r.ok and r.value == "1990年3月7日" and r.confirm


def test_birth_more_forms():
    assert ok("birth", "二零零五年十二月三十一日") == "2005年12月31日"
    assert ok("birth", "零五年十月二十号") == "2005年10月20日"
    assert ok("birth", 20250721) == "2025年7月21日"
    assert ok("birth", "2000年2月29日") == "2000年2月29日"


@pytest.mark.parametrize(
    "text, word",
    [
        ("1990年2月30日", "没有30日"),
        ("1900年2月29日", "没有29日"),
        ("2030年1月1日", "晚于今天"),
        ("1850年1月1日", "太早"),
        ("1990年3月", "日子"),
        ("去年", "日期"),
        ("19901307", "没有13月"),
        ("2025年13月1日", "没有13月"),
    ],
)
def test_birth_rejects(text, word):
    assert word in bad("birth", text)


def test_numbers_and_age():
    assert small_number("二十七") == 27 and small_number("十") == 10 and small_number("三十一") == 31
    assert small_number("零七") == 7 and small_number("abc") is None
    assert compute_age("1990年3月7日", TODAY) == 36
    assert compute_age(20251123, dt.date(2026, 11, 22)) == 0
    assert compute_age(20251122, dt.date(2026, 11, 22)) == 1
    assert compute_age(dt.date(2000, 2, 29), dt.date(2001, 2, 28)) == 0
    with pytest.raises(DateError):
        compute_age("2030年1月1日", TODAY)
    with pytest.raises(ValueError):
        parse_date("not a date")


@pytest.mark.parametrize(
    "text, value",
    [
        ("10925508@qq.com", "10925508@qq.com"),
        ("幺零九二五五零八艾特qq点com", "10925508@qq.com"),
        ("我的邮箱是 Li.Ming@Example.COM", "li.ming@example.com"),
        ("kate at example dot com", "kate@example.com"),
        ("abc下划线d艾特163点com", "abc_d@163.com"),
    ],
)
def test_email(text, value):
    assert ok("email", text) == value


@pytest.mark.parametrize("text", ["abc@", "@qq.com", "abc@qq", "abc@@qq.com", "李明@qq.com", "abc@qq..com"])
def test_email_rejects(text):
    bad("email", text)


@pytest.mark.parametrize(
    "field, text, value",
    [
        ("political_status", "中共党员", "党员"),
        ("political_status", "党员", "党员"),
        ("political_status", "中共预备党员", "预备党员"),
        ("political_status", "共青团员", "团员"),
        ("political_status", "普通群众", "群众"),
        ("political_status", "九三学社社员", "民主党派"),
        ("political_status", "无党派人士", "无党派人士"),
        ("education", "大学本科", "本科"),
        ("education", "研究生", "硕士"),
        ("education", "博士研究生", "博士"),
        ("education", "大专", "大专"),
        ("education", "初中毕业", "初中"),
        ("education", "没上过学", "无"),
        ("education", "技校", "中专"),
        ("marital_status", "已婚", True),
        ("marital_status", "结婚了", True),
        ("marital_status", "未婚", False),
        ("marital_status", "离异", False),
        ("marital_status", "丧偶", False),
        ("marital_status", "还没结婚呢", False),
        ("marital_status", True, True),
        ("marital_status", "单身", False),
        ("religion", "没有宗教信仰", "无"),
        ("religion", "无", "无"),
        ("religion", "信佛", "佛教"),
        ("religion", "穆斯林", "伊斯兰教"),
        ("religion", "基督教", "基督教"),
        ("religion", "天主教", "天主教"),
        ("religion", "不信教", "无"),
    ],
)
def test_choices(field, text, value):
    assert ok(field, text) == value


@pytest.mark.parametrize(
    "field, text",
    [
        ("political_status", "我不是党员"),
        ("political_status", "蓝色"),
        ("education", "还行吧"),
        ("marital_status", "是的"),
        ("marital_status", "不好说"),
        ("religion", "我不知道"),
    ],
)
def test_choices_reject(field, text):
    bad(field, text)


@pytest.mark.parametrize(
    "field, text, value",
    [
        ("career", "我是一名教师", "教师"),
        ("career", "在公司上班，做会计", "公司上班，做会计"),
        ("career", "没有工作", "无业"),
        ("career", "退休了", "退休"),
        ("career", "我是学生", "学生"),
        ("address", "广东省广州市番禺区大学城外环西路100号", "广东省广州市番禺区大学城外环西路100号"),
        ("address", "我住在幸福小区3栋502", "幸福小区3栋502"),
        ("hukou", "户口在广州市天河区", "广州市天河区"),
        ("hukou", "湖南省长沙县", "湖南省长沙县"),
        ("native_place", "我是湖南长沙人", "湖南长沙"),
        ("native_place", "籍贯是广东广州", "广东广州"),
    ],
)
def test_free_text(field, text, value):
    assert ok(field, text) == value


@pytest.mark.parametrize(
    "field, text",
    [
        ("address", "这里"),
        ("address", "12345"),
        ("address", "我家" * 60),
        ("hukou", "不告诉"),
        ("native_place", "1"),
        ("career", "8"),
    ],
)
def test_free_text_rejects(field, text):
    bad(field, text)


def test_validate_id_card_direct():
    assert validate_id_card(" 51010720000229453x ", TODAY) == X_ID
    with pytest.raises(IdCardError):
        validate_id_card("", TODAY)


@pytest.mark.parametrize("field", ["name", "phone", "birth", "education"])
@pytest.mark.parametrize("value", [True, 3.5, ["李明"], {"a": 1}])
def test_non_text_values_rejected(field, value):
    assert not parse_field(field, value, today=TODAY).ok


def test_unknown_field():
    with pytest.raises(KeyError):
        parse_field("shoe_size", "42")
