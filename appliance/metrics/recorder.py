"""The gateway's own counters: one line at each place a reply is produced.

Everything here runs on the gateway's event loop, costs a dict lookup and an addition per call, and
never blocks: prometheus_client's in-process values, a private registry (not the global one, so a test
or a bench may hold several). Labels pass through labels.safe: no citizen data reaches a series.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

from ..dialogue.record import RECORD_FIELDS
from .labels import OTHER, safe, service

OPERATIONS = (
    "face_predict",
    "face_train",
    "stt",
    "tts",
    "handshake_text",
    "handshake_audio",
    "storage",
    "summary",
    "qna_answer",
    "flow",
)
"""`flow`: a POST to port 10925 refused before its type was known (bad JSON, unknown type)."""
OUTCOMES = (
    "ok",
    "busy",
    "unavailable",
    "timeout",
    "error",
    "processing",
    "too_large",
    "bad_frame",
    "not_enabled",
    "forbidden",
)
FACE_OUTCOMES = (
    "success",
    "fail",
    "unknown",
    "not_live",
    "no_face",
    "quality",
    "busy",
    "unavailable",
    "too_large",
    "bad_frame",
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SCORE_BUCKETS = tuple(float(x) for x in range(10, 101, 10))
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
FRAME_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30)

disable_created_metrics()  # no `_created` twin of every series: half the scrape, nothing a rule uses


class Recorder:
    def __init__(self, services: frozenset[str] = frozenset()):
        self.services = services
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kiosk_operation_requests",
            "Requests answered, by operation and outcome",
            ["operation", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "kiosk_operation_duration_seconds",
            "Time from request to reply",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.recognitions = Counter(
            "kiosk_face_recognitions", "/face_predict frames by outcome", ["outcome"], registry=r
        )
        self.scores = Histogram(
            "kiosk_face_score",
            "Match score (percent, threshold-relative) of successes "
            "and of best unknowns: the site's threshold margin",
            ["outcome"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.liveness = Counter(
            "kiosk_liveness_frames",
            "Frames refused by liveness, by verdict (pending, refused) and the cue that decided",
            ["verdict", "cue"],
            registry=r,
        )
        self.presentations = Counter(
            "kiosk_liveness_presentations",
            "Face connections by result: passed, refused, never_passed (left without a verdict)",
            ["flow", "result"],
            registry=r,
        )
        self.attacks = Counter(
            "kiosk_liveness_attacks_vetoed",
            "Face connections refused by liveness, by the kind of presentation the deciding cue points to",
            ["attack"],
            registry=r,
        )
        self.frames_to_pass = Histogram(
            "kiosk_liveness_frames_to_pass",
            "Frames a connection needed until its face was live",
            ["flow"],
            buckets=FRAME_BUCKETS,
            registry=r,
        )
        self.transcriptions = Counter(
            "kiosk_speech_transcriptions",
            "Utterances transcribed, by result (trusted, untrusted, silence)",
            ["source", "result"],
            registry=r,
        )
        self.rtf = Histogram(
            "kiosk_speech_real_time_factor",
            "Transcription time over audio duration",
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.asked_again = Counter(
            "kiosk_speech_asked_again",
            "Spoken qna answers not heard: the same question asked again",
            registry=r,
        )
        self.handshakes = Counter(
            "kiosk_dialogue_handshakes",
            "Handshakes answered, by classified service",
            ["service", "input"],
            registry=r,
        )
        self.reasked = Counter(
            "kiosk_dialogue_reasked", "Answers refused and asked again, by field", ["field"], registry=r
        )
        self.qna_flows = Counter(
            "kiosk_dialogue_qna_flows", "qna sockets by end: completed or abandoned", ["result"], registry=r
        )

    # -- every operation --------------------------------------------------------------
    def operation(self, name: str, outcome: str, started: float) -> None:
        name, outcome = safe(name, OPERATIONS), safe(outcome, OUTCOMES)
        self.requests.labels(name, outcome).inc()
        self.latency.labels(name).observe(time.perf_counter() - started)

    # -- face -------------------------------------------------------------------------
    def presentation(self, flow: str) -> Presentation:
        return Presentation(self, flow)

    def face_reply(self, reply: dict[str, Any], started: float) -> None:
        """One /face_predict answer: the operation, the recognition's outcome, its score."""
        message, reason = reply.get("message"), reply.get("reason")
        if message in ("success", "fail"):
            outcome = message
        elif reason in FACE_OUTCOMES:
            outcome = reason
        else:  # no face, too small, blurred, several faces: the picture, not the person
            outcome = "quality"
        self.operation("face_predict", _operation_outcome(reason), started)
        self.recognitions.labels(outcome).inc()
        score = reply.get("score")
        if outcome in ("success", "unknown") and isinstance(score, (int, float)):
            self.scores.labels(outcome).observe(float(score))

    # -- speech -----------------------------------------------------------------------
    def transcription(self, source: str, reply: dict[str, Any], started: float) -> None:
        said = bool(reply.get("text"))  # a worker without the trust verdict: words count as trusted
        trusted, heard = reply.get("trusted", said), reply.get("heard", said)
        result = "trusted" if trusted else ("untrusted" if heard else "silence")
        self.transcriptions.labels(safe(source, ("stt", "qna")), result).inc()
        duration = reply.get("duration")
        if isinstance(duration, (int, float)) and duration > 0:
            self.rtf.observe((time.perf_counter() - started) / duration)

    # -- dialogue ---------------------------------------------------------------------
    def handshake(self, body: dict[str, Any], input_kind: str) -> None:
        self.handshakes.labels(service(body.get("classify"), self.services), input_kind).inc()

    def qna_turn(self, turn: dict[str, Any]) -> None:
        if turn.get("event") == "retry":
            self.reasked.labels(safe(turn.get("field"), RECORD_FIELDS)).inc()

    def qna_ended(self, completed: bool) -> None:
        self.qna_flows.labels("completed" if completed else "abandoned").inc()


