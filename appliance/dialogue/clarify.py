"""Asking which service when the classifier is not sure, and reading the citizen's answer.

A wrong service is worse than none: the kiosk would ask for the wrong fields and read the wrong
procedure. So when the classifier returns ``candidates`` instead of a service, the handshake answers
with the fallback service and a short question as its ``flow`` ("请问您是想办理居住证，还是户口本？").
The same user's next handshake is read as the answer: a service named outright, one of the
candidates by a word of it or by position ("第二个"), a yes to a single candidate, "都要" for all,
or "都不是" for none. An answer that is none of these is a new request and classified as such.
"""

from __future__ import annotations

from typing import Any

from .catalogue import Catalogue
from .classifier import Classification, normalise

# Checked in this order: "都不是" holds "都" and "是", "不是" holds "是".
_NONE = ("都不是", "不是", "不对", "都不要", "不用", "不要", "不办", "算了", "没有")
_ALL = ("都要", "都办", "两个都", "三个都", "全部", "都需要", "都是")
_ORDINALS = (
    ("第一", "前面", "前者", "头一个", "第1"),
    ("第二", "后面", "后者", "后一个", "第2", "后边"),
    ("第三", "第3"),
)
_YES = ("是", "对", "嗯", "没错", "好", "要", "行")
#: Answers longer than this are not a yes or a no but a request of their own.
_SHORT = 6


def question(candidates: list[str]) -> str:
    """The clarifying question naming the candidates, in the order they were mentioned."""
    if len(candidates) == 1:
        return f"请问您是想办理{candidates[0]}吗？"
    return f"请问您是想办理{'、'.join(candidates[:-1])}，还是{candidates[-1]}？"


def pending(candidates: list[str], request: str) -> dict[str, Any]:
    """What the session keeps until the next handshake (JSON)."""
    return {"candidates": list(candidates), "request": request}


def resolve(answer: str, candidates: list[str], result: Classification) -> list[str] | None:
    """The services the answer chooses; [] for none of them; None when it does not answer the question.

    ``result`` is the answer classified on its own."""
    text = normalise(answer)
    if not result.fallback:
        return list(result.services)  # named outright (maybe another service: the citizen corrects us)
    inside = [c for c in result.candidates if c in candidates]
    if len(inside) == 1:
        return inside
    if any(w in text for w in _NONE) and len(text) <= _SHORT + 2:
        return []
    if any(w in text for w in _ALL):
        return list(candidates)
    for index, words in enumerate(_ORDINALS):
        if index < len(candidates) and any(w in text for w in words):
            return [candidates[index]]
    scored = {c: result.scores.get(c, 0.0) for c in candidates}
    best = max(scored.values(), default=0.0)
    if best > 0 and list(scored.values()).count(best) == 1:
        return [max(scored, key=lambda c: scored[c])]  # a hint of one candidate only ("要报销" for 医保)
    if len(candidates) == 1 and text and len(text) <= _SHORT and any(w in text for w in _YES):
        return list(candidates)
    return None


def settle(
    catalogue: Catalogue, waiting: dict[str, Any] | None, text: str, result: Classification
) -> Classification:
    """What a handshake answers: ``result`` (``text`` classified) read as the answer to the question
    the user's last handshake asked (``waiting``, None if it asked none); when still unsure, the
    fallback with the clarifying question as its flow."""
    result = _answered(catalogue, waiting, text, result)
    if result.candidates:
        result.flow = question(result.candidates)
    return result


def _answered(
    catalogue: Catalogue, waiting: dict[str, Any] | None, answer: str, result: Classification
) -> Classification:
    if not waiting or not isinstance(waiting.get("candidates"), list):
        return result
    candidates = [
        c
        for c in waiting["candidates"]
        if isinstance(c, str) and c in {s.classify for s in catalogue.regular}
    ]  # the catalogue may have changed meanwhile
    chosen = resolve(answer, candidates, result) if candidates else None
    if chosen is None:
        return result
    if not chosen:
        fb = catalogue.fallback
        return Classification(fb.classify, fb.flow, [fb.classify], result.scores, fallback=True)
    return Classification("/".join(chosen), catalogue.flow_for(chosen), chosen, result.scores)
