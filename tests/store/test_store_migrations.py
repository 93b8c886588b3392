"""Schema steps on a database made by an older version: nothing lost, the new column there."""

from appliance import store
from appliance.store import migrations, models


def test_v2_adds_finished_at_to_a_v1_database(tmp_path):
    db = store.open_database(tmp_path / "old.sqlite3")
    db.create_tables([models.SchemaMigration])
    # pending_request exactly as schema 1 made it, with an answer already in it
    db.execute_sql(
        "CREATE TABLE pending_request (key VARCHAR(64) NOT NULL PRIMARY KEY, user_id VARCHAR(128) "
        "NOT NULL, state VARCHAR(255) NOT NULL, response TEXT, created_at DATETIME NOT NULL)"
    )
    db.execute_sql("INSERT INTO pending_request VALUES ('k', 'u', 'done', '{\"status\": 200}', '2026-11-29')")
    models.SchemaMigration.create(version=1)
    assert migrations.migrate(db) == 2 == store.SCHEMA_VERSION
    row = models.PendingRequest.get(models.PendingRequest.key == "k")
    assert row.response == {"status": 200} and row.finished_at is None  # an old answer: never replayed
    db.close()


def test_a_new_database_gets_every_step_once(tmp_path):
    db = store.open_database(tmp_path / "new.sqlite3")
    assert migrations.migrate(db) == store.SCHEMA_VERSION
    assert "finished_at" in {c.name for c in db.get_columns("pending_request")}
    assert [m.version for m in models.SchemaMigration.select().order_by(models.SchemaMigration.version)] == [
        1,
        2,
    ]
    db.close()
