"""Nearest example: which catalogue example request a request resembles most.

A request that no keyword or situation phrase recognises may still resemble a request the catalogue
lists as an example ("科目一什么时候能考" ~ "科目二什么时候约考"). Resemblance is the cosine of
TF-IDF weighted character unigrams and bigrams (no word segmentation, so recogniser homophones and
unseen words degrade it gently), the k nearest examples voting with their similarity.

It is a hint, never a verdict: the classifier only asks about the service it suggests
(classifier.py). Measured on the blind indirect set, naming the service from the nearest example
added wrong services (README, "The citizen's flow").
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .catalogue import Catalogue

#: Examples voting for a request.
K = 3
#: Character pairs a request must share with an example to be like it at all: one shared word ("办证")
#: is chance, not resemblance.
MIN_SHARED = 2


@dataclass(frozen=True)
class Nearest:
    service: str  # the service the nearest examples vote for (the fallback for "out of scope")
    similarity: float  # cosine of the single nearest example, 0..1


def _grams(text: str) -> Counter:
    return Counter([*text, *(text[i : i + 2] for i in range(len(text) - 1))])


class NearestExamples:
    """The catalogue's examples as vectors. Thread-safe after construction."""

    def __init__(self, catalogue: Catalogue, normalise) -> None:
        self._normalise = normalise
        labelled = [(s.classify, normalise(x)) for s in catalogue.services for x in s.examples]
        labelled = [(name, text) for name, text in labelled if text]
        df = Counter(g for _, text in labelled for g in set(_grams(text)))
        self._idf = {g: math.log((len(labelled) + 1) / (n + 1)) for g, n in df.items()}
        self._unseen = math.log(len(labelled) + 1)  # a character no example has: rare, telling
        self._examples = [(name, self._vector(text)) for name, text in labelled]

    def _vector(self, text: str) -> dict[str, float]:
        weights = {g: n * self._idf.get(g, self._unseen) for g, n in _grams(text).items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items()}

    def nearest(self, text: str) -> Nearest | None:
        """The service the K most similar examples vote for; None without examples or words."""
        clean = self._normalise(text)
        if not clean or not self._examples:
            return None
        vector = self._vector(clean)
        pairs = {g for g in vector if len(g) == 2}
        sims = sorted(
            (
                (sum(vector.get(g, 0.0) * w for g, w in ex.items()), name)
                for name, ex in self._examples
                if len(pairs & ex.keys()) >= MIN_SHARED
            ),
            reverse=True,
        )[:K]
        if not sims:
            return None
        votes: dict[str, float] = {}
        for sim, name in sims:
            votes[name] = votes.get(name, 0.0) + sim
        service = max(
            votes, key=lambda name: votes[name]
        )  # ties: the nearest example's service (first counted)
        return Nearest(service, sims[0][0])
