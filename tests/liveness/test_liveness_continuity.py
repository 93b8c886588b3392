"""The continuity gate: a cut resets the evidence, repeated cuts refuse, a live verdict
holds only while the same face stays (issue 16 §1)."""

import numpy as np
import pytest

from appliance.face.embedder import align_face
from appliance.liveness import attacks, continuity, splices
from appliance.liveness.checker import LivenessChecker
from appliance.liveness.evaluate import NO_CONTINUITY
from appliance.liveness.policy import Policy

POLICY = Policy()


def link(**values):
    base = dict(dt=0.1, jump=0.05, fraction=0.98, ncc=0.95, identity=0.95)
    return continuity.Link(**{**base, **values})


@pytest.mark.parametrize(
    "change,cut",
    [
        ({}, None),
        ({"dt": 3.0}, "gap"),
        ({"jump": 0.6}, "jump"),
        ({"jump": 0.6, "dt": 0.5}, None),  # 0.6 eye distances in half a second is a head moving
        ({"fraction": 0.4}, "tracking"),
        ({"fraction": None}, None),  # nothing to track says nothing
        ({"identity": 0.3}, "identity"),
        ({"identity": None}, None),  # no embedding (a poor frame): not judged
    ],
)
def test_each_kind_of_cut(change, cut):
    assert continuity.judge(POLICY, link(**change)) == cut


def test_looser_while_the_eyes_open_or_close():
    """A blink disturbs the tracking around the eyes and moves the embedding; a swap does not
    close the eyes, so it meets the strict thresholds."""
    swap = link(fraction=0.86, identity=0.82)
    assert continuity.judge(POLICY, swap, eyes_moving=False) == "tracking"
    assert continuity.judge(POLICY, link(identity=0.82), eyes_moving=False) == "identity"
    assert continuity.judge(POLICY, swap, eyes_moving=True) is None
    assert continuity.eyes_moving(POLICY, 0.30, 0.20) and not continuity.eyes_moving(POLICY, 0.30, 0.29)
    assert continuity.eyes_moving(POLICY, None, 0.3)  # no mesh: cannot tell


def test_identity_is_judged_against_the_previous_frame_and_the_run():
    a, b = np.eye(128, dtype=np.float32)[0], np.eye(128, dtype=np.float32)[1]
    assert continuity.identity_agreement(a, a, a * 5) == pytest.approx(1.0)
    assert continuity.identity_agreement(a, a, b) == pytest.approx(0.0)  # drifted away from the run
    assert continuity.identity_agreement(None, a, a) is None


def feed(engine, checker, key, frames, first=0):
    verdicts = []
    for index, frame in enumerate(frames):
        face = max(engine.detector.detect(frame), key=lambda f: f.area)
        embedding = engine.embedder.embed(align_face(frame, face.landmarks))
        verdicts.append(
            checker.observe(key, frame, face.landmarks, face.box, embedding=embedding, t=index / 10)
        )
    return verdicts


def test_a_swap_between_two_photos_is_refused_as_discontinuous(liveness_engine, liveness_photos):
    """Two photos of one person (the second taken from another angle) shown in turn: read as
    3-D motion before the gate."""
    frames, _ = splices.sequence_with_target("photo_swap", *liveness_photos["biden"], 0, n=10)
    verdicts = feed(liveness_engine, LivenessChecker(Policy(max_frames=10)), "swap", frames)
    assert not any(v.live for v in verdicts), [v.reason for v in verdicts]
    assert verdicts[-1].live is False and verdicts[-1].reason == "discontinuous", verdicts[-1]
    assert any(v.reason == "face_changed" for v in verdicts)  # the hint after a cut
    # without the gate (cuts never counted, nothing reset) the same stream is accepted
    lax = Policy(max_frames=10, **NO_CONTINUITY)
    assert any(v.live for v in feed(liveness_engine, LivenessChecker(lax), "swap", frames))


def test_a_live_verdict_is_revoked_when_somebody_else_steps_in(liveness_engine, liveness_photos):
    frames, first = splices.sequence_with_target(
        "second_person", *liveness_photos["biden"], 3, n=12, partner=liveness_photos["obama_1"]
    )
    verdicts = feed(liveness_engine, LivenessChecker(Policy(max_frames=12)), "step-in", frames)
    assert any(v.live for v in verdicts[:first])  # the live person was live…
    assert not any(v.live for v in verdicts[first:]), [(v.reason, v.cues.get("link")) for v in verdicts]
    step_in = verdicts[first].cues["link"]  # …and the print is not: a cut, and another identity
    assert step_in["cut"] in ("jump", "tracking", "identity") and step_in["identity"] < POLICY.identity_min


def test_a_continuous_bona_fide_head_has_no_cut(liveness_engine, liveness_photos):
    frames = attacks.sequence("bona_fide", *liveness_photos["astronaut"], 9, n=10)
    checker = LivenessChecker(Policy(max_frames=10))
    verdicts = feed(liveness_engine, checker, "bf", frames)
    assert verdicts[-1].live is True and verdicts[-1].cues["cuts"] == 0, verdicts[-1]
    assert all(v.live for v in verdicts[verdicts.index(next(v for v in verdicts if v.live)) :])
