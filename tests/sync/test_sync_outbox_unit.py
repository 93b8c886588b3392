"""The outbox table's rules on a real SQLite file: dedup, order per person,
refusals to dead letters, retry, purge, reconciliation; and image fitting."""

import base64
import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from appliance import store
from appliance.store import faces as face_store
from appliance.store.models import OutboxItem, now
from appliance.sync import outbox
from appliance.sync.tencent_client import MAX_BASE64, fit_image


def jpeg(seed: int, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def db(tmp_path):
    database = store.open_database(tmp_path / "t.sqlite3")
    store.migrate(database)
    yield database
    database.close()


def test_dedup_and_order_per_person(db):
    assert outbox.queue_registration("a", jpeg(1))
    assert not outbox.queue_registration("a", jpeg(1))  # the same enrolment again (event + reconcile)
    assert outbox.queue_registration("a", jpeg(2))  # a new enrolment of the same person
    assert outbox.queue_registration("b", jpeg(3))
    due = outbox.due()
    assert [(i.key, i.id) for i in due] == [("a", 1), ("b", 3)]  # a's second waits behind its first
    outbox.mark_delivered(due[0])
    assert [i.id for i in outbox.due()] == [2, 3]


def test_refusals_dead_letter_then_retry(db):
    outbox.queue_registration("a", jpeg(1))
    item = outbox.due()[0]
    outbox.mark_refused(item, "errcode 1007: no face", max_failures=2, base=0.01, cap=0.01)
    item = OutboxItem.get_by_id(item.id)
    assert item.state == "pending" and item.payload["failures"] == 1
    outbox.mark_refused(item, "errcode 1007: no face", max_failures=2, base=0.01, cap=0.01)
    item = OutboxItem.get_by_id(item.id)
    assert item.state == "dead" and "1007" in item.last_error and "2 refusals" in item.last_error
    assert outbox.summary()["counts"]["dead"] == 1
    assert outbox.retry() == 1
    item = OutboxItem.get_by_id(item.id)
    assert item.state == "pending" and item.payload["failures"] == 0


def test_network_failures_never_dead_letter_and_back_off(db):
    outbox.queue_registration("a", jpeg(1))
    item = outbox.due()[0]
    for _ in range(20):
        outbox.mark_unreachable(item, "cannot connect", ambiguous=False, base=1, cap=60)
        item = OutboxItem.get_by_id(item.id)
    assert item.state == "pending" and item.attempts == 20 and not item.payload["uncertain"]
    assert dt.timedelta(seconds=29) < item.next_attempt_at - now() <= dt.timedelta(seconds=60)
    outbox.mark_unreachable(item, "timeout", ambiguous=True, base=1, cap=60)
    assert OutboxItem.get_by_id(item.id).payload["uncertain"]
    assert outbox.wake_all() == 1 and outbox.due()


def test_delivered_is_final_and_purge_keeps_tombstones(db):
    outbox.queue_registration("a", jpeg(1))
    outbox.mark_delivered(outbox.due()[0])
    assert outbox.retry(ids=[1]) == 0  # delivered is never sent again
    assert outbox.purge(("delivered",), older_than_days=0) == 1
    assert "image" not in OutboxItem.get_by_id(1).payload
    face_store.save_template("a", "m", np.ones((1, 128), np.float32), jpeg(1))
    assert outbox.reconcile() == 0  # the tombstone still proves this enrolment was handled


def test_reconcile_queues_templates_the_events_missed(db):
    face_store.save_template("a", "m", np.ones((1, 128), np.float32), jpeg(1))
    face_store.save_template("b", "m", np.ones((1, 128), np.float32), None)  # no sample: nothing to send
    assert outbox.reconcile() == 1 and outbox.reconcile() == 0
    assert OutboxItem.get().payload["source"] == "reconcile"


def test_images_fit_under_400k_of_base64():
    small = jpeg(1)
    assert base64.b64decode(fit_image(small)) == small  # already fits: sent as it is
    big = jpeg(2, size=1400)  # noise compresses badly: ~1.5 MB
    assert len(base64.b64encode(big)) > MAX_BASE64
    fitted = base64.b64decode(fit_image(big))
    assert len(base64.b64encode(fitted)) <= MAX_BASE64 and fitted[:3] == b"\xff\xd8\xff"
    png = io.BytesIO()
    Image.new("RGB", (50, 50)).save(png, "PNG")
    assert base64.b64decode(fit_image(png.getvalue()))[:3] == b"\xff\xd8\xff"  # always a JPEG
