"""LivenessChecker: frames of one presentation in, a verdict out (the in-process API).

``observe(key, frame_bgr, landmarks, box, embedding=None, t=None) -> Verdict`` is called for every
frame the face worker analyses (``key``: the connection's hash; ``embedding``: the face's SFace
embedding; ``t``: the frame's time in seconds, default now).  State per key is kept (LRU beyond
``max_sessions``, idle expiry) until ``forget(key)``.  Each frame is first linked to the previous
one (appliance.liveness.continuity): a cut (a jump, tracking lost, another identity, a jerk no
head makes) throws the evidence away and counts; ``max_cuts`` cuts refuse.  Fusion is veto-based:
``motion`` (required by default) is met by 3-D parallax when the head turns (motion.py) or a blink
(blink.py, with the face mesh); ``moire``, the optional ONNX ``model`` and the ``remote`` API can
each reject.  A refusal is final for the key; a live verdict holds only while the face stays
continuous.  ``score`` is the weakest cue's score (0.5 at its threshold), for logs, not a probability.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from . import blink, continuity, frame_cues, motion
from .policy import Policy

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    live: bool | None  # None: not decided yet, send more frames
    score: float
    reason: str
    cues: dict = field(default_factory=dict)
    frames: int = 0

    def to_dict(self) -> dict:
        return {
            "live": self.live,
            "score": round(self.score, 4),
            "reason": self.reason,
            "cues": self.cues,
            "frames": self.frames,
        }


@dataclass
class _Presentation:
    scale: float
    first: motion.FrameView | None = None
    recent: collections.deque = field(default_factory=collections.deque)
    frames: int = 0
    best: motion.PairMeasure | None = None  # the pair with the largest turn so far
    moire: list = field(default_factory=list)
    model: list = field(default_factory=list)
    remote: dict | None = None
    remote_frames: collections.deque = field(default_factory=collections.deque)
    final: Verdict | None = None
    last: motion.FrameView | None = None  # the previous frame (continuity)
    last_t: float = 0.0
    last_embedding: np.ndarray | None = None
    last_openness: float | None = None
    run_embedding: np.ndarray | None = None  # sum of the run's embeddings (identity over the window)
    run_frames: int = 0  # frames since the last cut
    cuts: int = 0
    link: continuity.Link | None = None
    trail: tuple | None = None  # (frame n-1, its time, the face's motion n-1 → n) while continuous
    moves: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2))  # (dt, moved)
    onset: bool = False  # the newest link may be an impulse: no live verdict before the next frame
    spanning: tuple | None = None  # (frame n-2, its pair measure with frame n): for _measure to reuse
    eyes: list = field(default_factory=list)  # blink.EyeSample since the last cut
    position: np.ndarray = field(default_factory=lambda: np.zeros(2))  # the face's tracked path
    blink: blink.BlinkMeasure | None = None
    used: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class LivenessChecker:
    def __init__(
        self,
        policy: Policy | None = None,
        model=None,
        remote=None,
        max_sessions: int = 64,
        idle_expiry: float = 300.0,
        mesh=None,
    ):
        self.policy = policy or Policy()
        self.model, self.remote = model, remote
        self.mesh = mesh if self.policy.blink else None  # appliance.liveness.mesh.FaceMesh
        self._mesh_lock = threading.Lock()  # one LiteRT interpreter, handler threads take turns
        if "model" in self.policy.required and model is None:
            raise ValueError("liveness.required lists 'model' but no liveness.model_file is installed")
        if "remote" in self.policy.required and remote is None:
            raise ValueError("liveness.required lists 'remote' but liveness_api.enabled is false")
        self.max_sessions, self.idle_expiry = max_sessions, idle_expiry
        self._table: collections.OrderedDict[str, _Presentation] = collections.OrderedDict()
        self._lock = threading.Lock()

    # -- sessions --------------------------------------------------------------
    @property
    def sessions(self) -> int:
        return len(self._table)

    def forget(self, key: str) -> bool:
        with self._lock:
            return self._table.pop(key, None) is not None

    def _session(self, key: str, landmarks) -> _Presentation:
        now = time.monotonic()
        with self._lock:
            for old in [k for k, s in self._table.items() if now - s.used > self.idle_expiry]:
                del self._table[old]
            state = self._table.get(key)
            if state is None:
                state = _Presentation(scale=motion.frame_scale(landmarks))
                state.recent = collections.deque(maxlen=max(1, self.policy.history - 1))
                state.remote_frames = collections.deque(maxlen=max(1, self.policy.remote_images))
                self._table[key] = state
                while len(self._table) > self.max_sessions:
                    self._table.popitem(last=False)
            self._table.move_to_end(key)
            state.used = now
            return state

    # -- the check ---------------------------------------------------------------
    def observe(
        self, key: str, frame_bgr: np.ndarray, landmarks, box, embedding=None, t: float | None = None
    ) -> Verdict:
        """Add one frame (BGR uint8, the detector's 5 landmarks and box, optionally the face's
        embedding and the frame's time in seconds) and decide if possible."""
        landmarks = np.asarray(landmarks, np.float32).reshape(5, 2)
        state = self._session(key, landmarks)
        with state.lock:
            state.frames += 1
            if state.final is not None and state.final.live is False:
                state.final.frames = state.frames
                return state.final
            current = motion.view(frame_bgr, landmarks, state.scale)
            now = time.monotonic() if t is None else float(t)
            openness = self._openness(frame_bgr, landmarks)
            pair = self._follow(state, current, embedding, now, openness)
            if state.final is not None:  # live, and the face stayed the same
                state.final.frames = state.frames
                return state.final
            if state.cuts >= self.policy.max_cuts:
                state.final = self._verdict(state, False, "discontinuous")
                return state.final
            self._measure(state, frame_bgr, current, landmarks, box, pair, now, openness)
            verdict = self._decide(state)
            if verdict.live is not None:
                state.final = verdict
            return verdict

    def _follow(
        self, state: _Presentation, current: motion.FrameView, embedding, now: float, openness: float | None
    ):
        """Link the frame to the previous one; on a cut, drop the evidence. The (previous,
        current) pair's parallax measure, to reuse, or None."""
        pair = None
        if state.last is not None:
            try:
                pair, tracked = motion.measure_linked(state.last, current)
            except cv2.error:
                pair, tracked = None, (0.0, 0.0, None)
            accel = self._acceleration(state, current, now, pair)
            identity = continuity.identity_agreement(embedding, state.last_embedding, state.run_embedding)
            # the loose thresholds hold while the eyes move and while they stay shut: a closed eye
            # moves the embedding away from the run's open-eyed mean for the whole blink
            open_eyes = max((s.openness for s in state.eyes), default=None)
            eyes = continuity.eyes_moving(self.policy, state.last_openness, openness) or (
                continuity.eyes_moving(self.policy, open_eyes, openness)
            )
            state.link = continuity.make_link(
                self.policy, state.last, current, now - state.last_t, tracked, identity, eyes, accel
            )
            if state.link.cut is None:
                state.link.cut = self._impulse(
                    state, now - state.last_t, None if pair is None else pair.moved
                )
            if state.link.cut is not None:
                self._restart(state, counted=state.link.cut != "gap")
                pair = None
            else:  # where the face went: its tracked texture, else (no tracks) its landmarks
                moved = (
                    state.link.shift
                    if state.link.shift is not None
                    else np.median(current.landmarks - state.last.landmarks, axis=0) / max(current.iod, 1.0)
                )
                state.position = state.position + moved
        e = continuity.unit(embedding)
        state.trail = (state.last, state.last_t, pair.moved) if pair is not None else None
        state.last, state.last_t, state.last_embedding = current, now, e
        state.last_openness = openness
        if e is not None:
            state.run_embedding = e if state.run_embedding is None else state.run_embedding + e
        state.run_frames += 1
        return pair

    def _acceleration(self, state: _Presentation, current, now: float, pair) -> tuple[float, float] | None:
        """The face's acceleration over the run's last three frames (continuity.acceleration)."""
        state.spanning = None
        if pair is None or state.trail is None:
            return None
        older, t_older, moved = state.trail
        try:
            spanning = motion.measure(older, current)
        except cv2.error:
            spanning = None
        if spanning is None:
            return None
        state.spanning = (older, spanning)
        return continuity.acceleration(
            moved, state.last_t - t_older, pair.moved, now - state.last_t, spanning.moved
        )

    def _impulse(self, state: _Presentation, dt: float, moved: float | None) -> str | None:
        """'jerk' when the previous link moved the face and the links on both sides held it still;
        notes whether the newest link may be one (then the verdict waits a frame)."""
        m, still = list(state.moves), (0.0, 0.0)  # before the run's first link: taken as still
        previous = m[-2] if len(m) > 1 else still
        cut = "jerk" if m and continuity.impulse(self.policy, previous, m[-1], (dt, moved)) else None
        state.onset = continuity.impulse(self.policy, m[-1] if m else still, (dt, moved))
        state.moves.append((dt, moved))
        return cut

    def _restart(self, state: _Presentation, counted: bool) -> None:
        """A cut: the frames before it say nothing about the frames after it."""
        if counted:
            state.cuts += 1
        if state.final is not None and state.final.live:
            log.info("liveness revoked: the face changed (%s)", state.link.cut if state.link else "?")
        state.final = None
        state.first, state.best, state.blink = None, None, None
        state.recent.clear()
        state.eyes.clear()
        state.moves.clear()
        state.onset = False
        state.run_frames, state.run_embedding = 0, None
        state.position = np.zeros(2)

    def _measure(self, state: _Presentation, frame_bgr, current, landmarks, box, pair, now, openness) -> None:
        earlier = ([state.first] if state.first is not None else []) + list(state.recent)
        for before in earlier:
            if before is earlier[-1]:
                candidate = pair  # the previous frame: measured by the continuity link already
            elif state.spanning is not None and before is state.spanning[0]:
                candidate = state.spanning[1]  # the one before: measured for the acceleration
            else:
                try:
                    candidate = motion.measure(before, current)
                except cv2.error:  # degenerate landmarks (e.g. collinear): this pair says nothing
                    candidate = None
            if candidate is not None and (state.best is None or candidate.turn > state.best.turn):
                state.best = candidate
        if state.first is None:
            state.first = current
        else:
            state.recent.append(current)
        self._eyes(state, openness, now)
        score = frame_cues.moire_score(frame_bgr, landmarks)
        if score is not None:
            state.moire.append(score)
        if self.model is not None:
            try:
                state.model.append(self.model.real_probability(frame_bgr, box))
            except Exception as exc:  # a technician's model that misbehaves must not stop the kiosk
                log.warning("liveness model failed on a frame: %s", exc)
        state.remote_frames.append(frame_bgr)

    def _openness(self, frame_bgr, landmarks) -> float | None:
        """Eye openness from the face mesh (None: no mesh, or it sees no face here)."""
        if self.mesh is None:
            return None
        with self._mesh_lock:
            result = self.mesh.run(frame_bgr, landmarks)
        return result.openness if result.presence >= 0.5 else None

    def _eyes(self, state: _Presentation, openness: float | None, now: float) -> None:
        """The best blink of the run so far."""
        if openness is None or (state.blink is not None and state.blink.found):
            return
        state.eyes.append(blink.sample(now, openness, state.position))
        del state.eyes[:-64]  # bounded; a blink spans well under a second
        state.blink = blink.best_blink(state.eyes, self.policy)

    def _cues(self, state: _Presentation) -> tuple[dict, dict]:
        """(cue values for the reply, cue scores 0..1 with 0.5 at the threshold)."""
        p = self.policy
        values: dict[str, Any] = {}
        scores: dict[str, float] = {}
        if state.best is not None:
            values.update(
                turn=round(state.best.turn, 4),
                parallax=round(state.best.parallax, 4),
                nose=round(state.best.nose, 4),
                tracks=state.best.tracks,
            )
            if state.best.turn >= p.turn_min:
                ratio = state.best.parallax / state.best.turn
                values["ratio"] = round(ratio, 3)
                scores["motion"] = _sigmoid(
                    4 * min(state.best.parallax / p.parallax_threshold - 1, ratio / p.parallax_ratio - 1)
                )
            else:  # not judged yet: below 0.5, rising as the head turns
                scores["motion"] = 0.49 * state.best.turn / p.turn_min
        if state.blink is not None:
            values["blink"] = {
                "depth": state.blink.depth,
                "seconds": state.blink.seconds,
                "still": state.blink.still,
                "found": state.blink.found,
            }
            blink_score = _sigmoid(8 * (state.blink.depth / p.blink_depth - 1))
            if state.blink.found and blink_score >= scores.get("motion", 0.0):
                scores["motion"] = max(blink_score, 0.5)
        if state.eyes:
            values["openness"] = round(state.eyes[-1].openness, 4)
        if len(state.moire) >= 2:
            values["moire"] = round(float(np.median(state.moire)), 3)
            scores["moire"] = _sigmoid(8 * (1 - values["moire"] / p.moire_threshold))
        if state.model:
            values["model"] = round(float(np.mean(state.model)), 4)
            scores["model"] = _sigmoid(8 * (values["model"] - p.model_threshold))
        if state.remote is not None:
            values["remote"] = state.remote
            if "score" in state.remote:
                scores["remote"] = max(0.0, float(state.remote["score"]))
        values["cuts"] = state.cuts
        if state.link is not None:
            values["link"] = state.link.to_dict()
        return values, scores

    def _verdict(self, state: _Presentation, live, reason: str) -> Verdict:
        values, scores = self._cues(state)
        return Verdict(live, min(scores.values(), default=0.0), reason, values, state.frames)

    def _proof(self, state: _Presentation) -> str | None:
        """What proved life: a head turn with parallax, a blink, or nothing yet."""
        p, best = self.policy, state.best
        if (
            best is not None
            and best.turn >= p.turn_min
            and best.parallax >= p.parallax_threshold
            and best.parallax / best.turn >= p.parallax_ratio
        ):
            return "turn"
        if state.blink is not None and state.blink.found:
            return "blink"
        return None

    def _waiting_for(self, state: _Presentation) -> str:
        """The undecided reason, which is also what the front end should ask for."""
        if state.cuts and state.run_frames < self.policy.min_frames:
            return "face_changed"  # the evidence restarted: one face, kept in view
        if state.run_frames < self.policy.min_frames:
            return "collecting"
        if "motion" not in self.policy.required:
            return "collecting"
        return "blink_or_turn" if self.mesh is not None else "turn_head"

    def _decide(self, state: _Presentation) -> Verdict:
        p = self.policy
        values, scores = self._cues(state)
        if state.frames >= p.min_frames:
            if "moire" in p.vetoes and "moire" in values and values["moire"] >= p.moire_threshold:
                return self._verdict(state, False, "screen_moire")
            if "model" in p.vetoes and "model" in values and values["model"] < p.model_threshold:
                return self._verdict(state, False, "model_spoof")
        proof = self._proof(state)
        local = {
            "motion": proof is not None,
            "moire": scores.get("moire", 0.0) >= 0.5,
            "model": scores.get("model", 0.0) >= 0.5,
        }
        ready = state.run_frames >= p.min_frames and not state.onset
        if ready and all(local[name] for name in p.required if name != "remote"):
            remote_reason = self._ask_remote(state)
            if remote_reason is not None:
                return self._verdict(state, False, remote_reason)
            verdict = self._verdict(state, True, "live")
            if proof is not None:
                verdict.cues["proof"] = proof
            return verdict
        if state.frames >= p.max_frames:
            turned = state.best is not None and state.best.turn >= p.turn_min
            still = "no_blink_or_turn" if self.mesh is not None else "no_head_turn"
            return self._verdict(state, False, "planar" if turned else still)
        return self._verdict(state, None, self._waiting_for(state))

    def _ask_remote(self, state: _Presentation) -> str | None:
        """Ask the remote API once (when it is wanted); a reason to reject, or None."""
        p = self.policy
        if self.remote is None or not ("remote" in p.required or "remote" in p.vetoes):
            return None
        from .remote import ask

        state.remote, reason = ask(self.remote, p, list(state.remote_frames))
        return reason
