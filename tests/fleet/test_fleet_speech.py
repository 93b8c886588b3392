"""/stt and /tts counted where the gateway answers: operations by outcome, transcriptions by trust, the
real-time factor, with the real speech models."""

from __future__ import annotations

import collections
import io
import json
import sys
import wave
from pathlib import Path

from harness import Appliance

sys.path.insert(0, str(Path(__file__).parent))

from test_fleet_metrics import delta, samples, scrape, value  # noqa: E402


def silence_wav(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * seconds))
    return out.getvalue()


def answered(ws, send, operation: str, retried: collections.Counter):
    """Send until the worker answers: a loaded machine may answer `busy` (retry: true) first; each such
    refusal is counted under its code, as the metrics must count it."""
    for _ in range(5):
        send()
        reply = ws.recv()
        if isinstance(reply, str) and reply.startswith('{"type": "busy"'):
            retried[(operation, json.loads(reply)["code"])] += 1
            continue
        return reply
    raise AssertionError(f"{operation}: no answer after 5 tries: {retried}")


def test_speech_operations_and_transcriptions_counted_exactly():
    # no sentence cache (its prewarm would compete with these requests) and a patient gateway: the exact
    # counts are the point here, not the speed of a loaded test machine
    app = Appliance(
        workers="speech,gateway",
        env={"APPLIANCE_SPEECH_TTS_CACHE_MB": "0", "APPLIANCE_LIMITS_BUS_TIMEOUT": "120"},
    ).wait_ready(300)
    try:
        before = samples(scrape(app))
        retried: collections.Counter = collections.Counter()
        tts = app.ws("tool", "/tts")
        wav = answered(tts, lambda: tts.send("我要办身份证"), "tts", retried)
        tts.send_binary(b"not text")  # refused: text to speak comes as a text frame
        assert b"bad_frame" in tts.recv().encode()
        stt = app.ws("tool", "/stt")
        assert "身份证" in answered(stt, lambda: stt.send_binary(wav), "stt", retried)
        assert answered(stt, lambda: stt.send_binary(silence_wav(1.0)), "stt", retried) == ""
        stt.send("not audio")
        assert "bad_frame" in stt.recv()
        after = samples(scrape(app))
    finally:
        app.stop()
    ops = "kiosk_operation_requests_total"
    assert delta(before, after, ops, operation="tts", outcome="ok") == 1
    assert delta(before, after, ops, operation="tts", outcome="bad_frame") == 1
    assert delta(before, after, ops, operation="stt", outcome="ok") == 2
    assert delta(before, after, ops, operation="stt", outcome="bad_frame") == 1
    for (operation, code), count in retried.items():  # usually none
        assert delta(before, after, ops, operation=operation, outcome=code) == count
    heard = "kiosk_speech_transcriptions_total"
    assert delta(before, after, heard, source="stt", result="trusted") == 1
    assert delta(before, after, heard, source="stt", result="silence") == 1
    assert delta(before, after, heard, source="stt", result="untrusted") == 0
    assert delta(before, after, "kiosk_speech_real_time_factor_count") == 2
    assert value(after, "kiosk_speech_real_time_factor_sum") > 0
