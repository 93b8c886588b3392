"""Measure liveness on the evaluation set (ISO/IEC 30107-3 terms).

    python -m appliance.liveness.evaluate [--seeds 6] [--frames 12] [--no-blink] [--json out.json]

For every real photo in tests/data/faces and every presentation kind of
appliance.liveness.attacks and appliance.liveness.splices, ``seeds``
sequences are rendered and fed frame by frame (at blinks.FPS) to a
LivenessChecker, with landmarks and embeddings from the appliance's own YuNet
and SFace (as the face worker would).  An attack is accepted when any frame
it is judged on (for ``second_person``: the frames of the print) gets a live
verdict; a bona fide presentation is accepted when it gets one at all.

* APCER(kind) = attack presentations of that kind accepted as live / all of them
* BPCER = bona fide presentations rejected / all of them ("bona_fide": the
  person turns the head; "bona_fide_blink": stands still and blinks once;
  "bona_fide_still": does neither, reported separately: nothing proves life)
"""

from __future__ import annotations

import argparse
import collections
import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import FACES_DIR
from . import attacks, blinks, splices
from .checker import LivenessChecker
from .policy import Policy

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = FACES_DIR
BONA_FIDE = ("bona_fide", "bona_fide_blink", "bona_fide_still")
NO_CONTINUITY: dict[str, Any] = dict(
    track_min=0.0,
    identity_min=-1.0,
    jump_min=1e9,
    max_gap=1e9,
    max_cuts=10**9,
    accel_max=1e9,
    jerk_min=1e9,
    impulse_min=1e9,
)
"""Policy overrides under which no frame is ever a cut (the checker before the continuity gate)."""
KINDS = (
    *BONA_FIDE,
    *attacks.ATTACKS,
    "photo_swap",
    "photo_swap_blink",
    "spliced_frames",
    "second_person",
    "video_replay_blink",
)


def load_photos(engine, folder: Path = PHOTOS) -> dict[str, tuple[np.ndarray, list]]:
    photos = {}
    for path in sorted(folder.glob("*.jpg")):
        analysis = engine.analyse(path.read_bytes())
        if analysis.ok:
            photos[path.stem] = (analysis.image, analysis.landmarks)
    return photos


def person(name: str) -> str:
    """obama_2 -> obama: photos of one person share the part before the last underscore."""
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def partner(kind: str, name: str, photos: dict):
    """Another photo of the same person (photo_swap), or somebody else's (second_person)."""
    names = sorted(photos)
    if kind == "photo_swap":
        same = [n for n in names if n != name and person(n) == person(name)]
        return photos[same[0]] if same else None
    if kind == "second_person":
        others = [n for n in names if person(n) != person(name)]
        return photos[others[(names.index(name)) % len(others)]]
    return None


def run_presentation(
    engine,
    checker: LivenessChecker,
    frames: list[np.ndarray],
    key: str,
    first: int = 0,
    fps: float = blinks.FPS,
) -> dict:
    """Feed the frames; return the outcome (accepted, reason, frames used, cues)."""
    from ..face.embedder import align_face

    verdict, decided_at = None, 0
    for index, frame in enumerate(frames):
        faces = engine.detector.detect(frame)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.area)
        embedding = engine.embedder.embed(align_face(frame, face.landmarks))
        verdict = checker.observe(key, frame, face.landmarks, face.box, embedding=embedding, t=index / fps)
        decided_at = index + 1
        if verdict.live is False or (verdict.live and index >= first):
            break  # judged (before `first` a live verdict belongs to somebody else: go on)
    checker.forget(key)
    if verdict is None:
        return {"live": False, "reason": "no_face", "frames": 0, "cues": {}}
    live = bool(verdict.live) and decided_at > first
    reason = verdict.reason if verdict.live is not None else "undecided"
    return {
        "live": live,
        "reason": "live_before_swap" if verdict.live and not live else reason,
        "frames": decided_at,
        "cues": verdict.cues,
        "score": round(verdict.score, 4),
    }


