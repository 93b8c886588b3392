"""Each cue on its own: a plane has no parallax, a head does; a screen has moiré, a face not."""

import numpy as np
import pytest

from appliance.liveness import attacks, frame_cues, motion
from appliance.liveness.checker import LivenessChecker
from appliance.liveness.policy import Policy

POLICY = Policy()


def views(engine, frames):
    faces = [max(engine.detector.detect(f), key=lambda d: d.area) for f in frames]
    scale = motion.frame_scale(faces[0].landmarks)
    return [motion.view(f, d.landmarks, scale) for f, d in zip(frames, faces, strict=False)]


def strongest_turn(engine, frames):
    vs = views(engine, frames)
    pairs = [motion.measure(vs[0], v) for v in vs[1:]]
    return max((p for p in pairs if p is not None), key=lambda p: p.turn)


@pytest.mark.parametrize("photo", ["biden", "obama_2", "astronaut"])
def test_a_turning_head_shows_parallax_a_tilted_print_does_not(liveness_engine, liveness_photos, photo):
    image, landmarks = liveness_photos[photo]
    head = strongest_turn(liveness_engine, attacks.sequence("bona_fide", image, landmarks, 5, n=8))
    plane = strongest_turn(liveness_engine, attacks.sequence("print", image, landmarks, 5, n=8))
    print(
        f"{photo}: head turn={head.turn:.4f} parallax={head.parallax:.4f}; "
        f"print turn={plane.turn:.4f} parallax={plane.parallax:.4f}"
    )
    assert head.turn >= POLICY.turn_min and head.parallax >= POLICY.parallax_threshold
    assert head.parallax / head.turn >= POLICY.parallax_ratio
    assert plane.parallax < POLICY.parallax_threshold or plane.parallax / plane.turn < POLICY.parallax_ratio


def test_an_exact_homography_leaves_only_tracking_noise(liveness_engine, liveness_photos):
    """The definition of the cue: any motion of a plane is a homography, and is explained."""
    import cv2

    image, landmarks = liveness_photos["obama_1"]
    frame = attacks.sequence("bona_fide_still", image, landmarks, 1, n=1)[0]
    h = np.array([[0.93, 0.06, 25], [-0.05, 1.02, 8], [1.5e-4, -1e-4, 1]])
    warped = cv2.warpPerspective(frame, h, (frame.shape[1], frame.shape[0]))
    a, b = views(liveness_engine, [frame, warped])
    pair = motion.measure(a, b)
    assert pair.turn > POLICY.turn_min  # a strong non-similarity motion…
    # …that a homography explains, up to tracking noise
    # (~0.5 px on a noisy JPEG face at 50 px between the eyes)
    assert (
        pair.parallax < POLICY.parallax_threshold / 2
        and pair.parallax / pair.turn < POLICY.parallax_ratio / 2
    )


def test_still_frames_say_nothing(liveness_engine, liveness_photos):
    image, landmarks = liveness_photos["obama_3"]
    checker = LivenessChecker(Policy(max_frames=6))
    frames = attacks.sequence("bona_fide_still", image, landmarks, 2, n=6)
    verdicts = [
        checker.observe("k", f, *(lambda d: (d.landmarks, d.box))(liveness_engine.detector.detect(f)[0]))
        for f in frames
    ]
    assert [v.live for v in verdicts[:-1]] == [None] * 5 and verdicts[2].reason == "turn_head"
    assert verdicts[-1].live is False and verdicts[-1].reason == "no_head_turn"


def test_screen_moire_stands_out_from_a_face(liveness_engine, liveness_photos):
    """Not every simulated screen makes strong moiré (it depends on its pixel pitch): most must."""
    image, landmarks = liveness_photos["biden"]
    scores = {"bona_fide": [], "screen": []}
    for kind in scores:
        for seed in range(4):
            frames = attacks.sequence(kind, image, landmarks, seed, n=3)
            scores[kind].append(
                float(
                    np.median(
                        [
                            frame_cues.moire_score(f, liveness_engine.detector.detect(f)[0].landmarks)
                            for f in frames
                        ]
                    )
                )
            )
    print("moiré:", scores)
    assert max(scores["bona_fide"]) < POLICY.moire_threshold
    assert sum(s >= POLICY.moire_threshold for s in scores["screen"]) >= 3


def test_session_table_is_bounded_and_idle_sessions_expire():
    checker = LivenessChecker(Policy(), max_sessions=3, idle_expiry=1000)
    frame = np.full((120, 160, 3), 100, np.uint8)
    lm = [[60, 50], [100, 50], [80, 65], [65, 80], [95, 80]]
    for i in range(5):
        checker.observe(f"k{i}", frame, lm, [50, 30, 60, 70])
    assert checker.sessions == 3 and not checker.forget("k0") and checker.forget("k4")
    checker.idle_expiry = 0.0
    checker.observe("new", frame, lm, [50, 30, 60, 70])
    assert checker.sessions == 1