ATTACKS = {
    "screen_moire": "screen",
    "model_spoof": "model_spoof",
    "planar": "flat_print_or_screen",
    "no_blink_or_turn": "still_presentation",
    "no_head_turn": "still_presentation",
    "discontinuous": "face_swap_or_splice",
}
"""The refusing cue (the reply's ``liveness`` key) -> the attack it points to; any other is ``other``
(the remote API's refusals among them)."""


def attack_of(cue: Any) -> str:
    return ATTACKS.get(cue, "other") if isinstance(cue, str) else "other"


class Presentation:
    """One face connection (/face_predict or face_train): whether and when its face proved live."""

    def __init__(self, recorder: Recorder, flow: str):
        self.recorder, self.flow = recorder, flow
        self.frames = 0
        self.result = ""  # passed | refused | "" (still open)
        self.seen = False  # a frame reached liveness at all

    def frame(self, reply: dict[str, Any]) -> None:
        self.frames += 1
        if reply.get("reason") == "not_live":
            self.seen = True
            verdict = "refused" if reply.get("live") is False else "pending"
            self.recorder.liveness.labels(verdict, safe(reply.get("liveness"))).inc()
            if verdict == "refused" and not self.result:
                self.result = "refused"
                self.recorder.attacks.labels(attack_of(reply.get("liveness"))).inc()
        elif reply.get("message") == "success" or reply.get("reason") in ("unknown", "enrolled_as_other"):
            # a match was looked for: the face had passed liveness
            self.seen = True
            if not self.result:
                self.result = "passed"
                self.recorder.frames_to_pass.labels(self.flow).observe(self.frames)

    def close(self) -> None:
        if self.seen:
            self.recorder.presentations.labels(self.flow, self.result or "never_passed").inc()


def _operation_outcome(reason: Any) -> str:
    """A frame answered by the worker is `ok` whatever it says; refusals keep their reason."""
    return reason if reason in ("busy", "unavailable", "too_large", "bad_frame") else "ok"


def bus_outcome(exc: BaseException) -> str:
    """The outcome word of a failed bus call (bus.BusError.code: unavailable, timeout, busy, …)."""
    code = getattr(exc, "code", "")
    return code if code in OUTCOMES else "error"


RECORDER: Recorder | None = None
"""The gateway's recorder (set up by http.start); None in other processes, where recording is a no-op."""


def get() -> Recorder:
    global RECORDER
    if RECORDER is None:
        RECORDER = Recorder()
    return RECORDER


__all__ = ["Recorder", "Presentation", "RECORDER", "get", "bus_outcome", "OTHER"]
