"""DialogueEngine: handshake -> questions -> storage -> summary, as the worker drives it."""
import datetime as dt
import json

from appliance.dialogue import DialogueEngine

TODAY = dt.date(2026, 11, 22)


def test_full_session_through_the_engine():
    engine = DialogueEngine.from_file(today=TODAY)
    info = {"name": "李明", "age": 18, "birth": 19900307, "gender": "男", "nationality": None,
            "phone": "12345678901", "id_card": None, "marital_status": "maybe"}
    hs = engine.handshake(info, "我要半身份正和户口部")
    assert hs.classify == "身份证/户口本" and "【户口本】" in hs.flow
    assert set(hs.info_errors) == {"phone", "marital_status"}  # bad values are asked again
    state = json.loads(json.dumps(hs.qna_state))
    assert state["queue"][:3] == ["nationality", "id_card", "phone"]
    answers = {"nationality": "汉族", "id_card": "110105199003071239", "phone": "13912345678",
               "native_place": "北京", "hukou": "北京市东城区", "address": "北京市东城区东四十条1号",
               "marital_status": "未婚", "education": "本科"}
    while (question := engine.planner.current_question(state)) is not None:
        field = state["queue"][0]
        assert question
        engine.planner.answer(state, answers[field], from_audio=False)
    output = engine.storage_output(hs.record, state["answers"])
    assert list(output)[:2] == ["name", "age"] and output["age"] == 36
    assert output["birth"] == "1990年3月7日" and output["marital_status"] is False
    summary = engine.summary_output(output, hs.classify)
    assert summary["tables"][0] == output
    assert {row["业务"] for row in summary["tables"][1:]} == {"身份证", "户口本"}
    json.dumps(summary, ensure_ascii=False)


def test_fallback_asks_nothing():
    engine = DialogueEngine.from_file(today=TODAY)
    hs = engine.handshake({}, "今天天气怎么样")
    assert hs.fallback and hs.classify == "综合咨询" and hs.needed_fields == []
    assert engine.planner.current_question(hs.qna_state) is None
    assert engine.summary_output({}, hs.classify)["tables"] == [{}]
