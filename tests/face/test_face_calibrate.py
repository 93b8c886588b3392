"""Calibration's gallery study: rank-1 and open-set decisions, float32 against int8 templates."""

import numpy as np

from appliance.face.calibrate import compare_template_forms, engine_detect_scale, open_set_study
from appliance.face.embedder import l2_normalise


def _unit(rng, n=1):
    return l2_normalise(rng.standard_normal((n, 128)).astype(np.float32))


def _study_data():
    rng = np.random.default_rng(5)
    people = {name: _unit(rng)[0] for name in ("ann", "bo", "cy")}
    templates = {
        i: (name, l2_normalise(v + 0.3 * _unit(rng, 2)), f"{name}-enrol")
        for i, (name, v) in enumerate(people.items())
    }
    faces = [
        {"ident": name, "photo": f"{name}-probe", "emb": l2_normalise(v + 0.4 * _unit(rng)[0])}
        for name, v in people.items()
    ]
    faces.append({"ident": "stranger", "photo": "x", "emb": _unit(rng)[0]})
    # The enrolment photo itself probes a gallery without its own enrolment: open set.
    faces.append({"ident": "ann", "photo": "ann-enrol", "emb": templates[0][1][0]})
    return templates, faces


def test_open_set_study_counts_rank1_and_decisions():
    templates, faces = _study_data()
    out = open_set_study(templates, faces, "float32", threshold=0.5, margin=0.05)
    assert out["genuine_probes"] == 3 and out["rank1_correct"] == 3 and out["accepted_correct"] == 3
    assert out["open_set_probes"] == 2 and out["open_set_rejected"] == 2 and out["accepted_wrong"] == 0
    assert [d[0] for d in out["decisions"]][:3] == ["accepted_correct"] * 3


def test_a_person_enrolled_from_two_photos_is_one_user_not_a_rival():
    templates, faces = _study_data()
    name, embs, _ = templates[0]
    templates[9] = (name, l2_normalise(embs + 0.05), f"{name}-enrol-2")  # same person, another photo
    out = open_set_study(templates, faces, "float32", threshold=0.5, margin=0.05)
    # 4: the ann-enrol photo now probes her other enrolment as well.
    assert out["accepted_correct"] == 4 and out["genuine_rejected"] == 0


def test_int8_templates_change_no_clear_decision():
    templates, faces = _study_data()
    out = compare_template_forms(templates, faces)
    assert out["decisions_changed"] == 0
    assert 0 < out["best_score_max_abs_diff"] < 0.005
    assert out["int8"]["rank1_correct"] == out["float32"]["rank1_correct"] == 3


def test_calibration_detects_at_the_engine_scale():
    assert engine_detect_scale() == 1.0
