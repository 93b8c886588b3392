"""Flow sessions: the handshake's hash, bound to one user_id, valid for a
while after its last use, kept in the database so a restart loses nothing."""

from __future__ import annotations

import datetime as dt
import secrets

from .db import database
from .models import FlowSession, now


class SessionError(LookupError):
    """The hash cannot be used: unknown, expired or someone else's."""


def new_hash() -> str:
    """128 random bits: unguessable."""
    return secrets.token_hex(16)


def create(user_id: str, ttl: float, **fields) -> FlowSession:
    with database.atomic("IMMEDIATE"):
        return FlowSession.create(
            hash=new_hash(), user_id=user_id, expires_at=now() + dt.timedelta(seconds=ttl), **fields
        )


def fetch(hash_: object, user_id: str) -> FlowSession:
    """The live session for this hash and user, or SessionError saying why not."""
    if not isinstance(hash_, str) or not hash_:
        raise SessionError("hash is missing: shake hands first (type handshake)")
    session = FlowSession.get_or_none(FlowSession.hash == hash_)
    if session is None:
        raise SessionError("unknown hash: shake hands first (type handshake)")
    if session.user_id != user_id:
        # the same answer as an unknown hash would leak which hashes exist
        raise SessionError("this hash belongs to another user_id")
    if session.expires_at < now():
        raise SessionError("the hash has expired: shake hands again")
    return session


RESEND_GRACE = 60.0
"""Seconds during which a handshake identical to the one that answered a clarifying question (a client
resending after its reply was lost) is read against the same question again."""


def take_clarification(user_id: str, text: str | None = None) -> dict | None:
    """The clarifying question the user's latest live session asked (qna_state "clarify", see
    dialogue/clarify.py), taken off it: only the user's next handshake answers it. ``text`` equal
    to the answer that session was opened with, shortly after, is a resend: the same question."""
    with database.atomic("IMMEDIATE"):
        session = (
            FlowSession.select()
            .where(FlowSession.user_id == user_id, FlowSession.expires_at >= now())
            .order_by(FlowSession.created_at.desc())
            .first()
        )
        state = session.qna_state if session is not None else None
        if not isinstance(state, dict):
            return None
        answered = state.get("answered")
        if (
            not state.get("clarify")
            and isinstance(answered, dict)
            and text is not None
            and answered.get("answer") == text
            and now() - session.created_at <= dt.timedelta(seconds=RESEND_GRACE)
        ):
            return answered.get("question")
        if not state.get("clarify"):
            return None
        waiting = state.pop("clarify")
        session.qna_state = state
        session.save()
        return waiting


def save(session: FlowSession, ttl: float, **fields) -> FlowSession:
    """Update fields and extend the session's life."""
    for key, value in fields.items():
        setattr(session, key, value)
    session.updated_at = now()
    session.expires_at = session.updated_at + dt.timedelta(seconds=ttl)
    with database.atomic("IMMEDIATE"):
        session.save()
    return session


def purge_expired(older_than: float = 0.0) -> int:
    """Delete sessions expired more than `older_than` seconds ago."""
    cutoff = now() - dt.timedelta(seconds=older_than)
    with database.atomic("IMMEDIATE"):
        return FlowSession.delete().where(FlowSession.expires_at < cutoff).execute()
