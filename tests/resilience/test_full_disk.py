"""The database on a full disk (a 4 MB tmpfs): writes fail with a clear error, the kiosk
keeps answering, nothing committed is damaged, and it recovers when space returns."""

import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from harness import Appliance


@pytest.fixture
def small_disk():
    mount = Path(tempfile.mkdtemp(prefix="ka-disk-"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)])


def fill(path: Path) -> None:
    """Write until the filesystem refuses."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            pass


def handshake(app, user="u"):
    return app.post(
        "/handshake",
        {
            "user_id": user,
            "type": "handshake",
            "info": {"name": "李明"},
            "input": {"type": "text", "text": "我要办身份证"},
        },
    )


def test_full_disk_fails_clearly_and_recovers(small_disk):
    app = Appliance(
        workers="dialogue,gateway", env={"APPLIANCE_PATHS_DATA_DIR": str(small_disk / "data")}
    ).wait_ready()
    try:
        status, before = handshake(app, "before")
        assert status == 200
        filler = small_disk / "filler"
        fill(filler)
        refusals = []
        for i in range(5):
            status, body = handshake(app, f"during-{i}")
            refusals.append((status, body))
        assert all(s >= 500 and b["type"] == "error" and "full" in b["reason"] for s, b in refusals), refusals
        assert app.get("/health")[0] == 200  # still answering
        filler.unlink()
        status, after = handshake(app, "after")
        assert status == 200 and after["hash"]
        status, summary = app.post(
            "/storage", {"user_id": "before", "type": "storage", "hash": before["hash"]}
        )
        assert (
            status == 400 and "after the questions" in summary["reason"]
        )  # the session committed before is intact
    finally:
        app.stop()
    db = sqlite3.connect(small_disk / "data" / "appliance.sqlite3")
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    users = {u for (u,) in db.execute("select user_id from flow_session")}
    assert {"before", "after"} <= users
