"""The TTS cache in the service (real ports, real models): fixed prompts are synthesised in the
background after start, kept in the data dir across restarts and served from it; /tts?stream=1 sends
the first clause of other text first."""

import io
import json
import time
import wave

import pytest
from harness import Appliance

from appliance.dialogue import qna

# the prewarm shares the cores with the requests and other test runs share the machine: a bus
# timeout here would test the machine's load, not the cache
SLOW_MACHINE = {
    "APPLIANCE_LIMITS_BUS_TIMEOUT": "120",
    "APPLIANCE_SPEECH_TTS_CACHE_MB": "128",
    # the first clause whole, on any machine: how far a clause is cut depends on the machine's
    # speed (tests/speech/test_speech_tts_cache.py checks that cut with a steady cost)
    "APPLIANCE_SPEECH_FIRST_AUDIO_MS": "0",
}


def speech_status(app) -> dict:
    for worker in app.health().get("workers", []):
        if worker["name"] == "speech":
            return worker.get("status") or {}
    return {}


def wait_prewarmed(app, sentences: int, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = speech_status(app)
        if (status.get("prewarm") or {}).get("synthesised", 0) >= sentences:
            return status
        time.sleep(0.5)
    raise AssertionError(f"prewarm did not reach {sentences} sentences: {speech_status(app)}")


def seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="speech,gateway", env=SLOW_MACHINE).wait_ready(300)
    yield app
    app.stop()


def test_stream_sends_the_first_clause_then_the_rest_then_an_empty_frame(app):
    text = "您说的是一三九一二三四五六七八，对吗？对的话请说对。"
    ws = app.ws("tool", "/tts?stream=1")
    ws.send(text)
    pieces = []
    while True:
        frame = ws.recv()
        if frame == "":
            break
        assert isinstance(frame, bytes) and frame[:4] == b"RIFF", frame
        pieces.append(frame)
    assert len(pieces) == 3  # the clause, the rest of its sentence, the next sentence
    plain = app.ws("tool", "/tts")
    plain.send(text)
    whole = plain.recv()
    assert isinstance(whole, bytes) and whole[:4] == b"RIFF"  # the seed's one frame, unchanged
    assert abs(sum(seconds(p) for p in pieces) - seconds(whole)) < 0.6  # same speech, pauses aside
    ws.send("")  # bad text: the same error frame as without stream
    assert json.loads(ws.recv())["type"] == "error"


def test_each_piece_says_how_long_it_plays_so_the_gateway_can_size_the_next(app):
    """The gateway sends `ahead` (audio the client still has queued) with each later piece: the
    worker's reply must carry each piece's playing time, the WAV's own."""
    from appliance.runtime import bus, endpoints

    client = bus.BusClient(endpoints.worker_requests(app.dir / "run", "speech"), timeout=120)
    try:
        first, wavs = client.request("synthesize", {"text": "您说的是老师，对吗？", "stream": "clause"})
        assert first["rest"] == "对吗？" and first["seconds"] == pytest.approx(seconds(wavs[0]), abs=0.002)
        fields = {"text": first["rest"], "stream": "sentence", "ahead": 0.4}
        last, wavs = client.request("synthesize", fields)
        assert last["rest"] == "" and last["seconds"] == pytest.approx(seconds(wavs[0]), abs=0.002)
        whole, wavs = client.request("synthesize", {"text": "您说的是老师，对吗？"})
        assert whole["seconds"] == pytest.approx(seconds(wavs[0]), abs=0.002)
    finally:
        client.close()


def test_questions_are_prewarmed_served_from_the_cache_and_kept_across_a_restart(app):
    status = wait_prewarmed(app, 3)
    first_question = qna.QUESTIONS["name"]  # among the first prompts synthesised
    ws = app.ws("tool", "/tts")
    hits = status["tts_cache"]["hits"]
    ws.send(first_question)
    assert ws.recv()[:4] == b"RIFF"
    deadline = time.monotonic() + 10
    while speech_status(app)["tts_cache"]["hits"] <= hits and time.monotonic() < deadline:
        time.sleep(0.2)
    assert speech_status(app)["tts_cache"]["hits"] > hits
    kept = speech_status(app)["tts_cache"]["files"]
    assert kept >= 3 and (app.data_dir / "tts-cache").is_dir()
    data = str(app.data_dir)
    assert app.stop() == 0
    # stopped in the middle of the prewarm: the worker lets the prompt in hand finish and exits
    # cleanly, instead of aborting inside onnxruntime as the interpreter went away
    assert "terminate called" not in app.logtext() and "speech died" not in app.logtext()
    again = Appliance(workers="speech,gateway", env={**SLOW_MACHINE, "APPLIANCE_PATHS_DATA_DIR": data})
    again.wait_ready(300)
    try:
        assert speech_status(again)["tts_cache"]["files"] >= kept  # survived the restart
        ws = again.ws("tool", "/tts")
        ws.send(first_question)
        assert ws.recv()[:4] == b"RIFF"
        time.sleep(1.0)
        assert speech_status(again)["tts_cache"]["hits"] >= 1
    finally:
        again.stop()
