"""Speech to text: Whisper base (CTranslate2, int8) via faster-whisper, Mandarin first.

Why the extra steps around Whisper:
- a Simplified-Chinese ``initial_prompt`` listing the kiosk's service names, otherwise base
  mishears the domain words (我要半身份整) and drifts into traditional characters;
- the output is converted to Simplified Chinese anyway (zhconv) because the prompt only biases;
- silero VAD (shipped inside faster-whisper) runs first: silence returns "" without decoding,
  and only the speech parts are decoded, which also keeps noise from being "transcribed";
- segments Whisper itself rates as no-speech or very unlikely are dropped (noise hallucinations);
- every transcript then gets a trust verdict (trust.py): loops, the prompt read back, low
  log-probability, no-speech, text too long or short for the speech. ``Transcript.text`` holds the
  words only when trusted; what Whisper wrote is always in ``Transcript.heard``.

A second backend, ``whispercpp``, loads a technician-installed ggml file with pywhispercpp.
No ggml model ships in any registry, so it is never the default.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .audio import TARGET_RATE, decode_audio
from .modelfiles import STT_MODEL_DIRS, ModelError, require
from .trust import PromptEcho, SegmentStats, Verdict, assess, low_variety, units

# CTranslate2's OpenMP threads spin between kernels by default, burning the cores the other
# workers need (runtime/onnx.py says the same of onnxruntime). libgomp reads this once, when
# faster_whisper first loads it, which is after this module is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger(__name__)

DEFAULT_TERMS = (
    "身份证",
    "户口本",
    "居住证",
    "社保卡",
    "医保",
    "公积金",
    "护照",
    "港澳通行证",
    "营业执照",
    "驾驶证",
    "结婚登记",
    "不动产登记",
)
# Verbs citizens use with the service names; biasing toward them fixes 补办 -> 不办 etc.
_VERBS = "补办、换领、挂失、查询、预约、报销"
PREAMBLE = "以下是普通话的政务服务咨询，使用简体中文。"
GGML_MAGIC = (0x67676D6C).to_bytes(4, "little")  # whisper.cpp model file header
MIN_RMS = 1e-4  # below this the input is digital silence: skip even the VAD
NO_SPEECH_DROP = 0.6  # segment dropped if no_speech_prob above this ...
LOGPROB_DROP = -1.0  # ... and its avg log-prob below this (Whisper's own heuristic)
MAX_TOKENS_BASE, MAX_TOKENS_PER_SECOND = 20, 15
"""Tokens a decode may write for an utterance: base + per second of voiced audio (speech is 4-6
characters a second, 1-2 tokens each)."""
BEAM_SIZE = 3  # chosen by `appliance bench --only stt`: beam 5's CER at 0.94x its cost (run H)
COMPRESSION_DROP = 2.4  # a segment this repetitive (gzip ratio) is a loop: Whisper's own threshold
FULL_CONTEXT_FRAMES = 3000  # Whisper's window: 30 s of 10 ms mel frames
CONTEXT_PAD_S = 0.0
"""Encoder context beyond the voiced audio, in seconds (``speech.stt_context_pad_s``); 0 = the
whole 30 s window. See ``context_frames``."""


def context_frames(samples: int, pad_s: float) -> Optional[int]:
    """Mel frames of the 30 s window the encoder is given for an utterance of ``samples``.

    Whisper always encodes a full 30 s window, the utterance followed by padding: for a 2 s
    request that is ~0.55 s of this machine's CPU, most of the decode, spent on silence.
    CTranslate2 encodes a shorter window (1,000 frames in 0.08 s); the decoder then attends to
    the utterance plus ``pad_s`` seconds of the padding only. Too little padding makes base
    repeat or garble the utterance; the amount is chosen with ``appliance bench --only stt``.
    None = the whole window."""
    if pad_s <= 0:
        return None
    frames = math.ceil((samples / TARGET_RATE + pad_s) * 100)
    return min(FULL_CONTEXT_FRAMES, frames + frames % 2)  # even: the encoder's stride-2 conv


class STTError(RuntimeError):
    """Transcription failed (bad input array, backend failure)."""


@dataclass
class Transcript:
    """One utterance's result. ``timings`` are seconds: vad, decode, total.

    ``text`` is what callers may act on: the words when ``trusted``, else "". ``heard`` is what
    Whisper wrote either way (for logs and technicians); ``reasons`` say why it is not trusted.
    """

    text: str
    language: str
    duration: float
    timings: dict = field(default_factory=dict)
    language_probability: float = 0.0
    heard: str = ""
    trusted: bool = False
    confidence: float = 0.0
    reasons: tuple = ("empty",)
    speech_seconds: float = 0.0


def build_prompt(terms: Iterable[str]) -> str:
    """The Simplified-Chinese domain prompt; it also sets the punctuation style (，。).

    Phrased as a citizen's sentence ("我要办理…") with the verbs after it: on the round-trip
    bench this scored best (CER 0.07 vs 0.19 for a bare list of names).
    """
    names = "、".join(dict.fromkeys(t.strip() for t in terms if t and t.strip()))
    prompt = f"{PREAMBLE}我要办理{names}。也可以{_VERBS}。"
    return prompt[:400]  # Whisper keeps only the last ~224 prompt tokens anyway


def to_simplified(text: str) -> str:
    """Script conversion only ('zh-hans'), not regional vocabulary rewriting ('zh-cn')."""
    import zhconv

    return zhconv.convert(text, "zh-hans")


_FULLWIDTH = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；"})


def tidy_chinese(text: str) -> str:
    """Simplified script, and the full-width punctuation Chinese text uses (Whisper mixes in ASCII)."""
    text = to_simplified(text)
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        text = text.translate(_FULLWIDTH)
    return text


def repetitive(text: str) -> bool:
    """Whisper's noise hallucination is a loop over a few prompt characters (证证、证… 证判证判…),
    short enough to pass its compression-ratio test; real utterances are far more varied.
    (The transcript-level check, trust.tandem_loop, also catches short loops like 证则。证则。证则。)"""
    return low_variety(units(text))


def prompt_echo_for(terms: Iterable[str]) -> PromptEcho:
    """The echo detector matching ``build_prompt(terms)``: its two lists and its preamble."""
    return PromptEcho([list(terms), _VERBS.split("、")], PREAMBLE)


def speech_spans(samples: np.ndarray, min_silence_ms: int = 500) -> list[dict]:
    """Silero VAD speech spans (sample offsets) at 16 kHz, via faster-whisper's bundled ONNX."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=300)
    return get_speech_timestamps(samples, opts, sampling_rate=TARGET_RATE)


