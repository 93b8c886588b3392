"""The speech worker: owns the STT and TTS engines.

/stt, /tts, audio handshakes and spoken qna answers arrive here as bus
requests. The engines are not thread-safe, so each has its own lock, granted
in arrival order (runtime/fairlock.py); two handler threads let a synthesis
run while a transcription does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from ..dialogue.catalogue import load_catalogue
from ..dialogue.prompts import fixed_prompts
from ..runtime import endpoints
from ..runtime.fairlock import FairLock
from ..runtime.worker import HandlerError, ServiceWorker, expired
from ..speech.audio import AudioError, encode_wav
from ..speech.stt import SpeechToText, STTError
from ..speech.tts import TextToSpeech, TTSError
from ..speech.ttscache import TTSCache
from .ops import Speech

log = logging.getLogger(__name__)


class SpeechWorker(ServiceWorker):
    name = "speech"
    threads = 2

    def __init__(self, settings):
        super().__init__(settings)
        self.stt: SpeechToText | None = None
        self.tts: TextToSpeech | None = None
        # first come, first served: a plain Lock let one stream of requests starve another
        self._stt_lock = FairLock()
        self._tts_lock = FairLock()
        self._counts = {"transcribed": 0, "synthesized": 0}
        self._prewarm = {"prompts": 0, "synthesised": 0, "preempted": 0, "done": False}
        # live requests (STT, TTS): the prewarm steps aside for them, and a sentence it is making
        # when one arrives is preempted (made again later) instead of making the citizen wait for it
        self._live = _Counter(on_enter=self._preempt_prewarm)
        self._prewarm_thread: threading.Thread | None = None

    def prepare(self) -> None:  # the slowest load of all: a warm spare does it ahead of need
        cfg = self.settings.speech
        terms = [s.classify for s in load_catalogue(self.settings.path("services")).regular]
        ggml = self.settings.models_dir / cfg.ggml_model if cfg.ggml_model else None
        self.stt = SpeechToText(
            self.settings.models_dir,
            prompt_terms=terms,
            language=cfg.language,
            backend=cfg.stt_backend,
            cpu_threads=2,
            ggml_path=ggml,
            model=cfg.stt_model,
            context_pad_s=cfg.stt_context_pad_s,
        )
        self.tts = TextToSpeech(
            self.settings.models_dir,
            voice=cfg.voice,
            max_chars=cfg.max_tts_chars,
            english=cfg.english_voice,
            first_audio_s=cfg.first_audio_ms / 1000,
        )
        log.info(
            "speech ready: STT %s (%.1fs), TTS (%.1fs)",
            cfg.stt_backend,
            self.stt.load_seconds,
            self.tts.load_seconds,
        )

    def setup(self) -> None:  # the cache dir is a side effect: not in prepare (a spare runs that)
        mb = self.settings.speech.tts_cache_mb
        if mb and self.tts is not None:
            self.tts.cache = TTSCache(endpoints.tts_cache_dir(self.settings.data_dir), mb << 20)

    def start(self) -> None:
        if self.tts is not None and self.tts.cache is not None:
            self._prewarm_thread = threading.Thread(
                target=self._prewarm_prompts, name="tts-prewarm", daemon=True
            )
            self._prewarm_thread.start()

    def teardown(self) -> None:
        # a daemon thread still inside onnxruntime while the interpreter exits aborts the process
        # ("terminate called without an active exception"): end the call in hand, then wait for it
        if self._prewarm_thread is not None:
            self._stop.set()
            if self.tts is not None and self.tts.kokoro is not None:
                self.tts.kokoro.cancel()  # a long sentence under load outlasted the join below
            self._prewarm_thread.join(self.settings.supervisor.stop_timeout * 0.8)

    def _prewarm_prompts(self) -> None:
        """Synthesise the fixed prompts not yet cached, one sentence-set at a time under the TTS lock,
        so a citizen's request waits for at most one prompt. Idempotent across restarts."""
        try:
            prompts = fixed_prompts(load_catalogue(self.settings.path("services")))
        except Exception:
            log.exception("TTS prewarm: could not list the fixed prompts")
            return
        self._prewarm["prompts"] = len(prompts)
        tts = self.tts
        assert tts is not None  # start() runs this only with a TTS
        pending, preempted = list(reversed(prompts)), set()
        while pending:
            if self._stop.is_set():
                return
            text = pending.pop()
            # preempted once, a prompt is made again whole: a kiosk whose citizens come every few
            # seconds would otherwise restart the same long sentence for ever
            preemptible = tts.kokoro is not None and text not in preempted
            background = tts.kokoro.background() if preemptible else contextlib.nullcontext()
            try:
                with background as options:
                    self._prewarm["synthesised"] += tts.prewarm(text, lock=_Yielding(self))
            except _Stopping:
                return
            except Exception as exc:  # not cached: a live request will speak it (with any fallback)
                if self._stop.is_set():
                    return  # the engine was cancelled for the stop
                if options is not None and options.terminate:  # a citizen's request came first
                    self._prewarm["preempted"] += 1
                    preempted.add(text)
                    pending.append(text)  # the sentences already made stay cached
                    continue
                log.warning("TTS prewarm: %r not spoken: %s", text[:30], exc)
        self._prewarm["done"] = True
        log.info(
            "TTS prewarm done: %d prompts, %d sentences synthesised",
            len(prompts),
            self._prewarm["synthesised"],
        )

    def _preempt_prewarm(self) -> None:
        if self.tts is not None and self.tts.kokoro is not None:
            self.tts.kokoro.preempt()

    def _resume_prewarm(self) -> None:
        if self.tts is not None and self.tts.kokoro is not None:
            self.tts.kokoro.resume()

    def ops(self):
        return {Speech.TRANSCRIBE: self.transcribe, Speech.SYNTHESIZE: self.synthesize}

    def status(self) -> dict[str, Any]:
        cache = self.tts.cache.stats() if self.tts is not None and self.tts.cache is not None else None
        return {**self._counts, "prewarm": dict(self._prewarm), "tts_cache": cache}

    def transcribe(self, header: dict, payloads: list[bytes]) -> dict:
        if len(payloads) != 1:
            raise HandlerError("bad_request", "exactly one audio payload expected")
        stt = self.stt
        assert stt is not None  # prepare() set it before any request is served
        try:
            with self._live, self._stt_lock:  # the prewarm steps aside for a transcription too
                if expired(header):  # its caller gave up while it waited for the engine
                    raise HandlerError("timeout", "the caller stopped waiting")
                result = stt.transcribe_bytes(payloads[0], max_seconds=self.settings.speech.max_seconds)
        except AudioError as exc:
            raise HandlerError("bad_audio", str(exc)) from None
        except STTError as exc:
            raise HandlerError("stt_failed", str(exc)) from None
        self._counts["transcribed"] += 1
        if not result.trusted and result.heard:
            self._counts["untrusted"] = self._counts.get("untrusted", 0) + 1
        # `text` is "" unless trusted: a caller that reads only `text` can never act on a guess.
        return {
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration, 3),
            "timings": {k: round(v, 4) for k, v in result.timings.items()},
            "heard": result.heard,
            "trusted": result.trusted,
            "confidence": result.confidence,
            "reasons": list(result.reasons),
            "speech_seconds": result.speech_seconds,
        }

    def synthesize(self, header: dict, _payloads) -> tuple[dict, list[bytes]]:
        text = header.get("text")
        if not isinstance(text, str):
            raise HandlerError("bad_text", "text to speak must be a string")
        rest = ""
        tts = self.tts
        assert tts is not None  # prepare() set it before any request is served
        try:
            cached = tts.cached_audio(text, header.get("voice"))
            if cached is not None:  # no engine call: no lock, never behind the prewarm's sentence
                self._counts["synthesized"] += 1
                return _wav_reply(cached, tts.rate, "", cached=True)
            with self._live, self._tts_lock:
                if expired(header):
                    raise HandlerError("timeout", "the caller stopped waiting")
                if header.get("stream"):  # the first piece now, `rest` asked for next (README "Speech")
                    clause = header.get("stream") != "sentence"
                    ahead = header.get("ahead")  # seconds the listener still has queued
                    ahead = float(ahead) if isinstance(ahead, (int, float)) and not clause else None
                    audio, rest = tts.head(text, header.get("voice"), clause=clause, ahead=ahead)
                else:
                    audio, _ = tts.synthesize(text, header.get("voice"))
        except (TTSError, ValueError) as exc:
            raise HandlerError("bad_text", str(exc)) from None
        self._counts["synthesized"] += 1
        return _wav_reply(audio, tts.rate, rest)


