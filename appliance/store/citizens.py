"""The citizen's record: created or updated in one transaction."""

from __future__ import annotations

from typing import Any

from .db import database
from .models import RECORD_FIELDS, Citizen, FlowSession, PendingRequest, now


def upsert(user_id: str, record: dict[str, Any]) -> Citizen:
    """Write the known fields of `record` for this citizen (by user_id, else by
    id_card) and return the row. Unknown fields are ignored; None never
    overwrites a value already stored."""
    values = {k: v for k, v in record.items() if k in RECORD_FIELDS and v is not None}
    with database.atomic("IMMEDIATE"):
        citizen = Citizen.get_or_none(Citizen.user_id == user_id)
        if citizen is None and values.get("id_card"):
            citizen = Citizen.get_or_none(Citizen.id_card == values["id_card"])
        if citizen is None:
            return Citizen.create(user_id=user_id, **values)
        citizen.user_id = user_id  # the same person (by id_card) under the back end's current id
        for key, value in values.items():
            setattr(citizen, key, value)
        citizen.updated_at = now()
        citizen.save()
        return citizen


def get(user_id: str) -> Citizen | None:
    return Citizen.get_or_none(Citizen.user_id == user_id)


def delete(user_id: str) -> tuple[bool, int]:
    """Remove the citizen's record and sessions; (record removed?, sessions removed)."""
    with database.atomic("IMMEDIATE"):
        removed = Citizen.delete().where(Citizen.user_id == user_id).execute()
        sessions = FlowSession.delete().where(FlowSession.user_id == user_id).execute()
        PendingRequest.delete().where(PendingRequest.user_id == user_id).execute()
    return bool(removed), sessions
