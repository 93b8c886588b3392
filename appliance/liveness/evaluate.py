"""Measure liveness on the evaluation set (ISO/IEC 30107-3 terms).

    python -m appliance.liveness.evaluate [--seeds 6] [--frames 12] [--json out.json]

For every real photo in tests/data/faces and every presentation kind of
appliance.liveness.attacks, ``seeds`` sequences are rendered and fed frame by
frame to a fresh LivenessChecker, with landmarks from the appliance's own
YuNet detector (as the face worker would).  A presentation's outcome is the
first decided verdict; one still undecided after all frames counts as
rejected.

* APCER(kind) = attack presentations of that kind accepted as live / all of them
* BPCER = bona fide presentations rejected / all of them ("bona_fide": the
  person turns the head as the kiosk asks; "bona_fide_still": the person
  does not, reported separately: the kiosk cannot prove life then)
"""

from __future__ import annotations

import argparse
import collections
import json
import zlib
from pathlib import Path

import numpy as np

from . import attacks
from .checker import LivenessChecker
from .policy import Policy

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "tests" / "data" / "faces"
KINDS = ("bona_fide", "bona_fide_still", *attacks.ATTACKS)


def load_photos(engine, folder: Path = PHOTOS) -> dict[str, tuple[np.ndarray, list]]:
    photos = {}
    for path in sorted(folder.glob("*.jpg")):
        analysis = engine.analyse(path.read_bytes())
        if analysis.ok:
            photos[path.stem] = (analysis.image, analysis.landmarks)
    return photos


def run_presentation(engine, checker: LivenessChecker, frames: list[np.ndarray], key: str) -> dict:
    """Feed the frames; return the outcome (live, reason, frames used, cues)."""
    verdict = None
    for frame in frames:
        faces = engine.detector.detect(frame)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.area)
        verdict = checker.observe(key, frame, face.landmarks, face.box)
        if verdict.live is not None:
            break
    checker.forget(key)
    if verdict is None:
        return {"live": False, "reason": "no_face", "frames": 0, "cues": {}}
    return {"live": bool(verdict.live), "reason": verdict.reason if verdict.live is not None else "undecided",
            "frames": verdict.frames, "cues": verdict.cues, "score": round(verdict.score, 4)}


def evaluate(engine, seeds: int = 4, n_frames: int = 12, policy: Policy | None = None,
             kinds=KINDS, photos: dict | None = None, first_seed: int = 0) -> dict:
    policy = policy or Policy(max_frames=n_frames)
    checker = LivenessChecker(policy)
    photos = photos if photos is not None else load_photos(engine)
    results: dict[str, list[dict]] = collections.defaultdict(list)
    for kind in kinds:
        for name, (image, landmarks) in photos.items():
            for seed in range(first_seed, first_seed + seeds):
                frames = attacks.sequence(kind, image, landmarks, zlib.crc32(f"{kind}/{name}/{seed}".encode()),
                                          n=n_frames)
                outcome = run_presentation(engine, checker, frames, f"{kind}/{name}/{seed}")
                outcome.update(photo=name, seed=seed)
                results[kind].append(outcome)
    return summarise(results)


def summarise(results: dict[str, list[dict]]) -> dict:
    report = {"kinds": {}, "presentations": dict(results)}
    for kind, rows in results.items():
        accepted = sum(1 for r in rows if r["live"])
        reasons = collections.Counter(r["reason"] for r in rows)
        decided = [r["frames"] for r in rows if r["reason"] != "undecided"]
        entry = {"n": len(rows), "accepted": accepted, "reasons": dict(reasons),
                 "mean_frames": round(float(np.mean(decided)), 1) if decided else None}
        if kind.startswith("bona_fide"):
            entry["BPCER"] = round(1 - accepted / len(rows), 4)
        else:
            entry["APCER"] = round(accepted / len(rows), 4)
        report["kinds"][kind] = entry
    return report


def format_table(report: dict) -> str:
    lines = [f"{'presentation':16} {'n':>4} {'accepted':>8} {'APCER':>7} {'BPCER':>7} {'frames':>6}  reasons"]
    for kind, e in report["kinds"].items():
        apcer = f"{e['APCER']:.3f}" if "APCER" in e else "-"
        bpcer = f"{e['BPCER']:.3f}" if "BPCER" in e else "-"
        lines.append(f"{kind:16} {e['n']:>4} {e['accepted']:>8} {apcer:>7} {bpcer:>7} "
                     f"{e['mean_frames'] if e['mean_frames'] is not None else '-':>6}  "
                     + ", ".join(f"{k}={v}" for k, v in sorted(e["reasons"].items())))
    return "\n".join(lines)


def main(argv=None) -> None:
    from ..face.engine import FaceEngine

    parser = argparse.ArgumentParser(prog="appliance.liveness.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="0..3 were used to choose the thresholds; report held-out seeds (e.g. 100)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--models", default=str(ROOT / "models"))
    parser.add_argument("--json", help="write every presentation's outcome and cues here")
    args = parser.parse_args(argv)
    report = evaluate(FaceEngine(Path(args.models)), seeds=args.seeds, n_frames=args.frames,
                      first_seed=args.first_seed)
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
