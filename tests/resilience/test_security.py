"""Security promises: loopback by default, the client allowlist, tokens never shown,
hashes unguessable and bound to their user, retention, the unit's exposure score."""

import re
import shutil
import subprocess

import pytest
from harness import ROOT, Appliance

from appliance import store
from appliance.store import retention, sessions
from appliance.store.models import RecognitionEvent, now


def test_allowlist_refuses_other_clients_and_tokens_stay_out_of_logs():
    token = "tok-9f8e7d6c5b4a"
    app = Appliance(
        workers="dialogue,gateway",
        env={
            "APPLIANCE_PORTS_ALLOW_CLIENTS": "10.99.0.0/16",  # not loopback: our own test client is refused
            "APPLIANCE_TENCENT_TOKEN": token,
            "APPLIANCE_LIVENESS_API_AUTHORIZATION": token + "-live",
            "APPLIANCE_LOGGING_LEVEL": "DEBUG",
        },
    ).wait_ready()
    try:
        status, body = app.post("/handshake", {"user_id": "u", "type": "handshake"})
        assert status == 403 and body["type"] == "error" and "allow_clients" in body["reason"]
        with pytest.raises(Exception):
            app.ws("tool", "/stt")
    finally:
        app.stop()
    log = app.logtext()
    assert "refused a client" in log and token not in log
    shown = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "appliance"), "config", "show"],
        capture_output=True,
        text=True,
        env={**app.env},
    ).stdout
    assert token not in shown and "********" in shown


def test_loopback_clients_are_allowed_when_listed():
    app = Appliance(
        workers="dialogue,gateway", env={"APPLIANCE_PORTS_ALLOW_CLIENTS": "127.0.0.0/8"}
    ).wait_ready()
    try:
        status, body = app.post(
            "/handshake",
            {"user_id": "u", "type": "handshake", "info": {}, "input": {"type": "text", "text": "办护照"}},
        )
        assert status == 200 and body["classify"] == "护照"
    finally:
        app.stop()


def test_retention_purges_old_sessions_and_events(tmp_path):
    store.migrate(store.open_database(tmp_path / "r.sqlite3"))
    old = sessions.create("u", ttl=1)
    old.expires_at = now().replace(year=now().year - 1)
    old.save()
    fresh = sessions.create("u", ttl=600)
    RecognitionEvent.create(
        event_id="e1", source="kiosk", timestamp_ms=1, received_at=now().replace(year=2020)
    )
    RecognitionEvent.create(event_id="e2", source="kiosk", timestamp_ms=2)
    assert retention.purge(30) == {"sessions": 1, "pending": 0, "events": 1}
    assert sessions.fetch(fresh.hash, "u") and RecognitionEvent.get(event_id="e2")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_exposure_score_stays_low(tmp_path):
    unit = tmp_path / "kiosk-appliance.service"
    unit.write_text(
        (ROOT / "systemd" / "kiosk-appliance.service").read_text().replace("/opt/kiosk-appliance", str(ROOT))
    )
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout).group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 3.0
