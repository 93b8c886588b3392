"""The blink cue (issue 16 §3): eye openness from mediapipe's face mesh, a blink = closing and
reopening within human timing on one still, continuous face; it proves life like a head turn."""

import shutil

import numpy as np
import pytest
from harness import MODELS

from appliance.face.embedder import align_face
from appliance.liveness import attacks, blink, blinks, modelfiles, splices
from appliance.liveness.checker import LivenessChecker
from appliance.liveness.mesh import FaceMesh
from appliance.liveness.policy import Policy

POLICY = Policy()


def samples(openness, fps=10.0, drift=0.0):
    """Eye samples at ``fps``; the face slides ``drift`` eye distances a frame."""
    return [blink.sample(i / fps, o, (drift * i, 0.0)) for i, o in enumerate(openness)]


@pytest.mark.parametrize(
    "series,fps,drift,found",
    [
        ([0.30, 0.30, 0.12, 0.29, 0.30], 10, 0.0, True),  # a blink seen on one frame
        ([0.30, 0.22, 0.10, 0.20, 0.30], 10, 0.0, True),  # …on three
        ([0.30, 0.27, 0.26, 0.28, 0.30], 10, 0.0, False),  # too shallow: noise, a head that turns
        ([0.30] + [0.10] * 8 + [0.30], 10, 0.0, False),  # eyes shut for most of a second: not a blink
        ([0.30, 0.30, 0.12, 0.29, 0.30], 10, 0.2, False),  # the face jumped meanwhile: two prints swapped
        ([0.30, 0.30, 0.30, 0.12, 0.12], 10, 0.0, False),  # closed, never reopened
    ],
)
def test_what_counts_as_a_blink(series, fps, drift, found):
    assert blink.best_blink(samples(series, fps, drift), POLICY).found is found


@pytest.fixture(scope="module")
def mesh():
    modelfiles.ensure_models(MODELS)  # set-up (appliance models fetch); only verifies when present
    return FaceMesh(modelfiles.mesh_path(MODELS))


def test_the_mesh_sees_painted_lids_close(mesh, liveness_photos, liveness_engine):
    rng = np.random.default_rng(0)
    for name, (image, landmarks) in liveness_photos.items():
        openness = []
        for closure in (0.0, 1.0):
            frame = attacks.camera(blinks.paint_lids(image.astype(np.float32), landmarks, closure), rng)
            face = max(liveness_engine.detector.detect(frame), key=lambda f: f.area)
            result = mesh.run(frame, face.landmarks)
            assert result.presence > 0.9
            openness.append(result.openness)
        print(name, openness)
        assert openness[1] < (1 - POLICY.blink_depth) * openness[0], name


def present(engine, checker, frames, key):
    verdicts = []
    for index, frame in enumerate(frames):
        face = max(engine.detector.detect(frame), key=lambda f: f.area)
        verdicts.append(
            checker.observe(
                key,
                frame,
                face.landmarks,
                face.box,
                t=index / blinks.FPS,
                embedding=engine.embedder.embed(align_face(frame, face.landmarks)),
            )
        )
        if verdicts[-1].live is not None:
            break
    return verdicts


def test_a_citizen_who_stands_still_and_blinks_is_live(mesh, liveness_engine, liveness_photos):
    checker = LivenessChecker(Policy(), mesh=mesh)
    frames, _ = splices.sequence_with_target("bona_fide_blink", *liveness_photos["biden"], 5, n=12)
    verdicts = present(liveness_engine, checker, frames, "blink")
    assert verdicts[2].reason == "blink_or_turn"  # the hint: what the kiosk waits for
    assert verdicts[-1].live is True and verdicts[-1].cues["proof"] == "blink", verdicts[-1]
    # the same person, still, not blinking: nothing proves life
    frames = attacks.sequence("bona_fide_still", *liveness_photos["biden"], 5, n=12)
    verdicts = present(liveness_engine, checker, frames, "still")
    assert verdicts[-1].live is False and verdicts[-1].reason == "no_blink_or_turn", verdicts[-1]


def test_a_blink_made_of_two_prints_is_refused(mesh, liveness_engine, liveness_photos):
    checker = LivenessChecker(Policy(), mesh=mesh)
    frames, _ = splices.sequence_with_target("photo_swap_blink", *liveness_photos["obama_3"], 2, n=12)
    verdicts = present(liveness_engine, checker, frames, "two-prints")
    assert not any(v.live for v in verdicts), verdicts[-1]


def test_the_mesh_model_is_verified(mesh, tmp_path):
    assert modelfiles.verify_models(MODELS) == []
    assert "missing" in modelfiles.verify_models(tmp_path)[0]
    shutil.copyfile(modelfiles.mesh_path(MODELS), modelfiles.mesh_path(tmp_path))
    with open(modelfiles.mesh_path(tmp_path), "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01")
    assert "sha256" in modelfiles.verify_models(tmp_path)[0]
