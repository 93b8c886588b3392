"""The speech worker: owns the STT and TTS engines.

/stt, /tts, audio handshakes and spoken qna answers arrive here as bus
requests. The engines are not thread-safe, so each has its own lock; two
handler threads let a synthesis run while a transcription does.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..dialogue.catalogue import load_catalogue
from ..speech.audio import AudioError
from ..speech.stt import STTError, SpeechToText
from ..speech.tts import TextToSpeech, TTSError
from ..runtime.worker import HandlerError, ServiceWorker
from .ops import Speech

log = logging.getLogger(__name__)


class SpeechWorker(ServiceWorker):
    name = "speech"
    threads = 2

    def __init__(self, settings):
        super().__init__(settings)
        self.stt: SpeechToText | None = None
        self.tts: TextToSpeech | None = None
        self._stt_lock = threading.Lock()
        self._tts_lock = threading.Lock()
        self._counts = {"transcribed": 0, "synthesized": 0}

    def prepare(self) -> None:  # the slowest load of all: a warm spare does it ahead of need
        cfg = self.settings.speech
        terms = [s.classify for s in load_catalogue(self.settings.path("services")).regular]
        ggml = self.settings.models_dir / cfg.ggml_model if cfg.ggml_model else None
        self.stt = SpeechToText(self.settings.models_dir, prompt_terms=terms, language=cfg.language,
                                backend=cfg.stt_backend, cpu_threads=2, ggml_path=ggml, model=cfg.stt_model)
        self.tts = TextToSpeech(self.settings.models_dir, voice=cfg.voice, max_chars=cfg.max_tts_chars,
                                english=cfg.english_voice)
        log.info("speech ready: STT %s (%.1fs), TTS (%.1fs)", cfg.stt_backend, self.stt.load_seconds,
                 self.tts.load_seconds)

    def ops(self):
        return {Speech.TRANSCRIBE: self.transcribe, Speech.SYNTHESIZE: self.synthesize}

    def status(self) -> dict[str, Any]:
        return dict(self._counts)

    def transcribe(self, header: dict, payloads: list[bytes]) -> dict:
        if len(payloads) != 1:
            raise HandlerError("bad_request", "exactly one audio payload expected")
        try:
            with self._stt_lock:
                result = self.stt.transcribe_bytes(payloads[0], max_seconds=self.settings.speech.max_seconds)
        except AudioError as exc:
            raise HandlerError("bad_audio", str(exc)) from None
        except STTError as exc:
            raise HandlerError("stt_failed", str(exc)) from None
        self._counts["transcribed"] += 1
        if not result.trusted and result.heard:
            self._counts["untrusted"] = self._counts.get("untrusted", 0) + 1
        # `text` is "" unless trusted: a caller that reads only `text` can never act on a guess.
        return {"text": result.text, "language": result.language, "duration": round(result.duration, 3),
                "timings": {k: round(v, 4) for k, v in result.timings.items()},
                "heard": result.heard, "trusted": result.trusted, "confidence": result.confidence,
                "reasons": list(result.reasons), "speech_seconds": result.speech_seconds}

    def synthesize(self, header: dict, _payloads) -> tuple[dict, list[bytes]]:
        text = header.get("text")
        if not isinstance(text, str):
            raise HandlerError("bad_text", "text to speak must be a string")
        try:
            with self._tts_lock:
                wav = self.tts.synthesize_wav(text, header.get("voice"))
        except (TTSError, ValueError) as exc:
            raise HandlerError("bad_text", str(exc)) from None
        self._counts["synthesized"] += 1
        return {"bytes": len(wav)}, [wav]
