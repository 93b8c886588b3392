"""The database: pragmas, migrations, sessions and records."""

import multiprocessing
import time

import pytest

from appliance import store
from appliance.store import citizens, sessions
from appliance.store.db import integrity_check


@pytest.fixture
def db(tmp_path):
    db = store.open_database(tmp_path / "a.sqlite3")
    store.migrate(db)
    yield db
    db.close()


def test_pragmas_make_commits_durable_and_concurrent(db):
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert integrity_check(db) == "ok"


def test_migrate_is_idempotent_and_versioned(db):
    assert store.current_version(db) == store.SCHEMA_VERSION
    assert store.migrate(db) == store.SCHEMA_VERSION
    assert store.migrations.models.SchemaMigration.select().count() == store.SCHEMA_VERSION
    for table in ("citizen", "face_template", "flow_session", "recognition_event", "outbox_item"):
        assert db.table_exists(table)


def test_newer_schema_is_refused(db):
    store.migrations.models.SchemaMigration.create(version=store.SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="newer"):
        store.migrate(db)


def test_session_rules(db):
    s = sessions.create("alice", ttl=60, classify="身份证")
    assert len(s.hash) == 32 and sessions.fetch(s.hash, "alice").classify == "身份证"
    with pytest.raises(sessions.SessionError, match="another user_id"):
        sessions.fetch(s.hash, "bob")
    with pytest.raises(sessions.SessionError, match="unknown hash"):
        sessions.fetch("f" * 32, "alice")
    with pytest.raises(sessions.SessionError, match="missing"):
        sessions.fetch(None, "alice")
    short = sessions.create("carol", ttl=0.01)
    time.sleep(0.05)
    with pytest.raises(sessions.SessionError, match="expired"):
        sessions.fetch(short.hash, "carol")
    assert sessions.purge_expired() == 1
    assert len({sessions.new_hash() for _ in range(1000)}) == 1000


def test_citizen_upsert_by_user_then_id_card(db):
    citizens.upsert("u1", {"name": "李明", "phone": "13912345678", "age": 36, "bogus": 1})
    c = citizens.upsert("u1", {"phone": None, "email": "a@b.cn"})
    assert c.name == "李明" and c.phone == "13912345678" and c.email == "a@b.cn"
    citizens.upsert("u2", {"name": "王芳", "id_card": "X"})
    moved = citizens.upsert("u3", {"id_card": "X", "phone": "13800000000"})
    assert moved.user_id == "u3" and moved.name == "王芳"
    assert store.Citizen.select().count() == 2


def _writer(path, n, who):
    store.open_database(path)
    for i in range(n):
        citizens.upsert(f"{who}-{i}", {"name": who})


def test_several_processes_write_without_errors(tmp_path):
    path = tmp_path / "b.sqlite3"
    store.migrate(store.open_database(path))
    procs = [
        multiprocessing.get_context("spawn").Process(target=_writer, args=(path, 100, f"p{k}"))
        for k in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store.open_database(path)
    assert store.Citizen.select().count() == 300