def evaluate(
    engine,
    seeds: int = 4,
    n_frames: int = 12,
    policy: Policy | None = None,
    kinds=KINDS,
    photos: dict | None = None,
    first_seed: int = 0,
    mesh=None,
) -> dict:
    policy = policy or Policy(max_frames=n_frames)
    checker = LivenessChecker(policy, mesh=mesh)
    photos = photos if photos is not None else load_photos(engine)
    results: dict[str, list[dict]] = collections.defaultdict(list)
    for kind in kinds:
        for name, (image, landmarks) in photos.items():
            for seed in range(first_seed, first_seed + seeds):
                frames, first = splices.sequence_with_target(
                    kind,
                    image,
                    landmarks,
                    zlib.crc32(f"{kind}/{name}/{seed}".encode()),
                    n=n_frames,
                    partner=partner(kind, name, photos),
                )
                outcome = run_presentation(engine, checker, frames, f"{kind}/{name}/{seed}", first)
                outcome.update(photo=name, seed=seed)
                results[kind].append(outcome)
    return summarise(results)


def summarise(results: dict[str, list[dict]]) -> dict:
    report: dict[str, Any] = {"kinds": {}, "presentations": dict(results)}
    for kind, rows in results.items():
        accepted = sum(1 for r in rows if r["live"])
        reasons = collections.Counter(r["reason"] for r in rows)
        decided = [r["frames"] for r in rows if r["reason"] != "undecided"]
        entry = {
            "n": len(rows),
            "accepted": accepted,
            "reasons": dict(reasons),
            "mean_frames": round(float(np.mean(decided)), 1) if decided else None,
            "median_frames": float(np.median(decided)) if decided else None,
        }
        if kind.startswith("bona_fide"):
            entry["BPCER"] = round(1 - accepted / len(rows), 4)
        else:
            entry["APCER"] = round(accepted / len(rows), 4)
        report["kinds"][kind] = entry
    return report


def format_table(report: dict) -> str:
    lines = [
        f"{'presentation':18} {'n':>4} {'accepted':>8} {'APCER':>7} {'BPCER':>7} {'frames':>6} "
        f"{'median':>6}  reasons"
    ]
    for kind, e in report["kinds"].items():
        apcer = f"{e['APCER']:.3f}" if "APCER" in e else "-"
        bpcer = f"{e['BPCER']:.3f}" if "BPCER" in e else "-"
        lines.append(
            f"{kind:18} {e['n']:>4} {e['accepted']:>8} {apcer:>7} {bpcer:>7} "
            f"{e['mean_frames'] if e['mean_frames'] is not None else '-':>6} "
            f"{e['median_frames'] if e['median_frames'] is not None else '-':>6}  "
            + ", ".join(f"{k}={v}" for k, v in sorted(e["reasons"].items()))
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    from ..face.engine import FaceEngine

    parser = argparse.ArgumentParser(prog="appliance.liveness.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="0..3 were used to choose the thresholds; report held-out seeds (e.g. 100)",
    )
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--models", default=str(ROOT / "models"))
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated presentation kinds")
    parser.add_argument("--no-blink", action="store_true", help="without the face mesh (no blink cue)")
    parser.add_argument(
        "--no-continuity",
        action="store_true",
        help="without the continuity gate (as before issue 16): nothing is a cut",
    )
    parser.add_argument("--json", help="write every presentation's outcome and cues here")
    args = parser.parse_args(argv)
    mesh = None
    if not args.no_blink:
        from .mesh import FaceMesh
        from .modelfiles import mesh_path

        mesh = FaceMesh(mesh_path(Path(args.models)))
    policy = Policy(max_frames=args.frames)
    if args.no_continuity:
        policy = replace(policy, **NO_CONTINUITY)
    report = evaluate(
        FaceEngine(Path(args.models)),
        seeds=args.seeds,
        n_frames=args.frames,
        policy=policy,
        first_seed=args.first_seed,
        kinds=tuple(args.kinds.split(",")),
        mesh=mesh,
    )
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
