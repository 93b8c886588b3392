"""Sound-alike service names (户口/护照, both hù): a spoken request naming one is asked about both,
typed text is not, and the next handshake's answer chooses."""

import pytest

from appliance.dialogue import DialogueEngine, load_catalogue
from appliance.dialogue.soundalike import SoundAlike


@pytest.fixture(scope="module")
def engine():
    return DialogueEngine(load_catalogue())


@pytest.mark.parametrize(
    "heard, first", [("我要办护照", "护照"), ("我要办户口本", "户口本"), ("我想把户口迁过来", "户口本")]
)
def test_a_spoken_sound_alike_is_asked_about_not_taken(engine, heard, first):
    hs = engine.handshake({}, heard, spoken=True)
    assert hs.fallback and hs.classify == "综合咨询" and hs.needed_fields == []
    assert hs.candidates == [first, ({"护照", "户口本"} - {first}).pop()]
    assert hs.flow.startswith(f"请问您是想办理{first}，还是")


def test_typed_text_and_services_without_a_sound_alike_are_taken_at_once(engine):
    assert engine.handshake({}, "我要办护照").classify == "护照"  # typed: no doubt about the sound
    for said, service in (("我要补办身份证", "身份证"), ("我要办驾照", "驾驶证"), ("提取公积金", "公积金")):
        assert engine.handshake({}, said, spoken=True).classify == service


def test_the_next_spoken_handshake_answers_the_question(engine):
    first = engine.handshake({}, "我要办户口本", spoken=True)
    answer = engine.handshake({}, "护照", first.qna_state["clarify"], spoken=True)
    assert answer.classify == "护照" and not answer.candidates
    again = engine.handshake({}, "第一个", first.qna_state["clarify"], spoken=True)
    assert again.classify == "户口本"


def test_only_names_of_one_length_one_syllable_apart_count():
    pairs = {}
    catalogue = load_catalogue()
    alike = SoundAlike(catalogue)
    for service in catalogue.regular:
        for word, _ in service.keywords:
            for peer in alike.peers(service.classify, word):
                pairs.setdefault(service.classify, set()).add(peer)
    assert pairs == {"户口本": {"护照"}, "护照": {"户口本"}}  # the shipped catalogue's only pair
