"""Settings: defaults, the shipped file, environment overrides, clear errors."""

import dataclasses
import tomllib

import pytest

from appliance import config

SHIPPED = config.shipped_config_path()


def test_shipped_file_equals_embedded_defaults():
    """The technician's file documents the defaults: they must not drift apart."""
    raw = tomllib.loads(SHIPPED.read_text())
    defaults = config.Settings().as_dict(mask_secrets=False)
    assert set(raw) == set(defaults)
    for section, keys in defaults.items():
        assert set(raw[section]) == set(keys), section
        for key, value in keys.items():
            assert raw[section][key] == value, f"{section}.{key}"


def test_every_key_is_commented_in_the_shipped_file():
    lines = SHIPPED.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            block = lines[max(0, i - 3) : i]
            assert any(l.startswith("#") for l in block), f"key without a comment: {line}"


def test_required_keys_and_defaults():
    s = config.load(SHIPPED, environ={})
    assert (s.ports.bind, s.ports.tool, s.ports.flow_socket, s.ports.flow_http) == (
        "127.0.0.1",
        3304,
        444,
        10925,
    )
    for key in (
        "sebox.url",
        "tencent.base_url",
        "tencent.token",
        "liveness_api.url",
        "liveness_api.app_id",
        "liveness_api.authorization",
        "paths.data_dir",
    ):
        section, name = key.split(".")
        assert hasattr(getattr(s, section), name)
    assert s.data_dir == SHIPPED.parents[1] / "var" / "data"


def test_environment_overrides_file():
    env = {
        "APPLIANCE_PORTS_FLOW_HTTP": "18080",
        "APPLIANCE_LIVENESS_API_APP_ID": "app-7",
        "APPLIANCE_SUPERVISOR_WORKERS": "gateway, dialogue",
        "APPLIANCE_SEBOX_ENABLED": "yes",
        "APPLIANCE_SUPERVISOR_HEARTBEAT_INTERVAL": "0.5",
    }
    s = config.load(SHIPPED, environ=env)
    assert s.ports.flow_http == 18080 and s.liveness_api.app_id == "app-7"
    assert s.supervisor.workers == ("gateway", "dialogue") and s.sebox.enabled is True
    assert s.supervisor.heartbeat_interval == 0.5


@pytest.mark.parametrize(
    "env,words",
    [
        ({"APPLIANCE_PORTS_FLOW_HTTP": "eighty"}, ["ports.flow_http", "'eighty'", "integer"]),
        ({"APPLIANCE_PORTS_TOOL": "70000"}, ["ports.tool", "70000", "0..65535"]),
        ({"APPLIANCE_PORTS_BIND": "localhost:1"}, ["ports.bind", "IP address"]),
        ({"APPLIANCE_PORTS_BIND": "0.0.0.0"}, ["allow_remote"]),
        ({"APPLIANCE_SUPERVISOR_WORKERS": "gateway,camera9"}, ["supervisor.workers", "camera9"]),
        ({"APPLIANCE_SEBOX_ENABLED": "perhaps"}, ["sebox.enabled", "true/false"]),
        ({"APPLIANCE_PORTS_TOOL": "10925"}, ["must differ"]),
        ({"APPLIANCE_LOGGING_LEVEL": "LOUD"}, ["logging.level", "LOUD"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(env, words):
    with pytest.raises(config.ConfigError) as err:
        config.load(SHIPPED, environ=env)
    for word in words:
        assert word in str(err.value)


def test_unknown_keys_and_sections_in_file(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text("[ports]\ntoll = 3304\n")
    with pytest.raises(config.ConfigError, match="ports.toll"):
        config.load(bad, environ={})
    bad.write_text("[portz]\ntool = 3304\n")
    with pytest.raises(config.ConfigError, match="portz"):
        config.load(bad, environ={})
    bad.write_text("[ports\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(bad, environ={})
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.toml", environ={})


def test_wide_bind_needs_allow_remote():
    s = config.load(
        SHIPPED, environ={"APPLIANCE_PORTS_BIND": "0.0.0.0", "APPLIANCE_PORTS_ALLOW_REMOTE": "true"}
    )
    assert s.ports.bind == "0.0.0.0"


def test_secrets_masked():
    s = config.load(SHIPPED, environ={"APPLIANCE_TENCENT_TOKEN": "tok-secret-123"})
    shown = s.as_dict()
    assert shown["tencent"]["token"] == "********" and "tok-secret-123" not in repr(shown)
    assert s.secrets() == ["tok-secret-123"]


def test_settings_are_frozen_and_documented():
    s = config.load(SHIPPED, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.ports.tool = 1
    import ast

    from appliance.config import sections as config_sections

    tree = ast.parse(open(config_sections.__file__, encoding="utf-8").read())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    for section in config.SECTIONS.values():
        body = classes[section.__name__].body
        documented = {
            node.target.id
            for node, after in zip(body, body[1:], strict=False)
            if isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        }
        for f in dataclasses.fields(section):
            assert f.name in documented, f"{section.__name__}.{f.name} lacks a docstring"
