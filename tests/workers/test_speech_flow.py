"""/stt, /tts, audio handshakes and spoken qna answers over the real ports with the real models."""

import base64
import io
import json
import struct
import time
import wave

import pytest
from harness import Appliance


@pytest.fixture(scope="module")
def app():
    # a generous bus timeout: on a loaded 2-core machine a decode can take longer than the default
    app = Appliance(workers="dialogue,speech,gateway", env={"APPLIANCE_LIMITS_BUS_TIMEOUT": "120"})
    app.wait_ready(300)
    yield app
    app.stop()


def say(app, text) -> bytes:
    ws = app.ws("tool", "/tts")
    ws.send(text)
    return ws.recv()


def wav_info(data: bytes):
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


def test_tts_gives_16bit_mono_wav_and_stt_reads_it_back(app):
    wav = say(app, "我要办身份证")
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    channels, width, rate, frames = wav_info(wav)
    assert (channels, width) == (1, 2) and frames / rate > 0.5
    stt = app.ws("tool", "/stt")
    stt.send_binary(wav)
    assert "身份证" in stt.recv()
    stt.send_binary(say(app, "我想办理营业执照"))  # several utterances on one connection
    assert "营业执照" in stt.recv()


def silence_wav(seconds: float, rate=8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * 2 * int(seconds * rate))
    return out.getvalue()


def test_bad_audio_is_an_error_or_empty_never_a_crash(app):
    stt = app.ws("tool", "/stt")
    stt.send_binary(silence_wav(2.0))
    assert stt.recv() == ""
    stt.send_binary(silence_wav(0.1))
    assert stt.recv() == ""
    for bad in (b"", b"this is not audio at all" * 100, silence_wav(1.0)[:44] + b"\x01"):
        stt.send_binary(bad)
        reply = stt.recv()
        assert reply == "" or json.loads(reply)["type"] == "error"
    lying = bytearray(silence_wav(1.0))
    struct.pack_into("<I", lying, 40, 10**9)  # data chunk claims a gigabyte
    stt.send_binary(bytes(lying))
    reply = stt.recv()
    assert reply == "" or json.loads(reply)["type"] == "error"
    hour = bytearray(silence_wav(0.5))
    struct.pack_into("<I", hour, 40, 3600 * 8000 * 4)
    stt.send_binary(bytes(hour) + b"\x00" * 1000)
    reply = json.loads(stt.recv())
    assert reply["type"] == "error"
    assert app.get("/health")[0] == 200


def test_tts_bad_text(app):
    ws = app.ws("tool", "/tts")
    ws.send("")
    assert json.loads(ws.recv())["type"] == "error"
    ws.send("办" * 5000)
    assert json.loads(ws.recv())["type"] == "error"
    ws.send("好的")
    assert ws.recv()[:4] == b"RIFF"  # still usable


def test_audio_handshake_processing_then_result_without_redoing_work(app):
    body = {
        "user_id": "voice-1",
        "type": "handshake",
        "info": {},
        "input": {"type": "audio", "media": base64.b64encode(say(app, "我要补办社保卡")).decode()},
    }
    status, first = app.post("/handshake", body)
    assert status == 202 and first["type"] == "processing" and first["user_id"] == "voice-1"
    for _ in range(120):
        status, reply = app.post("/handshake", body)
        if reply["type"] != "processing":
            break
        time.sleep(0.5)
    assert status == 200 and reply["type"] == "handshake" and reply["classify"] == "社保卡", reply
    status, again = app.post("/handshake", body)
    assert again["hash"] == reply["hash"]  # the same answer, not a second transcription


def test_spoken_answer_in_qna_is_read_back(app):
    _, hs = app.post(
        "/handshake",
        {
            "user_id": "voice-2",
            "type": "handshake",
            "info": {"name": "王芳", "gender": "女", "nationality": "汉"},
            "input": {"type": "text", "text": "我要办社保卡"},
        },
    )
    ws = app.ws("flow_socket", "/qna")
    ws.send(json.dumps({"user_id": "voice-2", "type": "qna", "hash": hs["hash"]}))
    question = ws.recv()
    assert "身份证" in question or "手机" in question
    ws.send_binary(say(app, "一三九一二三四五六七八"))
    reply = ws.recv()
    assert "对吗" in reply or "请" in reply  # a number heard by ear is read back (or asked again)


INTENTS = [
    ("我要办身份证", "身份证"),
    ("我想补办社保卡", "社保卡"),
    ("我要办理居住证", "居住证"),
    ("我想查询公积金", "公积金"),
    ("我的医保怎么报销", "医保"),
    ("我要办护照", "护照"),
    ("我想办港澳通行证", "港澳通行证"),
    ("我要申请营业执照", "营业执照"),
    ("我的驾驶证到期了", "驾驶证"),
    ("我们想办结婚登记", "结婚登记"),
    ("我要办不动产登记", "不动产登记"),
    ("户口本丢了怎么办", "户口本"),
]
ANSWER_TEXTS = ["我的电话是13912345678", "我叫张伟", "我的身份证号是110105194912310021", "1990年3月7日出生"]


def test_round_trip_through_the_ports_keeps_the_intent(app):
    """/tts → /stt → handshake: every catalogue service's typical request; ≥ 90 % classified right.
    Answers (numbers, names, dates) are reported as character error rate."""
    from appliance.speech.roundtrip import cer

    stt = app.ws("tool", "/stt")
    right, rows = 0, []
    for text, service in INTENTS:
        stt.send_binary(say(app, text))
        heard = stt.recv()
        _, body = app.post(
            "/handshake",
            {
                "user_id": "rt",
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": heard or "?"},
            },
        )
        right += body.get("classify") == service
        rows.append((text, heard, body.get("classify")))
    errors = []
    for text in ANSWER_TEXTS:
        stt.send_binary(say(app, text))
        errors.append(cer(text, stt.recv()))
    print(f"intent accuracy {right}/{len(INTENTS)}; answers CER {sum(errors) / len(errors):.3f}; {rows}")
    assert right / len(INTENTS) >= 0.9, rows


