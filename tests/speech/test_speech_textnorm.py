"""TTS text preparation: codes read digit by digit, letters spelled, sentences split."""

import pytest

from appliance.speech.textnorm import (
    digits_to_zh,
    language_of,
    normalize_zh,
    spell_codes,
    spell_letters,
    split_sentences,
)


def test_phone_number_is_read_digit_by_digit():
    assert spell_codes("电话13912345678") == "电话一三九一二三四五六七八"


def test_yao_option_reads_one_as_yao():
    assert digits_to_zh("110", yao=True) == "幺幺零"


def test_grouped_phone_number_keeps_its_groups():
    assert spell_codes("拨打138-1234 5678") == "拨打一三八，一二三四，五六七八"


def test_id_number_with_check_letter():
    assert spell_codes("11010519491231002X") == "一一零一零五一九四九一二三一零零二叉"


@pytest.mark.parametrize("text", ["今年35岁", "2024年3月5日", "1234元", "第9窗口"])
def test_short_numbers_stay_quantities(text):
    assert spell_codes(text) == text


def test_boundary_five_digits_is_a_code():
    assert spell_codes("编号12345") == "编号一二三四五"


def test_latin_letters_spelled_in_chinese_text_only():
    assert spell_letters("请出示ID") == "请出示艾迪"
    assert spell_letters("Please show your ID") == "Please show your ID"
    assert normalize_zh("身份证号X") == "身份证号艾克斯"


def test_language_detection():
    assert language_of("我要办身份证") == "zh"
    assert language_of("Bring two photos.") == "en"
    assert language_of("请带ID卡") == "zh"


def test_sentences_split_at_chinese_and_english_ends():
    text = "您好！请问办理什么业务？请稍等。Please wait. Thank you!"
    assert split_sentences(text) == ["您好！", "请问办理什么业务？", "请稍等。", "Please wait.", "Thank you!"]


def test_decimal_point_does_not_split():
    assert split_sentences("费用是12.5元。") == ["费用是12.5元。"]


def test_long_sentence_cut_at_clauses_then_hard():
    clause = "这是一个比较长的分句"  # 10 chars
    long = "，".join([clause] * 12) + "。"
    parts = split_sentences(long, max_chars=30)
    assert all(len(p) <= 30 for p in parts)
    assert "".join(parts) == long
    no_marks = "字" * 95
    parts = split_sentences(no_marks, max_chars=40)
    assert [len(p) for p in parts] == [40, 40, 15]


def test_punctuation_only_pieces_are_dropped():
    assert split_sentences("。。！？\n\n好的。") == ["好的。"]
