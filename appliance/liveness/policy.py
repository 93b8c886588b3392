"""Liveness policy: thresholds and which checks are required (built from [liveness]).

Defaults are measured on the evaluation set of appliance/liveness/attacks.py
(docs/liveness.md; `python -m appliance.liveness.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKS = ("motion", "moire", "model", "remote")


@dataclass(frozen=True)
class Policy:
    required: tuple[str, ...] = ("motion",)
    """Checks that must say "live" before the verdict is live."""
    vetoes: tuple[str, ...] = ("moire", "model", "remote")
    """Checks that reject the presentation when they say "attack" (if available)."""
    parallax_threshold: float = 0.03
    """Motion a homography cannot explain (75th percentile, eye distances) above which the face is 3-D."""
    parallax_ratio: float = 1.0
    """…and that parallax must also be at least this multiple of the turn (a plane's is far less)."""
    turn_min: float = 0.025
    """Non-similarity motion (eye distances) needed before parallax is judged: the head must turn."""
    moire_threshold: float = 3.5
    """Median whitened spectral peak at or above which the face is on a screen."""
    model_threshold: float = 0.5
    """Mean 'real' probability of the installed ONNX model below which it vetoes."""
    remote_threshold: float = 0.5
    """Remote API score below which it vetoes (−1, no live face, always vetoes)."""
    remote_on_unreachable: str = "local"
    """local: decide without the remote API when it fails; reject: the verdict is not live."""
    min_frames: int = 3
    """No verdict before this many frames of one presentation."""
    max_frames: int = 12
    """Frames after which a presentation that has not proven life is rejected."""
    history: int = 6
    """Earlier frames each new frame is compared with (bounded work and memory)."""
    remote_images: int = 2
    """Frames sent to the remote API (the seed suggests at most 8)."""
    blink: bool = True
    """A blink on one continuous face proves life like a head turn does (needs the face mesh model)."""
    blink_depth: float = 0.18
    """Eye openness must fall by at least this share between two open frames to count as a blink."""
    blink_max_seconds: float = 0.7
    """Longest close-and-reopen counted (open frame to open frame; a blink lasts 0.1–0.4 s)."""
    blink_still: float = 0.1
    """The face (its tracked texture, eyes left out) may move at most this many eye distances
    during the blink."""
    track_min: float = 0.9
    """Share of the inner face's corners (eyes left out) that must track between frames, else a cut."""
    identity_min: float = 0.85
    """Cosine of a frame's embedding to the previous frame and the run's mean, below which it is a cut."""
    track_min_eyes: float = 0.8
    """track_min while the eyes open or close (a blink disturbs the face around them), or without the mesh."""
    identity_min_eyes: float = 0.75
    """identity_min while the eyes open or close (a closed eye moves the embedding), or without the mesh."""
    eyes_change: float = 0.12
    """Relative change of eye openness between two frames from which the eyes count as moving."""
    jump_speed: float = 3.5
    """Fastest landmark motion (eye distances a second) of one continuous face."""
    jump_min: float = 0.35
    """…but a frame may always move this many eye distances (timing jitter of fast streams)."""
    accel_max: float = 10.0
    """Fastest change of the face's velocity (eye distances/s², tracked texture, eyes left out) of
    one continuous face; faster (a reversal or a start within one frame) is a cut (``jerk``)."""
    jerk_min: float = 0.1
    """…but a velocity change under this many eye distances a frame is never one (tracking noise at
    high frame rates; frames that arrive in a burst are judged as if 10 fps: accel_max × 0.1²)."""
    impulse_seconds: float = 0.2
    """A head movement takes at least this long: one that starts and ends within a shorter link is
    an ``impulse`` (a cut, ``jerk``)…"""
    impulse_min: float = 0.03
    """…when it moved the face (RMS of its tracked texture, eyes left out) at least this many eye
    distances…"""
    impulse_ratio: float = 0.35
    """…and the links before and after it moved it at most this share of that."""
    max_gap: float = 2.0
    """Seconds between frames after which the evidence restarts (not counted as a cut)."""
    max_cuts: int = 2
    """Cuts (jumps, tracking lost, another identity) after which the presentation is refused."""

    def __post_init__(self):
        for name in (*self.required, *self.vetoes):
            if name not in CHECKS:
                raise ValueError(f"unknown liveness check {name!r}; known: {CHECKS}")
        if self.remote_on_unreachable not in ("local", "reject"):
            raise ValueError("remote_on_unreachable must be 'local' or 'reject'")
        if self.min_frames < 2 or self.max_frames < self.min_frames:
            raise ValueError("need 2 <= min_frames <= max_frames")
        if self.max_cuts < 1:
            raise ValueError("max_cuts must be at least 1")

    @classmethod
    def from_settings(cls, cfg) -> Policy:
        """From the [liveness] config section (appliance.config.LivenessSettings)."""
        names = list(cls.__dataclass_fields__)
        return cls(**{n: getattr(cfg, n) for n in names if hasattr(cfg, n)})
