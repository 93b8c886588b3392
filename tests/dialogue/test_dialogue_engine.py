"""DialogueEngine: handshake -> questions -> storage -> summary, exactly as the dialogue worker drives it."""

import datetime as dt
import json

from appliance.dialogue import DialogueEngine
from appliance.dialogue.qna import ASK_ORDER, QUESTIONS
from appliance.dialogue.record import OUTPUT_FIELDS, RECORD_FIELDS

TODAY = dt.date(2026, 11, 22)
SEED_ORDER = [
    "name",
    "gender",
    "nationality",
    "phone",
    "id_card",  # seed 000 数据库, verbatim order
    "native_place",
    "birth",
    "email",
    "career",
    "address",
    "hukou",
    "political_status",
    "marital_status",
    "religion",
    "education",
]


def roundtrip(state):
    """What the worker does between turns: the state lives in SQLite as JSON."""
    return json.loads(json.dumps(state, ensure_ascii=False))


def converse(engine, state, answers):
    """Answer every question by its number, as the gateway does; returns the state."""
    turn = engine.open_qna(state)
    while not turn["done"]:
        field = state["queue"][0] if state["pending"] is None else state["pending"]["field"]
        turn = engine.answer(state, turn["seq"], answers[field])
        assert turn["applied"]
        state = roundtrip(state)
    return state


def test_full_session_through_the_engine():
    engine = DialogueEngine.from_file(today=TODAY)
    info = {
        "name": "李明",
        "age": 18,
        "birth": 19900307,
        "gender": "男",
        "nationality": None,
        "phone": "12345678901",
        "id_card": None,
        "marital_status": "maybe",
    }
    hs = engine.handshake(info, "我要半身份正和户口部")
    assert hs.classify == "身份证/户口本" and "【户口本】" in hs.flow
    assert set(hs.info_errors) == {"phone", "marital_status"}  # bad values are asked again
    state = roundtrip(hs.qna_state)
    assert state["queue"][:3] == ["nationality", "id_card", "phone"]  # the clerk's order
    answers = {
        "nationality": "汉族",
        "id_card": "110105199003071239",
        "phone": "13912345678",
        "native_place": "北京",
        "hukou": "北京市东城区",
        "address": "北京市东城区东四十条1号",
        "marital_status": "未婚",
        "education": "本科",
    }
    state = converse(engine, state, answers)
    output = engine.storage_output(engine.record(hs.record, state["answers"]))
    assert list(output) == list(OUTPUT_FIELDS) and output["age"] == 36
    assert output["birth"] == "1990年3月7日" and output["marital_status"] is False
    assert output["email"] is None and output["career"] is None  # unknown: null, never left out
    summary = engine.summary_output(output, hs.classify, hs.flow)
    assert summary["tables"][0] == output and summary["flow"] == hs.flow
    assert {row["业务"] for row in summary["tables"][1:]} == {"身份证", "户口本"}
    json.dumps(summary, ensure_ascii=False)


def test_one_field_list_in_the_seeds_order():
    assert list(RECORD_FIELDS) == SEED_ORDER
    # the seed's storage example: "name", "age", "gender", …
    assert list(OUTPUT_FIELDS) == ["name", "age", *SEED_ORDER[1:]]
    assert sorted(ASK_ORDER) == sorted(RECORD_FIELDS) and set(QUESTIONS) == set(RECORD_FIELDS)


def test_storage_output_sends_every_field_null_when_unknown():
    engine = DialogueEngine.from_file(today=TODAY)
    record = engine.record({"name": "李明", "email": ""}, {"phone": "13912345678", "career": None})
    output = engine.storage_output(record)
    assert list(output) == list(OUTPUT_FIELDS)
    assert output["name"] == "李明" and output["phone"] == "13912345678"
    assert output["email"] is None and output["age"] is None and output["career"] is None  # "" is unknown too
    assert engine.storage_output({})["name"] is None


def test_answers_win_over_info_and_false_is_a_value():
    engine = DialogueEngine.from_file(today=TODAY)
    record = engine.record(
        {"name": "李明", "marital_status": True}, {"name": "李小明", "marital_status": False}
    )
    assert record == {"name": "李小明", "marital_status": False}


def test_a_resent_answer_is_applied_once_to_its_own_question():
    engine = DialogueEngine.from_file(today=TODAY)
    hs = engine.handshake(
        {"name": "王芳", "gender": "女", "nationality": "汉", "phone": "13912345678", "id_card": None},
        "我要办结婚登记",
    )
    state = roundtrip(hs.qna_state)
    turn = engine.open_qna(state)
    assert turn["seq"] == 1 and QUESTIONS[state["queue"][0]] in turn["text"]
    first = engine.answer(state, 1, "110105199003070041")  # a woman born 1990-03-07
    assert first["applied"] and first["event"] == "accepted" and first["seq"] == 2
    state = roundtrip(state)
    snapshot = json.dumps(state, sort_keys=True)
    again = engine.answer(state, 1, "110105199003070041")  # the reply was lost; the gateway resends
    assert not again["applied"] and {**again, "applied": True} == first
    assert json.dumps(state, sort_keys=True) == snapshot  # nothing applied twice, nothing moved on
    # an answer to a question already answered by someone else is not applied either
    stale = engine.answer(state, 1, "群众")
    assert not stale["applied"] and stale["event"] == "stale" and stale["seq"] == 2
    assert json.dumps(state, sort_keys=True) == snapshot
    asked = state["queue"][0]
    nxt = engine.answer(state, 2, "已婚" if asked == "marital_status" else "本科")
    assert nxt["applied"] and nxt["field"] == asked and nxt["seq"] == 3


def test_a_state_saved_before_questions_were_numbered_carries_on():
    engine = DialogueEngine.from_file(today=TODAY)
    state = roundtrip(engine.handshake({}, "我要办身份证").qna_state)
    del state["seq"], state["last"]
    from appliance.dialogue.qna import state_is_valid

    assert state_is_valid(state) and engine.open_qna(state)["seq"] == 1


def test_fallback_asks_nothing():
    engine = DialogueEngine.from_file(today=TODAY)
    hs = engine.handshake({}, "今天天气怎么样")
    assert hs.fallback and hs.classify == "综合咨询" and hs.needed_fields == []
    assert engine.open_qna(hs.qna_state)["done"]
    assert engine.summary_output({}, hs.classify)["tables"] == [{}]
