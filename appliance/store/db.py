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


def open_database(path: Path | str, key: str | None = None) -> peewee.SqliteDatabase:
    """Open (creating if needed) the database file and bind the models to it.
    With a key the file is SQLCipher-encrypted (AES-256) at rest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if key:
        from playhouse.sqlcipher_ext import SqlCipherDatabase  # the sqlcipher3 wheel

        db = SqlCipherDatabase(str(path), passphrase=key, pragmas=PRAGMAS, timeout=10)
    else:
        db = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=10)
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT count(*) FROM sqlite_master")  # a wrong key fails here, not later
    except peewee.DatabaseError as exc:
        db.close()
        raise peewee.DatabaseError(
            f"cannot open {path}: {exc} (wrong or missing database.key_file?)"
        ) from None
    database.initialize(db)
    return db


def integrity_check(db: peewee.SqliteDatabase) -> str:
    """'ok' or SQLite's description of the damage."""
    return db.execute_sql("PRAGMA integrity_check").fetchone()[0]


def describe_failure(exc: BaseException | None) -> str:
    """What went wrong with a write, for a technician: SQLite's own words, not a
    rollback error that hides them (after SQLITE_FULL SQLite has already rolled back)."""
    messages = []
    while exc is not None:
        messages.append(str(exc))
        exc = exc.__context__ or exc.__cause__
    if any("full" in m for m in messages):
        return "the kiosk's disk is full: the database cannot write (free space in paths.data_dir)"
    return f"the database cannot write: {messages[-1]}"
