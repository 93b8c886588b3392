"""The notify protocol and the systemd unit."""

import os
import shutil
import socket
import subprocess

import pytest
from harness import ROOT

from appliance.runtime.sdnotify import Notifier


def test_notify_over_a_path_socket(tmp_path):
    path = tmp_path / "n.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
    assert n.watchdog_interval == 2.0
    n.ready("serving")
    assert listener.recv(1024).decode().split("\n")[:2] == ["READY=1", "STATUS=serving"]
    n.watchdog()
    assert listener.recv(1024) == b"WATCHDOG=1"


def test_notify_abstract_socket():
    name = f"ka-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
    assert listener.recv(1024).startswith(b"STOPPING=1")


def test_no_socket_is_a_no_op():
    n = Notifier({})
    assert n.notify("READY=1") is False and n.watchdog_interval is None
    assert (
        Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval
        is None
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_verifies_clean(tmp_path):
    unit = (ROOT / "systemd" / "kiosk-appliance.service").read_text()
    for key in (
        "Type=notify",
        "WatchdogSec=",
        "NotifyAccess=main",
        "Restart=on-failure",
        "User=kiosk-appliance",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=",
        "RuntimeDirectory=",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ):
        assert key in unit
    # verify checks that ExecStart exists: point it at this checkout's venv
    local = tmp_path / "kiosk-appliance.service"
    local.write_text(unit.replace("/opt/kiosk-appliance", str(ROOT)))
    assert (ROOT / ".venv" / "bin" / "appliance").exists()
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
