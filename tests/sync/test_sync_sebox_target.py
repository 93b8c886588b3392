"""sebox.url never points at the kiosk's own event feed (issue 15, item 3): no such default,
the settings refuse it (config validate, start), the doctor explains it."""

import dataclasses
import os
import socket
import subprocess
import sys

import pytest
from harness import ROOT

from appliance import config
from appliance.config import ConfigError
from appliance.doctor.upstream import _sebox_plan
from appliance.sync.sebox_target import config_problem, host_port, is_this_machine, self_feed_problem

SHIPPED = ROOT / "firmware-config" / "appliance.toml"
ALL = "camera,dialogue,face,liveness,speech,sync,gateway"


def load(**env):
    return config.load(SHIPPED, environ={f"APPLIANCE_{k.upper()}": v for k, v in env.items()})


def test_no_default_points_at_the_kiosk():
    s = config.load(SHIPPED, environ={})
    assert s.sebox.url == "" and config.Settings().sebox.url == ""
    assert "camera" in s.supervisor.workers and s.ports.event_feed == 5679  # the feed the old default hit


def test_host_port_and_this_machine():
    assert host_port("ws://Box.local:5679") == ("box.local", 5679)
    assert host_port("wss://10.0.0.9") == ("10.0.0.9", 443) and host_port("http://x:1") is None
    for host in (
        "127.0.0.1",
        "127.8.9.10",
        "localhost",
        "localhost.",
        "::1",
        "0.0.0.0",
        socket.gethostname(),
    ):
        assert is_this_machine(host), host
    assert not is_this_machine("192.0.2.7")  # TEST-NET-1: never assigned here
    assert not is_this_machine("box.example")  # a name is not resolved by the settings loader
    assert is_this_machine("10.1.2.3", bind="10.1.2.3")


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:5679",
        "ws://localhost:5679",
        "ws://[::1]:5679",
        "ws://0.0.0.0:5679/",
        f"ws://{socket.gethostname()}:5679",
    ],
)
def test_the_kiosks_own_feed_is_refused(url):
    with pytest.raises(ConfigError, match="own event feed"):
        load(sebox_enabled="true", sebox_url=url, supervisor_workers=ALL)


def test_what_is_not_the_kiosks_feed_is_accepted():
    assert load(sebox_enabled="true", sebox_url="ws://192.0.2.7:5679").sebox.url == "ws://192.0.2.7:5679"
    assert load(sebox_enabled="true", sebox_url="ws://127.0.0.1:15679").sebox.enabled  # another port
    # no camera worker: nothing of the kiosk's own listens on 5679 (a simulator on this machine may)
    assert load(sebox_enabled="true", sebox_url="ws://127.0.0.1:5679", supervisor_workers="sync,gateway")
    assert load(sebox_url="ws://127.0.0.1:5679").sebox.enabled is False  # off: harmless
    assert load(sebox_enabled="true").sebox.url == ""  # not set yet: the sync worker says so, doctor FAILs
    with pytest.raises(ConfigError, match="own event feed"):  # the feed moved: the check follows it
        load(sebox_enabled="true", sebox_url="ws://127.0.0.1:6000", ports_event_feed="6000")
    with pytest.raises(ConfigError, match="expected ws://"):
        load(sebox_url="http://box:5679")


def test_config_validate_refuses_it_with_the_reason(tmp_path):
    bad = tmp_path / "appliance.toml"
    bad.write_text('[sebox]\nenabled = true\nurl = "ws://127.0.0.1:5679"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "validate", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "own event feed" in done.stdout + done.stderr


def test_doctor_explains_and_resolves_names():
    base = config.Settings()
    on = dataclasses.replace(base, sebox=dataclasses.replace(base.sebox, enabled=True))
    empty = _sebox_plan(on)
    assert empty[0] is None and empty[1][0] == "FAIL" and "empty" in empty[1][1]
    # a settings file from before the check, or a name only DNS knows: the doctor resolves it
    for url in ("ws://127.0.0.1:5679", "ws://localhost:5679"):
        own = dataclasses.replace(on, sebox=dataclasses.replace(on.sebox, url=url))
        coroutine, row = _sebox_plan(own)
        assert coroutine is None and row[0] == "FAIL" and "own event feed" in row[1] and "box" in row[2]
    fqdn = socket.getfqdn()
    if fqdn.lower() not in ("localhost", socket.gethostname().lower()) and is_this_machine(
        fqdn, resolve=True
    ):
        named = dataclasses.replace(on, sebox=dataclasses.replace(on.sebox, url=f"ws://{fqdn}:5679"))
        assert not config_problem(named) and self_feed_problem(named, resolve=True)
