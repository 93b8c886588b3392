"""Speech robustness evaluation: the hard-audio set (hardset.py) through the kiosk's own STT and
the dialogue's own classifier and field checks, judged item by item.

Outcomes (what the kiosk would do with the recording):
- ``right``: accepted, and the service (handshake) or the field value (qna) is what was said;
- ``asked again``: the transcript was empty or not trusted, or the field check refused it;
- ``general``: accepted, but it names no service: the catalogue's fallback (综合咨询);
- ``FALSE ACCEPT``: a service or a field value from audio that did not say it — including *any*
  accepted words from a recording with no speech in it. Target: none.

    appliance speech-eval [--quick] [--verbose] [--json FILE]
    python -m appliance.speech.evaluate [MODELS_DIR] [--quick]
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from .hardset import Item, build

OUTCOMES = ("right", "asks which", "asked again", "general", "FALSE ACCEPT")
"""*asks which*: the request named a service by a sound-alike (dialogue/soundalike.py); the kiosk
asks which of them, and the citizen's next words choose: nothing was accepted."""


@dataclass
class Judged:
    """One item's outcome, with what was heard and why it was (not) trusted."""

    item: Item
    outcome: str
    heard: str
    trusted: bool
    reasons: tuple
    result: str  # the service classified or the field value parsed, "" if none

    def row(self) -> dict:
        i = self.item
        return {
            "group": i.group,
            "condition": i.condition,
            "said": i.said,
            "heard": self.heard,
            "trusted": self.trusted,
            "reasons": list(self.reasons),
            "result": self.result,
            "outcome": self.outcome,
        }


class Judge:
    """The dialogue's decisions on a transcript: the handshake classifier and the qna field checks."""

    def __init__(self, catalogue):
        from ..dialogue.classifier import Classifier
        from ..dialogue.soundalike import SoundAlike

        self.classifier = Classifier(catalogue)
        self.soundalike = SoundAlike(catalogue)

    def __call__(self, item: Item, tr) -> Judged:
        from ..dialogue.fields import parse_field

        def done(outcome: str, result: str = "") -> Judged:
            return Judged(item, outcome, tr.heard, tr.trusted, tr.reasons, result)

        if not tr.text:  # only trusted words ever reach the dialogue
            return done("asked again")
        if item.field:  # a qna answer: does it fill the field, and with what was said?
            parsed = parse_field(item.field, tr.text)
            if not parsed.ok:
                return done("asked again")
            value = str(parsed.value)
            return done("right" if value == item.value else "FALSE ACCEPT", value)
        # as the dialogue reads a spoken request: a service named by a sound-alike is asked about
        found = self.soundalike.check(self.classifier.classify(tr.text), tr.text)
        if found.candidates and item.said:  # the kiosk asks which service: nothing was accepted
            return done("asks which", "/".join(found.candidates))
        if not item.said:  # words from a recording with no speech: a guess, whatever they name
            return done("FALSE ACCEPT", found.classify)
        if found.fallback:
            return done("general", found.classify)
        return done("right" if found.services == [item.service] else "FALSE ACCEPT", found.classify)


def run(
    stt,
    tts,
    catalogue,
    quick: bool = False,
    espeak=None,
    progress: Optional[Callable[[Judged], object]] = None,
) -> list[Judged]:
    """Judge every item of the set; ``progress(judged)`` is called after each one.

    Recordings with no speech go through twice: as the kiosk hears them (the VAD drops most of
    them before Whisper) and with the VAD off, which measures the trust check on its own."""
    judge, out = Judge(catalogue), []
    for item in build(tts, quick=quick, espeak=espeak):
        passes = [(item, True)]
        if item.group == "no speech":
            passes.append((replace(item, group="no speech, VAD off"), False))
        for it, vad in passes:
            judged = judge(it, _transcribe(stt, it.audio, vad))
            out.append(judged)
            if progress:
                progress(judged)
    return out


def _transcribe(stt, audio, vad: bool):
    saved, stt.use_vad = stt.use_vad, vad and stt.use_vad
    try:
        return stt.transcribe(audio)
    finally:
        stt.use_vad = saved


def summary(judged: Iterable[Judged]) -> dict:
    """Counts per (group, condition) and the two headline rates."""
    judged = list(judged)
    rows: dict[tuple, Counter] = {}
    for j in judged:
        rows.setdefault((j.item.group, j.item.condition), Counter())[j.outcome] += 1
    good = [j for j in judged if j.item.group == "good speech"]
    false = sum(j.outcome == "FALSE ACCEPT" for j in judged)
    return {
        "items": len(judged),
        "false_accepts": false,
        "false_accept_rate": round(false / max(1, len(judged)), 4),
        "good_speech_asked_again_rate": round(
            sum(j.outcome == "asked again" for j in good) / max(1, len(good)), 4
        ),
        "good_speech_right_rate": round(sum(j.outcome == "right" for j in good) / max(1, len(good)), 4),
        "rows": [
            {"group": g, "condition": c, "n": sum(n.values()), **{o: n.get(o, 0) for o in OUTCOMES}}
            for (g, c), n in rows.items()
        ],
    }


def table(s: dict) -> str:
    """The Markdown table README's Speech section shows."""
    lines = [
        "| group | condition | n | " + " | ".join(OUTCOMES) + " |",
        "|---|---|---:|" + "---:|" * len(OUTCOMES),
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['group']} | {r['condition']} | {r['n']} | "
            + " | ".join(str(r[o]) for o in OUTCOMES)
            + " |"
        )
    lines.append("")
    lines.append(
        f"false accepts: {s['false_accepts']} of {s['items']} "
        f"(rate {s['false_accept_rate']:.1%}, target 0); good speech asked again: "
        f"{s['good_speech_asked_again_rate']:.1%}, right: {s['good_speech_right_rate']:.1%}"
    )
    return "\n".join(lines)


def load_engines(models_dir: Path, services_path: Optional[Path] = None):
    """The kiosk's STT (prompt from the catalogue, as the speech worker builds it), TTS, espeak-ng,
    and the catalogue."""
    from ..dialogue.catalogue import load_catalogue
    from .stt import SpeechToText
    from .tts import EspeakEngine, TextToSpeech

    catalogue = load_catalogue(services_path)
    stt = SpeechToText(models_dir, prompt_terms=[s.classify for s in catalogue.regular])
    tts = TextToSpeech(models_dir, english=False)
    try:
        espeak = EspeakEngine()
    except Exception:  # espeak-ng not installed: that one condition is left out
        espeak = None
    return stt, tts, espeak, catalogue


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    args = [a for a in argv if not a.startswith("--")]
    models = Path(args[0]) if args else Path("models")
    stt, tts, espeak, catalogue = load_engines(models)
    t0 = time.perf_counter()
    judged = run(stt, tts, catalogue, quick=quick, espeak=espeak)
    s = summary(judged)
    print(table(s))
    print(f"({time.perf_counter() - t0:.0f} s)")
    if "--json" in argv:
        print(json.dumps({**s, "items_detail": [j.row() for j in judged]}, ensure_ascii=False, indent=1))
    return 1 if s["false_accepts"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
