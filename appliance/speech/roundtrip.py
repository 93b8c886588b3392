"""Round-trip accuracy: the kiosk's TTS speaks known texts, its STT hears them back, scored by
character error rate (CER) and by how many service names come back. Speed figures belong to
`appliance bench` (appliance/bench/speech.py), which reports this CER beside them."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path
from typing import Optional

from .audio import decode_audio, encode_wav
from .stt import DEFAULT_TERMS, SpeechToText, to_simplified
from .textnorm import DIGITS_ZH, spell_codes
from .tts import TextToSpeech

# Typical citizen requests (each names a service) and kiosk answers (numbers, dates, names).
REQUESTS = [
    "我要办身份证。",
    "我想补办社保卡。",
    "我要办理居住证。",
    "我想查询公积金。",
    "我的医保怎么报销？",
    "我要办护照。",
    "我想办港澳通行证。",
    "我要申请营业执照。",
    "我的驾驶证到期了。",
    "我们想办结婚登记。",
    "我要办不动产登记。",
    "户口本丢了怎么办？",
]
ANSWERS = [
    "我的电话是13912345678。",
    "我叫张伟，今年三十五岁。",
    "我的身份证号是110105194912310021。",
    "请在三月五日上午九点来办理。",
    "您好，请问您要办理什么业务？",
    "请带上身份证和两张照片。",
    "办理需要五个工作日。",
    "我住在北京市朝阳区。",
]
_PUNCT = re.compile(r"[\s，。！？、,.!?：:；;\"'“”（）()\-]")


def normalize_for_cer(text: str) -> str:
    """Compare what was said, not how it is written: simplified, no punctuation,
    Arabic digits as Chinese digits (Whisper writes 139, the TTS read 一三九), 幺 = 一."""
    t = _PUNCT.sub("", to_simplified(text))
    t = re.sub(r"\d", lambda m: DIGITS_ZH[int(m.group(0))], t)
    return t.replace("幺", "一")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over characters (two-row dynamic programme)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of ``hypothesis`` against ``reference`` after normalisation."""
    ref, hyp = normalize_for_cer(spell_codes(reference)), normalize_for_cer(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def _rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def round_trip(stt: SpeechToText, tts: TextToSpeech, texts: list[str]) -> list[dict]:
    """Speak each text, send it through WAV bytes (as /tts -> /stt would), transcribe it."""
    rows = []
    for text in texts:
        t0 = time.perf_counter()
        audio, rate = tts.synthesize(text)
        t_tts = time.perf_counter() - t0
        wav = encode_wav(audio, rate)
        tr = stt.transcribe(decode_audio(wav))
        seconds = len(audio) / rate
        rows.append(
            {
                "text": text,
                "heard": tr.text,
                "cer": round(cer(text, tr.text), 3),
                "audio_s": round(seconds, 2),
                "tts_rtf": round(t_tts / seconds, 3),
                "stt_rtf": round(tr.timings["total"] / seconds, 3),
            }
        )
    return rows


def service_hits(rows: list[dict], terms=DEFAULT_TERMS) -> tuple[int, int]:
    """(names heard back, names said) over the rows whose text names a service."""
    said = heard = 0
    for r in rows:
        for term in terms:
            if term in r["text"]:
                said += 1
                heard += term in to_simplified(r["heard"])
    return heard, said


def evaluate(
    models_dir: Path,
    n: Optional[int] = None,
    stt: Optional[SpeechToText] = None,
    tts: Optional[TextToSpeech] = None,
) -> dict:
    """Load (unless engines are given), round-trip ``n`` texts (default all 20), return metrics."""
    rss0 = _rss_mb()
    stt = stt or SpeechToText(models_dir)
    tts = tts or TextToSpeech(models_dir)
    rss_loaded = _rss_mb()
    texts = (REQUESTS + ANSWERS)[: n or None]
    tts.synthesize("预热。")  # first ONNX run allocates; keep it out of the RTF
    rows = round_trip(stt, tts, texts)
    heard, said = service_hits(rows)
    total_ref = sum(len(normalize_for_cer(spell_codes(r["text"]))) for r in rows)
    total_err = sum(r["cer"] * len(normalize_for_cer(spell_codes(r["text"]))) for r in rows)
    mean = lambda k: round(sum(r[k] for r in rows) / len(rows), 3)  # noqa: E731
    return {
        "stt_load_s": round(stt.load_seconds, 2),
        "tts_load_s": round(tts.load_seconds, 2),
        "rss_mb_before_load": round(rss0, 1),
        "rss_mb_loaded": round(rss_loaded, 1),
        "rss_mb_peak": round(_rss_mb(), 1),
        "n": len(rows),
        "cer": round(total_err / max(1, total_ref), 3),
        "requests_cer": round(
            sum(r["cer"] for r in rows if r["text"] in REQUESTS)
            / max(1, sum(r["text"] in REQUESTS for r in rows)),
            3,
        ),
        "service_names_heard": heard,
        "service_names_said": said,
        "tts_rtf_mean": mean("tts_rtf"),
        "stt_rtf_mean": mean("stt_rtf"),
        "rows": rows,
    }
