"""systemd/install.sh into a staging root: users, owners, modes, unit; twice (idempotent)."""

import os
import shutil
import stat
import subprocess

import pytest
from harness import ROOT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None, reason="the installer needs root and useradd"
)


def install(stage):
    env = {**os.environ, "ROOT_DIR": str(stage), "NO_SYSTEMCTL": "1"}
    env.pop("APPLIANCE_CONFIG", None)
    return subprocess.run(
        ["bash", str(ROOT / "systemd" / "install.sh")], env=env, capture_output=True, text=True, timeout=900
    )


def test_install_twice(tmp_path):
    stage = tmp_path / "root"
    first = install(stage)
    assert first.returncode == 0, first.stdout + first.stderr
    etc = stage / "etc" / "kiosk-appliance"
    (etc / "appliance.toml").write_text((etc / "appliance.toml").read_text() + "\n# technician's edit\n")
    second = install(stage)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "technician's edit" in (etc / "appliance.toml").read_text()  # settings are kept

    state = stage / "var" / "lib" / "kiosk-appliance"
    info = state.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    import pwd

    assert pwd.getpwuid(info.st_uid).pw_name == "kiosk-appliance"
    assert (state / "models" / "whisper-base" / "model.bin").exists()
    unit = stage / "etc" / "systemd" / "system" / "kiosk-appliance.service"
    assert "ExecStart=/opt/kiosk-appliance/.venv/bin/appliance" in unit.read_text()
    venv = stage / "opt" / "kiosk-appliance" / ".venv" / "bin" / "appliance"
    check = subprocess.run(
        [str(venv), "--config", str(etc / "appliance.toml"), "config", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    if shutil.which("systemd-analyze"):
        local = tmp_path / "kiosk-appliance.service"
        local.write_text(
            unit.read_text().replace("/opt/kiosk-appliance", str(stage / "opt" / "kiosk-appliance"))
        )
        verify = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True)
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
