"""LivenessChecker: frames of one presentation in, a verdict out (the in-process API).

``observe(key, frame_bgr, landmarks, box) -> Verdict`` is called for every
frame the face worker analyses; ``key`` is the connection's hash.  State per
key is kept (bounded: least-recently-used eviction beyond ``max_sessions``,
idle expiry) until ``forget(key)``.

Fusion is veto-based, because each cue answers a different question:
``motion`` (appliance.liveness.motion) proves a 3-D head and is the required
check by default; ``moire`` (a screen), the optional ONNX ``model`` and the
``remote`` API can each reject.  A verdict, once reached, is final for the
key: an attack cannot retry on the same connection.  ``score`` is the weakest
cue's score (0.5 at its threshold), a number for logs and technicians, not a
probability.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import frame_cues, motion
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
        return {"live": self.live, "score": round(self.score, 4), "reason": self.reason,
                "cues": self.cues, "frames": self.frames}


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
    used: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class LivenessChecker:
    def __init__(self, policy: Policy | None = None, model=None, remote=None,
                 max_sessions: int = 64, idle_expiry: float = 300.0):
        self.policy = policy or Policy()
        self.model, self.remote = model, remote
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
    def observe(self, key: str, frame_bgr: np.ndarray, landmarks, box) -> Verdict:
        """Add one frame (BGR uint8, the detector's 5 landmarks and box) and decide if possible."""
        landmarks = np.asarray(landmarks, np.float32).reshape(5, 2)
        state = self._session(key, landmarks)
        with state.lock:
            state.frames += 1
            if state.final is not None:
                state.final.frames = state.frames
                return state.final
            self._measure(state, frame_bgr, landmarks, box)
            verdict = self._decide(state)
            if verdict.live is not None:
                state.final = verdict
            return verdict

    def _measure(self, state: _Presentation, frame_bgr, landmarks, box) -> None:
        current = motion.view(frame_bgr, landmarks, state.scale)
        for earlier in ([state.first] if state.first is not None else []) + list(state.recent):
            try:
                pair = motion.measure(earlier, current)
            except cv2.error:  # degenerate landmarks (e.g. collinear): this pair says nothing
                pair = None
            if pair is not None and (state.best is None or pair.turn > state.best.turn):
                state.best = pair
        if state.first is None:
            state.first = current
        else:
            state.recent.append(current)
        score = frame_cues.moire_score(frame_bgr, landmarks)
        if score is not None:
            state.moire.append(score)
        if self.model is not None:
            try:
                state.model.append(self.model.real_probability(frame_bgr, box))
            except Exception as exc:  # a technician's model that misbehaves must not stop the kiosk
                log.warning("liveness model failed on a frame: %s", exc)
        state.remote_frames.append(frame_bgr)

    def _cues(self, state: _Presentation) -> tuple[dict, dict]:
        """(cue values for the reply, cue scores 0..1 with 0.5 at the threshold)."""
        p, values, scores = self.policy, {}, {}
        if state.best is not None:
            values.update(turn=round(state.best.turn, 4), parallax=round(state.best.parallax, 4),
                          nose=round(state.best.nose, 4), tracks=state.best.tracks)
            if state.best.turn >= p.turn_min:
                ratio = state.best.parallax / state.best.turn
                values["ratio"] = round(ratio, 3)
                scores["motion"] = _sigmoid(4 * min(state.best.parallax / p.parallax_threshold - 1,
                                                    ratio / p.parallax_ratio - 1))
            else:  # not judged yet: below 0.5, rising as the head turns
                scores["motion"] = 0.49 * state.best.turn / p.turn_min
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
        return values, scores

    def _decide(self, state: _Presentation) -> Verdict:
        p = self.policy
        values, scores = self._cues(state)

        def verdict(live, reason):
            v, s = self._cues(state)
            return Verdict(live, min(s.values(), default=0.0), reason, v, state.frames)

        if state.frames < p.min_frames:
            return verdict(None, "collecting")
        if "moire" in p.vetoes and "moire" in values and values["moire"] >= p.moire_threshold:
            return verdict(False, "screen_moire")
        if "model" in p.vetoes and "model" in values and values["model"] < p.model_threshold:
            return verdict(False, "model_spoof")
        local = {"motion": scores.get("motion", 0.0) >= 0.5 and state.best is not None
                 and state.best.turn >= p.turn_min,
                 "moire": scores.get("moire", 0.0) >= 0.5,
                 "model": scores.get("model", 0.0) >= 0.5}
        if all(local[name] for name in p.required if name != "remote"):
            remote_reason = self._ask_remote(state)
            if remote_reason is not None:
                return verdict(False, remote_reason)
            return verdict(True, "live")
        if state.frames >= p.max_frames:
            turned = state.best is not None and state.best.turn >= p.turn_min
            return verdict(False, "planar" if turned else "no_head_turn")
        return verdict(None, "turn_head" if "motion" in p.required else "collecting")

    def _ask_remote(self, state: _Presentation) -> str | None:
        """Ask the remote API once; a reason to reject, or None."""
        p = self.policy
        wanted = "remote" in p.required or "remote" in p.vetoes
        if self.remote is None or not wanted:
            return None
        from .remote import NO_LIVE_FACE, RemoteError, RemoteUnavailable

        try:
            answer = self.remote.check(list(state.remote_frames))
            state.remote = {"score": answer.score, "ms": answer.elapsed_ms}
        except (RemoteError, RemoteUnavailable, ValueError) as exc:
            state.remote = {"error": str(exc)}
            log.warning("liveness API: %s", exc)
            if "remote" in p.required and p.remote_on_unreachable == "reject":
                return "remote_unavailable"
            return None  # decide locally: the kiosk never blocks on the remote API
        if answer.score == NO_LIVE_FACE:
            return "remote_no_live_face"
        if answer.score < p.remote_threshold:
            return "remote_low_score"
        return None
