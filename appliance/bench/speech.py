"""STT and TTS real-time factors and time to first audio, against the raw model calls.

Inputs are real: sentences a citizen says to the kiosk and the kiosk says back
(appliance.speech.roundtrip's lists), synthesised by our TTS and fed back to our
STT through WAV bytes as /tts → /stt would carry them.  References:
- TTS: Kokoro's onnxruntime call alone on the same tokens (ours adds text
  normalisation, G2P, sentence splitting, trimming);
- time to first audio: the raw model call for the first sentence alone;
- STT: faster-whisper's plain ``transcribe`` on the same samples, beam 5, no
  VAD and no domain prompt (ours adds VAD, the prompt, simplification).
RTF = processing seconds / audio seconds (below 1: faster than real time).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ..config import Settings
from .stats import figure


def run(settings: Settings, quick: bool) -> dict:
    from ..speech.audio import decode_audio, encode_wav
    from ..speech.roundtrip import ANSWERS, REQUESTS, cer
    from ..speech.stt import SpeechToText
    from ..speech.tts import TextToSpeech

    texts = (REQUESTS[:2] + ANSWERS[:1]) if quick else (REQUESTS[:6] + ANSWERS[:4])
    tts = TextToSpeech(
        settings.models_dir,
        voice=settings.speech.voice,
        english=False,
        first_audio_s=settings.speech.first_audio_ms / 1000,
    )
    stt = SpeechToText(settings.models_dir, language="zh", context_pad_s=settings.speech.stt_context_pad_s)
    if tts.kokoro is None:
        raise RuntimeError("Kokoro did not load: the TTS figures would be espeak-ng's")
    kokoro, voice = tts.kokoro, settings.speech.voice
    tts.synthesize("预热。")
    rows: list[dict[str, Any]] = []  # one per text: floats (raw_first may be None) and the texts heard
    for text in texts:
        t0 = time.perf_counter()
        chunks = tts.stream(text)
        first = next(chunks)
        ttfa = time.perf_counter() - t0
        rest = list(chunks)
        tts_s = time.perf_counter() - t0
        clause, stall = _streamed(tts, text)  # what /tts?stream=1 sends: first piece, then waits
        budget, tts.first_audio_s = tts.first_audio_s, 0.0
        whole_clause, clause_stall = _streamed(tts, text)  # the same with the first clause whole
        tts.first_audio_s = budget
        audio = np.concatenate([first, *rest])
        seconds = len(audio) / tts.rate
        # raw: the model call alone on each sentence's tokens (G2P done outside the clock)
        tokens = [kokoro.tokens(kokoro.phonemes(s)) for lang, s in tts.sentences(text) if lang == "zh"]
        raw_times = []
        for toks in tokens:
            t1 = time.perf_counter()
            kokoro.infer(toks, voice, tts.speed)
            raw_times.append(time.perf_counter() - t1)
        samples = decode_audio(encode_wav(audio, tts.rate))
        t2 = time.perf_counter()
        heard = stt.transcribe(samples).text
        stt_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        segments, _ = stt._backend.model.transcribe(samples, language="zh", beam_size=5)
        raw_text = "".join(seg.text for seg in segments)
        raw_stt_s = time.perf_counter() - t3
        rows.append(
            {
                "seconds": seconds,
                "tts": tts_s,
                "ttfa": ttfa,
                "clause": clause,
                "whole_clause": whole_clause,
                "stall": stall,
                "clause_stall": clause_stall,
                "raw_tts": sum(raw_times),
                "raw_first": raw_times[0] if raw_times else None,
                "stt": stt_s,
                "raw_stt": raw_stt_s,
                "heard": heard,
                "raw_heard": raw_text,
            }
        )
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    med_rtf = lambda key: statistics.median(r[key] / r["seconds"] for r in rows)  # noqa: E731
    n = len(rows)
    audio_s = statistics.median(r["seconds"] for r in rows)
    return {
        "tts_rtf": figure(
            med_rtf("tts"),
            "RTF",
            med_rtf("raw_tts"),
            "Kokoro session.run alone",
            n=n,
            note=f"median utterance {audio_s:.1f} s, voice {voice}",
        ),
        "tts_first_audio": figure(
            med("ttfa") * 1000, "ms", med("raw_first") * 1000, "first sentence's model call", n=n
        ),
        "tts_first_clause": figure(
            med("clause") * 1000,
            "ms",
            med("raw_first") * 1000,
            "first sentence's model call",
            n=n,
            note=(
                "tts.head: what /tts?stream=1 sends first of uncached text (the first clause, cut "
                f"at a word to {tts.first_audio_s * 1000:.0f} ms predicted)"
            ),
        ),
        "tts_first_clause_whole": figure(
            med("whole_clause") * 1000,
            "ms",
            med("raw_first") * 1000,
            "first sentence's model call",
            n=n,
            note="the same with speech.first_audio_ms = 0: the first clause whole, as before issue 18",
        ),
        "tts_stream_stall": figure(
            statistics.mean(r["stall"] for r in rows) * 1000,
            "ms",
            statistics.mean(r["clause_stall"] for r in rows) * 1000,
            "the same with the first clause whole",
            n=n,
            note=(
                "mean over texts of the silence a player starting at once waits for a later piece; "
                f"worst {max(r['stall'] for r in rows) * 1000:.0f} ms "
                f"(whole clause: {max(r['clause_stall'] for r in rows) * 1000:.0f} ms)"
            ),
        ),
        "stt_rtf": figure(
            med_rtf("stt"),
            "RTF",
            med_rtf("raw_stt"),
            "faster-whisper transcribe, no VAD/prompt",
            n=n,
            note=f"e.g. heard {rows[0]['heard']!r}",
        ),
        "stt_cer": figure(
            statistics.mean(cer(t, r["heard"]) for t, r in zip(texts, rows, strict=False)),
            "CER",
            None,
            "",
            n=n,
            note="the round trip's texts as spoken by the kiosk's TTS",
        ),
        "stt_load": figure(stt.load_seconds * 1000, "ms", None, "", n=1),
        "tts_load": figure(tts.load_seconds * 1000, "ms", None, "", n=1),
    }


def _streamed(tts, text: str) -> tuple[float, float]:
    """/tts?stream=1's pieces made back to back as the worker makes them, each later one sized to
    the audio still queued as the gateway computes it: (seconds to the first piece, seconds a
    player that starts at once spends waiting for a later one)."""
    t0 = time.perf_counter()
    audio, rest = tts.head(text)
    first = time.perf_counter() - t0
    playing_until, stall = first + audio.size / tts.rate, 0.0
    while rest:
        ahead = playing_until - (time.perf_counter() - t0)
        audio, rest = tts.head(rest, clause=False, ahead=ahead)
        ready = time.perf_counter() - t0
        stall += max(0.0, ready - playing_until)
        playing_until = max(playing_until, ready) + audio.size / tts.rate
    return first, stall
