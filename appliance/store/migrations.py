"""Schema versions. Each migration runs once, in its own transaction, in
order; the applied versions are recorded in schema_migration. Add a new
function to MIGRATIONS to change the schema (playhouse.migrate for
column changes); never edit an applied one."""

from __future__ import annotations

import logging

import peewee
from playhouse.migrate import SqliteMigrator
from playhouse.migrate import migrate as migrate_columns

from . import models

log = logging.getLogger(__name__)


def _v1_initial(db: peewee.SqliteDatabase) -> None:
    db.create_tables([t for t in models.TABLES if t is not models.SchemaMigration])


def _v2_pending_finished_at(db: peewee.SqliteDatabase) -> None:
    """When a pending request's answer was ready: a replay is deduplicated only shortly after."""
    table = models.PendingRequest._meta.table_name
    if "finished_at" not in {c.name for c in db.get_columns(table)}:  # v1 on a new database has it
        migrate_columns(
            SqliteMigrator(db).add_column(table, "finished_at", models.PendingRequest.finished_at)
        )


MIGRATIONS = [(1, _v1_initial), (2, _v2_pending_finished_at)]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(db: peewee.SqliteDatabase) -> int:
    if not db.table_exists(models.SchemaMigration._meta.table_name):
        return 0
    return models.SchemaMigration.select(peewee.fn.MAX(models.SchemaMigration.version)).scalar() or 0


def migrate(db: peewee.SqliteDatabase) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version now in force."""
    db.create_tables([models.SchemaMigration])
    have = current_version(db)
    if have > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {have} is newer than this software ({SCHEMA_VERSION})")
    for version, step in MIGRATIONS:
        if version > have:
            with db.atomic("IMMEDIATE"):
                step(db)
                models.SchemaMigration.create(version=version)
            log.info("database migrated to schema %d", version)
    return SCHEMA_VERSION
