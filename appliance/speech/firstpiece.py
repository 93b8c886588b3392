"""How much of an uncached text to speak first, so the citizen hears the kiosk within a budget.

Kokoro's time for one call grows with its tokens and has a large fixed part (the silence it
renders around every piece, the vocoder's set-up): on the 2-core development machine a 2-character
piece takes ~0.57 s and a 15-character clause ~1.6-1.8 s (docs/bench.md). Streaming already sends
the first clause first (up to the first comma-level pause), but a long clause such as
"您说的是一三九一二三四五六七八，" still takes ~1.8 s. So the first clause is cut again, at a word
boundary (jieba's words, as misaki's G2P uses), to the longest lead the engine is predicted to
speak within ``budget`` seconds; the rest of the clause follows as the next piece. When not even
two characters fit (a loaded or slow machine), the clause is spoken whole.

The prediction is a line fitted on this machine (``PRIOR_FIXED_S``, ``PRIOR_PER_TOKEN_S``) times a
scale learnt from the engine's own recent calls, so a slower kiosk (a Pi) cuts shorter by itself.
The cost: a cut inside a phrase, heard as a short hitch (each piece is spoken as a whole). It
applies only to text not in the cache (a citizen's answer read back); fixed prompts are cached.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

PRIOR_FIXED_S = 0.45
"""Seconds of one Kokoro call regardless of length (2-core AMD EPYC, int8 model, 2 threads)."""
PRIOR_PER_TOKEN_S = 0.021
"""Seconds per phoneme token on the same machine (a Han character is ~4 tokens)."""
RECENT_CALLS = 20
MIN_LEAD_CHARS = 2
"""A lone syllable spoken as a piece ("我。") sounds cut off: a lead has at least two."""


class CallCost:
    """Predicts one engine call's seconds from its token count; learns the machine's speed.

    Thread-safe: calls are observed under the worker's TTS lock, predictions read anywhere."""

    def __init__(self, fixed_s: float = PRIOR_FIXED_S, per_token_s: float = PRIOR_PER_TOKEN_S):
        self.fixed_s, self.per_token_s = fixed_s, per_token_s
        self._ratios: deque[float] = deque(maxlen=RECENT_CALLS)
        self._lock = threading.Lock()

    def prior(self, tokens: int) -> float:
        return self.fixed_s + self.per_token_s * tokens

    def observe(self, tokens: int, seconds: float) -> None:
        """One finished call: how much slower (or faster) than the prior this machine is now."""
        with self._lock:
            self._ratios.append(seconds / self.prior(tokens))

    @property
    def scale(self) -> float:
        with self._lock:
            return statistics.median(self._ratios) if self._ratios else 1.0

    def predict(self, tokens: int) -> float:
        return self.scale * self.prior(tokens)


def lead(
    clause: str,
    words: Callable[[str], list[str]],
    seconds: Callable[[str], float],
    budget: float,
) -> tuple[str, str]:
    """Split ``clause`` into (lead, tail) at a word boundary: the longest lead of at least
    ``MIN_LEAD_CHARS`` spoken characters whose predicted time is within ``budget``.
    (clause, "") means no cut: the whole clause fits, no lead fits (cutting would cost the
    prosody and gain little), or what would follow is not speech."""
    if seconds(clause) <= budget:
        return clause, ""
    parts = words(clause)
    best = 0
    for k in range(1, len(parts)):
        head = "".join(parts[:k])
        if sum(c.isalnum() for c in head) < MIN_LEAD_CHARS:
            continue
        if seconds(head) > budget:
            break
        best = k
    tail = "".join(parts[best:])
    if not best or not any(c.isalnum() for c in tail):
        return clause, ""
    return "".join(parts[:best]), tail
