"""The held-in hard-audio set, made here at evaluation time (no files, no downloads).

Three groups, each item knowing what was really said (so a judge can tell a right answer from a
guess):
- ``no speech``: white and pink noise at several levels, music-like tones, a mains hum, silence
  with clicks — anything the kiosk accepts from these is a false accept;
- ``good speech``: the kiosk's own Chinese TTS (Kokoro) clean, under noise at 20 and 10 dB SNR,
  clipped, and quiet (-30 dB) — the kiosk should accept these; asking again is the cost measured;
- ``hard speech``: the same sentences at 5, 0 and -5 dB SNR, the robotic espeak-ng Mandarin voice
  (issue 16's "voice Whisper cannot follow") and very quiet (-50 dB): asking again is fine, a wrong
  service or a wrong field value is not.
Randomness is seeded, so the set is the same on every run of one machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .audio import TARGET_RATE, resample

RATE = TARGET_RATE
PAD_S = 0.4  # silence around each utterance, as a push-to-talk recording has

# (what is said, the service it names or "", the qna field it answers or "", that field's value)
SENTENCES = [
    ("我要办身份证。", "身份证", "", ""),
    ("我想补办社保卡。", "社保卡", "", ""),
    ("我想查询公积金。", "公积金", "", ""),
    ("我要办护照。", "护照", "", ""),
    ("我的驾驶证到期了。", "驾驶证", "", ""),
    ("户口本丢了怎么办？", "户口本", "", ""),
    ("我的电话是13912345678。", "", "phone", "13912345678"),
    ("我是党员。", "", "political_status", "党员"),
]
QUICK = (0, 2, 6)  # the sentences of the quick set (tests)

GOOD = ("clean", "snr 20 dB", "snr 10 dB", "clipped", "quiet -30 dB")
HARD = ("snr 5 dB", "snr 0 dB", "snr -5 dB", "espeak-ng", "quiet -50 dB")


@dataclass(frozen=True)
class Item:
    """One recording of the set: 16 kHz mono float32 ``audio`` and the truth about it."""

    group: str  # "no speech" | "good speech" | "hard speech"
    condition: str  # "white noise -20 dBFS", "snr 10 dB", "espeak-ng", ...
    said: str  # the sentence, "" for no speech
    service: str  # the service the sentence names, ""
    field: str  # the qna field it answers, ""
    value: str  # that field's value, ""
    audio: np.ndarray


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by shaping white noise's spectrum (unit RMS)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x * x))


def _tone(freq: float, seconds: float, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades: no clicks at the note edges
    return x * env


def no_speech(rng: np.random.Generator, quick: bool = False) -> list[tuple[str, np.ndarray]]:
    """(condition, audio) pairs with nothing said in them."""
    n = int(5 * RATE)
    levels = (-50, -30, -20, -10)
    items = [(f"white noise {db} dBFS", rng.standard_normal(n) * 10 ** (db / 20)) for db in levels]
    items.append(("pink noise -20 dBFS", _pink(n, rng) * 0.1))
    notes = [262, 330, 392, 523, 440, 349, 294, 392]  # a little melody with harmonics, music-like
    melody = np.concatenate([_tone(f, 0.45) for f in notes])
    items.append(("music-like melody", 0.2 * melody / np.abs(melody).max()))
    chord = sum(_tone(f, 4.0, 6) for f in (220, 277, 330))
    items.append(("chord with vibrato-free harmonics", 0.2 * chord / np.abs(chord).max()))
    items.append(("mains hum 50 Hz", 0.1 * _tone(50, 4.0, 8)))
    clicks = np.zeros(n)
    for at in np.sort(rng.integers(0, n - 40, 14)):  # a keyboard or a tapped microphone
        clicks[at : at + 40] += rng.uniform(0.3, 0.9) * np.hanning(40) * np.sign(rng.standard_normal())
    items.append(("silence with clicks", clicks))
    items.append(("clicks on faint noise", clicks + rng.standard_normal(n) * 0.003))
    if quick:
        items = [items[i] for i in (2, 3, 5, 8)]
    return [(c, np.clip(x, -1, 1).astype(np.float32)) for c, x in items]


def _padded(x: np.ndarray) -> np.ndarray:
    pad = np.zeros(int(PAD_S * RATE), np.float32)
    return np.concatenate([pad, x.astype(np.float32), pad])


def _at_snr(speech: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise over the whole padded recording, ``snr_db`` below the speech's power."""
    voiced = speech[np.abs(speech) > 0.01]
    power = float(np.mean(voiced**2)) if voiced.size else 1e-4
    noise = rng.standard_normal(speech.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return speech + noise


def degrade(clean: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """One condition of GOOD/HARD applied to a padded utterance."""
    if condition.startswith("snr"):
        x = _at_snr(clean, float(condition.split()[1]), rng)
    elif condition == "clipped":
        x = clean * 8.0  # hard clipping, as a microphone driven far too hot
    elif condition.startswith("quiet"):
        x = clean * 10 ** (float(condition.split()[1]) / 20)
    else:
        x = clean
    return np.clip(x, -1, 1).astype(np.float32)


def build(tts, quick: bool = False, espeak=None, seed: int = 16) -> Iterator[Item]:
    """Every item of the set (``quick``: a few of each kind, for tests). ``tts`` is the kiosk's
    TextToSpeech; ``espeak`` an EspeakEngine (None: the espeak-ng condition is left out)."""
    rng = np.random.default_rng(seed)
    for condition, audio in no_speech(rng, quick):
        yield Item("no speech", condition, "", "", "", "", audio)
    sentences = [SENTENCES[i] for i in QUICK] if quick else SENTENCES
    good = ("clean",) if quick else GOOD
    hard = ("snr -5 dB", "espeak-ng") if quick else HARD
    for said, service, field, value in sentences:
        audio, rate = tts.synthesize(said)
        clean = _padded(resample(audio, rate, RATE))
        robot: Optional[np.ndarray] = None
        if espeak is not None:
            e_audio, e_rate = espeak.speak(said, "zh")
            robot = _padded(resample(e_audio, e_rate, RATE))
        for group, conditions in (("good speech", good), ("hard speech", hard)):
            for condition in conditions:
                if condition == "espeak-ng":
                    if robot is None:
                        continue
                    x = np.clip(robot * 0.7 / max(1e-6, float(np.abs(robot).max())), -1, 1)
                else:
                    x = degrade(clean, condition, rng)
                yield Item(group, condition, said, service, field, value, x.astype(np.float32))
