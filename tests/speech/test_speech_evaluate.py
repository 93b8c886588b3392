"""The hard-audio evaluation: the set is made here, judged by the dialogue's own classifier and
field checks; on recordings with no speech in them the kiosk never accepts anything."""

import numpy as np
import pytest

from appliance.dialogue.catalogue import load_catalogue
from appliance.speech import hardset
from appliance.speech.evaluate import OUTCOMES, Judge, Judged, summary, table
from appliance.speech.stt import Transcript


@pytest.fixture(scope="module")
def judge():
    return Judge(load_catalogue())


def _item(said="", service="", field="", value="", group="good speech"):
    return hardset.Item(group, "test", said, service, field, value, np.zeros(10, np.float32))


def _heard(text, trusted=True):
    return Transcript(
        text=text if trusted else "",
        language="zh",
        duration=1.0,
        heard=text,
        trusted=trusted,
        confidence=0.9 if trusted else 0.0,
        reasons=() if trusted else ("low_logprob",),
    )


def test_judge_outcomes(judge):
    护照 = _item("我要办护照。", "护照")
    身份证 = _item("我要办身份证。", "身份证")
    assert judge(身份证, _heard("我要办身份证。")).outcome == "right"
    assert judge(身份证, _heard("我要办社保卡。")).outcome == "FALSE ACCEPT"  # a service never named
    # 户口 and 护照 sound alike (hù): the kiosk asks which instead of taking either (soundalike.py)
    assert judge(护照, _heard("我要办户口本。")).outcome == "asks which"
    assert judge(护照, _heard("我要办护照。")).outcome == "asks which"
    assert judge(护照, _heard("我要办户口本。", trusted=False)).outcome == "asked again"
    assert judge(护照, _heard("我要办规矩。")).outcome == "general"  # the fallback, no service
    phone = _item("我的电话是13912345678。", field="phone", value="13912345678")
    assert judge(phone, _heard("我的电话是13912345678")).outcome == "right"
    assert judge(phone, _heard("我的电话是13912345679")).outcome == "FALSE ACCEPT"  # a wrong value filled
    assert judge(phone, _heard("我的电话，113912345678")).outcome == "asked again"  # the field check refused
    noise = _item(group="no speech")
    assert judge(noise, _heard("以下是")).outcome == "FALSE ACCEPT"  # any words from no speech are a guess
    assert judge(noise, _heard("", trusted=False)).outcome == "asked again"


def test_summary_rates_and_table():
    rows = [
        Judged(_item(group="no speech"), "asked again", "", False, ("empty",), ""),
        Judged(_item("我要办护照。", "护照"), "right", "我要办护照。", True, (), "护照"),
        Judged(_item("我要办护照。", "护照"), "asked again", "我要", False, ("low_logprob",), ""),
        Judged(
            _item("我要办护照。", "护照", group="hard speech"), "FALSE ACCEPT", "户口本", True, (), "户口本"
        ),
    ]
    s = summary(rows)
    assert s["items"] == 4 and s["false_accepts"] == 1 and s["false_accept_rate"] == 0.25
    assert s["good_speech_asked_again_rate"] == 0.5 and s["good_speech_right_rate"] == 0.5
    text = table(s)
    assert all(o in text for o in OUTCOMES) and "false accepts: 1 of 4" in text


def test_the_set_is_made_here_and_is_the_same_every_run():
    a = hardset.no_speech(np.random.default_rng(16))
    b = hardset.no_speech(np.random.default_rng(16))
    assert len(a) >= 8 and [c for c, _ in a] == [c for c, _ in b]
    assert all(
        np.array_equal(x, y) and x.dtype == np.float32 and np.abs(x).max() <= 1
        for (_, x), (_, y) in zip(a, b, strict=False)
    )
    clean = np.sin(np.linspace(0, 400, 16000)).astype(np.float32) * 0.5
    noisy = hardset.degrade(clean, "snr 0 dB", np.random.default_rng(1))
    assert np.mean((noisy - clean) ** 2) == pytest.approx(np.mean(clean**2), rel=0.1)  # 0 dB: equal power
    assert np.abs(hardset.degrade(clean, "quiet -30 dB", np.random.default_rng(1))).max() < 0.02


def test_no_speech_set_is_never_accepted(speech_stt, judge):
    """Noise at four levels, pink noise, music-like tones, a hum, clicks: whatever Whisper writes
    (it differs between CPUs), nothing is accepted, so nothing is classified or filled."""
    for condition, audio in hardset.no_speech(np.random.default_rng(16)):
        tr = speech_stt.transcribe(audio)
        judged = judge(_item(group="no speech"), tr)
        assert judged.outcome == "asked again" and tr.text == "", (condition, tr)


def test_no_speech_without_vad_is_never_accepted(speech_models_dir, judge):
    """The trust check alone (no VAD in front): tones and clicks reach Whisper, nothing is accepted."""
    from appliance.speech.stt import SpeechToText

    stt = SpeechToText(speech_models_dir, use_vad=False, warmup=False)
    picked = [
        (c, a)
        for c, a in hardset.no_speech(np.random.default_rng(16))
        if c in ("music-like melody", "silence with clicks", "pink noise -20 dBFS")
    ]
    for condition, audio in picked:
        tr = stt.transcribe(audio)
        assert judge(_item(group="no speech"), tr).outcome == "asked again", (condition, tr)
        assert tr.text == "" and not tr.trusted, (condition, tr)


def test_clean_kiosk_speech_is_accepted_and_understood(speech_stt, speech_tts, judge):
    """The other side of the trade: the kiosk's own clear voice is not asked again."""
    for said, service, field, value in (hardset.SENTENCES[0], hardset.SENTENCES[2]):
        audio, rate = speech_tts.synthesize(said)
        clean = hardset.degrade(hardset._padded(hardset.resample(audio, rate, 16000)), "clean", None)
        tr = speech_stt.transcribe(clean)
        assert judge(_item(said, service, field, value), tr).outcome == "right", tr
