"""Clarifying questions (issue 16 §4): what is asked, and how the next handshake's words answer it."""

import pytest

from appliance.dialogue import DialogueEngine, clarify, load_catalogue
from appliance.dialogue.catalogue import parse_catalogue

OPEN = "离婚了房子要改到我一个人名下"  # close between 结婚登记 and 不动产登记


@pytest.fixture(scope="module")
def engine():
    return DialogueEngine(load_catalogue())


def test_question_names_the_candidates():
    assert clarify.question(["居住证", "户口本"]) == "请问您是想办理居住证，还是户口本？"
    assert (
        clarify.question(["护照", "港澳通行证", "身份证"]) == "请问您是想办理护照、港澳通行证，还是身份证？"
    )
    assert clarify.question(["社保卡"]) == "请问您是想办理社保卡吗？"


def test_unsure_handshake_asks_and_keeps_the_question_with_the_session(engine):
    hs = engine.handshake({}, OPEN)
    assert hs.classify == "综合咨询" and hs.fallback
    assert hs.candidates == ["结婚登记", "不动产登记"]
    assert hs.flow == "请问您是想办理结婚登记，还是不动产登记？"
    assert hs.needed_fields == []  # nobody is questioned for a service not yet chosen
    assert hs.qna_state["clarify"] == {"candidates": ["结婚登记", "不动产登记"], "request": OPEN}


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("不动产登记", "不动产登记"),  # the name
        ("办房子的", "不动产登记"),  # a word of one candidate only
        ("第二个", "不动产登记"),
        ("前面那个", "结婚登记"),
        ("两个都要", "结婚登记/不动产登记"),
        ("我要办护照", "护照"),  # another service named outright: the citizen corrects us
        ("都不是", "综合咨询"),
    ],
)
def test_next_handshake_answers_the_question(engine, answer, expected):
    first = engine.handshake({}, OPEN)
    second = engine.handshake({}, answer, first.qna_state["clarify"])
    assert second.classify == expected and not second.candidates
    assert "clarify" not in second.qna_state
    # kept so that the same answer resent (its reply lost) is read against the same question
    assert second.qna_state["answered"] == {"question": first.qna_state["clarify"], "answer": answer}
    if expected not in ("综合咨询",):
        assert second.needed_fields  # now the chosen service's questions follow


def test_yes_answers_a_single_candidate(engine):
    first = engine.handshake({}, "那张卡丢了，想先挂失")
    assert first.candidates == ["社保卡"]
    assert engine.handshake({}, "是的", first.qna_state["clarify"]).classify == "社保卡"
    assert engine.handshake({}, "不是", first.qna_state["clarify"]).classify == "综合咨询"


def test_words_that_answer_nothing_are_a_new_request(engine):
    first = engine.handshake({}, OPEN)
    again = engine.handshake({}, "厕所在哪里", first.qna_state["clarify"])
    assert again.classify == "综合咨询" and not again.candidates
    assert engine.handshake({}, "第二个").classify == "综合咨询"  # no question asked: not an answer


def test_a_candidate_gone_from_the_catalogue_is_not_chosen(engine):
    waiting = clarify.pending(["结婚登记", "已删除的业务"], OPEN)
    assert engine.handshake({}, "第二个", waiting).classify == "综合咨询"
    assert engine.handshake({}, "第一个", waiting).classify == "结婚登记"


def test_malformed_stored_question_is_ignored(engine):
    for waiting in (None, {}, {"candidates": "结婚登记"}, {"candidates": [1, None]}):
        assert engine.handshake({}, "我要办身份证", waiting).classify == "身份证"


def test_catalogue_without_situations_still_classifies():
    catalogue = parse_catalogue(
        {
            "service": [
                {"classify": "身份证", "keywords": ["身份证"], "flow": "办证"},
                {"classify": "综合咨询", "fallback": True, "flow": "您好"},
            ]
        }
    )
    engine = DialogueEngine(catalogue)
    assert engine.handshake({}, "我要办身份证").classify == "身份证"
    assert engine.handshake({}, "厕所在哪里").classify == "综合咨询"
