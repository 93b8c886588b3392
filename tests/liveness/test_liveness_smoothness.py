"""Smooth motion: a stream spliced from stills at a few poses switches pose within one frame and
holds it (or switches back); a head has mass and does neither (issue 16 §1, the ``jerk`` cut)."""

import zlib
from dataclasses import replace

import pytest

from appliance.liveness import continuity, modelfiles, splices
from appliance.liveness.checker import LivenessChecker
from appliance.liveness.evaluate import ROOT, run_presentation
from appliance.liveness.mesh import FaceMesh
from appliance.liveness.policy import Policy

POLICY = Policy()
NO_SMOOTHNESS = dict(accel_max=1e9, jerk_min=1e9, impulse_min=1e9)
"""Policy overrides without the smoothness checks (the checker before them)."""


def test_a_movement_within_one_frame_is_an_impulse_but_not_for_a_slow_client():
    still, move = (0.1, 0.01), (0.1, 0.08)
    assert continuity.impulse(POLICY, still, move, still)  # started and stopped within 0.1 s
    assert continuity.impulse(POLICY, still, move)  # an onset: the verdict waits for the next frame
    assert not continuity.impulse(POLICY, move, move, move)  # a head that keeps turning
    assert not continuity.impulse(POLICY, still, (0.1, 0.02), still)  # tracking noise
    assert not continuity.impulse(POLICY, (0.5, 0.01), (0.5, 0.08), (0.5, 0.01))  # 2 fps: a head can
    assert not continuity.impulse(POLICY, still, (0.1, None), still)  # nothing tracked: not judged


def test_acceleration_from_three_distances_judged_at_the_frames_real_spacing():
    # there and back (A, B, A): the face came back, |a| = 2 × 0.06 / 0.1² = 12 eye distances/s²
    accel, dt = continuity.acceleration(0.06, 0.1, 0.06, 0.1, 0.0)
    assert accel == pytest.approx(12.0) and dt == pytest.approx(0.1)
    # steady motion: the displacements add up, no acceleration
    assert continuity.acceleration(0.06, 0.1, 0.06, 0.1, 0.12)[0] == pytest.approx(0.0, abs=1e-6)
    base = dict(dt=0.1, jump=0.05, fraction=0.98, ncc=0.95, identity=0.95)
    reversal = continuity.Link(**base, accel=accel, accel_dt=dt)
    assert continuity.judge(POLICY, reversal) == "jerk"
    # the same there-and-back at 2 fps is a head shaking no: 0.48 eye distances/s²
    slow = continuity.acceleration(0.06, 0.5, 0.06, 0.5, 0.0)
    assert (
        continuity.judge(POLICY, continuity.Link(**{**base, "dt": 0.5}, accel=slow[0], accel_dt=slow[1]))
        is None
    )
    # a fast client (30 fps): judged per frame as at 10 fps, 0.02 eye distances of noise is none
    noisy = continuity.acceleration(0.02, 1 / 30, 0.02, 1 / 30, 0.0)
    assert continuity.judge(POLICY, continuity.Link(**base, accel=noisy[0], accel_dt=noisy[1])) is None


@pytest.fixture(scope="module")
def mesh():
    path = modelfiles.mesh_path(ROOT / "models")
    if not path.exists():
        pytest.skip("face mesh model not fetched (appliance models fetch --only liveness)")
    return FaceMesh(path)


def _presentation(engine, photos, kind, name, seed, policy, mesh):
    frames, first = splices.sequence_with_target(
        kind, *photos[name], zlib.crc32(f"{kind}/{name}/{seed}".encode()), n=12
    )
    return run_presentation(engine, LivenessChecker(policy, mesh=mesh), frames, f"{kind}/{name}", first)


def test_a_spliced_stream_is_refused_and_the_turning_head_still_passes(
    liveness_engine, liveness_photos, mesh
):
    """Stills of biden at 3–4 poses (development seed 6, neither a tuning nor a held-out seed):
    accepted at frame 3 without the smoothness checks (one pose switch read as a head turn)."""
    policy = Policy(max_frames=12)
    lax = _presentation(
        liveness_engine, liveness_photos, "spliced_frames", "biden", 6, replace(policy, **NO_SMOOTHNESS), mesh
    )
    assert lax["live"], lax
    spliced = _presentation(liveness_engine, liveness_photos, "spliced_frames", "biden", 6, policy, mesh)
    assert not spliced["live"] and spliced["reason"] == "discontinuous", spliced
    for seed in (0, 1):
        head = _presentation(liveness_engine, liveness_photos, "bona_fide", "biden", seed, policy, mesh)
        assert head["live"], head
