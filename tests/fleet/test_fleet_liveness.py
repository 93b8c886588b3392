"""Liveness in the field, with the real liveness worker: refusals counted by verdict and by the cue that
decided, each connection's result (passed, refused, never passed) and the frames a live face needed."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import cv2
from harness import MODELS, ROOT, Appliance

from appliance.face.engine import FaceEngine
from appliance.liveness.attacks import sequence
from appliance.metrics.recorder import attack_of

sys.path.insert(0, str(Path(__file__).parent))

from test_fleet_metrics import delta, samples, scrape  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"


def jpeg(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def run(ws, frames) -> list[dict]:
    """Frames until the connection ends, or until the face was looked up (it proved live)."""
    replies = []
    for frame in frames:
        ws.send_binary(jpeg(frame))
        replies.append(json.loads(ws.recv()))
        if replies[-1]["message"] in ("success", "fail") or replies[-1].get("reason") == "unknown":
            break
    ws.close()
    return replies


def refusals(replies: list[dict]) -> collections.Counter:
    return collections.Counter(
        ("refused" if r.get("live") is False else "pending", r.get("liveness"))
        for r in replies
        if r.get("reason") == "not_live"
    )


def test_liveness_field_statistics_counted_exactly():
    analysis = FaceEngine(MODELS).analyse((FACES / "obama_2.jpg").read_bytes())
    face = (analysis.image, analysis.landmarks)
    app = Appliance(
        workers="face,liveness,gateway", env={"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "10"}
    ).wait_ready()
    try:
        before = samples(scrape(app))
        attack = run(app.ws("tool", "/face_predict"), sequence("print", *face, seed=21, n=10))
        assert attack[-1]["message"] == "fail", attack
        live = run(app.ws("tool", "/face_predict"), sequence("bona_fide", *face, seed=31, n=16))
        # nobody enrolled: a live face is looked up and unknown; a match was sought, so it proved live
        passed_at = next(i for i, r in enumerate(live, 1) if r.get("reason") == "unknown")
        after = samples(scrape(app))
    finally:
        app.stop()
    expected = refusals(attack) + refusals(live)
    assert expected  # the attack was refused by some cue
    for (verdict, cue), count in expected.items():
        assert delta(before, after, "kiosk_liveness_frames_total", verdict=verdict, cue=cue) == count
    counted = sum(
        delta(before, after, name, **dict(labels))
        for name, labels in after
        if name == "kiosk_liveness_frames_total"
    )
    assert counted == sum(expected.values())
    shown = "kiosk_liveness_presentations_total"
    attack_result = "refused" if any(r.get("live") is False for r in attack) else "never_passed"
    assert delta(before, after, shown, flow="face_predict", result=attack_result) == 1
    assert delta(before, after, shown, flow="face_predict", result="passed") == 1
    assert delta(before, after, "kiosk_liveness_frames_to_pass_count", flow="face_predict") == 1
    if attack_result == "refused":  # one vetoed attack, by the kind its refusing cue points to
        refusing = next(r.get("liveness") for r in attack if r.get("live") is False)
        vetoed = "kiosk_liveness_attacks_vetoed_total"
        assert delta(before, after, vetoed, attack=attack_of(refusing)) == 1
        assert attack_of(refusing) != "other", refusing  # a print is named for what it is
    assert delta(before, after, "kiosk_liveness_frames_to_pass_sum", flow="face_predict") == passed_at
    assert delta(before, after, "kiosk_face_recognitions_total", outcome="not_live") == sum(
        r.get("reason") == "not_live" and r["message"] != "fail" for r in attack + live
    )
