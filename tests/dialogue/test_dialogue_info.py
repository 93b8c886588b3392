"""validate_info: the handshake's record of the citizen."""

import datetime as dt

from appliance.dialogue.info import age_of, validate_info

TODAY = dt.date(2026, 11, 22)
SEED_INFO = {  # seed 000's example record, verbatim
    "name": "英锐gg",
    "gender": "男",
    "nationality": "汉",
    "phone": "12345678901",
    "id_card": "440209200601018080",
    "native_place": "广州",
    "birth": "2025年8月13日",
    "email": "10925508@qq.com",
    "career": "炼丹师",
    "address": "广东省广州市番禺区广东工业大学西二-803",
    "hukou": "广州市天河区",
    "political_status": "党员",
    "marital_status": True,
    "religion": "伊斯兰教/基督教/无",
    "education": "本科",
}


def test_seed_record():
    check = validate_info(SEED_INFO, TODAY)
    # The seed's example phone (second digit 2) and ID (check digit should be 6) are not real.
    assert set(check.errors) == {"phone", "id_card"}
    assert "校验码" in check.errors["id_card"]
    assert check.record["name"] == "英锐gg" and check.record["marital_status"] is True
    assert check.record["religion"] == "无"  # the seed lists choices; the first "no" wins: 无
    assert "phone" not in check.record and not check.ok
    assert check.well_formed  # wrong values, right types: ask those fields again


def test_nulls_are_absent_and_int_birth_is_accepted():
    check = validate_info(
        {"name": "李明", "age": 18, "birth": 20250721, "phone": None, "email": "", ".....": "....."}, TODAY
    )
    assert check.ok
    assert check.record == {"name": "李明", "birth": "2025年7月21日"}
    assert check.ignored == ["....."]
    assert age_of(check.record, TODAY) == 1


def test_wrong_types_reported_per_field():
    check = validate_info(
        {
            "name": 42,
            "marital_status": "yes",
            "birth": 3.5,
            "gender": ["男"],
            "phone": 13912345678,
            "education": "幼儿园",
        },
        TODAY,
    )
    assert set(check.errors) == {"name", "marital_status", "birth", "gender", "education"}
    assert check.record == {"phone": "13912345678"}
    assert set(check.malformed) == {"name", "marital_status", "birth", "gender"}
    assert not check.well_formed
    assert "true" in check.errors["marital_status"]


def test_bad_values_and_cross_check():
    check = validate_info({"gender": "女", "id_card": "110105199003071239", "birth": "1990年3月7日"}, TODAY)
    assert "性别" in check.errors["id_card"] and "id_card" not in check.record
    check = validate_info({"birth": "1990年2月30日", "nationality": "火星"}, TODAY)
    assert set(check.errors) == {"birth", "nationality"}
    assert validate_info({"gender": "男", "id_card": "110105199003071239"}, TODAY).ok


def test_not_a_dict():
    assert validate_info(None).ok
    assert "info" in validate_info(["name"]).errors and not validate_info(["name"]).well_formed
    assert age_of({}) is None and age_of({"birth": "garbage"}) is None


def test_the_seeds_example_values_are_refused_with_the_exact_reason():
    """Seed 000's handshake example ("name": "a") and its record ("phone": "12345678901", an ID with a
    wrong check digit) stay refused, and invalid_info says exactly why, in Chinese."""
    check = validate_info(
        {
            "name": "a",
            "age": 18,
            "birth": 20250721,
            "phone": "12345678901",
            "id_card": "440209200601018080",
            "gender": "men",
        },
        TODAY,
    )
    assert check.errors == {
        "name": "姓名应为2–40个汉字或字母，收到的“a”只有1个字符",
        "phone": "手机号应为1开头的11位大陆手机号，第二位为3–9，收到的“12345678901”第二位是2",
        "id_card": "身份证号第18位校验码应为6（按前17位计算，GB 11643），收到的是0",
        "gender": "性别应为“男”或“女”，收到的是“men”",  # the seed's storage example output says "men"
    }
    assert check.record == {"birth": "2025年7月21日"} and check.well_formed
    assert validate_info({"phone": "23912345678"}).errors["phone"].endswith("第一位是2")
    assert validate_info({"phone": "1391234567"}).errors["phone"].endswith("收到的是10位")
