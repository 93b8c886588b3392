"""Which government service(s) a citizen's request asks for.

Requests arrive as typed text or as a speech-recognition transcript, and the
latter is full of homophones ("我要半身份正", "公鸡金"). So every catalogue
keyword is matched three ways, best one wins:

1. exactly, as characters;
2. by pinyin, syllable by syllable, tolerant of the usual accent merges
   (zh/z, ch/c, sh/s, n/l, f/h, -ng/-n) and, for keywords of three syllables
   or more, of one syllable that only half matches ("户口部" for 户口本);
3. by character bigram overlap, a weak signal for keywords of three or more
   characters when the recogniser garbled a syllable completely.

A service's score is the best of its keyword matches times the keyword's
weight. Several services are returned only when each is mentioned as a thing
to do, not as a document to bring ("补身份证要带户口本吗") or as mere context
("结婚以后户口怎么迁"). Nothing good enough -> the catalogue's fallback.

Citizens often describe their situation instead of naming the service
("单位每个月交的住房的钱想取出来"). The catalogue's ``situations`` are such
phrases, matched like keywords, and "a+b" ones match when every part is said
anywhere in the request. A situation phrase that covers a keyword ("外地户口")
outranks it, so a keyword said as context does not pick its service.

A wrong service is worse than none, so the classifier does not guess: when
two services are close, or the best one rests on weak situation evidence
alone, or is only mentioned as background ("外地户口"), it names no service
(the fallback) and returns ``candidates``, from which the dialogue asks a
short question (clarify.py). A request nothing here recognises may still be
asked about: the service of the nearest catalogue example (examples.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import lazy_pinyin

from .catalogue import Catalogue, Service
from .examples import NearestExamples

#: Below this the request matched nothing: answer with the fallback.
MIN_SCORE = 0.45
#: A second, third ... service must be at least this sure.
EXTRA_SCORE = 0.75
#: Pinyin windows must reach this mean syllable similarity.
PINYIN_MIN = 0.8
#: A service resting on situation phrases alone is named only this sure; weaker -> ask.
SURE_SCORE = 0.8
#: A runner-up closer than this to the best service -> ask which of them.
MARGIN = 0.2
#: At most this many candidates in a clarifying question.
MAX_CANDIDATES = 3
#: A request nothing else recognises, this similar to a catalogue example, is asked about (examples.py).
EXAMPLE_MIN = 0.25
#: A situation said in parts ("住房" ... "钱") is less sure than one said as a phrase: its weight times this.
#: So a service named outright inside its span wins ("租房子的人能办居住证吗" is not 房子+证).
TOGETHER = 0.85

_KEEP = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
# Words before a mention that make it a document to bring, not a request.
_MATERIAL_BEFORE = ("带", "拿", "凭", "需要", "携带")
# Words after a mention that make it background ("结婚以后 ...").
_CONTEXT_AFTER = ("以后", "之后")
# ... unless the speaker goes on to add a request ("... 以后还要办").
_ADDITION = ("还", "也", "再", "顺便", "同时")
# Words around 户口/户籍 that make it where someone is registered, not a request: "外地户口" before,
# "户口在外省" after ("在哪" asks where to go: a request). Other papers from elsewhere are still
# requests ("外地驾照能在这里换吗").
_BELONGING = ("户口", "户籍")
_WHERE_FROM = ("外地", "外省", "本地", "老家", "农村")
_PLACED = ("在外", "在老家", "在本地", "在农村", "在这", "在那")
# Words between two mentions that make them two requests, not two readings of one.
_JOINERS = ("和", "跟", "与", "及", "还", "也", "再", "顺便", "同时", "另外", "都")


@dataclass
class Classification:
    """Result of classifying one request."""

    classify: str  # service names joined by "/"
    flow: str  # procedure text (headed sections if several)
    services: list[str]  # the chosen service names, in order of mention
    scores: dict[str, float] = field(default_factory=dict)  # best score per service
    fallback: bool = False  # True when no service is named
    candidates: list[str] = field(default_factory=list)  # not sure: ask which of these (in mention order)


@dataclass(frozen=True)
class _Match:
    service: str
    start: int
    end: int
    score: float
    situation: bool = False  # from a situation phrase, not a name of the service


@lru_cache(maxsize=4096)
def _fuzzy(syllable: str) -> str:
    """Fold the merges that Mandarin speakers and recognisers commonly make."""
    s = syllable
    for hard, soft in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if s.startswith(hard):
            s = soft + s[2:]
    if s.startswith("n"):
        s = "l" + s[1:]
    if s.startswith("f"):
        s = "h" + s[1:]
    if s.endswith("ng"):
        s = s[:-1]
    return s


def _split(syllable: str) -> tuple[str, str]:
    """(initial, final) of a toneless syllable, after fuzzy folding."""
    s = _fuzzy(syllable)
    i = 0
    while i < len(s) and s[i] not in "aeiouv":
        i += 1
    return s[:i], s[i:]


def _syllable_similarity(a: str, b: str) -> float:
    """1 equal, 0.9 equal after folding, 0.5 same initial or final, else 0."""
    if a == b:
        return 1.0
    if _fuzzy(a) == _fuzzy(b):
        return 0.9
    ia, fa = _split(a)
    ib, fb = _split(b)
    if (ia and ia == ib) or (fa and fa == fb):
        return 0.5
    return 0.0


def normalise(text: str) -> str:
    """Keep only Han characters, letters and digits (speech has no punctuation anyway)."""
    return "".join(_KEEP.findall(text or "")).lower()


def to_pinyin(text: str) -> list[str]:
    """One toneless syllable (or the character itself) per character of ``text``."""
    return lazy_pinyin(text, errors=lambda s: list(s))  # type: ignore[arg-type,return-value]  # pypinyin takes a list too


class Classifier:
    """Classify requests against a catalogue. Thread-safe after construction."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        # (service, keyword, weight, keyword pinyin, keyword bigrams, is a situation phrase)
        self._keywords: list[tuple] = []
        # (service, [(part, part pinyin)], weight): situations said in several parts ("住房+钱")
        self._together: list[tuple] = []
        for service in catalogue.regular:
            for word, weight in service.keywords:
                self._add_phrase(service.classify, word, weight, False)
            for phrase, weight in service.situations:
                if "+" in phrase:
                    parts = [normalise(p) for p in phrase.split("+")]
                    self._together.append((service.classify, [(p, to_pinyin(p)) for p in parts if p], weight))
                else:
                    self._add_phrase(service.classify, phrase, weight, True)
        self._examples = NearestExamples(catalogue, normalise)

    def _add_phrase(self, service: str, word: str, weight: float, situation: bool) -> None:
        word = normalise(word)
        if word:
            bigrams = {word[i : i + 2] for i in range(len(word) - 1)}
            self._keywords.append((service, word, weight, to_pinyin(word), bigrams, situation))

    def classify(self, text: str) -> Classification:
        """Classify one request; never raises on odd input (empty, emoji, huge)."""
        clean = normalise(text)[:500]  # a request longer than this is not a request
        matches = self._matches(clean)
        scores: dict[str, float] = {}
        for m in matches:
            scores[m.service] = max(scores.get(m.service, 0.0), m.score)
        chosen, candidates = self._choose(clean, matches)
        if not chosen and not candidates:
            candidates = self._hint(clean)
        if not chosen:
            fb = self.catalogue.fallback
            return Classification(
                fb.classify, fb.flow, [fb.classify], scores, fallback=True, candidates=candidates
            )
        names = "/".join(chosen)
        return Classification(names, self.catalogue.flow_for(chosen), chosen, scores)

    def _hint(self, text: str) -> list[str]:
        """The service of the nearest example, to ask about (never to name: see examples.py)."""
        near = self._examples.nearest(text)
        if near is None or near.similarity < EXAMPLE_MIN or near.service == self.catalogue.fallback.classify:
            return []
        return [near.service]

    # -- matching ---------------------------------------------------------

    def _matches(self, text: str) -> list[_Match]:
        """Every keyword occurrence (exact, pinyin or bigram) with its score."""
        if not text:
            return []
        pinyin = to_pinyin(text)
        found: list[_Match] = []
        for service, word, weight, word_py, bigrams, situation in self._keywords:
            n = len(word)
            for start in range(0, len(text) - n + 1):
                if situation:  # described, not named: sound-alikes are too often other words (网店/网点)
                    quality = self._same_words(text, pinyin, start, word, word_py)
                else:
                    quality = self._window_quality(text, pinyin, start, word, word_py)
                if quality:
                    found.append(_Match(service, start, start + n, weight * quality, situation))
            if n >= 3 and word not in text and not situation:
                hits = [text.find(b) for b in bigrams if b in text]
                share = len(hits) / len(bigrams)
                if share >= 0.5:
                    pos = min(hits)
                    found.append(_Match(service, pos, pos + 2, weight * 0.7 * share))
        for service, parts, weight in self._together:
            spots = [self._find(text, pinyin, part, part_py) for part, part_py in parts]
            if all(q for _, q in spots):
                start = min(i for i, _ in spots)
                end = max(i + len(p) for (i, _), (p, _) in zip(spots, parts, strict=False))
                found.append(_Match(service, start, end, weight * TOGETHER * min(q for _, q in spots), True))
        return found

    @classmethod
    def _find(cls, text: str, pinyin: list[str], part: str, part_py: list[str]) -> tuple[int, float]:
        """(position, quality) of the first place ``part`` is said; quality 0 when nowhere."""
        pos = text.find(part)
        if pos >= 0:
            return pos, 1.0
        for start in range(0, len(text) - len(part) + 1):
            quality = cls._same_words(text, pinyin, start, part, part_py)
            if quality:
                return start, quality
        return -1, 0.0

    @staticmethod
    def _same_words(text: str, pinyin: list[str], start: int, word: str, word_py: list[str]) -> float:
        """1 for the same characters; 0.95 for the same syllables in other characters (traditional
        ones, or a recogniser's homophone) when the phrase is long enough not to be another word."""
        n = len(word)
        if text[start : start + n] == word:
            return 1.0
        return 0.95 if n >= 3 and pinyin[start : start + n] == word_py else 0.0

    @staticmethod
    def _window_quality(text: str, pinyin: list[str], start: int, word: str, word_py: list[str]) -> float:
        """How well text[start:start+len(word)] sounds like ``word`` (0 = no match)."""
        n = len(word)
        if text[start : start + n] == word:
            return 1.0
        window = pinyin[start : start + n]
        if n <= 2:
            # Two syllables are too easy to hit by chance: demand identical pinyin.
            return 0.95 if window == word_py else 0.0
        sims = [_syllable_similarity(a, b) for a, b in zip(window, word_py, strict=False)]
        if sims.count(0.0) or sum(s < 0.9 for s in sims) > 1:
            return 0.0
        quality = sum(sims) / n
        return quality * 0.95 if quality >= PINYIN_MIN else 0.0

    # -- choosing ---------------------------------------------------------

    def _choose(self, text: str, matches: list[_Match]) -> tuple[list[str], list[str]]:
        """(the services really asked for in order of first mention, or the candidates to ask about)."""
        spans = self._strongest_spans(matches)
        requested = [m for m in spans if not self._is_incidental(text, m)]
        if not requested:  # only a document to bring or background ("外地户口"): ask, never name it
            best = max(spans, key=lambda m: m.score, default=None)
            return [], [best.service] if best and best.score >= MIN_SCORE else []
        pool = requested
        if max(m.score for m in pool) < MIN_SCORE:
            return [], []
        # Each service is placed where its strongest mention is ("买房要提公积金还要办房产证":
        # the weak hint 买房 does not put 不动产登记 first).
        strongest: dict[str, _Match] = {}
        for m in sorted(pool, key=lambda m: (-m.score, m.start)):
            strongest.setdefault(m.service, m)
        ranked = sorted(strongest.values(), key=lambda m: (-m.score, m.start))
        best = ranked[0]
        several = sorted((m for m in ranked if m.score >= EXTRA_SCORE or m is best), key=lambda m: m.start)
        # Named services are requests of their own; a situation adds a service only when joined
        # to the other as a second request ("要上户口，还要给他交看病的保险").
        if len(several) >= 2 and (not any(m.situation for m in several) or self._joined(text, several)):
            return [m.service for m in several], []
        rivals = [m for m in ranked[1:] if m.score >= MIN_SCORE and best.score - m.score < MARGIN - 1e-9]
        if rivals:
            asked = sorted([best, *rivals][:MAX_CANDIDATES], key=lambda m: m.start)
            return [], [m.service for m in asked]
        if best.score < SURE_SCORE:
            return [], [best.service]
        return [best.service], []

    @staticmethod
    def _joined(text: str, ordered: list[_Match]) -> bool:
        """Whether consecutive mentions are linked as separate requests ("A和B", "A，还要B")."""
        for a, b in zip(ordered, ordered[1:], strict=False):
            between = text[a.end : b.start]
            if not any(w in between for w in _JOINERS):
                return False
        return True

    @staticmethod
    def _strongest_spans(matches: list[_Match]) -> list[_Match]:
        """Drop matches overlapped by a better one (longer span wins ties)."""
        ordered = sorted(matches, key=lambda m: (m.score, m.end - m.start), reverse=True)
        kept: list[_Match] = []
        for m in ordered:
            # the same words as strong a sign of two services ("出去旅游"): keep both, to ask which
            same = (m.start, m.end, m.score)
            if all(m.end <= k.start or m.start >= k.end or (k.start, k.end, k.score) == same for k in kept):
                kept.append(m)
        return kept

    @staticmethod
    def _is_incidental(text: str, m: _Match) -> bool:
        """A mention as a document to bring or as background, not as a request."""
        before = text[max(0, m.start - 2) : m.start]
        if any(before.endswith(w) for w in _MATERIAL_BEFORE):
            return True
        after = text[m.end :]
        if text[m.start : m.end] in _BELONGING and (
            any(before.endswith(w) for w in _WHERE_FROM) or any(after.startswith(w) for w in _PLACED)
        ):
            return True
        for w in _CONTEXT_AFTER:
            if after.startswith(w) or after[1:].startswith(w):
                return not any(a in after for a in _ADDITION)
        return False


def classify(catalogue: Catalogue, text: str) -> Classification:
    """Convenience wrapper: one-off classification."""
    return Classifier(catalogue).classify(text)


__all__ = ["Classification", "Classifier", "Service", "classify", "normalise", "to_pinyin"]
