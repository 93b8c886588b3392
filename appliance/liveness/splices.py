"""Evaluation sequences that are NOT one continuous face (issue 16 §1), and blinks.

* ``photo_swap`` — two photos of the same person, printed, shown in turn
  (one held up, then the other, each moved a little by hand).  Where the set
  has another real photo of the person it is used; otherwise the second photo
  is the first one re-rendered with the head turned 10–20° (a picture of the
  same person from another angle).  Between two such photos the face's
  motion is not a homography: a cue that compares frames reads it as 3-D.
* ``photo_swap_blink`` — the same photo printed twice, once with the eyes
  closed, shown in turn: a blink made of two pictures.
* ``spliced_frames`` — a stream assembled from still snapshots of the person
  at three or four head poses (one with the eyes closed), switching every one
  to three frames: what an injected or edited stream looks like.
* ``second_person`` — a live person turns the head (liveness is established
  on them), then a print of somebody else is held up in their place.  The
  attack succeeds if any frame of the print is judged live.
* ``bona_fide_blink`` — a person who stands still and blinks once.
* ``video_replay_blink`` — a screen held almost still showing that.

``sequence_with_target(kind, photo, landmarks, seed, n, partner)`` returns
``(frames, first)``: frames at blinks.FPS, and the index of the first frame
the attack is judged on (0 except for ``second_person``).
"""

from __future__ import annotations

import numpy as np

from . import attacks, blinks

KINDS = (
    "bona_fide_blink",
    "photo_swap",
    "photo_swap_blink",
    "spliced_frames",
    "second_person",
    "video_replay_blink",
)


def turned_photo(photo, landmarks, yaw: float, pitch: float, closure: float = 0.0):
    """The photo re-rendered with its head turned (and optionally eyes closed); its 5 landmarks."""
    lm = np.asarray(landmarks, np.float32)
    img = blinks.paint_lids(photo.astype(np.float32), lm, closure)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    depth, mask, centre = attacks.head_depth(img.shape[:2], lm, iod)
    distance = attacks.DISTANCE_IODS * iod
    rot = attacks.rotation(yaw, pitch, 0.0)
    out = attacks.move_surface(img, mask, depth, centre, rot, (0.0, 0.0), distance)
    return out, project(lm, depth, centre, rot, distance)


def project(points, depth, centre, rot, distance):
    """Where ``points`` of the surface land after the rotation (move_surface's forward model)."""
    cx, cy = centre
    out = []
    for x, y in points:
        z = float(depth[int(round(y)), int(round(x))])
        k = (distance - z) / distance
        p = rot @ np.array([(x - cx) * k, (y - cy) * k, z])
        zf = distance - p[2]
        out.append((cx + p[0] * distance / zf, cy + p[1] * distance / zf))
    return np.asarray(out, np.float32)


def _switches(rng, n: int, sources: int, longest: int = 3) -> list[int]:
    """Which source each frame comes from: runs of 1..longest frames, never the same twice in a row."""
    order: list[int] = []
    current = int(rng.integers(sources))
    while len(order) < n:
        order += [current] * int(rng.integers(1, longest + 1))
        current = (current + int(rng.integers(1, sources))) % sources
    return order[:n]


def _interleave(streams, order):
    return [streams[s][i] for i, s in enumerate(order)]


def _used(order, source):
    return {i for i, s in enumerate(order) if s == source}


def _still_rest(photo, landmarks, rng, n, closure=None, keep=None):
    """A still person (optionally blinking with the closure profile) in front of the room
    (only the frames in ``keep`` are rendered)."""
    iod = rng.uniform(50, 75)
    base, lm, _ = attacks._scene(photo, landmarks, rng, iod)
    depth, mask, centre = attacks.head_depth(base.shape[:2], lm, iod)
    poses = attacks._trajectory(rng, n, 0.5, 1.0, 1.0, 1.0)
    frames = []
    for index, (yaw, pitch, roll, shift) in enumerate(poses):
        if keep is not None and index not in keep:
            frames.append(None)
            continue
        textured = blinks.paint_lids(base, lm, closure[index]) if closure is not None else base
        frames.append(
            attacks.move_surface(
                textured,
                mask,
                depth,
                centre,
                attacks.rotation(yaw, pitch, roll),
                shift,
                attacks.DISTANCE_IODS * iod,
            )
        )
    return frames


def build(
    kind, photo, landmarks, rng, n, partner: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[list[np.ndarray], int]:
    """Raw (pre-camera) frames of one presentation and the first judged frame."""
    if kind == "bona_fide_blink":
        return _still_rest(photo, landmarks, rng, n, blinks.closing_frames(rng, n)), 0
    if kind == "video_replay_blink":
        shown = _still_rest(
            photo,
            landmarks,
            np.random.default_rng(int(rng.integers(1 << 30))),
            n,
            blinks.closing_frames(rng, n),
        )
        return attacks.planar(photo, landmarks, rng, n, screen=True, content=shown), 0
    if kind in ("photo_swap", "photo_swap_blink"):
        if kind == "photo_swap_blink":
            second = (blinks.paint_lids(photo.astype(np.float32), landmarks, 1.0), landmarks)
        elif partner is not None:
            second = partner
        else:
            yaw = rng.choice([-1, 1]) * rng.uniform(10, 20)
            second = turned_photo(photo, landmarks, yaw, rng.uniform(-5, 5))
        order = _switches(rng, n, 2)
        streams = [
            attacks.planar(photo, landmarks, rng, n, keep=_used(order, 0)),
            attacks.planar(*second, rng, n, keep=_used(order, 1)),
        ]
        return _interleave(streams, order), 0
    if kind == "spliced_frames":
        poses = [(0.0, 0.0, 1.0)] + [
            (rng.choice([-1, 1]) * rng.uniform(8, 20), rng.uniform(-5, 5), 0.0)
            for _ in range(int(rng.integers(2, 4)))
        ]
        stills = [turned_photo(photo, landmarks, yaw, pitch, closure) for yaw, pitch, closure in poses]
        scene_seed = int(rng.integers(1 << 30))  # one place in one room: only the head changes
        order = _switches(rng, n, len(stills), longest=2)
        streams = [
            _still_rest(img, lm, np.random.default_rng(scene_seed), n, keep=_used(order, index))
            for index, (img, lm) in enumerate(stills)
        ]
        return _interleave(streams, order), 0
    if kind == "second_person":
        if partner is None:
            raise ValueError("second_person needs a partner photo (somebody else)")
        first = int(rng.integers(n // 3, n // 2 + 1))
        live = attacks.bona_fide(photo, landmarks, rng, n)
        held = attacks.planar(*partner, rng, n, keep=set(range(first, n)))
        return live[:first] + held[first:], first
    raise ValueError(f"unknown presentation kind {kind!r}")


def sequence_with_target(
    kind: str, photo: np.ndarray, landmarks, seed: int, n: int = 12, partner=None
) -> tuple[list[np.ndarray], int]:
    """Camera frames of one presentation of any kind (attacks.KINDS or KINDS) and its first judged frame.

    ``partner``: (photo, landmarks) of another photo of the same person (photo_swap) or of
    somebody else (second_person)."""
    if kind not in KINDS:
        return attacks.sequence(kind, photo, landmarks, seed, n), 0
    rng = np.random.default_rng(seed)
    frames, first = build(kind, photo, np.asarray(landmarks, np.float32), rng, n, partner)
    return [attacks.camera(f, rng) for f in frames], first
