"""TextToSpeech with the sentence cache (real Kokoro): fixed prompts come from disk, others stream."""

import numpy as np
import pytest

from appliance.speech.firstpiece import CallCost
from appliance.speech.tts import CLAUSE_GAP, SENTENCE_GAP, TextToSpeech, TTSError
from appliance.speech.ttscache import TTSCache


@pytest.fixture
def cached_tts(speech_tts, tmp_path):
    """The session's engines with a fresh cache (restored after: other tests expect none)."""
    speech_tts.cache = TTSCache(tmp_path / "cache")
    yield speech_tts
    speech_tts.cache = None


class NoModel:
    """Stands in for Kokoro after prewarm: any model call fails the test."""

    def speak(self, *_):
        raise AssertionError("the model was called for a cached sentence")


def test_prewarmed_prompt_is_spoken_without_the_model(cached_tts):
    text = "好的。请问您叫什么名字？"
    fresh = cached_tts.synthesize_wav(text)  # nothing stored: live synthesis never writes
    assert cached_tts.cache.stats()["files"] == 0
    assert cached_tts.prewarm("请问您叫什么名字？") == 1 and cached_tts.prewarm("好的。") == 1
    assert cached_tts.prewarm("好的。") == 0  # already there
    assert cached_tts.is_cached(text)
    kokoro, cached_tts.kokoro = cached_tts.kokoro, NoModel()
    try:
        served = cached_tts.synthesize_wav(text)  # a prefix + a question: both sentences cached
    finally:
        cached_tts.kokoro = kokoro
    assert served == fresh  # bit-identical WAV to what the model makes


def test_another_voice_or_speed_is_not_served_from_the_cache(cached_tts, speech_models_dir):
    cached_tts.prewarm("请说一下您的手机号码。")
    assert cached_tts.is_cached("请说一下您的手机号码。")
    assert not cached_tts.is_cached("请说一下您的手机号码。", voice="jf_alpha")
    slower = TextToSpeech(speech_models_dir, speed=0.8, english=False, cache=cached_tts.cache)
    assert not slower.is_cached("请说一下您的手机号码。")


def test_a_restart_finds_the_prompts(cached_tts, speech_models_dir):
    cached_tts.prewarm("请问您的籍贯是哪里？")
    again = TextToSpeech(speech_models_dir, english=False, cache=TTSCache(cached_tts.cache.root))
    assert again.is_cached("请问您的籍贯是哪里？")


def test_uncached_text_streams_its_first_clause_first(cached_tts, monkeypatch):
    monkeypatch.setattr(cached_tts, "first_audio_s", 0)  # the clause whole (firstpiece: another test)
    text = "您说的是一三九一二三四五六七八，对吗？请回答。"
    head, rest = cached_tts.head(text)
    assert rest == "对吗？请回答。"
    whole_first = cached_tts.synthesize("您说的是一三九一二三四五六七八，对吗？")[0]
    assert 0 < head.size < whole_first.size  # only the clause was made
    assert np.all(head[-int(CLAUSE_GAP * cached_tts.rate) :] == 0)  # ends with the comma's pause
    second, rest = cached_tts.head(rest, clause=False)
    assert rest == "请回答。" and np.all(second[-int(SENTENCE_GAP * cached_tts.rate) :] == 0)
    last, rest = cached_tts.head(rest, clause=False)
    assert rest == "" and last.size > 0 and np.any(last[-100:] != 0)  # no pause after the end


def test_cached_sentences_go_out_together(cached_tts):
    cached_tts.prewarm("好的。")
    cached_tts.prewarm("请问您的职业是什么？")
    head, rest = cached_tts.head("好的。请问您的职业是什么？您说的是老师，对吗？")
    assert rest == "您说的是老师，对吗？"
    assert head.size > cached_tts.synthesize("好的。")[0].size


def test_head_refuses_what_synthesize_refuses(cached_tts):
    with pytest.raises(TTSError):
        cached_tts.head("   ")
    with pytest.raises(TTSError):
        cached_tts.head("你好", voice="nobody")


def test_cached_audio_is_the_whole_text_or_nothing(cached_tts):
    cached_tts.prewarm("好的。")
    assert cached_tts.cached_audio("好的。请问您的职业是什么？") is None  # one sentence missing
    cached_tts.prewarm("请问您的职业是什么？")
    whole = cached_tts.cached_audio("好的。请问您的职业是什么？")
    assert whole is not None
    made = cached_tts.synthesize("好的。请问您的职业是什么？")[0]
    assert np.array_equal(np.round(whole * 32767), np.round(made * 32767))


class SteadyCost(CallCost):
    """A machine whose speed never changes: the cut does not depend on this one's load."""

    def observe(self, tokens: int, seconds: float) -> None:
        pass


