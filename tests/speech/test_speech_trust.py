"""The transcript trust verdict: loops, the prompt read back, Whisper's statistics, length."""

import pytest

from appliance.speech.stt import DEFAULT_TERMS, build_prompt, prompt_echo_for
from appliance.speech.trust import SegmentStats, assess, tandem_loop, units

ECHO = prompt_echo_for(DEFAULT_TERMS)


def _seg(text, logprob=-0.2, no_speech=0.02, temperature=0.0):
    return [SegmentStats(text, logprob, no_speech, 1.0, temperature)]


def _judge(text, seconds=2.0, **stats):
    return assess(text, _seg(text, **stats), seconds, ECHO)


@pytest.mark.parametrize(
    "text",
    [
        "证则。证则。证则。",  # the other machine's output on white noise: 6 characters only
        "证、证、证、证、证、证",
        "证证、证证、证、证",
        "证判证判证判证判证",
        "户口户口户口",
    ],
)
def test_short_loops_are_repetition_even_when_punctuated(text):
    verdict = _judge(text)
    assert not verdict.trusted and "repetition" in verdict.reasons and verdict.confidence == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "对对对",
        "好的好的",
        "是是是，对的",
        "我的电话是13333333333",
        "我的电话是一三三三三三三三三三三",
        "身份证号是111111111111111111",
    ],
)
def test_real_repeats_and_numbers_are_not_loops(text):
    assert not tandem_loop(units(text)), text
    assert _judge(text, seconds=4.0).trusted


@pytest.mark.parametrize(
    "text",
    [
        "户口本、居住证、营业执照、驾驶证、",  # issue 16: names out of the prompt, none said
        "以下是普通话的政务服务。",
        "使用简体中文。",
        "身份证、户口本",
        "补办、换领、挂失、查询",
        "身份证户口本居住证营业执照",
    ],
)
def test_the_prompt_read_back_is_an_echo(text):
    assert build_prompt(DEFAULT_TERMS)  # the prompt these come from
    verdict = _judge(text)
    assert not verdict.trusted and "prompt_echo" in verdict.reasons


@pytest.mark.parametrize(
    "text",
    [
        "我要办理身份证。",
        "我想补办社保卡。",
        "查询公积金",
        "补办身份证和户口本",
        "我要办身份证，还要办户口本。",
        "户口本丢了怎么办？",
        "我叫张伟。",
    ],
)
def test_real_requests_made_of_prompt_words_are_not_echo(text):
    assert not ECHO(text)
    assert _judge(text, seconds=2.5).trusted


def test_whisper_statistics_decide_fluent_looking_text():
    assert "low_logprob" in _judge("我想看训统计金。", logprob=-1.2).reasons
    assert "no_speech" in _judge("我要办身份证。", no_speech=0.9).reasons
    assert "no_speech" in _judge("我要办身份证。", logprob=-0.8, no_speech=0.6).reasons
    assert _judge("我要办身份证。", logprob=-0.2, no_speech=0.7).trusted  # quiet but clear speech
    assert "unstable_decode" in _judge("作证。", temperature=1.0).reasons


def test_text_implausible_for_the_speech_duration():
    assert "too_long" in _judge("我要办身份证还要办户口本和居住证", seconds=0.5).reasons
    assert "too_short" in _judge("嗯", seconds=6.0).reasons
    assert _judge("对", seconds=1.0).trusted


def test_empty_is_never_trusted_and_confidence_is_the_token_probability():
    assert assess("", None, 3.0).reasons == ("empty",)
    good = _judge("我要办身份证。", logprob=-0.1)
    assert good.trusted and good.confidence == pytest.approx(0.905, abs=0.001)


def test_without_statistics_only_the_text_checks_apply():
    assert assess("我要办身份证。", None, 2.0, ECHO).trusted  # whisper.cpp: no log-probs
    assert not assess("证则。证则。证则。", None, 2.0, ECHO).trusted
