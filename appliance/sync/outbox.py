"""The persistent outbox (the OutboxItem table): what must reach the upstream
face library, surviving outages and restarts.

One item per enrolment: ``kind`` faceLib/person/reg, ``key`` the user_id
(delivery is in order per key: an item waits while an older item of the same
person is still open), ``dedup_key`` ``reg:<user_id>:<sha256 of the sample
JPEG>`` (unique: the same enrolment is never queued twice, whether it arrives
as a bus event, from the reconciliation scan, or both).  The payload holds the
image to send (base64, already fitted under 400 KB), so what was enrolled is
what is registered even if the user enrols again meanwhile.

States:
- ``pending``   due at ``next_attempt_at``;
- ``waiting``   the citizen's name or ID number is not stored yet (the
  registration needs both; ``storage`` writes them after face_train).
  Re-checked every ``sync.record_wait`` seconds, for ever, without counting
  as a failure: an enrolment without a record is normal for a while;
- ``delivered`` accepted upstream (errcode 0) — never sent again;
- ``dead``      refused ``sync.max_failures`` times (errcode ≠ 0); the reason
  is in ``last_error``; ``appliance sync retry`` revives it;
- ``purged``    a dead item a technician purged: kept as a tombstone (no
  image) so the reconciliation scan does not queue that enrolment again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, cast

import peewee

from ..store.db import database
from ..store.models import FaceTemplate, OutboxItem, now
from .tencent_client import REG, fit_image

log = logging.getLogger(__name__)


class State(StrEnum):
    """An item's ``state`` column (the module's note says what each means)."""

    PENDING = "pending"
    WAITING = "waiting"
    DELIVERED = "delivered"
    DEAD = "dead"
    PURGED = "purged"


OPEN_STATES = (State.PENDING, State.WAITING)
STATES = tuple(State)
FINISHED = (State.DELIVERED, State.DEAD)
"""What `purge` may strip of its image."""
ITEM_ID = cast(peewee.AutoField, OutboxItem._meta.primary_key)
"""OutboxItem.id: peewee adds it to every model without a primary key; its stubs do not declare it."""


def dedup_key(user_id: str, jpeg: bytes) -> str:
    return f"reg:{user_id}:{hashlib.sha256(jpeg).hexdigest()[:32]}"


def queue_registration(user_id: str, jpeg: bytes, source: str = "event") -> bool:
    """Queue a faceLib/person/reg for this enrolment; False if it was queued before."""
    key = dedup_key(user_id, jpeg)
    if OutboxItem.select().where(OutboxItem.dedup_key == key).exists():
        return False
    payload = {
        "user_id": user_id,
        "image": fit_image(jpeg),
        "failures": 0,
        "uncertain": False,
        "source": source,
    }
    with database.atomic("IMMEDIATE"):
        OutboxItem.insert(
            kind=REG, key=user_id, dedup_key=key, payload=payload, state=State.PENDING, next_attempt_at=now()
        ).on_conflict_ignore().execute()
        new = database.execute_sql("SELECT changes()").fetchone()[0] > 0
    if new:
        log.info("outbox: registration of %s queued (%s)", user_id, source)
    return new


def reconcile() -> int:
    """Queue every stored face template that has no registration yet (the bus
    event is fire-and-forget: one published while this worker was down is lost)."""
    known = {row.dedup_key for row in OutboxItem.select(OutboxItem.dedup_key).where(OutboxItem.kind == REG)}
    queued = 0
    query = FaceTemplate.select(FaceTemplate.user_id, FaceTemplate.sample_jpeg).order_by(
        FaceTemplate.created_at
    )
    for row in query.iterator():
        if not row.sample_jpeg:
            continue
        if dedup_key(row.user_id, row.sample_jpeg) in known:
            continue
        try:
            queued += queue_registration(row.user_id, row.sample_jpeg, source="reconcile")
        except ValueError as exc:  # an undecodable sample can never be registered
            log.error("outbox: sample of %s cannot be sent: %s", row.user_id, exc)
    return queued


def due(limit: int = 50) -> list[OutboxItem]:
    """Open items whose time has come and that are first in line for their person."""
    current = now()
    firsts: dict[str, OutboxItem] = {}
    for item in OutboxItem.select().where(OutboxItem.state.in_(OPEN_STATES)).order_by(ITEM_ID):
        firsts.setdefault(item.key, item)
    ready = [item for item in firsts.values() if item.next_attempt_at <= current]
    return sorted(ready, key=lambda i: (i.next_attempt_at, i.get_id()))[:limit]


def next_due_in(default: float) -> float:
    """Seconds until the earliest open item is due (at most ``default``)."""
    earliest = (
        OutboxItem.select(peewee.fn.MIN(OutboxItem.next_attempt_at))
        .where(OutboxItem.state.in_(OPEN_STATES))
        .scalar()
    )
    if earliest is None:
        return default
    if isinstance(earliest, str):
        earliest = dt.datetime.fromisoformat(earliest)
    return max(0.0, min(default, (earliest - now()).total_seconds()))


def backoff(attempt: int, base: float, cap: float, rng=random.random) -> float:
    """Exponential with "equal jitter": the wait still grows, but items that failed
    together do not all come back together."""
    delay = min(cap, base * (2 ** min(max(attempt - 1, 0), 30)))
    return delay / 2 + delay / 2 * rng()


def _save(item: OutboxItem, **fields: Any) -> None:
    for key, value in fields.items():
        setattr(item, key, value)
    with database.atomic("IMMEDIATE"):
        item.save()


def mark_sending(item: OutboxItem) -> None:
    """Recorded before the request leaves: if this process dies before the answer
    is recorded, the next attempt knows the request may have arrived."""
    _save(item, payload={**item.payload, "sending": True})


def mark_delivered(item: OutboxItem, note: str = "") -> None:
    _save(
        item,
        state=State.DELIVERED,
        delivered_at=now(),
        last_error=note,
        attempts=item.attempts + 1,
        payload={**item.payload, "uncertain": False, "sending": False},
    )
    log.info("outbox: %s of %s delivered%s", item.kind, item.key, f" ({note})" if note else "")


def mark_waiting(item: OutboxItem, reason: str, wait: float) -> None:
    _save(item, state=State.WAITING, last_error=reason, next_attempt_at=now() + dt.timedelta(seconds=wait))


def mark_refused(item: OutboxItem, reason: str, max_failures: int, base: float, cap: float) -> None:
    """errcode ≠ 0: the same request will be refused again; dead after max_failures."""
    failures = int(item.payload.get("failures", 0)) + 1
    payload = {**item.payload, "failures": failures, "uncertain": False, "sending": False}
    if failures >= max_failures:
        _save(
            item,
            state=State.DEAD,
            attempts=item.attempts + 1,
            payload=payload,
            last_error=f"dead after {failures} refusals: {reason}",
        )
        log.error("outbox: %s of %s dead-lettered: %s", item.kind, item.key, reason)
        return
    _save(
        item,
        state=State.PENDING,
        attempts=item.attempts + 1,
        payload=payload,
        last_error=f"refused: {reason}",
        next_attempt_at=now() + dt.timedelta(seconds=backoff(failures, base, cap)),
    )
    log.warning("outbox: %s of %s refused (%d/%d): %s", item.kind, item.key, failures, max_failures, reason)


def mark_unreachable(item: OutboxItem, reason: str, ambiguous: bool, base: float, cap: float) -> None:
    """No trustworthy answer: retried for ever; if the request may have arrived,
    the next attempt first checks whether it did (``uncertain``)."""
    attempts = item.attempts + 1
    uncertain = bool(item.payload.get("uncertain")) or ambiguous
    _save(
        item,
        state=State.PENDING,
        attempts=attempts,
        last_error=f"unreachable: {reason}",
        payload={**item.payload, "uncertain": uncertain, "sending": False},
        next_attempt_at=now() + dt.timedelta(seconds=backoff(attempts, base, cap)),
    )
    log.warning("outbox: %s of %s not delivered (attempt %d): %s", item.kind, item.key, attempts, reason)


def wake_all() -> int:
    """The upstream answered again: bring every pending item forward."""
    with database.atomic("IMMEDIATE"):
        return (
            OutboxItem.update(next_attempt_at=now())
            .where(OutboxItem.state == State.PENDING, OutboxItem.next_attempt_at > now())
            .execute()
        )


# -- the technician's view (appliance sync status|retry|purge) -----------------------
def summary(limit: int = 20) -> dict[str, Any]:
    counts = {state: 0 for state in STATES}
    row: Any  # an OutboxItem plus the count's alias "n", which its type cannot declare
    for row in OutboxItem.select(OutboxItem.state, peewee.fn.COUNT(ITEM_ID).alias("n")).group_by(
        OutboxItem.state
    ):
        counts[row.state] = row.n
    open_or_dead = (
        OutboxItem.select()
        .where(OutboxItem.state.in_(OPEN_STATES + (State.DEAD,)))
        .order_by(ITEM_ID)
        .limit(limit)
    )
    return {"counts": counts, "items": [describe(item) for item in open_or_dead]}


def describe(item: OutboxItem) -> dict[str, Any]:
    return {
        "id": item.get_id(),
        "kind": item.kind,
        "user_id": item.key,
        "state": item.state,
        "attempts": item.attempts,
        "failures": int(item.payload.get("failures", 0)),
        "next_attempt_at": str(item.next_attempt_at),
        "last_error": item.last_error,
        "created_at": str(item.created_at),
        "delivered_at": None if item.delivered_at is None else str(item.delivered_at),
    }


def retry(ids: Iterable[int] = (), states: Iterable[str] = (State.DEAD,)) -> int:
    """Revive items (these ids, else every item in ``states``): due now, failures reset."""
    ids, states = list(ids), list(states)
    query = OutboxItem.select().where(ITEM_ID.in_(ids) if ids else OutboxItem.state.in_(states))
    count = 0
    for item in query:
        if item.state in (State.DELIVERED, State.PURGED):
            continue  # delivered is final: sending it again is what the outbox exists to prevent
        _save(
            item,
            state=State.PENDING,
            next_attempt_at=now(),
            payload={**item.payload, "failures": 0},
            last_error=f"retry requested ({item.last_error})"[:2000],
        )
        count += 1
    return count


def purge(states: Iterable[str] = FINISHED, older_than_days: float = 0.0) -> int:
    """Drop the stored images of finished items older than this; dead ones become
    ``purged`` tombstones. Rows stay: they are the proof an enrolment was handled."""
    states = [s for s in states if s in FINISHED]
    cutoff = now() - dt.timedelta(days=older_than_days)
    count = 0
    query = OutboxItem.select().where(OutboxItem.state.in_(states), OutboxItem.created_at <= cutoff)
    for item in query:
        payload = {k: v for k, v in item.payload.items() if k != "image"}
        _save(item, payload=payload, state=State.PURGED if item.state == State.DEAD else item.state)
        count += 1
    return count
