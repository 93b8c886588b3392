"""The command line: help, config show/validate, status against nothing running."""

import os
import subprocess
import sys

from harness import ROOT


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_help_on_every_command():
    for args in (
        [],
        ["run"],
        ["status"],
        ["config"],
        ["config", "show"],
        ["config", "validate"],
        ["models", "fetch"],
    ):
        result = run(*args, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout and len(result.stdout) > 150


def test_config_show_masks_tokens_and_validate(tmp_path):
    result = run("config", "show", env={"APPLIANCE_TENCENT_TOKEN": "sekret-token"})
    assert result.returncode == 0 and "sekret-token" not in result.stdout and "********" in result.stdout
    assert "flow_socket = 444" in result.stdout
    assert run("config", "validate").returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[ports]\ntool = -1\n")
    result = run("config", "validate", str(bad))
    assert result.returncode == 2 and "ports.tool" in result.stderr


def test_status_when_nothing_runs(tmp_path):
    result = run("status", "--timeout", "0.5", env={"APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == 1 and "not running" in result.stderr


def test_status_of_a_running_appliance(start_appliance):
    app = start_appliance(workers="dialogue,gateway").wait_ready()
    app.wait_healthy()
    result = run("status", env={"APPLIANCE_PATHS_RUNTIME_DIR": app.env["APPLIANCE_PATHS_RUNTIME_DIR"]})
    assert result.returncode == 0 and "healthy" in result.stdout and "dialogue" in result.stdout
