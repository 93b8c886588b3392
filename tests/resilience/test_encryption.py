"""Personal data at rest: the SQLCipher-encrypted database, its key rules, rotation."""

import os
import sqlite3
import subprocess
import sys

import pytest
from harness import ROOT, Appliance


def key_file(tmp_path, name, text, mode=0o600):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return path


def cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_encrypted_database_rotation_and_bad_keys(tmp_path):
    data = tmp_path / "data"
    first = key_file(tmp_path, "k1", "correct horse battery staple 1")
    env = {"APPLIANCE_PATHS_DATA_DIR": str(data), "APPLIANCE_DATABASE_KEY_FILE": str(first)}
    app = Appliance(workers="dialogue,gateway", env=env).wait_ready()
    try:
        status, hs = app.post(
            "/handshake",
            {
                "user_id": "secret-citizen",
                "type": "handshake",
                "info": {"name": "李明"},
                "input": {"type": "text", "text": "办护照"},
            },
        )
        assert status == 200
    finally:
        app.stop()
    raw = (data / "appliance.sqlite3").read_bytes()
    assert b"SQLite format 3" not in raw[:16] and b"secret-citizen" not in raw
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(data / "appliance.sqlite3").execute("select * from flow_session").fetchall()

    second = key_file(tmp_path, "k2", "correct horse battery staple 2")
    result = cli(
        "db", "rekey", str(second), env={**env, "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run")}
    )
    assert result.returncode == 0, result.stderr
    # the old key no longer opens it: the supervisor stops with a clear error
    old = Appliance(workers="dialogue,gateway", env=env)
    assert old.proc.wait(60) == 2 and "cannot open the database" in old.logtext()
    old.stop()
    app = Appliance(
        workers="dialogue,gateway", env={**env, "APPLIANCE_DATABASE_KEY_FILE": str(second)}
    ).wait_ready()
    try:
        status, body = app.post(
            "/storage", {"user_id": "secret-citizen", "type": "storage", "hash": hs["hash"]}
        )
        assert status == 400 and "after the questions" in body["reason"]  # the session survived, readable
    finally:
        app.stop()


def test_key_file_rules(tmp_path):
    from appliance.store.keys import DatabaseKeyError, read_key

    with pytest.raises(DatabaseKeyError, match="readable by others"):
        read_key(str(key_file(tmp_path, "open", "x" * 32, 0o644)))
    with pytest.raises(DatabaseKeyError, match="shorter"):
        read_key(str(key_file(tmp_path, "short", "abc")))
    with pytest.raises(DatabaseKeyError, match="CREDENTIALS_DIRECTORY"):
        read_key("credential:db-key")
    assert read_key("") is None


def test_encrypt_a_plaintext_database(tmp_path):
    data = tmp_path / "data"
    app = Appliance(workers="dialogue,gateway", env={"APPLIANCE_PATHS_DATA_DIR": str(data)}).wait_ready()
    app.post(
        "/handshake",
        {"user_id": "plain", "type": "handshake", "info": {}, "input": {"type": "text", "text": "办护照"}},
    )
    app.stop()
    key = key_file(tmp_path, "k", "another long enough key 123")
    env = {"APPLIANCE_PATHS_DATA_DIR": str(data), "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run")}
    result = cli("db", "encrypt", str(key), env=env)
    assert result.returncode == 0, result.stderr
    assert b"plain" not in (data / "appliance.sqlite3").read_bytes()
    from appliance import store

    store.open_database(data / "appliance.sqlite3", key=key.read_text())
    assert store.FlowSession.select().where(store.FlowSession.user_id == "plain").count() == 1
