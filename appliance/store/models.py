"""The tables. Field names of the citizen's record are the seed's (PROTOCOL.md §3)."""

from __future__ import annotations

import datetime as dt
import json

import peewee

from ..dialogue.record import RECORD_FIELDS
from .db import database


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(peewee.TextField):
    """JSON text in the database, Python values in code."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaMigration(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    applied_at = peewee.DateTimeField(default=now)


class Citizen(BaseModel):
    user_id = peewee.CharField(max_length=128, unique=True)
    name = peewee.CharField(null=True)
    gender = peewee.CharField(null=True)
    nationality = peewee.CharField(null=True)
    phone = peewee.CharField(null=True)
    id_card = peewee.CharField(null=True, index=True)
    native_place = peewee.CharField(null=True)
    birth = peewee.CharField(null=True)
    email = peewee.CharField(null=True)
    career = peewee.CharField(null=True)
    address = peewee.TextField(null=True)
    hukou = peewee.CharField(null=True)
    political_status = peewee.CharField(null=True)
    marital_status = peewee.BooleanField(null=True)
    religion = peewee.CharField(null=True)
    education = peewee.CharField(null=True)
    created_at = peewee.DateTimeField(default=now)
    updated_at = peewee.DateTimeField(default=now)

    def record(self) -> dict:
        """Every field of the record (one list: dialogue/record.py), None when unknown."""
        return {name: getattr(self, name) for name in RECORD_FIELDS}


class FaceTemplate(BaseModel):
    user_id = peewee.CharField(max_length=128, unique=True)
    model = peewee.CharField()
    """Which embedding model made it: templates of another model are not comparable."""
    dims = peewee.IntegerField()
    embeddings = peewee.BlobField()
    """float32, count × dims, L2-normalised."""
    count = peewee.IntegerField(default=1)
    sample_jpeg = peewee.BlobField(null=True)
    """The best enrolment sample, for upstream registration."""
    created_at = peewee.DateTimeField(default=now)


class FlowSession(BaseModel):
    hash = peewee.CharField(max_length=64, primary_key=True)
    user_id = peewee.CharField(max_length=128, index=True)
    state = peewee.CharField(default="handshake")
    """handshake → qna → answered → stored."""
    classify = peewee.CharField(default="")
    flow = peewee.TextField(default="")
    transcript = peewee.TextField(default="")
    info = JSONField(default=dict)
    answers = JSONField(default=dict)
    qna_state = JSONField(null=True)
    verification = JSONField(null=True)
    """An upstream identity check's result (faceAdv), when the policy asks for one."""
    created_at = peewee.DateTimeField(default=now)
    updated_at = peewee.DateTimeField(default=now)
    expires_at = peewee.DateTimeField(index=True)


class PendingRequest(BaseModel):
    """Work that answers `processing` until it is done (an audio handshake
    being transcribed). Keyed by the request's digest so a retry with the
    same body never starts the work twice."""

    key = peewee.CharField(max_length=64, primary_key=True)
    user_id = peewee.CharField(max_length=128)
    state = peewee.CharField(default="running")
    response = JSONField(null=True)
    created_at = peewee.DateTimeField(default=now)
    finished_at = peewee.DateTimeField(null=True)
    """When the answer was ready; a replay gets it only for a short grace period after."""


class RecognitionEvent(BaseModel):
    event_id = peewee.CharField(max_length=128, unique=True)
    source = peewee.CharField()
    """sebox or kiosk."""
    identity_id = peewee.CharField(default="", index=True)
    identity_name = peewee.CharField(default="")
    user_type = peewee.CharField(default="")
    score = peewee.FloatField(null=True)
    """0–100."""
    device_id = peewee.CharField(default="")
    device_ip = peewee.CharField(default="")
    device_type = peewee.CharField(default="")
    timestamp_ms = peewee.BigIntegerField(index=True)
    payload = JSONField(default=dict)
    image = peewee.BlobField(null=True)
    received_at = peewee.DateTimeField(default=now)


class OutboxItem(BaseModel):
    kind = peewee.CharField()
    """e.g. faceLib/person/reg."""
    key = peewee.CharField(index=True)
    """Delivery is in order per key (per person)."""
    dedup_key = peewee.CharField(unique=True)
    payload = JSONField()
    state = peewee.CharField(default="pending", index=True)
    """pending, delivered or dead."""
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=now, index=True)
    last_error = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=now)
    delivered_at = peewee.DateTimeField(null=True)


TABLES = [SchemaMigration, Citizen, FaceTemplate, FlowSession, PendingRequest, RecognitionEvent, OutboxItem]
