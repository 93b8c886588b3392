"""APCER per attack type and BPCER (ISO/IEC 30107-3) on presentations never used for tuning.

The thresholds were chosen on seeds 0–3 (docs/liveness.md); this test renders
seed 200 of every kind for every real photo and prints the table.  The bounds
below are what the cues must keep doing: if the parallax cue breaks, prints
pass or turning heads fail; if the moiré cue breaks, video replays pass.
"""

from appliance.liveness.evaluate import evaluate, format_table


def test_apcer_and_bpcer_on_held_out_presentations(liveness_engine, liveness_photos):
    kinds = ("bona_fide", "bona_fide_still", "print", "curved_print", "screen", "video_replay")
    report = evaluate(
        liveness_engine, seeds=1, first_seed=200, n_frames=12, kinds=kinds, photos=liveness_photos
    )
    print("\n" + format_table(report))
    kinds = report["kinds"]
    # a rigid photo passes only at the smallest allowed turn, where tracking noise is largest (held out
    # 1/30; on seed 200 obama_3's print, turn 0.026, parallax 0.032 — also with the checker before issue 16)
    assert kinds["print"]["APCER"] <= 0.2
    assert kinds["curved_print"]["APCER"] <= 0.2  # bent paper is non-planar: allowed one in five
    # planar and moiré: two reasons to fail; on seed 200 obama_3's screen shows weak moiré (3.2 < 3.5)
    # and passes at a small turn — with the checker before issue 16 as well
    assert kinds["screen"]["APCER"] <= 0.2
    assert kinds["video_replay"]["APCER"] <= 0.4  # only the moiré cue stands against it
    assert kinds["bona_fide"]["BPCER"] <= 0.2  # a person who turns the head is let in
    assert kinds["bona_fide_still"]["accepted"] == 0  # no turn, no proof: never live by default


def test_one_continuous_face_new_attacks_and_blinks(liveness_engine, liveness_photos):
    """Issue 16: presentations that are not one continuous face, and blinks (face mesh on).
    Two photos (their second photo for the swap: re-rendered from another angle), seed 200,
    never tuned on; kept small for time (the held-out table in docs/liveness.md has 10 a kind)."""
    from harness import MODELS

    from appliance.liveness import modelfiles
    from appliance.liveness.mesh import FaceMesh

    modelfiles.ensure_models(MODELS)
    photos = {name: liveness_photos[name] for name in ("biden", "astronaut")}
    kinds = ("bona_fide_blink", "photo_swap", "photo_swap_blink", "spliced_frames", "second_person")
    report = evaluate(
        liveness_engine,
        seeds=1,
        first_seed=200,
        n_frames=12,
        kinds=kinds,
        photos=photos,
        mesh=FaceMesh(modelfiles.mesh_path(MODELS)),
    )
    print("\n" + format_table(report))
    kinds = report["kinds"]
    assert kinds["bona_fide_blink"]["BPCER"] == 0.0  # a blink proves life without a turn
    assert kinds["photo_swap"]["APCER"] == 0.0  # read as a turning head before the gate
    assert kinds["second_person"]["APCER"] == 0.0  # a live person's verdict does not carry over
    assert kinds["photo_swap_blink"]["APCER"] <= 0.5  # a blink made of two prints (1 in 14 got through)
    assert kinds["spliced_frames"]["APCER"] <= 0.5  # held out: 0.4 (0.7 before the gate): docs/liveness.md
