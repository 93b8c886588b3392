"""Services whose names sound alike: a spoken request naming one is asked about both.

Whisper hears sounds and writes the words its language model finds likeliest.
户口 and 护照 both begin with hù: a citizen who said 护照 under a little noise
was written down as 户口 or 户口本, fluently and at a good log-probability, so
no trust check can tell (the speech-eval table's false accepts were all this).
Text typed on the keyboard has no such doubt.

So for a spoken request whose one named service was said by a name that has a
sound-alike in another service (same number of syllables, the same first
syllable after the usual accent merges, at most one syllable different), the kiosk does not guess: it asks
which one ("请问您是想办理户口本，还是护照？") through the clarification the
classifier already uses (clarify.py), and the next handshake answers it.
"""

from __future__ import annotations

from .catalogue import Catalogue
from .classifier import MAX_CANDIDATES, Classification, _fuzzy, normalise, to_pinyin

NAME_WEIGHT = 0.8
"""Keywords at least this weighty are names of their service (lighter ones are hints)."""


def _sounds(word: str) -> tuple[str, ...]:
    return tuple(_fuzzy(p) for p in to_pinyin(word))


class SoundAlike:
    """Thread-safe after construction."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._names = [
            (service.classify, _sounds(normalise(word)))
            for service in catalogue.regular
            for word, weight in service.keywords
            if weight >= NAME_WEIGHT and len(normalise(word)) >= 2
        ]

    def peers(self, service: str, text: str) -> list[str]:
        """Other services with a name that sounds like a name of ``service`` said in ``text``."""
        heard = _sounds(normalise(text))
        said = [sounds for name, sounds in self._names if name == service and _contains(heard, sounds)]
        out: list[str] = []
        for name, sounds in self._names:
            if name != service and name not in out:
                if any(_alike(sounds, s) for s in said):
                    out.append(name)
        return out

    def check(self, result: Classification, text: str) -> Classification:
        """``result`` of a spoken ``text``, or the clarification naming the sound-alikes."""
        if result.fallback or len(result.services) != 1:
            return result
        service = result.services[0]
        peers = self.peers(service, text)
        if not peers:
            return result
        fb = self.catalogue.fallback
        return Classification(
            fb.classify,
            fb.flow,
            [fb.classify],
            result.scores,
            fallback=True,
            candidates=[service, *peers][:MAX_CANDIDATES],
        )


def _alike(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two different names of one length, the same first syllable, at most one other syllable apart."""
    return (
        a != b and len(a) == len(b) and a[0] == b[0] and sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    )


def _contains(heard: tuple[str, ...], sounds: tuple[str, ...]) -> bool:
    n = len(sounds)
    return any(heard[i : i + n] == sounds for i in range(len(heard) - n + 1))