def test_spoken_questions_follow_each_text_frame():
    spoken = Appliance(
        workers="dialogue,speech,gateway", env={"APPLIANCE_SPEECH_SPEAK_QUESTIONS": "true"}
    ).wait_ready(300)
    try:
        _, hs = spoken.post(
            "/handshake",
            {
                "user_id": "ears",
                "type": "handshake",
                "info": {"name": "王芳"},
                "input": {"type": "text", "text": "我要办护照"},
            },
        )
        ws = spoken.ws("flow_socket", "/qna")
        ws.send(json.dumps({"user_id": "ears", "type": "qna", "hash": hs["hash"]}))
        question = ws.recv()
        audio = ws.recv()
        assert isinstance(question, str) and question and isinstance(audio, bytes) and audio[:4] == b"RIFF"
        ws.send("女")
        assert isinstance(ws.recv(), str) and ws.recv()[:4] == b"RIFF"
    finally:
        spoken.stop()


# -- untrustworthy speech (issue 16 §2): asked again, never classified, never a field ---------------
def noisy(app, text, snr_db=-5.0) -> bytes:
    """A voice under white noise: Whisper writes something different on every CPU, so only
    properties are asserted (nothing accepted), never the words. The voice is espeak-ng's, made in
    this process, so the test does not wait for the worker's TTS."""
    import numpy as np

    from appliance.speech import hardset
    from appliance.speech.audio import encode_wav, resample
    from appliance.speech.tts import EspeakEngine

    audio, rate = EspeakEngine().speak(text, "zh")
    clean = hardset._padded(resample(audio, rate, 16000))
    return encode_wav(hardset.degrade(clean, f"snr {snr_db:g} dB", np.random.default_rng(7)), 16000)


def melody_wav() -> bytes:
    import numpy as np

    from appliance.speech import hardset
    from appliance.speech.audio import encode_wav

    sounds = dict(hardset.no_speech(np.random.default_rng(16)))
    return encode_wav(sounds["music-like melody"], 16000)


def test_stt_seed_frame_is_empty_and_opt_in_json_says_why(app):
    seed = app.ws("tool", "/stt")
    detailed = app.ws("tool", "/stt?confidence=1")
    seed.send_binary(melody_wav())
    assert seed.recv() == ""
    detailed.send_binary(melody_wav())
    reply = json.loads(detailed.recv())
    assert reply["type"] == "transcript" and reply["text"] == "" and reply["trusted"] is False
    assert reply["confidence"] == 0.0 and reply["reasons"], reply
    audio = noisy(app, "我要办身份证")  # trusted or not depends on the CPU: the two frames must agree
    seed.send_binary(audio)
    plain = seed.recv()
    detailed.send_binary(audio)
    reply = json.loads(detailed.recv())
    assert reply["text"] == (reply["heard"] if reply["trusted"] else "") and plain == reply["text"], reply
    assert reply["trusted"] or (reply["confidence"] == 0.0 and reply["reasons"]), reply
    detailed.send_binary(say(app, "我要办身份证"))
    good = json.loads(detailed.recv())
    assert good["trusted"] is True and "身份证" in good["text"] and 0 < good["confidence"] <= 1, good


def test_untrustworthy_audio_handshake_is_asked_again_not_classified(app):
    """Music: asked again. Speech at -5 dB SNR: asked again, or (a CPU that hears it) 身份证 —
    never another service."""
    for n, audio in enumerate((melody_wav(), noisy(app, "我要办身份证"))):
        body = {
            "user_id": f"voice-noise-{n}",
            "type": "handshake",
            "info": {},
            "input": {"type": "audio", "media": base64.b64encode(audio).decode()},
        }
        for _ in range(240):
            status, reply = app.post("/handshake", body)
            if reply["type"] != "processing":
                break
            time.sleep(0.5)
        if n and reply["type"] == "handshake":
            assert reply["classify"] == "身份证", reply
            continue
        assert reply["type"] == "error" and "classify" not in reply, reply
        assert reply["code"] in ("not_understood", "no_speech") and "再说一遍" in reply["message_zh"], reply


def test_untrustworthy_spoken_answer_repeats_the_question_and_fills_nothing(app):
    _, hs = app.post(
        "/handshake",
        {
            "user_id": "voice-3",
            "type": "handshake",
            "info": {"name": "王芳", "gender": "女", "nationality": "汉"},
            "input": {"type": "text", "text": "我要办社保卡"},
        },
    )
    ws = app.ws("flow_socket", "/qna")
    ws.send(json.dumps({"user_id": "voice-3", "type": "qna", "hash": hs["hash"]}))
    question = ws.recv()
    import numpy as np

    from appliance.speech.audio import encode_wav

    hiss = encode_wav(np.random.default_rng(3).standard_normal(16000 * 3).astype(np.float32) * 0.3, 16000)
    for audio in (melody_wav(), hiss):  # heard as nothing, or as untrusted words: the same question
        ws.send_binary(audio)
        again = ws.recv()
        assert again.startswith("抱歉，没听清，请再说一遍。"), again
        asked = again.removeprefix("抱歉，没听清，请再说一遍。")
        assert asked and asked in question, (asked, question)  # the same question, nothing filled
        question = asked
