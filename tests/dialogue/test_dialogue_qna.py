"""The QnA planner: whole conversations, JSON round trips, retries, confirmations, skips."""

import datetime as dt
import json

import pytest

from appliance.dialogue import load_catalogue
from appliance.dialogue.qna import CLOSING, QUESTIONS, QnaPlanner, state_is_valid

TODAY = dt.date(2026, 11, 22)


def roundtrip(state):
    """What the worker does between turns: store in SQLite as JSON, read back."""
    return json.loads(json.dumps(state, ensure_ascii=False))


def test_whole_conversation_for_id_card_service():
    cat = load_catalogue()
    planner = QnaPlanner(max_tries=3, today=TODAY)
    needed = cat.needed_fields("身份证")
    state = planner.start(needed, {"name": "李明", "phone": None, "hukou": "北京市东城区"})
    # Only the missing fields, in natural order; name and hukou are known.
    assert state["queue"] == ["gender", "nationality", "id_card", "birth", "phone", "address"]
    first = planner.current_question(state)
    assert first.startswith("接下来") and first.endswith(QUESTIONS["gender"])

    script = [
        ("不男不女", False, "retry"),  # unclear -> hint
        ("男的", False, "accepted"),
        ("我是汉族的", False, "accepted"),
        ("一一零一零五一九九零零三零七一二三八", True, "retry"),  # wrong checksum
        ("一一零一零五一九九零零三零七一二三九", True, "confirm"),
        ("对", True, "accepted"),  # birth now comes from the ID
        ("一三九一二三四五六七八", True, "confirm"),
        ("不对，是一三九一二三四五六七九", True, "confirm"),  # correction carries the new number
        ("是的", True, "accepted"),
        ("跳过", True, "skipped"),  # address skipped
    ]
    for text, audio, event in script:
        state = roundtrip(state)
        reply = planner.answer(state, text, from_audio=audio)
        assert reply.event == event, (text, reply)
        if event == "confirm":
            assert reply.text.startswith("您说的是 ") and reply.text.endswith("对吗？")
        if event == "retry":
            assert "请" in reply.text
    assert reply.done and reply.text == CLOSING
    assert planner.current_question(state) is None
    assert state["answers"] == {
        "gender": "男",
        "nationality": "汉",
        "id_card": "110105199003071239",
        "birth": "1990年3月7日",
        "phone": "13912345679",
    }
    assert state["skipped"] == ["address"]
    assert planner.answer(state, "还有吗").done


def test_confirmation_reads_digits_one_by_one():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["phone"], {})
    reply = planner.answer(state, "13912345678", from_audio=True)
    assert "1 3 9 1 2 3 4 5 6 7 8" in reply.text
    assert planner.current_question(state) == reply.text  # survives a reconnect
    reply = planner.answer(state, "嗯嗯", from_audio=True)
    assert reply.done and reply.event == "accepted"  # 嗯 is a yes
    assert state["answers"].get("phone") == "13912345678"


def test_number_repeated_instead_of_yes_or_no():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["phone", "email"], {})
    planner.answer(state, "13912345678", from_audio=True)
    reply = planner.answer(state, "是13912345679", from_audio=True)  # another number: confirm that one
    assert reply.event == "confirm" and "9，对吗" in reply.text
    reply = planner.answer(state, "一三九一二三四五六七九", from_audio=True)  # same again: accepted
    assert reply.event == "accepted" and state["answers"] == {"phone": "13912345679"}


def test_typed_numbers_are_not_confirmed():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["phone", "email"], {})
    assert planner.answer(state, "13912345678", from_audio=False).event == "accepted"
    assert state["queue"] == ["email"]


def test_no_then_reask_and_max_tries_skip():
    planner = QnaPlanner(max_tries=2, today=TODAY)
    state = planner.start(["phone", "education"], {})
    assert planner.answer(state, "13912345678", from_audio=True).event == "confirm"
    reply = planner.answer(state, "不对", from_audio=True)
    assert reply.event == "retry" and QUESTIONS["phone"] in reply.text
    reply = planner.answer(state, "abc", from_audio=True)  # second failure: skip
    assert reply.event == "skipped" and reply.text.endswith(QUESTIONS["education"])
    assert state["skipped"] == ["phone"]
    reply = planner.answer(state, "说不上来", from_audio=True)
    assert reply.event == "retry" and "比如" in reply.text
    reply = planner.answer(state, "大学本科", from_audio=True)
    assert reply.done and state["answers"] == {"education": "本科"}


def test_unclear_confirmation_asks_yes_or_no():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["birth"], {})
    assert planner.answer(state, "九零年三月七号", from_audio=True).event == "confirm"
    reply = planner.answer(state, "你猜", from_audio=True)
    assert reply.event == "confirm" and "对" in reply.text
    assert planner.answer(state, "对的", from_audio=True).done
    assert state["answers"] == {"birth": "1990年3月7日"}


def test_id_card_cross_checked_against_known_record():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["id_card"], {"gender": "女", "birth": "1990年3月7日"})
    reply = planner.answer(state, "110105199003071239")
    assert reply.event == "retry" and "性别" in reply.text
    state = planner.start(["gender", "id_card"], {"birth": "1985年12月24日"})
    planner.answer(state, "女")
    assert planner.answer(state, "440106198512240027").done


def test_nothing_missing_means_no_questions():
    planner = QnaPlanner(today=TODAY)
    state = planner.start(["name"], {"name": "李明"})
    assert planner.current_question(state) is None and planner.finished(state)
    assert state_is_valid(roundtrip(state)) and not state_is_valid({"queue": []})


def test_bad_arguments():
    with pytest.raises(KeyError):
        QnaPlanner().start(["shoe_size"], {})
    with pytest.raises(ValueError):
        QnaPlanner(max_tries=0)
