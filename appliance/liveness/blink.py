"""The blink cue: the eyes close and reopen, within human timing, on one still, continuous face.

People blink every few seconds without being asked; a print or a still
screen never does.  Per frame the face mesh (appliance.liveness.mesh) gives
the eye openness (eyelid gap / eye width).  A blink is frames i < j < k with

* ``depth`` = 1 − openness(j) / min(openness(i), openness(k)) ≥ ``blink_depth``
  (the lids came down and went up again: a head that turns or tilts changes
  the ratio slowly and in one direction);
* t(k) − t(i) ≤ ``blink_max_seconds`` (a blink lasts 100–400 ms; a slow
  close-and-open is not counted);
* the face (its tracked texture, eyes left out) moved less than
  ``blink_still`` eye distances from frame i to any frame up to k (a blink
  moves the lids, not the face: two prints swapped by hand, one with closed
  eyes, land in different places);
* no cut between i and k (the samples are cleared at every cut).

A video replay of a blinking face passes this cue: only the moiré veto stands
against it (docs/liveness.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EyeSample:
    t: float
    openness: float
    position: np.ndarray  # where the face is: its tracked motion summed since the run began, eye distances


@dataclass
class BlinkMeasure:
    depth: float  # the deepest close-and-reopen found (0 when none)
    seconds: float  # its duration, open frame to open frame
    still: float  # how far the face moved meanwhile, eye distances
    found: bool  # a blink that meets every condition


def sample(t: float, openness: float, position) -> EyeSample:
    return EyeSample(t=t, openness=float(openness), position=np.asarray(position, np.float64).reshape(2))


def best_blink(samples: list[EyeSample], policy) -> BlinkMeasure:
    """The best blink among the samples (found=True only when it meets every condition)."""
    best = BlinkMeasure(0.0, 0.0, 0.0, False)
    n = len(samples)
    for i in range(n):
        for k in range(i + 2, n):
            seconds = samples[k].t - samples[i].t
            if seconds > policy.blink_max_seconds:
                break
            closed = min(s.openness for s in samples[i + 1 : k])
            reopened = min(samples[i].openness, samples[k].openness)
            if reopened <= 0:
                continue
            depth = 1.0 - closed / reopened
            moved = max(
                float(np.linalg.norm(s.position - samples[i].position)) for s in samples[i + 1 : k + 1]
            )
            found = depth >= policy.blink_depth and moved <= policy.blink_still
            if (found, depth) > (best.found, best.depth):
                best = BlinkMeasure(round(depth, 3), round(seconds, 3), round(moved, 3), found)
    return best
