"""Text to speech on real models: valid audio, streaming, limits, English, fallback."""

import io
import shutil
import wave

import numpy as np
import pytest

from appliance.speech.audio import read_wav
from appliance.speech.tts import EspeakEngine, TextToSpeech, TTSError


def test_chinese_audio_is_valid(speech_tts):
    assert speech_tts.engines["zh"] == "kokoro"
    audio, rate = speech_tts.synthesize("您好，请问您要办理什么业务？")
    assert rate == 24000 and audio.dtype == np.float32 and audio.ndim == 1
    seconds = len(audio) / rate
    assert 1.0 < seconds < 8.0
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.5
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silence


def test_wav_output_is_16bit_mono(speech_tts):
    data = speech_tts.synthesize_wav("请带上身份证。")
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() > 24000 * 0.5


def test_stream_yields_one_chunk_per_sentence(speech_tts):
    chunks = list(speech_tts.stream("您好。请稍等。马上为您办理。"))
    assert len(chunks) == 3 and all(c.size > 2400 for c in chunks)


def test_stream_is_lazy(speech_tts):
    gen = speech_tts.stream("第一句。第二句。")
    first = next(gen)
    assert first.size > 0  # the first sentence is ready before the second is synthesised


def test_codes_are_spelled_before_synthesis(speech_tts):
    pieces = speech_tts.sentences("我的电话是13912345678。")
    assert pieces == [("zh", "我的电话是一三九一二三四五六七八。")]


@pytest.mark.parametrize("text", ["", "   ", "。。！", "\n"])
def test_empty_text_is_refused(speech_tts, text):
    with pytest.raises(TTSError, match="empty"):
        speech_tts.synthesize(text)


def test_huge_text_is_refused_before_any_work(speech_tts):
    with pytest.raises(TTSError, match="too long"):
        speech_tts.stream("好" * 100_000)


def test_long_text_is_split_and_spoken(speech_tts):
    text = "，".join(["请您带上身份证原件和复印件"] * 5) + "。"
    pieces = speech_tts.sentences(text)
    assert len(pieces) > 1
    audio, rate = speech_tts.synthesize(text)
    assert len(audio) / rate > 6


def test_unknown_voice_is_refused(speech_tts, speech_models_dir):
    with pytest.raises(TTSError):
        speech_tts.stream("你好。", voice="nobody")
    with pytest.raises(ValueError):
        TextToSpeech(speech_models_dir, voice="nobody")


def test_english_uses_piper(speech_tts):
    if speech_tts.piper is None:
        pytest.skip("piper-tts or the joe voice is not installed")
    audio, rate = speech_tts.synthesize("Please bring two photos.")
    assert rate == 24000 and len(audio) / rate > 0.8


def test_espeak_fallback_speaks_chinese():
    try:
        engine = EspeakEngine()
    except Exception:
        pytest.skip("espeak-ng not installed")
    audio, rate = engine.speak("我要办身份证", "zh")
    assert len(audio) / rate > 0.5 and np.sqrt(np.mean(audio**2)) > 0.01


def test_without_models_falls_back_to_espeak(tmp_path):
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed")
    tts = TextToSpeech(tmp_path, english=False)
    assert tts.engines == {"zh": "espeak-ng", "en": "espeak-ng"}
    back, rate = read_wav(tts.synthesize_wav("你好。"))
    assert rate == 24000 and len(back) / rate > 0.3
