"""The SQLite database through peewee: the citizen's record, face templates,
flow sessions, recognition events and the upstream outbox."""

from .db import database, open_database
from .keys import open_settings
from .migrations import SCHEMA_VERSION, current_version, migrate
from .models import Citizen, FaceTemplate, FlowSession, OutboxItem, PendingRequest, RecognitionEvent

__all__ = [
    "database",
    "open_database",
    "open_settings",
    "migrate",
    "current_version",
    "SCHEMA_VERSION",
    "Citizen",
    "FaceTemplate",
    "FlowSession",
    "OutboxItem",
    "PendingRequest",
    "RecognitionEvent",
]
