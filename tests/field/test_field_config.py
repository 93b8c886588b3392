"""The technician's config tool: get, set (validated, atomic, backed up), diff, setup; secrets masked."""

import shutil

import pytest
from click.testing import CliRunner
from harness import ROOT

from appliance import config
from appliance.cli import main

SHIPPED = ROOT / "firmware-config" / "appliance.toml"


@pytest.fixture
def cfg(tmp_path):
    folder = tmp_path / "firmware-config"
    folder.mkdir()
    path = folder / "appliance.toml"
    shutil.copy(SHIPPED, path)
    shutil.copy(ROOT / "firmware-config" / "services.toml", folder / "services.toml")
    return path


def cli(path, *args, input=None):
    env = {k: None for k in __import__("os").environ if k.startswith("APPLIANCE_")}
    return CliRunner().invoke(
        main, ["--config", str(path), *args], input=input, env=env, catch_exceptions=False
    )


def test_set_writes_keeps_comments_and_backup_and_says_restart(cfg):
    before = cfg.read_text()
    result = cli(cfg, "config", "set", "ports.flow_http", "18080")
    assert result.exit_code == 0, result.output
    assert "10925 -> 18080" in result.output and "restart needed" in result.output
    text = cfg.read_text()
    assert "flow_http = 18080" in text
    assert "# HTTP flow port: handshake, storage, summary, and GET /health." in text  # comments survive
    assert text.count("\n") == before.count("\n")  # only the value changed
    assert cfg.with_name("appliance.toml.bak").read_text() == before
    assert config.load(cfg, environ={}).ports.flow_http == 18080
    assert cli(cfg, "config", "get", "ports.flow_http").output.strip() == "18080"


@pytest.mark.parametrize(
    "key,value,reason",
    [
        ("ports.tool", "70000", "allowed range"),
        ("ports.tool", "abc", "expected an integer"),
        ("ports.bind", "0.0.0.0", "allow_remote"),  # cross-key rule, found by loading the would-be file
        ("ports.flow_http", "3304", "must differ"),
        ("logging.level", "LOUD", "not one of"),
        ("supervisor.workers", "face,face", "listed twice"),
        ("nosuch.key", "1", "unknown key"),
        ("camera.source", "my-webcam", "camera.source"),
        ("paths.services", "firmware-config/missing.toml", "paths.services"),
    ],
)
def test_set_rejects_bad_values_and_leaves_the_file_untouched(cfg, key, value, reason):
    before = cfg.read_bytes()
    result = cli(cfg, "config", "set", key, value)
    assert result.exit_code == 2
    assert reason in result.output and "unchanged" in result.output
    assert cfg.read_bytes() == before
    assert not cfg.with_name("appliance.toml.bak").exists()
    assert not [p for p in cfg.parent.iterdir() if p.name.startswith(".appliance.toml")]  # no temp left


def test_tokens_are_masked_in_set_get_diff_and_show(cfg):
    secret = "tok-7f3a9c-very-secret"
    result = cli(cfg, "config", "set", "tencent.token", secret)
    assert result.exit_code == 0 and secret not in result.output and "********" in result.output
    assert secret in cfg.read_text()  # the file holds it (it is the service's secret store)
    for args in (
        ("config", "get", "tencent.token"),
        ("config", "get", "tencent"),
        ("config", "diff"),
        ("config", "diff", "--json"),
        ("config", "show"),
    ):
        out = cli(cfg, *args).output
        assert secret not in out and "********" in out, args


def test_lists_and_booleans_and_diff(cfg):
    assert cli(cfg, "config", "set", "supervisor.workers", "dialogue,gateway").exit_code == 0
    assert cli(cfg, "config", "set", "sebox.enabled", "yes").exit_code == 0
    assert config.load(cfg, environ={}).supervisor.workers == ("dialogue", "gateway")
    out = cli(cfg, "config", "diff").output
    assert 'supervisor.workers = ["dialogue", "gateway"]' in out and "sebox.enabled = true" in out
    assert "ports.tool" not in out
    same = cli(cfg, "config", "set", "sebox.enabled", "true")
    assert "unchanged" in same.output


def test_diff_of_the_shipped_file_is_empty(cfg):
    assert "no differences" in cli(cfg, "config", "diff").output


def test_services_lists_the_catalogue(cfg):
    result = cli(cfg, "config", "services")
    assert result.exit_code == 0 and "身份证" in result.output


def test_setup_walks_through_with_validation(cfg):
    answers = (
        "\n".join(
            [
                "10.0.0.5",  # ports.bind: not loopback, so allow_remote is asked
                "y",  # ports.allow_remote
                "99999",
                "3310",  # ports.tool: refused, then accepted
                "",  # ports.flow_socket: keep 444
                "",  # ports.flow_http: keep
                "n",  # sebox.enabled
                "y",  # tencent.enabled
                "",  # tencent.base_url keep
                "setup-secret-token",  # tencent.token (hidden)
                "n",  # liveness_api.enabled
                "webcam please",
                "stills:/srv/kiosk-photos",  # camera.source: refused, then accepted
                "1.5",
                "0.55",  # face.match_threshold: refused, then accepted
                "",  # face.match_margin keep
            ]
        )
        + "\n"
    )
    result = cli(cfg, "setup", "--no-doctor", input=answers)
    assert result.exit_code == 0, result.output
    assert "not accepted" in result.output and "allowed range" in result.output
    assert "setup-secret-token" not in result.output
    s = config.load(cfg, environ={})
    assert (s.ports.bind, s.ports.allow_remote, s.ports.tool, s.ports.flow_socket) == (
        "10.0.0.5",
        True,
        3310,
        444,
    )
    assert s.tencent.enabled and s.tencent.token == "setup-secret-token"
    assert s.face.match_threshold == 0.55
    assert s.camera.source == "stills:/srv/kiosk-photos"
    assert cfg.with_name("appliance.toml.bak").exists()


def test_help_of_every_field_command():
    for args in (
        ["doctor"],
        ["setup"],
        ["bench"],
        ["config", "get"],
        ["config", "set"],
        ["config", "diff"],
        ["config", "services"],
    ):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output and len(result.output) > 150, args