def _wav_reply(audio, rate: int, rest: str, **extra) -> tuple[dict, list[bytes]]:
    """``synthesize``'s answer: the WAV, the text still to speak, and how long the audio plays
    (the gateway sizes the next piece of a stream with it)."""
    wav = encode_wav(audio, rate)
    return {"bytes": len(wav), "rest": rest, "seconds": round(audio.size / rate, 3), **extra}, [wav]


PREWARM_QUIET_S = 10.0
"""The prewarm waits this long after the last live request: a citizen's requests come seconds apart
(a question spoken, an answer heard, the next question), and a prewarm sentence that starts between
two of them holds the engine for up to ~3 s while the next one waits (README "Speech")."""


class _Counter:
    """Live speech requests (STT or TTS) inside the worker now, and when the last one left."""

    def __init__(self, on_enter: Optional[Callable[[], None]] = None):
        self.n, self.last, self._lock = 0, float("-inf"), threading.Lock()
        self._on_enter = on_enter

    def __enter__(self):
        with self._lock:
            self.n += 1
        if self._on_enter is not None:
            self._on_enter()

    def __exit__(self, *_):
        with self._lock:
            self.n -= 1
            self.last = time.monotonic()

    def quiet(self) -> bool:
        """No live request now nor within PREWARM_QUIET_S: background work may take the engine."""
        with self._lock:
            return not self.n and time.monotonic() - self.last >= PREWARM_QUIET_S


class _Stopping(Exception):
    """The worker stops while the prewarm waits for a quiet moment."""


class _Yielding:
    """The prewarm's hold on the TTS lock: taken only when no live request is in the worker nor was
    within PREWARM_QUIET_S (so it does not start a sentence between a citizen's requests), and
    given back at once to one that arrived meanwhile."""

    def __init__(self, worker: SpeechWorker):
        self.worker = worker

    def __enter__(self):
        while True:
            while not self.worker._live.quiet():
                if self.worker._stop.wait(0.05):  # a stop must not wait out the quiet period
                    raise _Stopping
            self.worker._tts_lock.acquire()
            if not self.worker._live.n:
                self.worker._resume_prewarm()  # a preemption that came while it waited here is spent
                return
            self.worker._tts_lock.release()

    def __exit__(self, *_):
        self.worker._tts_lock.release()
