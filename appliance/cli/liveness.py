"""`appliance liveness FRAME...|VIDEO` and `appliance simulate liveness-api`.

The liveness command runs the same checker as the liveness worker, in this
process, on still frames (in order, as one presentation) or on a video file,
with the face engine's detector for box and landmarks.  It prints each
frame's verdict and cues, the final verdict and, when [liveness_api] is
enabled, the remote API's own answer.  Exit 0 live, 1 not live or undecided.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np

from .base import EXIT_FAIL, load_settings

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


def read_frames(paths: tuple[str, ...], max_frames: int) -> list[tuple[str, np.ndarray]]:
    """Frames from image files, or from one video file (every frame, up to max_frames)."""
    frames: list[tuple[str, np.ndarray]] = []
    for path in paths:
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            capture = cv2.VideoCapture(path)
            index = 0
            while len(frames) < max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append((f"{Path(path).name}#{index}", frame))
                index += 1
            capture.release()
            if index == 0:
                raise click.BadParameter(f"{path}: no frame could be read from this video")
            continue
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise click.BadParameter(f"{path}: not an image this kiosk can decode")
        frames.append((Path(path).name, image))
    return frames[:max_frames]


@click.command("liveness")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--max-frames", default=120, show_default=True, help="Frames read from a video at most.")
@click.pass_context
def liveness(ctx: click.Context, files: tuple[str, ...], as_json: bool, max_frames: int) -> None:
    """Is the face in these frames (one presentation, in order) or this video live?"""
    from ..face.engine import FaceEngine
    from ..liveness.remote import RemoteError, RemoteUnavailable
    from ..workers.liveness import build_checker

    settings = load_settings(ctx)
    try:
        checker = build_checker(settings)
        engine = FaceEngine(settings.models_dir)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        click.echo(f"liveness cannot start: {exc}", err=True)
        ctx.exit(EXIT_FAIL)
    rows: list[dict[str, Any]] = []
    verdict = None
    last: list[np.ndarray] = []
    for name, frame in read_frames(files, max_frames):
        faces = engine.detector.detect(frame)
        if not faces:
            rows.append({"frame": name, "face": False})
            continue
        face = max(faces, key=lambda f: f.area)
        verdict = checker.observe("cli", frame, face.landmarks, face.box)
        last = (last + [frame])[-checker.policy.remote_images :]
        rows.append({"frame": name, "face": True, **verdict.to_dict()})
        if verdict.live is not None:
            break
    result: dict[str, Any] = {
        "frames": rows,
        "verdict": verdict.to_dict()
        if verdict
        else {"live": False, "reason": "no_face", "score": 0.0, "cues": {}, "frames": 0},
    }
    if checker.remote is not None and last and len({f.shape for f in last}) == 1:
        try:
            answer = checker.remote.check(last)
            result["remote"] = {"score": answer.score, "live_face": answer.live_face, "ms": answer.elapsed_ms}
        except (RemoteError, RemoteUnavailable) as exc:
            result["remote"] = {"error": str(exc)}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            if not row["face"]:
                click.echo(f"{row['frame']:24} no face")
                continue
            cues = " ".join(f"{k}={v}" for k, v in row["cues"].items() if k != "remote")
            click.echo(
                f"{row['frame']:24} live={json.dumps(row['live']):5} score={row['score']:.3f} "
                f"{row['reason']:14} {cues}"
            )
        v = result["verdict"]
        click.echo(
            f"verdict: {'LIVE' if v['live'] else 'NOT LIVE' if v['live'] is False else 'UNDECIDED'} "
            f"({v['reason']}, score {v['score']:.3f}, {v['frames']} frames)"
        )
        if "remote" in result:
            r = result["remote"]
            click.echo(
                "remote API: "
                + (
                    f"error: {r['error']}"
                    if "error" in r
                    else f"score {r['score']} ({'live face' if r['live_face'] else 'no live face'}), "
                    f"{r['ms']} ms"
                )
            )
    ctx.exit(0 if result["verdict"]["live"] else EXIT_FAIL)


@click.command("liveness-api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7010, show_default=True, type=int)
@click.option("--app-id", default="sim-app", show_default=True, help="The X-APP-ID accepted.")
@click.option("--authorization", default="sim-secret", help="The Authorization value accepted.")
@click.option(
    "--score", default=0.98, show_default=True, type=float, help="Score answered (-1: no live face)."
)
def simulate_liveness_api(host: str, port: int, app_id: str, authorization: str, score: float) -> None:
    """The silent-liveness API (seed 004) with request validation; POST /_sim/config injects errors/delays."""
    import logging

    from ..simulators.liveness_api import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(host, port, app_id, authorization, score)
