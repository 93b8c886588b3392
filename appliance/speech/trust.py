"""Should the kiosk believe a transcript? A verdict from the text and Whisper's own statistics.

Whisper never says "I did not understand": on noise, music or a voice it cannot follow it writes
*something*, and what it writes is the worst possible kind of wrong for the kiosk:
- loops over a few characters (证证、证、证…, 证则。证则。证则。) — the exact loop differs between
  CPUs, so only the *shape* can be tested, never the characters;
- its own ``initial_prompt`` read back (户口本、居住证、营业执照、驾驶证、 or 以下是普通话的政务服务。),
  which names services the citizen never asked for;
- fluent text at a very low average log-probability or a high no-speech probability.
Each check below looks for one of those shapes; any that fires makes the transcript untrusted, and
callers then ask again instead of classifying it or filling a field with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Optional

# Thresholds, set on the hard-audio set (appliance.speech.evaluate); see README "Speech".
LOGPROB_MIN = -0.9  # mean token log-prob below this: Whisper was guessing (good speech: -0.1..-0.6)
NO_SPEECH_MAX = 0.8  # Whisper's own no-speech probability above this: not speech (noise: 0.85+)
NO_SPEECH_SOFT = 0.55  # ... above this together with a log-prob under LOGPROB_SOFT is not speech either
LOGPROB_SOFT = -0.7
TEMPERATURE_MAX = 0.5  # Whisper had to re-sample at a higher temperature: its greedy pass failed
MAX_UNITS_PER_S = 8.0  # Mandarin runs 4-6 syllables a second; more is text the audio cannot hold
MIN_UNITS_PER_S = 0.25  # seconds of speech that produced a single syllable: a fragment, not an answer
LOOP_MIN_REPEATS = 3  # a unit said 3+ times in a row ...
LOOP_MIN_UNITS = 6  # ... covering 6+ syllables (so 对对对 and 好的好的 stay fine)
ECHO_COVER = 0.75  # 3+ of the prompt's list items (or 2 written as a list) covering this share
ECHO_NGRAM = 5  # a 5-character piece of the prompt's preamble: read back, nobody says it

# Digits (written or spoken) repeat in real phone and ID numbers: never a loop by themselves.
_DIGIT_LIKE = set("0123456789零〇一二三四五六七八九幺两")
_UNIT = re.compile(r"[A-Za-z]+|[0-9]|[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class SegmentStats:
    """What Whisper says about one decoded segment (faster-whisper's Segment fields)."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 1.0
    temperature: float = 0.0
    words: tuple = ()  # (word, probability) pairs, when the backend gives them (diagnostics only)


@dataclass(frozen=True)
class Verdict:
    """``trusted`` only when no check fired; ``confidence`` in [0, 1] (0 when a check fired)."""

    trusted: bool
    confidence: float
    reasons: tuple[str, ...] = field(default_factory=tuple)


def units(text: str) -> list[str]:
    """Spoken units: each Han character, each digit, each Latin word (punctuation dropped)."""
    return _UNIT.findall(text)


def tandem_loop(tokens: Sequence[str]) -> bool:
    """True when a short unit (1-6 tokens, not all digits) repeats back to back enough to be a
    decoder loop: 证证证证证证, 证则证则证则 (punctuation between repeats was already dropped)."""
    n = len(tokens)
    for size in range(1, 7):
        for start in range(0, n - size * LOOP_MIN_REPEATS + 1):
            unit = tokens[start : start + size]
            if all(t in _DIGIT_LIKE for t in unit):
                continue
            reps = 1
            while tokens[start + reps * size : start + (reps + 1) * size] == unit:
                reps += 1
            if reps >= LOOP_MIN_REPEATS and reps * size >= LOOP_MIN_UNITS:
                return True
    return False


def low_variety(tokens: Sequence[str]) -> bool:
    """Long text made of very few distinct units (证判证判证判证…), even if not strictly periodic."""
    letters = [t for t in tokens if t not in _DIGIT_LIKE]
    return len(letters) >= 8 and len(set(letters)) / len(letters) < 0.3


class PromptEcho:
    """Recognises Whisper reading its own ``initial_prompt`` back.

    ``groups`` are the prompt's lists in prompt order (the service names; the verbs), each judged
    on its own so that a real "补办身份证和户口本" (verb + two names) is not a list; ``preamble`` is
    the prompt's fixed sentence that no citizen says ("以下是普通话的政务服务咨询，使用简体中文。").
    Two items back to back in the prompt's own order (户口本居住证) are a copied stretch of it.
    """

    def __init__(self, groups: Iterable[Iterable[str]], preamble: str = ""):
        ordered = [[f for f in ("".join(units(i)) for i in g) if f] for g in groups]
        self.groups = [sorted(set(g), key=len, reverse=True) for g in ordered]
        self.pairs = {a + b for g in ordered for a, b in zip(g, g[1:], strict=False)}
        flat = "".join(units(preamble))
        self.grams = {flat[i : i + ECHO_NGRAM] for i in range(len(flat) - ECHO_NGRAM + 1)}

    def __call__(self, text: str) -> bool:
        flat = "".join(units(text))
        if not flat:
            return False
        if any(flat[i : i + ECHO_NGRAM] in self.grams for i in range(len(flat) - ECHO_NGRAM + 1)):
            return True
        if any(pair in flat for pair in self.pairs):
            return True
        return any(self._is_list(flat, items, "、" in text) for items in self.groups)

    @staticmethod
    def _is_list(flat: str, items: list[str], listed: bool) -> bool:
        """Mostly the prompt's items one after another: 3+ of them covering most of the text,
        or 2+ written as a list (、) with nothing else."""
        covered, rest, found = 0, flat, 0
        for item in items:  # longest first, so 不动产登记 is not also counted as 登记
            if item in rest:
                found += 1
                covered += len(item) * rest.count(item)
                rest = rest.replace(item, "\0")
        share = covered / len(flat)
        return found >= 3 - listed and share >= ECHO_COVER


def assess(
    text: str,
    segments: Optional[Sequence[SegmentStats]],
    speech_seconds: float,
    echo: Optional[PromptEcho] = None,
) -> Verdict:
    """Judge one transcript. ``segments`` None means the backend gives no statistics (whisper.cpp):
    only the text checks apply. ``speech_seconds`` is the voiced audio the text came from."""
    tokens = units(text)
    if not tokens:
        return Verdict(False, 0.0, ("empty",))
    reasons = []
    if tandem_loop(tokens) or low_variety(tokens):
        reasons.append("repetition")
    if echo is not None and echo(text):
        reasons.append("prompt_echo")
    weight = {"en": 1.5}  # an English word is ~1.5 syllables
    spoken = sum(weight["en"] if t.isascii() and t.isalpha() else 1.0 for t in tokens)
    if spoken > 2 + MAX_UNITS_PER_S * speech_seconds:
        reasons.append("too_long")
    if speech_seconds >= 3.0 and spoken < MIN_UNITS_PER_S * speech_seconds:
        reasons.append("too_short")
    confidence = 1.0
    if segments:
        n = [max(1, len(units(s.text))) for s in segments]
        logprob = sum(s.avg_logprob * k for s, k in zip(segments, n, strict=False)) / sum(n)
        no_speech = max(s.no_speech_prob for s in segments)
        confidence = math.exp(min(0.0, logprob))  # geometric-mean token probability
        if logprob < LOGPROB_MIN:
            reasons.append("low_logprob")
        if no_speech > NO_SPEECH_MAX or (no_speech > NO_SPEECH_SOFT and logprob < LOGPROB_SOFT):
            reasons.append("no_speech")
        if max(s.temperature for s in segments) > TEMPERATURE_MAX:
            reasons.append("unstable_decode")
    if reasons:
        return Verdict(False, 0.0, tuple(reasons))
    return Verdict(True, round(confidence, 3), ())
