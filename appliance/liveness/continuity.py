"""The continuity gate: do two consecutive frames show one continuous face?

Every cue that compares frames (parallax, blinks) assumes the frames show the
same face moving a little.  Two different photos of a person shown in turn,
frames spliced from several moments, or somebody else stepping in break that
assumption, and the parallax cue then reads the change as a 3-D head.  So
each frame is first linked to the one before it:

* ``gap``      — more than ``max_gap`` seconds since the previous frame (the
  face left the picture or the client paused): evidence restarts, no penalty;
* ``jump``     — the landmarks moved further than a head moves in that time
  (``jump_speed`` eye distances a second, at least ``jump_min`` a frame);
* ``tracking`` — less than ``track_min`` of the inner face's corners (eyes left
  out: a blink is not a cut) track forward and back;
* ``identity`` — the embedding disagrees with the previous frame's or with the
  run's mean (``identity_min``, cosine): another person, or another photo.

While the eyes open or close (the face mesh's openness changes by more than
``eyes_change``), or when there is no mesh to tell, the looser
``track_min_eyes`` and ``identity_min_eyes`` apply: a blink disturbs the
tracking around the eyes and moves the embedding.

A cut other than a gap resets the evidence and counts; ``max_cuts`` of them
end the presentation (``discontinuous``).  Thresholds: docs/liveness.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import motion


@dataclass
class Link:
    """How frame n follows frame n-1."""

    dt: float
    jump: float  # largest landmark move, eye distances
    fraction: float | None  # share of off-eye corners tracked (None: nothing to track)
    ncc: float | None  # appearance agreement after alignment (reported, not judged)
    identity: float | None  # lowest cosine to the previous frame and the run's mean
    shift: np.ndarray | None = None  # median motion of the tracked face (dx, dy), eye distances
    cut: str | None = None  # None: continuous; else gap | jump | tracking | identity

    def to_dict(self) -> dict:
        out: dict[str, float | str] = {"dt": round(self.dt, 3), "jump": round(self.jump, 3)}
        for name in ("fraction", "ncc", "identity"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(float(value), 3)
        if self.cut:
            out["cut"] = self.cut
        return out


def unit(embedding) -> np.ndarray | None:
    if embedding is None:
        return None
    v = np.asarray(embedding, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and np.isfinite(n) else None


def identity_agreement(embedding, previous, run_sum) -> float | None:
    """Lowest cosine of ``embedding`` to the previous frame's and to the run's mean embedding."""
    e = unit(embedding)
    if e is None:
        return None
    scores = [float(e @ p) for p in (unit(previous), unit(run_sum)) if p is not None]
    return min(scores) if scores else None


def judge(policy, link: Link, eyes_moving: bool = True) -> str | None:
    """The reason the link is a cut, or None.  ``eyes_moving``: the eyes opened or closed between
    the frames, or nobody can tell (no face mesh): the looser thresholds apply."""
    track_min = policy.track_min_eyes if eyes_moving else policy.track_min
    identity_min = policy.identity_min_eyes if eyes_moving else policy.identity_min
    if link.dt > policy.max_gap:
        return "gap"
    if link.jump > max(policy.jump_min, policy.jump_speed * link.dt):
        return "jump"
    if link.fraction is not None and link.fraction < track_min:
        return "tracking"
    if link.identity is not None and link.identity < identity_min:
        return "identity"
    return None


def eyes_moving(policy, before: float | None, after: float | None) -> bool:
    """Did the eyes open or close between two frames (True when either openness is unknown)?"""
    if before is None or after is None:
        return True
    return abs(after - before) > policy.eyes_change * max(before, after, 1e-6)


def make_link(
    policy,
    before: motion.FrameView,
    after: motion.FrameView,
    dt: float,
    tracked: tuple | None,
    identity: float | None,
    eyes: bool = True,
) -> Link:
    iod = max((before.iod + after.iod) / 2, 1.0)
    jump = float(np.max(np.linalg.norm(after.landmarks - before.landmarks, axis=1))) / iod
    link = Link(
        dt=max(0.0, dt),
        jump=jump,
        fraction=None if tracked is None else tracked[0],
        ncc=None if tracked is None else tracked[1],
        identity=identity,
        shift=None if tracked is None else tracked[2],
    )
    link.cut = judge(policy, link, eyes)
    return link
