"""Purging what the kiosk no longer needs: old sessions, pending work and recognition events.
Citizens' records and face templates stay until `appliance users delete`."""

from __future__ import annotations

import datetime as dt

from .db import database
from .models import FlowSession, PendingRequest, RecognitionEvent, now


def purge(retention_days: float) -> dict[str, int]:
    cutoff = now() - dt.timedelta(days=retention_days)
    with database.atomic("IMMEDIATE"):
        return {
            "sessions": FlowSession.delete().where(FlowSession.expires_at < cutoff).execute(),
            "pending": PendingRequest.delete().where(PendingRequest.created_at < cutoff).execute(),
            "events": RecognitionEvent.delete().where(RecognitionEvent.received_at < cutoff).execute(),
        }
