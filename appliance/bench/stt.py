"""STT decode settings: cost (real-time factor) and accuracy (CER) of each, on one speech set.

The set is our own: the round trip's requests and answers (appliance.speech.roundtrip) spoken by the
kiosk's TTS, clean and under white noise at 10 dB SNR (speech.hardset), through WAV bytes as /tts
and /stt carry them. Every setting decodes every utterance with the kiosk's own arguments
(domain prompt, no temperature fallback, the drop thresholds, word probabilities for the trust
check) and changes one thing: beam size, our VAD trimming, ``without_timestamps``, CPU threads.
Settings run in turn within each round, so load from other processes hits them alike.
The kiosk's setting is the reference of every row; a cheaper setting is only a candidate when its
CER (clean and noisy) is not above the reference's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from ..config import Settings
from .stats import figure


@dataclass(frozen=True)
class Decode:
    label: str
    beam: int = 3
    vad: bool = True
    without_timestamps: bool = False
    threads: int = 2
    context_pad_s: float = 0.0
    """Encoder context beyond the voiced audio (stt.context_frames); 0 = Whisper's 30 s window."""


KIOSK = Decode("kiosk (beam 3)")
"""What appliance/speech/stt.py does by default (stt.BEAM_SIZE, stt.CONTEXT_PAD_S): the reference
row; a test keeps them equal."""
CANDIDATES = (
    KIOSK,
    Decode("beam 5 (before issue 18)", beam=5),
    Decode("beam 1 (greedy)", beam=1),
    Decode("no VAD trim", vad=False),
    Decode("without_timestamps", without_timestamps=True),
    Decode("1 thread", threads=1),
    Decode("context +4 s", context_pad_s=4.0),
    Decode("context +8 s", context_pad_s=8.0),
    Decode("context +12 s", context_pad_s=12.0),
    Decode("context +16 s", context_pad_s=16.0),
)
NOT_DECODE_ONLY = ("vad",)
"""Reported, never chosen: the VAD is also the trust check's no-speech gate and its voiced seconds
(speech/trust.py), so turning it off changes more than the decode's cost; speech-eval must judge that."""


def speech_set(settings: Settings, quick: bool) -> list[tuple[str, str, np.ndarray]]:
    """(condition, text, 16 kHz samples): the kiosk's voice, clean and at 10 dB SNR."""
    from ..speech import hardset
    from ..speech.audio import decode_audio, encode_wav
    from ..speech.roundtrip import ANSWERS, REQUESTS
    from ..speech.tts import TextToSpeech

    texts = (REQUESTS[:3] + ANSWERS[:2]) if quick else (REQUESTS + ANSWERS)
    tts = TextToSpeech(settings.models_dir, voice=settings.speech.voice, english=False)
    rng = np.random.default_rng(18)
    out = []
    for text in texts:
        clean = hardset._padded(decode_audio(tts.synthesize_wav(text)))
        out.append(("clean", text, clean))
        noisy = hardset.degrade(clean, "snr 10 dB", rng)
        out.append(("snr 10 dB", text, decode_audio(encode_wav(noisy, 16000))))
    return out


def _decoder(stt, d: Decode):
    """One utterance -> heard text, decoded as the kiosk decodes (stt._FasterWhisper.decode and its
    segment filter) except for ``d``'s change."""
    from ..speech.stt import speech_spans, tidy_chinese

    backend = stt._backend

    def run(x: np.ndarray) -> str:
        if d.vad:
            spans = speech_spans(x)
            if not spans:
                return ""
            x = np.concatenate([x[s["start"] : s["end"]] for s in spans])
        segments, _ = backend.decode(
            x,
            "zh",
            stt.prompt,
            beam=d.beam,
            without_timestamps=d.without_timestamps,
            context_pad_s=d.context_pad_s,
        )
        return tidy_chinese("".join(s.text for s in backend.keep(segments)).strip())

    return run


def measure(settings: Settings, quick: bool, candidates=CANDIDATES, rounds: int | None = None) -> list[dict]:
    """One row per setting: median RTF over utterances (each the median of ``rounds``), CER by condition."""
    from ..speech.roundtrip import cer
    from ..speech.stt import SpeechToText

    items = speech_set(settings, quick)
    models = {
        t: SpeechToText(settings.models_dir, language="zh", cpu_threads=t)
        for t in sorted({d.threads for d in candidates})
    }
    runs = {d.label: _decoder(models[d.threads], d) for d in candidates}
    rounds = rounds or (1 if quick else 2)
    times: dict[str, list[list[float]]] = {d.label: [[] for _ in items] for d in candidates}
    heard: dict[str, list[str]] = {d.label: [""] * len(items) for d in candidates}
    for _ in range(rounds):
        for i, (_, _, x) in enumerate(items):
            for d in candidates:  # in turn: a burst of load hits every setting alike
                t0 = time.perf_counter()
                heard[d.label][i] = runs[d.label](x)
                times[d.label][i].append(time.perf_counter() - t0)
    rows = []
    for d in candidates:
        rtf = statistics.median(
            statistics.median(t) / (x.size / 16000)
            for t, (_, _, x) in zip(times[d.label], items, strict=True)
        )
        by_cond: dict[str, list[float]] = {}
        for (cond, text, _), h in zip(items, heard[d.label], strict=True):
            by_cond.setdefault(cond, []).append(cer(text, h))
        rows.append(
            {
                "setting": d,
                "rtf": rtf,
                "cer": {c: statistics.mean(v) for c, v in by_cond.items()},
                "n": len(items),
            }
        )
    return rows


def choose(rows: list[dict]) -> dict:
    """The cheapest row whose CER is not above the kiosk's in any condition (VAD kept: NOT_DECODE_ONLY)."""
    ref = next(r for r in rows if r["setting"] == KIOSK)
    fit = [
        r
        for r in rows
        if all(r["cer"][c] <= ref["cer"][c] + 1e-9 for c in ref["cer"])
        and all(getattr(r["setting"], f) == getattr(KIOSK, f) for f in NOT_DECODE_ONLY)
    ]
    return min(fit, key=lambda r: r["rtf"])


def run(settings: Settings, quick: bool) -> dict:
    rows = measure(settings, quick)
    ref = next(r for r in rows if r["setting"] == KIOSK)
    best = choose(rows)
    out = {}
    for r in rows:
        cers = ", ".join(f"CER {c} {v:.3f}" for c, v in r["cer"].items())
        mark = "; chosen: cheapest at equal CER" if r is best else ""
        out[f"rtf[{r['setting'].label}]"] = figure(
            r["rtf"], "RTF", ref["rtf"], "the kiosk's decode", n=r["n"], note=cers + mark
        )
    return out
