"""How well the classifier understands requests: accuracy, wrong-service rate and clarifications.

Reads the request sets shipped in appliance/data/requests (tab-separated
``expected<TAB>text``). ``expected`` is a
service, ``A/B`` for a request of several services, the fallback for one out of scope, or ``?A|B``
for a request that is genuinely open between A and B (the right answer is to ask which).

Outcomes of one request, from the citizen's side:
- correct: the services asked for, exactly (for ``?A|B``: a clarifying question naming A and B);
- wrong: a service named that the citizen did not ask for (worse than no service: the kiosk then
  asks for the wrong fields and reads the wrong procedure);
- clarified: no service named, a short question naming candidates instead (one of them right);
- fallback: no service named and no question (the catalogue's general help).

``appliance classify-eval`` prints :func:`table` for every set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..data import REQUESTS_DIR

DATA_DIR = REQUESTS_DIR
#: name -> file: the sets the command reports, the indirect ones first.
SETS = {
    "indirect-tuning": "requests_indirect.tsv",
    "indirect-blind": "requests_indirect_blind.tsv",
    "direct": "requests.tsv",
    "direct-blind": "requests_blind.tsv",
}


@dataclass(frozen=True)
class Row:
    expected: str
    text: str

    @property
    def open_question(self) -> bool:
        """The request is open between candidates: the right answer is to ask."""
        return self.expected.startswith("?")

    @property
    def allowed(self) -> set[str]:
        """Services that may be named without being wrong."""
        return set(self.expected.lstrip("?").replace("|", "/").split("/"))


@dataclass(frozen=True)
class Judged:
    row: Row
    classify: str
    candidates: tuple[str, ...]
    outcome: str  # correct, wrong, clarified, fallback


def read_rows(path: str | Path) -> list[Row]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected 'expected<TAB>text'")
        rows.append(Row(parts[0].strip(), parts[1].strip()))
    return rows


def judge(row: Row, result, fallback: str) -> Judged:
    """Outcome of one classification (``result`` has .classify, .services, .fallback, .candidates)."""
    candidates = tuple(getattr(result, "candidates", ()) or ())
    named = set() if result.fallback else set(result.services)
    if named - row.allowed - {fallback}:
        outcome = "wrong"
    elif row.open_question:
        outcome = (
            "correct"
            if candidates and row.allowed <= set(candidates)
            else ("clarified" if candidates else "fallback")
        )
    elif result.classify == row.expected and not candidates:
        outcome = "correct"
    elif candidates and (row.allowed & set(candidates)):
        outcome = "clarified"
    elif candidates and row.expected == fallback:
        outcome = "clarified"  # asked about an out-of-scope request: harmless, not right
    else:
        outcome = "fallback"
    return Judged(row, result.classify, candidates, outcome)


def run(classify: Callable[[str], object], rows: Iterable[Row], fallback: str) -> list[Judged]:
    return [judge(r, classify(r.text), fallback) for r in rows]


def summary(judged: list[Judged]) -> dict[str, float]:
    counts = Counter(j.outcome for j in judged)
    n = len(judged) or 1
    return {
        "n": len(judged),
        "accuracy": counts["correct"] / n,
        "wrong": counts["wrong"] / n,
        "clarified": counts["clarified"] / n,
        "fallback": counts["fallback"] / n,
        "wrong_count": counts["wrong"],
    }


def table(results: dict[str, list[Judged]]) -> str:
    lines = [f"{'set':<16} {'n':>4} {'accuracy':>9} {'wrong':>7} {'clarified':>10} {'fallback':>9}"]
    for name, judged in results.items():
        s = summary(judged)
        lines.append(
            f"{name:<16} {s['n']:>4} {s['accuracy']:>9.1%} {s['wrong']:>7.1%} "
            f"{s['clarified']:>10.1%} {s['fallback']:>9.1%}"
        )
    return "\n".join(lines)


def misses(judged: list[Judged]) -> list[str]:
    """One line per request not answered exactly right, for tuning (never print the blind set's)."""
    out = []
    for j in judged:
        if j.outcome != "correct":
            asked = f" ask {'|'.join(j.candidates)}" if j.candidates else ""
            out.append(f"{j.outcome:9} {j.row.expected:>12} <- {j.row.text}  => {j.classify}{asked}")
    return out
