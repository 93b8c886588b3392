"""SE box records of both dialects and the configuration messages (no network)."""

import base64
import json

import pytest

from appliance.sync.records import RecordError, config_message, dedup_key, normalise, parse_frame
from appliance.sync.sebox_client import backoff_delay

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
SEED_EXAMPLE = {  # the seed's own example record, verbatim apart from the image
    "reg_pic": "",
    "media_device_ip": "192.168.1.243",
    "media_device_type": "rtsp",
    "recognize_face_image": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
    "identity_id": "666666",
    "media_device_id": "04f98265-1fad-47e5-9dda-66e191272055",
    "score": 0.6231614351272583,
    "timestamp": 1566016554020,
    "identity_name": "小明",
}


def test_the_seeds_example_record():
    record = normalise(SEED_EXAMPLE)
    assert record.score == 62.32 and record.user_type == "" and record.identity_name == "小明"
    assert record.event_id == dedup_key(
        "04f98265-1fad-47e5-9dda-66e191272055", 1566016554020, "666666", "小明"
    )
    assert record.face_image == JPEG and record.register_image is None
    assert "recognize_face_image" not in record.payload and "reg_pic" not in record.payload
    assert record.payload["recognize_face_image_bytes"] > 0
    assert normalise(dict(SEED_EXAMPLE)).event_id == record.event_id  # the same event twice: one key


def test_the_seeds_table_record_and_score_scales():
    record = normalise(
        {
            "event_id": "e-1",
            "timestamp": 1565771454932,
            "identity_id": "100000",
            "identity_name": "小王",
            "user_type": "employee",
            "score": 82.05,
            "media_device_ip": "192.168.1.101",
            "media_device_id": "cam",
            "media_device_type": "rtsp",
            "register_image": base64.b64encode(JPEG).decode(),
        }
    )
    assert (record.event_id, record.score, record.user_type, record.device_type) == (
        "e-1",
        82.05,
        "employee",
        "rtsp",
    )
    assert record.register_image == JPEG
    assert normalise({"timestamp": 1, "score": 1.0}).score == 100.0  # 1.0 is the top of 0–1
    assert normalise({"timestamp": 1565771454, "score": "75"}).timestamp_ms == 1565771454000  # seconds → ms


def test_sophon_record():
    record = normalise(
        {
            "event_id": "s1",
            "timestamp": 1565771454932,
            "identity_id": "7",
            "identity_name": "张三",
            "person_type": 3,
            "group_name": "黑名单",
            "score": 91,
            "spot_pic": base64.b64encode(JPEG).decode(),
            "reg_pic": base64.b64encode(b"reg").decode(),
        }
    )
    assert record.user_type == "blacklist" and record.face_image == JPEG and record.register_image == b"reg"
    assert record.payload["group_name"] == "黑名单" and record.event_header()["group_name"] == "黑名单"


@pytest.mark.parametrize(
    "frame,words",
    [
        ("not json", "not JSON"),
        ("[1,2]", "not an object"),
        (b"\xff\xfe", "UTF-8"),
        (json.dumps({"identity_id": "1"}), "timestamp"),
        (json.dumps({"timestamp": 5, "score": "high"}), "score"),
        (json.dumps({"timestamp": 5, "score": 250}), "0–100"),
        (json.dumps({"timestamp": 5, "person_type": "x"}), "1–5"),
        (json.dumps({"timestamp": 5, "spot_pic": 12}), "base64"),
        (json.dumps({"timestamp": True}), "boolean"),
    ],
)
def test_malformed_records_say_why(frame, words):
    with pytest.raises(RecordError, match=words):
        normalise(parse_frame(frame))


def test_configuration_dialects():
    assert config_message("seed", True, False, ("a", "b")) == {
        "with_face_image": True,
        "with_register_image": False,
        "media_device_ids": ["a", "b"],
    }
    assert config_message("sophon", False, True, ()) == {
        "need_face": False,
        "need_register": True,
        "event_list": [],
    }


def test_backoff_is_capped_and_jittered():
    assert backoff_delay(0, 30, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 30, rng=lambda: 1.0) == 4.0
    assert backoff_delay(50, 30, rng=lambda: 1.0) == 30
    assert backoff_delay(50, 30, rng=lambda: 0.0) == 0.05  # never a busy loop
