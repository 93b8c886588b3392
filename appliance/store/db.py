"""Opening the database: WAL so readers never block the writer, a busy
timeout so several worker processes can write, synchronous=FULL so a
committed record survives a power cut."""

from __future__ import annotations

from pathlib import Path

import peewee

database = peewee.DatabaseProxy()
"""Every model binds to this; open_database() points it at the real file."""

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
}


def open_database(path: Path | str) -> peewee.SqliteDatabase:
    """Open (creating if needed) the database file and bind the models to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=10)
    db.connect(reuse_if_open=True)
    database.initialize(db)
    return db


def integrity_check(db: peewee.SqliteDatabase) -> str:
    """'ok' or SQLite's description of the damage."""
    return db.execute_sql("PRAGMA integrity_check").fetchone()[0]


def describe_failure(exc: BaseException) -> str:
    """What went wrong with a write, for a technician: SQLite's own words, not a
    rollback error that hides them (after SQLITE_FULL SQLite has already rolled back)."""
    messages = []
    while exc is not None:
        messages.append(str(exc))
        exc = exc.__context__ or exc.__cause__
    if any("full" in m for m in messages):
        return "the kiosk's disk is full: the database cannot write (free space in paths.data_dir)"
    return f"the database cannot write: {messages[-1]}"
