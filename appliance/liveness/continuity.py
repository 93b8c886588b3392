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
  run's mean (``identity_min``, cosine): another person, or another photo;
* ``jerk``     — the face's velocity changed faster than a head's can: over
  three frames of the run it reversed, or went from standstill to a large move,
  within one frame (``accel_max``, eye distances per second², from the frames'
  own times, and at least ``jerk_min`` eye distances a frame); or the face
  moved in one link only, still before and after it (an ``impulse``: a whole
  movement within less than ``impulse_seconds``).  A head has mass and takes
  time to start and stop; a stream cut together from stills at a few poses
  switches pose between two frames and holds it.  Judged on the frames' own
  times: a slow client's frames are far apart, a head does a lot between them.

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

FRAME_FLOOR = 0.1
"""Time steps shorter than this (s) count as this in acceleration(): frames that arrive in a burst
or are read back to back (the CLI), or a fast client's jittery arrival times, are judged per frame
as at 10 fps, never as an enormous acceleration."""


@dataclass
class Link:
    """How frame n follows frame n-1."""

    dt: float
    jump: float  # largest landmark move, eye distances
    fraction: float | None  # share of off-eye corners tracked (None: nothing to track)
    ncc: float | None  # appearance agreement after alignment (reported, not judged)
    identity: float | None  # lowest cosine to the previous frame and the run's mean
    shift: np.ndarray | None = None  # median motion of the tracked face (dx, dy), eye distances
    cut: str | None = None  # None: continuous; else gap | jump | tracking | identity | jerk
    accel: float | None = None  # the face's acceleration over this link and the one before, eye distances/s²
    accel_dt: float = 0.0  # the mean time step it was measured over, seconds

    def to_dict(self) -> dict:
        out: dict[str, float | str] = {"dt": round(self.dt, 3), "jump": round(self.jump, 3)}
        for name in ("fraction", "ncc", "identity", "accel"):
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
    if link.accel is not None and link.accel > max(policy.accel_max, policy.jerk_min / link.accel_dt**2):
        return "jerk"
    return None


def impulse(policy, before, middle, after=None) -> bool:
    """Did the face move in the ``middle`` link only, still in the link ``before`` it and, when
    known, ``after`` it?  Links are (dt, moved) as in acceleration(); a moved of None: unknown."""
    sides = [x for x in (before, after) if x is not None]
    if middle[1] is None or any(x[1] is None for x in sides):
        return False
    dt, moved = middle
    if dt >= policy.impulse_seconds or moved < policy.impulse_min:
        return False
    return all(x[1] <= policy.impulse_ratio * moved for x in sides)


def acceleration(moved1: float, dt1: float, moved2: float, dt2: float, spanned: float) -> tuple[float, float]:
    """(acceleration in eye distances/s², the mean time step) of a face whose tracked texture moved
    ``moved1`` from frame 0 to 1 (``dt1`` seconds), ``moved2`` from 1 to 2 and ``spanned`` from 0 to 2
    (root-mean-square displacements, eye distances).

    With the displacements u (0→1) and v (1→2), u + v is the displacement 0→2, so
    u·v = (|u+v|² − |u|² − |v|²) / 2 and |u/dt1 − v/dt2|² follows from the three lengths alone:
    no point has to be tracked over three frames.  A reversal (u+v ≈ 0) or a start from standstill
    (|u| ≈ 0, |v| large) both show as a large velocity change."""
    dt1, dt2 = max(dt1, FRAME_FLOOR), max(dt2, FRAME_FLOOR)
    dot = (spanned**2 - moved1**2 - moved2**2) / 2
    change = (moved1 / dt1) ** 2 + (moved2 / dt2) ** 2 - 2 * dot / (dt1 * dt2)
    step = (dt1 + dt2) / 2
    return float(np.sqrt(max(change, 0.0))) / step, step


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
    accel: tuple[float, float] | None = None,
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
    if accel is not None:
        link.accel, link.accel_dt = accel
    link.cut = judge(policy, link, eyes)
    return link
