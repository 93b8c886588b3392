"""Text to speech: Kokoro-82M (ONNX int8) for Chinese, piper (joe) for English, espeak-ng
as the emergency fallback (engines.py). Everything comes out mono float32 at
``TextToSpeech.rate`` (24 kHz).

This module decides what is said by which engine and when: text checks and normalisation,
sentences and the first clause for streaming (firstpiece.py cuts a long one), and the sentence
cache of fixed prompts (ttscache.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import numpy as np

from . import firstpiece
from .audio import encode_wav, resample
from .engines import (
    DEFAULT_VOICE,
    KOKORO_RATE,
    KOKORO_VOICES,
    EspeakEngine,
    KokoroEngine,
    PiperEngine,
    TTSError,
)
from .modelfiles import SHA256, ModelError
from .textnorm import language_of, normalize_zh, split_sentences
from .ttscache import TTSCache

log = logging.getLogger(__name__)

DEFAULT_SPEED = 0.9  # a little slower: clearer for Whisper and for citizens
DEFAULT_MAX_CHARS = 2000  # a kiosk answer is a few sentences; 100 kB of text is an abuse
SENTENCE_GAP = 0.25  # seconds of silence between sentences
SENTENCE_CHARS = 50  # ~6 phoneme tokens a Han character: 50 stays under MAX_TOKENS
CLAUSE_GAP = 0.15  # seconds after a first clause spoken on its own (the comma's pause)
FIRST_AUDIO_S = 0.7  # uncached text: the first piece is cut to what Kokoro says in this (firstpiece.py)
_FIRST_PAUSE = re.compile(r"(?<=[，、,：:])")  # comma-level pauses (sentence ends split earlier)


class TextToSpeech:
    """Load once, speak many. Output: mono float32 at ``self.rate``; encode with audio.encode_wav.

    ``english`` loads piper for English text; any engine that fails to load is replaced by
    espeak-ng with a warning (the kiosk must still talk). Not thread-safe.
    """

    rate = KOKORO_RATE

    def __init__(
        self,
        models_dir: Path,
        voice: str = DEFAULT_VOICE,
        speed: float = DEFAULT_SPEED,
        max_chars: int = DEFAULT_MAX_CHARS,
        english: bool = True,
        cpu_threads: int = 2,
        yao: bool = False,
        cache: Optional[TTSCache] = None,
        first_audio_s: float = FIRST_AUDIO_S,
    ):
        if voice not in KOKORO_VOICES:
            raise ValueError(f"voice must be one of {KOKORO_VOICES}")
        t0 = time.perf_counter()
        self.voice, self.speed, self.max_chars, self.yao = voice, speed, max_chars, yao
        self.models_dir, self.cache = Path(models_dir), cache
        self.first_audio_s = first_audio_s
        self.kokoro = self._try(lambda: KokoroEngine(Path(models_dir), cpu_threads), "Kokoro")
        self.piper = self._try(lambda: PiperEngine(Path(models_dir)), "piper") if english else None
        self.espeak = self._try(EspeakEngine, "espeak-ng")
        if self.kokoro is None and self.espeak is None:
            raise ModelError("no Chinese TTS engine could be loaded (Kokoro nor espeak-ng)")
        self.load_seconds = time.perf_counter() - t0

    @property
    def engines(self) -> dict:
        """Which engine speaks each language now, for the worker's ready/doctor report."""
        esp = "espeak-ng" if self.espeak else None
        return {"zh": "kokoro" if self.kokoro else esp, "en": "piper" if self.piper else esp}

    @staticmethod
    def _try(factory, name):
        try:
            return factory()
        except Exception as e:  # a missing optional engine must not stop the kiosk
            log.warning("TTS engine %s unavailable: %s", name, e)
            return None

    def _check_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise TTSError("text must be a str")
        if len(text) > self.max_chars:
            raise TTSError(f"text too long: {len(text)} characters (limit {self.max_chars})")
        if not text.strip() or not any(c.isalnum() for c in text):
            raise TTSError("nothing to say: the text is empty")
        return text.strip()

    def _speak_zh(self, sentence: str, voice: str) -> np.ndarray:
        if self.kokoro is not None:
            try:
                return self.kokoro.speak(sentence, voice, self.speed)
            except Exception as e:
                log.warning("Kokoro failed (%s); falling back to espeak-ng", e)
        return self._espeak(sentence, "zh")

    def _speak_en(self, sentence: str) -> np.ndarray:
        if self.piper is not None:
            try:
                audio, rate = self.piper.speak(sentence)
                return resample(audio, rate, self.rate)
            except Exception as e:
                log.warning("piper failed (%s); falling back to espeak-ng", e)
        return self._espeak(sentence, "en")

    def _espeak(self, sentence: str, lang: str) -> np.ndarray:
        if self.espeak is None:
            raise TTSError("no TTS engine available for this text")
        audio, rate = self.espeak.speak(sentence, lang)
        return resample(audio, rate, self.rate)

    def sentences(self, text: str) -> list[tuple[str, str]]:
        """(language, normalised sentence) pairs in speaking order."""
        out = []
        for s in split_sentences(self._check_text(text), SENTENCE_CHARS):
            lang = language_of(s)
            out.append((lang, normalize_zh(s, self.yao) if lang == "zh" else s))
        return out

    # -- the sentence cache: fixed prompts are synthesised once, then read --------------------

    def identity(self, lang: str, voice: str) -> dict:
        """What a sentence's audio depends on besides its text: engine, voice, model files, versions.

        Worked out once per language and voice: the files are those loaded at start."""
        memo = self.__dict__.setdefault("_identities", {})
        if (lang, voice) not in memo:
            memo[lang, voice] = self._identity(lang, voice)
        return memo[lang, voice]

    def _identity(self, lang: str, voice: str) -> dict:
        engine = self.engines[lang]
        ident = {"engine": engine, "rate": self.rate}
        if engine == "kokoro":
            files = ["kokoro/kokoro-v1.0.int8.onnx", "kokoro/voices_ja.npz", "kokoro/vocab.json"]
            ident.update(voice=voice, speed=self.speed, yao=self.yao, g2p=_version("misaki"))
        elif engine == "piper":
            files = ["piper/en_US-joe-medium.onnx", "piper/en_US-joe-medium.onnx.json"]
            ident.update(piper=_version("piper-tts"))
        else:
            files, ident["espeak"] = [], _espeak_version()
        ident["models"] = {f: _file_version(self.models_dir, f) for f in files}
        return ident

    def _sentence(self, lang: str, sentence: str, voice: str, store: bool = False) -> np.ndarray:
        """One normalised sentence's audio: from the cache when there, else the engine.

        Only ``store`` (the fixed prompts, see prewarm) writes: a citizen's own words (a phone number
        read back) are never kept on disk."""
        cache = self.cache
        ident = self.identity(lang, voice) if cache is not None else None
        if cache is not None and ident is not None:
            cached = cache.get(ident, sentence)
            if cached is not None:
                return cached
        if store and lang == "zh" and self.kokoro is not None:
            # no fallback: espeak-ng's audio must never be kept under Kokoro's identity
            audio = self.kokoro.speak(sentence, voice, self.speed)
        elif store and lang == "en" and self.piper is not None:
            samples, rate = self.piper.speak(sentence)
            audio = resample(samples, rate, self.rate)
        else:
            audio = self._speak_zh(sentence, voice) if lang == "zh" else self._speak_en(sentence)
        if store and cache is not None and ident is not None and audio.size:
            cache.put(ident, sentence, audio)
        return audio

    def cached_audio(self, text: str, voice: Optional[str] = None) -> Optional[np.ndarray]:
        """The whole text from the cache alone, or None if any sentence is missing. Touches no
        engine, so it needs no lock: a cached prompt never waits behind a synthesis."""
        voice = voice or self.voice
        if self.cache is None or voice not in KOKORO_VOICES:
            return None
        gap = np.zeros(int(SENTENCE_GAP * self.rate), np.float32)
        chunks = []
        for lang, sentence in self.sentences(text):
            audio = self.cache.get(self.identity(lang, voice), sentence)
            if audio is None:
                return None
            chunks += [audio, gap] if audio.size else []
        return np.concatenate(chunks[:-1]) if chunks else None

    def is_cached(self, text: str, voice: Optional[str] = None) -> bool:
        """True when every sentence of ``text`` is in the cache (it will be spoken without a model call)."""
        voice = voice or self.voice
        if self.cache is None:
            return False
        return all((self.identity(lang, voice), s) in self.cache for lang, s in self.sentences(text))

    def prewarm(self, text: str, voice: Optional[str] = None, lock=contextlib.nullcontext()) -> int:
        """Synthesise and store the sentences of a fixed prompt not yet cached; how many were made.

        ``lock`` is held for one sentence at a time: a live request waits for one sentence at most."""
        voice = voice or self.voice
        if self.cache is None:
            return 0
        made = 0
        for lang, sentence in self.sentences(text):
            if (self.identity(lang, voice), sentence) not in self.cache:
                with lock:
                    self._sentence(lang, sentence, voice, store=True)
                made += 1
        return made

    def head(
        self, text: str, voice: Optional[str] = None, clause: bool = True, ahead: Optional[float] = None
    ) -> tuple[np.ndarray, str]:
        """The first piece to send and the text still to speak, for streaming.

        Cached leading sentences go out together at once; otherwise only the first clause (cut at
        the first comma-level pause) when ``clause``, else the first sentence; with ``clause`` a first
        piece Kokoro would take longer than ``first_audio_s`` over is cut again at a word
        (firstpiece.py). A later piece (not ``clause``) is cut the same way to ``ahead``, the
        seconds of audio the listener still has queued, so it is ready before they run out (when
        they already have, to ``first_audio_s`` again). The piece ends with its pause when text
        remains, so pieces played back to back sound like the whole."""
        voice = voice or self.voice
        raw = split_sentences(self._check_text(text), SENTENCE_CHARS)
        if voice not in KOKORO_VOICES:
            raise TTSError(f"voice must be one of {KOKORO_VOICES}")
        ready = 0
        while self.cache is not None and ready < len(raw) and self.is_cached(raw[ready], voice):
            ready += 1
        if ready:
            spoken, rest, gap = raw[:ready], raw[ready:], SENTENCE_GAP
        else:
            first, rest, gap = raw[0], raw[1:], SENTENCE_GAP
            parts = [p for p in _FIRST_PAUSE.split(first) if p.strip()] if clause else [first]
            if len(parts) > 1 and any(c.isalnum() for c in "".join(parts[1:])):
                spoken, rest, gap = parts[:1], ["".join(parts[1:])] + rest, CLAUSE_GAP
            else:
                spoken = [first]
            budget = self.first_audio_s if clause or ahead is None else max(ahead, self.first_audio_s)
            if (clause or ahead is not None) and (cut := self._lead(spoken[0], budget)):
                spoken, rest, gap = [cut[0]], [cut[1]] + rest, 0.0
        pieces = [pair for piece in spoken for pair in self.sentences(piece)]
        chunks = list(self._generate(pieces, voice))
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        audio = audio[: max(0, audio.size - int(SENTENCE_GAP * self.rate))]
        remaining = _join(rest)
        if remaining:
            audio = np.concatenate([audio, np.zeros(int(gap * self.rate), np.float32)])
        return audio, remaining

    def _lead(self, piece: str, budget: float) -> Optional[tuple[str, str]]:
        """(lead, tail) if Kokoro would take longer than ``budget`` over ``piece``; the two are
        normalised text, the tail spoken next (firstpiece.py). None: speak the piece whole, also
        whenever ``first_audio_s`` is 0 (cutting off)."""
        k = self.kokoro
        if k is None or self.first_audio_s <= 0 or language_of(piece) != "zh":
            return None
        head, tail = firstpiece.lead(normalize_zh(piece, self.yao), k.words, k.predict, budget)
        return (head, tail) if tail else None

    def stream(self, text: str, voice: Optional[str] = None) -> Iterator[np.ndarray]:
        """Yield one float32 chunk per sentence (with a short pause after it), as soon as ready.

        Raises TTSError before yielding anything if the text is empty or too long.
        """
        voice = voice or self.voice
        if voice not in KOKORO_VOICES:
            raise TTSError(f"voice must be one of {KOKORO_VOICES}")
        pieces = self.sentences(text)  # validate eagerly, not at the first next()
        return self._generate(pieces, voice)

    def _generate(self, pieces, voice) -> Iterator[np.ndarray]:
        gap = np.zeros(int(SENTENCE_GAP * self.rate), np.float32)
        for lang, sentence in pieces:
            audio = self._sentence(lang, sentence, voice)
            if audio.size:
                yield np.concatenate([audio, gap])

    def synthesize(self, text: str, voice: Optional[str] = None) -> tuple[np.ndarray, int]:
        """Whole text -> (float32 samples, rate). Raises TTSError."""
        chunks = list(self.stream(text, voice))
        if not chunks:
            raise TTSError("the text produced no audio")
        audio = np.concatenate(chunks)[: -int(SENTENCE_GAP * self.rate)]  # no trailing pause
        return audio, self.rate

    def synthesize_wav(self, text: str, voice: Optional[str] = None) -> bytes:
        """Whole text -> RIFF/WAV bytes, 16-bit PCM mono (what /tts sends)."""
        audio, rate = self.synthesize(text, voice)
        return encode_wav(audio, rate)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def _file_version(models_dir: Path, rel: str) -> list:
    """The pinned digest plus size and mtime: a file replaced by hand still changes the key."""
    try:
        st = (Path(models_dir) / rel).stat()
        return [SHA256.get(rel, ""), st.st_size, st.st_mtime_ns]
    except OSError:
        return [SHA256.get(rel, ""), None, None]


_ESPEAK: list[str] = []


def _espeak_version() -> str:
    if not _ESPEAK:
        exe = shutil.which("espeak-ng")
        out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout if exe else ""
        _ESPEAK.append(out.strip())
    return _ESPEAK[0]


def _join(sentences: list[str]) -> str:
    """Sentences back into one text that splits the same way (English full stops need a space)."""
    out = ""
    for s in sentences:
        out += (" " if out.endswith(".") else "") + s
    return out