def _check(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise STTError(f"expected mono 1-D samples, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


class _FasterWhisper:
    """faster-whisper backend over the local CTranslate2 model directory."""

    stats = True

    def __init__(self, models_dir: Path, cpu_threads: int, model: str = "base", context_pad_s: float = 0.0):
        folder = STT_MODEL_DIRS[model]
        require(
            models_dir,
            [f"{folder}/{name}" for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")],
        )
        self.model = _whisper_model()(
            str(Path(models_dir) / folder),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
        self.context_pad_s = context_pad_s

    def decode(
        self,
        x: np.ndarray,
        language: Optional[str],
        prompt: str,
        beam: int = BEAM_SIZE,
        without_timestamps: bool = False,
        context_pad_s: Optional[float] = None,
    ) -> tuple[list, Any]:
        """Whisper's segments and info for ``x``, decoded as the kiosk decodes. The keyword
        arguments exist for the bench (bench/stt.py), which changes one at a time."""
        pad = self.context_pad_s if context_pad_s is None else context_pad_s
        self.model.frames = context_frames(x.size, pad)
        try:
            # No word timestamps: they move the seek to the last word's end, and from there Whisper
            # decoded the utterance's trailing half-second of silence into a 448-token loop ("请问问问…")
            # that the compression filter then dropped: 5-6 s of CPU wasted on every request (0.8 s
            # without). Their per-word probabilities were tried as a check on service names and dropped.
            segments, info = self.model.transcribe(
                x,
                language=language,
                initial_prompt=prompt or None,
                beam_size=beam,
                without_timestamps=without_timestamps,
                # No temperature fallback: a re-sampled decode is never trusted anyway (trust.py), and
                # the fallback cost 5-10 s per noisy utterance before the citizen heard "没听清".
                temperature=0.0,
                condition_on_previous_text=False,  # no error carry-over between segments
                no_speech_threshold=NO_SPEECH_DROP,
                log_prob_threshold=LOGPROB_DROP,
                compression_ratio_threshold=COMPRESSION_DROP,
                vad_filter=False,
                word_timestamps=False,
                # a loop on noise is bounded: twice what anyone says in that time (trust.py refuses
                # text that long anyway), instead of Whisper's 448 tokens of wasted decoding
                max_new_tokens=MAX_TOKENS_BASE + int(MAX_TOKENS_PER_SECOND * x.size / TARGET_RATE),
            )
            return list(segments), info  # the generator decodes: run it while ``frames`` holds
        finally:
            self.model.frames = None  # a plain transcribe (the bench's reference) gets the whole window

    @staticmethod
    def keep(segments: list) -> list:
        """The segments worth reading: not what Whisper itself rates as no-speech and unlikely,
        nor a loop its compression ratio gives away."""
        return [
            s
            for s in segments
            if not (s.no_speech_prob > NO_SPEECH_DROP and s.avg_logprob < LOGPROB_DROP)
            and s.compression_ratio <= COMPRESSION_DROP
        ]

    def run(self, x: np.ndarray, language: Optional[str], prompt: str) -> tuple[list, str, float]:
        """-> (kept segments' statistics, language, its probability)."""
        segments, info = self.decode(x, language, prompt)
        kept = [
            SegmentStats(
                s.text,
                s.avg_logprob,
                s.no_speech_prob,
                s.compression_ratio,
                float(getattr(s, "temperature", 0.0) or 0.0),
                tuple((to_simplified(w.word), float(w.probability)) for w in s.words or ()),
            )
            for s in self.keep(segments)
        ]
        return kept, info.language, float(info.language_probability)


def _whisper_model():
    """faster-whisper's model class, with the encoder window cut to ``frames`` (context_frames).

    Imported here, not at module load: faster-whisper pulls in CTranslate2 and onnxruntime."""
    from faster_whisper import WhisperModel

    class ContextWhisper(WhisperModel):
        frames: Optional[int] = None
        """Mel frames to encode of the padded 30 s window; None = all of them."""

        def encode(self, features: np.ndarray):
            if self.frames is not None:
                features = np.ascontiguousarray(features[..., : self.frames])
            return super().encode(features)

    return ContextWhisper


class _WhisperCpp:
    """pywhispercpp backend for a ggml model file a technician installed by hand."""

    stats = False  # pywhispercpp gives no log-probabilities: only the text checks apply

    def __init__(self, ggml_path: Optional[Path], cpu_threads: int):
        if not ggml_path or not Path(ggml_path).is_file():
            # pywhispercpp treats a non-path as a model *name* and downloads it: never allow that.
            raise ModelError(f"whisper.cpp ggml model file not found: {ggml_path}")
        with open(ggml_path, "rb") as f:
            magic = f.read(4)
        # whisper.cpp fails late and vaguely on a wrong file; its format starts with uint32 'ggml'.
        if magic != GGML_MAGIC:
            raise ModelError(f"{ggml_path} is not a whisper.cpp ggml model (bad magic {magic!r})")
        try:
            from pywhispercpp.model import Model
        except ImportError as e:
            raise ModelError("backend 'whispercpp' needs the pywhispercpp package") from e
        self.model = Model(str(ggml_path), n_threads=cpu_threads, redirect_whispercpp_logs_to=None)

    def run(self, x: np.ndarray, language: Optional[str], prompt: str) -> tuple[list, str, float]:
        """-> ([the text as one segment, no statistics: see ``stats``], language, 0.0)."""
        segs = self.model.transcribe(x, language=language or "auto", initial_prompt=prompt, no_context=True)
        text = "".join(s.text for s in segs)
        return [SegmentStats(text, 0.0, 0.0)] if text else [], language or "", 0.0


class SpeechToText:
    """Load once, transcribe many. Not thread-safe: one worker process owns one instance.

    ``language`` "zh" forces Mandarin (the kiosk's default); "auto" or None detects it.
    ``backend`` is "faster-whisper" (default) or "whispercpp" (needs ``ggml_path``).
    Raises ModelError at construction if the model files are missing.
    """

    def __init__(
        self,
        models_dir: Path,
        prompt_terms: Iterable[str] = DEFAULT_TERMS,
        language: Optional[str] = "zh",
        backend: str = "faster-whisper",
        cpu_threads: int = 2,
        ggml_path: Optional[Path] = None,
        use_vad: bool = True,
        warmup: bool = True,
        model: str = "base",
        context_pad_s: float = CONTEXT_PAD_S,
    ):
        t0 = time.perf_counter()
        self.language = language or "auto"
        # An English-only model gets no prompt: the Chinese domain prompt only pushes it to
        # hallucinate a continuation (seen on CI: "Please open the door. For now, we're going…").
        terms = [] if model.endswith(".en") else list(prompt_terms)
        self.prompt = build_prompt(terms) if terms else ""
        self.echo = prompt_echo_for(terms)
        self.use_vad = use_vad
        self._backend: _FasterWhisper | _WhisperCpp
        if backend == "faster-whisper":
            if model == "tiny.en" and language not in ("en", "auto", None):
                raise ValueError('the tiny.en model understands English only: set speech.language = "en"')
            self._backend = _FasterWhisper(Path(models_dir), cpu_threads, model, context_pad_s)
        elif backend == "whispercpp":
            self._backend = _WhisperCpp(Path(ggml_path) if ggml_path else None, cpu_threads)
        else:
            raise ValueError(f"unknown STT backend {backend!r}")
        self.backend = backend
        if warmup:
            self._warmup()
        self.load_seconds = time.perf_counter() - t0

    def _warmup(self) -> None:
        """First VAD and decode calls allocate buffers (~0.5 s): pay that at load, not per user."""
        quiet = np.zeros(TARGET_RATE, np.float32)
        if self.use_vad:
            speech_spans(quiet)
        self._backend.run(quiet, None if self.language == "auto" else self.language, self.prompt)

    def transcribe(self, samples16k: np.ndarray, language: Optional[str] = None) -> Transcript:
        """Mono float32 16 kHz samples -> Transcript (text "" for silence or noise).

        ``language`` overrides the instance default for this call ("auto" = detect).
        """
        t0 = time.perf_counter()
        x = _check(samples16k)
        lang: Optional[str] = language or self.language
        lang = None if lang == "auto" else lang  # None lets Whisper detect the language
        duration = x.size / TARGET_RATE
        timings = {"vad": 0.0, "decode": 0.0}
        if x.size < TARGET_RATE // 10 or float(np.sqrt(np.mean(x * x))) < MIN_RMS:
            return self._done(lang, duration, timings, t0)
        if self.use_vad:
            spans = speech_spans(x)
            timings["vad"] = time.perf_counter() - t0
            if not spans:
                return self._done(lang, duration, timings, t0)
            x = np.concatenate([x[s["start"] : s["end"]] for s in spans])
        t1 = time.perf_counter()
        try:
            segments, detected, prob = self._backend.run(x, lang, self.prompt)
        except Exception as e:  # backend errors are opaque C++ exceptions; wrap them
            raise STTError(f"{self.backend} failed: {e}") from e
        timings["decode"] = time.perf_counter() - t1
        heard = tidy_chinese("".join(s.text for s in segments).strip())
        speech_s = x.size / TARGET_RATE  # after VAD: the voiced part only
        verdict = assess(heard, segments if self._backend.stats else None, speech_s, self.echo)
        out = self._done(detected or lang, duration, timings, t0, heard, verdict)
        out.language_probability, out.speech_seconds = prob, round(speech_s, 3)
        if heard and not verdict.trusted:
            log.info("transcript not trusted (%s): %r", ",".join(verdict.reasons), heard)
        return out

    def transcribe_bytes(
        self, data: bytes, max_seconds: float = 60.0, language: Optional[str] = None
    ) -> Transcript:
        """Audio file bytes (WAV etc.) -> Transcript. Raises audio.AudioError for bad audio."""
        return self.transcribe(decode_audio(data, max_seconds=max_seconds), language)

    @staticmethod
    def _done(
        lang: Optional[str],
        duration: float,
        timings: dict,
        t0: float,
        heard: str = "",
        verdict: Optional[Verdict] = None,
    ) -> Transcript:
        """The Transcript; without a verdict nothing was decoded (silence, too short)."""
        timings["total"] = time.perf_counter() - t0
        v = verdict or Verdict(False, 0.0, ("empty",))
        return Transcript(
            text=heard if v.trusted else "",
            language=lang or "",
            duration=duration,
            timings=timings,
            heard=heard,
            trusted=v.trusted,
            confidence=v.confidence,
            reasons=v.reasons,
        )