def test_a_long_first_clause_is_cut_at_a_word_to_the_budget(cached_tts, monkeypatch):
    kokoro = cached_tts.kokoro
    monkeypatch.setattr(kokoro, "cost", SteadyCost(fixed_s=0.3, per_token_s=0.02))
    monkeypatch.setattr(cached_tts, "first_audio_s", 0.7)
    head, rest = cached_tts.head("您说的是13912345678，对吗？")
    clause = "您说的是一三九一二三四五六七八，"
    lead = clause[: len(clause) - len(rest) + len("对吗？")]
    assert rest.endswith("，对吗？") and lead + rest == clause + "对吗？"
    words = kokoro.words(clause)
    assert lead in {"".join(words[:k]) for k in range(1, len(words))}  # cut between words
    assert len(lead) >= 2 and kokoro.predict(lead) <= 0.7  # within the budget...
    longer = "".join(words[: len(kokoro.words(lead)) + 1])
    assert kokoro.predict(longer) > 0.7  # ...and the longest lead that is
    assert 0 < head.size < cached_tts.synthesize(clause)[0].size
    assert np.any(head[-int(0.05 * cached_tts.rate) :] != 0)  # no pause: the phrase goes on
    second, rest = cached_tts.head(rest, clause=False)  # the rest as before: a sentence at a time
    assert rest == "" and second.size > head.size


def test_a_clause_within_the_budget_or_a_slow_machine_is_not_cut(cached_tts, monkeypatch):
    monkeypatch.setattr(cached_tts, "first_audio_s", 0.7)
    monkeypatch.setattr(cached_tts.kokoro, "cost", SteadyCost(fixed_s=0.0, per_token_s=0.001))
    assert cached_tts.head("您说的是老师，对吗？")[1] == "对吗？"  # fits: the clause whole
    monkeypatch.setattr(cached_tts.kokoro, "cost", SteadyCost(fixed_s=0.9, per_token_s=0.02))
    assert cached_tts.head("我要办身份证。")[1] == ""  # not even two characters fit: no cut


def test_a_later_piece_is_sized_to_the_audio_still_queued(cached_tts, monkeypatch):
    kokoro = cached_tts.kokoro
    monkeypatch.setattr(kokoro, "cost", SteadyCost(fixed_s=0.3, per_token_s=0.02))
    monkeypatch.setattr(cached_tts, "first_audio_s", 0.7)
    sentence = "我的身份证号是一一零一零五一九四九一二三一零零二一。"
    assert kokoro.predict(sentence) > 2.0
    _, rest = cached_tts.head(sentence, clause=False, ahead=1.5)  # 1.5 s still to play: fill it
    lead = sentence[: len(sentence) - len(rest)]
    assert lead and 0.7 < kokoro.predict(lead) <= 1.5 and lead + rest == sentence
    _, rest = cached_tts.head(sentence, clause=False, ahead=0.0)  # the listener ran out: a short one
    assert kokoro.predict(sentence[: len(sentence) - len(rest)]) <= 0.7
    assert cached_tts.head(sentence, clause=False, ahead=5.0)[1] == ""  # time enough: the sentence whole
    assert cached_tts.head(sentence, clause=False)[1] == ""  # no `ahead`: as before
    monkeypatch.setattr(cached_tts, "first_audio_s", 0)
    assert cached_tts.head(sentence, clause=False, ahead=0.0)[1] == ""  # cutting off


class FailingModel:
    """Kokoro failing mid-prewarm (cancelled for a stop, out of memory…)."""

    def speak(self, *_):
        raise RuntimeError("Exiting due to terminate flag being set to true")


def test_a_failed_model_is_not_cached_as_espeak_under_its_name(cached_tts, monkeypatch):
    monkeypatch.setattr(cached_tts, "kokoro", FailingModel())
    monkeypatch.setattr(cached_tts, "identity", lambda lang, voice: {"engine": "kokoro", "voice": voice})
    with pytest.raises(RuntimeError):
        cached_tts.prewarm("请问您的学历是什么？")
    assert cached_tts.cache.stats()["files"] == 0  # a live request will say it, with its fallback
    assert cached_tts.synthesize("请问您的学历是什么？")[0].size > 0  # the fallback still speaks


def test_cancel_ends_the_engine_calls(speech_models_dir):
    from appliance.speech.engines import KokoroEngine

    engine = KokoroEngine(speech_models_dir)
    assert engine.speak("你好。", "jf_gongitsune", 1.0).size > 0
    engine.cancel()
    with pytest.raises(Exception, match="terminate"):
        engine.speak("你好。", "jf_gongitsune", 1.0)


def test_a_background_call_is_preempted_and_a_live_one_is_not(speech_models_dir):
    import threading

    from appliance.speech.engines import KokoroEngine

    engine = KokoroEngine(speech_models_dir)
    inside, go, outcome = threading.Event(), threading.Event(), []

    def prewarm():
        with engine.background() as options:
            inside.set()
            go.wait(10)
            try:
                engine.speak("请问您的工作单位是哪里？", "jf_gongitsune", 1.0)
                outcome.append("made")
            except Exception as exc:
                outcome.append(("preempted", options.terminate, "terminate" in str(exc)))

    thread = threading.Thread(target=prewarm)
    thread.start()
    assert inside.wait(10)
    engine.preempt()  # a citizen's request arrives
    go.set()
    assert engine.speak("你好。", "jf_gongitsune", 1.0).size > 0  # the live call runs
    thread.join(30)
    assert outcome == [("preempted", True, True)]
    with engine.background():
        engine.preempt()
        engine.resume()  # spent while no background call ran
        assert engine.speak("你好。", "jf_gongitsune", 1.0).size > 0
