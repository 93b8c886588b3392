"""How much of an uncached text to speak first, so the citizen hears the kiosk within a budget.

Kokoro's time for one call grows with its tokens and has a large fixed part (the silence it
renders around every piece, the vocoder's set-up): on the 2-core development machine a 2-character
piece takes ~0.57 s and a 15-character clause ~1.6-1.8 s (docs/bench.md). Streaming already sends
the first clause first (up to the first comma-level pause), but a long clause such as
"您说的是一三九一二三四五六七八，" still takes ~1.8 s. So the first clause is cut again, at a word
boundary (jieba's words, as misaki's G2P uses), to the longest lead the engine is predicted to
speak within ``budget`` seconds; the rest of the clause follows as the next piece. When not even
two characters fit (a loaded or slow machine), the clause is spoken whole.

The prediction is a line, fitted to the engine's own recent calls once they differ enough in length
(before that: the line measured on the development machine, ``PRIOR_*``, scaled by how much slower
the calls so far were), so a slower kiosk (a Pi) cuts shorter by itself. The same cut sizes later
pieces of a stream to the audio the listener still has queued (``TextToSpeech.head``'s ``ahead``).
The cost: a cut inside a phrase, heard as a short hitch (each piece is spoken as a whole). It
applies only to text not in the cache (a citizen's answer read back); fixed prompts are cached.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable

PRIOR_FIXED_S = 0.45
"""Seconds of one Kokoro call regardless of length (2-core AMD EPYC, int8 model, 2 threads)."""
PRIOR_PER_TOKEN_S = 0.026
"""Seconds per phoneme token on the same machine (a Han character is ~4 tokens); 0.021-0.031 in
different runs, so the line is refitted from the engine's own calls."""
RECENT_CALLS = 30
MIN_FIT_SPREAD = 10
"""Tokens between the shortest and longest recent call before a line is fitted to them; until then
the prior's line is scaled by the median ratio observed."""
MIN_LEAD_CHARS = 2
"""A lone syllable spoken as a piece ("我。") sounds cut off: a lead has at least two."""


class CallCost:
    """Predicts one engine call's seconds from its token count; learns the machine's speed.

    Thread-safe: calls are observed under the worker's TTS lock, predictions read anywhere."""

    def __init__(self, fixed_s: float = PRIOR_FIXED_S, per_token_s: float = PRIOR_PER_TOKEN_S):
        self.fixed_s, self.per_token_s = fixed_s, per_token_s
        self._calls: deque[tuple[int, float]] = deque(maxlen=RECENT_CALLS)
        self._line: tuple[float, float] | None = None  # (fixed, per token) fitted to the calls
        self._lock = threading.Lock()

    def prior(self, tokens: int) -> float:
        return self.fixed_s + self.per_token_s * tokens

    def observe(self, tokens: int, seconds: float) -> None:
        """One finished call of ``tokens`` that took ``seconds``."""
        with self._lock:
            self._calls.append((tokens, seconds))
            self._line = _fit(list(self._calls))

    @property
    def scale(self) -> float:
        """How much slower than the prior this machine is now (median over the recent calls)."""
        with self._lock:
            calls = list(self._calls)
        return statistics.median(t / self.prior(n) for n, t in calls) if calls else 1.0

    def predict(self, tokens: int) -> float:
        line = self._line
        if line is not None:
            return line[0] + line[1] * tokens
        return self.scale * self.prior(tokens)


def _fit(calls: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares line through (tokens, seconds), if the calls spread enough to tell a slope
    and the line is a plausible cost (both parts positive)."""
    ns = [n for n, _ in calls]
    if len(calls) < 3 or max(ns) - min(ns) < MIN_FIT_SPREAD:
        return None
    mean_n, mean_t = statistics.fmean(ns), statistics.fmean(t for _, t in calls)
    var = sum((n - mean_n) ** 2 for n in ns)
    slope = sum((n - mean_n) * (t - mean_t) for n, t in calls) / var
    fixed = mean_t - slope * mean_n
    return (fixed, slope) if slope > 0 and fixed > 0 else None


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
