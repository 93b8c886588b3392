"""The pieces that keep labels clean and turn the workers' figures into series, in-process."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appliance.metrics import fleet, labels, upstream
from appliance.metrics.http import _Families as Families
from appliance.metrics.recorder import Recorder


def test_safe_passes_code_words_only():
    assert labels.safe("not_live") == "not_live"
    for value in ("11010519491231002X", "张三丰", "9f86d081884c7d65", "user-7", "", None, 3, "a" * 40):
        assert labels.safe(value) == "other", value
    assert labels.safe("zhangsanfeng", ("gender", "phone")) == "other"  # a closed list wins over the pattern


def test_restart_reasons_and_services():
    assert labels.restart_reason("died (exit code -9)") == "died"
    assert labels.restart_reason("not ready after 60s") == "not_ready"
    assert labels.restart_reason("no heartbeat for 3.2s") == "no_heartbeat"
    assert labels.restart_reason("a request stuck for 120s") == "stuck"
    assert labels.restart_reason("something new") == "other"
    known = frozenset({"身份证", "护照"})
    assert labels.service("身份证/护照", known) == "身份证"
    assert labels.service("张三丰", known) == "other"


def test_recorder_keeps_free_text_out_of_labels():
    rec = Recorder(frozenset({"身份证"}))
    rec.operation("GET /zhangsanfeng", "weird outcome", 0.0)
    rec.qna_turn({"event": "retry", "field": "zhangsanfeng"})
    rec.handshake({"classify": "张三丰"}, "text")
    page = generate_latest(rec.registry).decode()
    assert "zhangsanfeng" not in page and "张三丰" not in page
    assert 'kiosk_operation_requests_total{operation="other",outcome="other"} 1.0' in page


def test_outbox_oldest_open_item_and_upstream_histogram():
    now = dt.datetime(2026, 11, 29, 12, 0, 0)
    summary = {
        "counts": {"pending": 1, "waiting": 1, "dead": 1, "delivered": 5},
        "items": [
            {"state": "dead", "created_at": "2026-11-29 09:00:00"},
            {"state": "waiting", "created_at": "2026-11-29 10:30:00"},
            {"state": "pending", "created_at": "2026-11-29 11:00:00"},
        ],
    }
    families = {f.name: f for f in fleet.outbox_families(summary, now)}
    assert families["kiosk_sync_outbox_oldest_pending_seconds"].samples[0].value == 5400  # dead items not
    calls = {
        "reg": {
            "ok": 2,
            "refused": 0,
            "unreachable": 1,
            "buckets": [0, 1, 1, 0, 0, 0, 0, 0, 1],
            "sum": 31.3,
            "count": 3,
        }
    }
    [requests, latency] = fleet.upstream_families(calls)
    buckets = {s.labels["le"]: s.value for s in latency.samples if s.name.endswith("_bucket")}
    assert buckets["0.05"] == 0 and buckets["0.1"] == 1 and buckets["0.25"] == 2 and buckets["30.0"] == 3
    assert buckets["+Inf"] == 3


def test_upstream_record_buckets_by_upper_bound():
    upstream.record("faceLib/person/recong", "ok", 0.1)  # exactly a bound: that bucket (le)
    upstream.record("https://evil.example/zhangsanfeng", "weird", 100.0)
    got = upstream.status()["upstream"]
    assert got["recong"]["buckets"][upstream.BUCKETS.index(0.1)] >= 1
    assert got["other"]["unreachable"] >= 1 and "zhangsanfeng" not in str(got)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families(fleet.upstream_families(got)))
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert {"kiosk_upstream_requests", "kiosk_upstream_duration_seconds"} <= set(parsed)


def test_worker_figures_become_named_series():
    families = {
        f.name: f
        for f in fleet.worker_specific(
            {
                "face": {"users": 3, "templates": 9},
                "camera": {"state": "capturing", "fps": 14.5, "frames": 1200, "device_id": "kiosk-1"},
                "speech": {"tts_cache": {"hits": 7, "misses": 2, "files": 9}},
                "sync": {"sebox": {"connected": False, "records": 4}},
            }
        )
    }
    assert [s.value for s in families["kiosk_face_gallery_size"].samples] == [3, 9]
    assert families["kiosk_camera_up"].samples[0].value == 1
    assert families["kiosk_camera_fps"].samples[0].value == 14.5
    cache = families["kiosk_speech_tts_cache"].samples
    assert {s.labels["result"]: s.value for s in cache} == {"hit": 7, "miss": 2}
    assert families["kiosk_sebox_connected"].samples[0].value == 0
    assert families["kiosk_sebox_records"].samples[0].value == 4


def test_a_refused_presentation_is_one_vetoed_attack_named_by_its_cue():
    from appliance.metrics.recorder import Presentation

    rec = Recorder()
    for cue, frames in (("planar", 3), ("screen_moire", 1), ("discontinuous", 2), ("remote_spoof", 1)):
        shown = Presentation(rec, "face_predict")
        shown.frame({"reason": "not_live", "live": None, "liveness": "collecting"})  # pending: no attack
        for _ in range(frames):  # a refusal repeated on later frames is still one attack
            shown.frame({"reason": "not_live", "live": False, "liveness": cue})
        shown.close()
    counted = {
        s.labels["attack"]: s.value
        for family in text_string_to_metric_families(generate_latest(rec.registry).decode())
        for s in family.samples
        if s.name == "kiosk_liveness_attacks_vetoed_total"
    }
    assert counted == {"flat_print_or_screen": 1, "screen": 1, "face_swap_or_splice": 1, "other": 1}
