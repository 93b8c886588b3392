"""Typed settings: defaults here, a TOML file over them, environment variables over that.

Every section is a frozen dataclass whose field docstrings document the key.
A technician edits ``firmware-config/appliance.toml``; any key can be
overridden by ``APPLIANCE_<SECTION>_<KEY>`` (e.g. ``APPLIANCE_PORTS_FLOW_HTTP``).
A bad value fails at start with a message naming the key, the value and what
is allowed (``ConfigError``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The sections live in config.sections; the package re-exports them (callers use appliance.config.XSettings).
from .sections import (
    SECTIONS,
    CameraSettings,
    DatabaseSettings,
    DialogueSettings,
    FaceSettings,
    LimitsSettings,
    LivenessApiSettings,
    LivenessSettings,
    LoggingSettings,
    PathsSettings,
    PortsSettings,
    SeboxSettings,
    SpeechSettings,
    SupervisorSettings,
    SyncSettings,
    TencentSettings,
)

ENV_PREFIX = "APPLIANCE_"
CONFIG_ENV = "APPLIANCE_CONFIG"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


@dataclass(frozen=True)
class Settings:
    """All settings, plus where they came from."""

    ports: PortsSettings = field(default_factory=PortsSettings)
    paths: PathsSettings = field(default_factory=PathsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    dialogue: DialogueSettings = field(default_factory=DialogueSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    sebox: SeboxSettings = field(default_factory=SeboxSettings)
    tencent: TencentSettings = field(default_factory=TencentSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    liveness_api: LivenessApiSettings = field(default_factory=LivenessApiSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    source: str = ""
    """The config file read ('' when only embedded defaults were used)."""
    base_dir: str = "."
    """Relative paths resolve against this (the folder above firmware-config/)."""

    def path(self, key: str) -> Path:
        """An absolute path for a `paths` key."""
        value = Path(getattr(self.paths, key))
        return value if value.is_absolute() else Path(self.base_dir) / value

    @property
    def data_dir(self) -> Path:
        return self.path("data_dir")

    @property
    def models_dir(self) -> Path:
        return self.path("models_dir")

    @property
    def runtime_dir(self) -> Path:
        if self.paths.runtime_dir:
            return self.path("runtime_dir")
        if os.environ.get("RUNTIME_DIRECTORY"):  # set by systemd's RuntimeDirectory=
            return Path(os.environ["RUNTIME_DIRECTORY"].split(":")[0])
        if os.environ.get("XDG_RUNTIME_DIR"):
            return Path(os.environ["XDG_RUNTIME_DIR"]) / "kiosk-appliance"
        return Path(f"/tmp/kiosk-appliance-{os.getuid()}")

    def as_dict(self, mask_secrets: bool = True) -> dict[str, dict[str, Any]]:
        """Every key and value by section; secrets masked unless asked not to."""
        out: dict[str, dict[str, Any]] = {}
        for name in SECTIONS:
            section = getattr(self, name)
            values = {}
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if mask_secrets and f.metadata.get("secret"):
                    value = mask(value)
                values[f.name] = list(value) if isinstance(value, tuple) else value
            out[name] = values
        return out

    def secrets(self) -> list[str]:
        """The secret values in force (for scrubbing them out of logs)."""
        found = []
        for name in SECTIONS:
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                if f.metadata.get("secret") and getattr(section, f.name):
                    found.append(getattr(section, f.name))
        return found


def mask(value: str) -> str:
    """Show that a secret is set without showing it."""
    return "" if not value else "********"


def shipped_config_path() -> Path:
    """The firmware-config/appliance.toml beside the package (a source checkout)."""
    return Path(__file__).resolve().parents[2] / "firmware-config" / "appliance.toml"


def load(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file, then APPLIANCE_* environment variables."""
    environ = os.environ if environ is None else environ
    chosen = path or environ.get(CONFIG_ENV) or None
    if chosen is None and shipped_config_path().exists():
        chosen = shipped_config_path()
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if chosen is not None:
        chosen = Path(chosen).resolve()
        try:
            raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {chosen} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {chosen} is not valid TOML: {exc}") from None
        base_dir = chosen.parent.parent if chosen.parent.name == "firmware-config" else chosen.parent
    sections = {name: _build_section(name, cls, raw.pop(name, {}), environ) for name, cls in SECTIONS.items()}
    if raw:
        raise ConfigError(f"unknown section(s) {sorted(raw)}; allowed: {list(SECTIONS)}")
    settings = Settings(**sections, source=str(chosen or ""), base_dir=str(base_dir))
    _check_cross_section(settings)
    return settings


def _build_section(name: str, cls: type, table: Any, environ: Mapping[str, str]) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(table) - set(fields)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{name}.{k}' for k in sorted(unknown))}; "
            f"allowed in [{name}]: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for key, f in fields.items():
        env_name = f"{ENV_PREFIX}{name}_{key}".upper()
        if env_name in environ:
            value = _from_env(environ[env_name], hints[key], f"{name}.{key}")
        elif key in table:
            value = table[key]
        else:
            continue
        values[key] = _coerce(value, hints[key], f"{name}.{key}", f.metadata)
    return cls(**values)


def _from_env(text: str, kind: Any, key: str) -> Any:
    """Environment values are strings; lists are comma-separated."""
    if kind == tuple[str, ...]:
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} = {text!r}: expected true/false")
    return text


def _coerce(value: Any, kind: Any, key: str, meta: Mapping[str, Any]) -> Any:
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            value = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise TypeError
            value = float(value)
        elif kind is str:
            if not isinstance(value, str):
                raise TypeError
        elif kind == tuple[str, ...]:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise TypeError
            value = tuple(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} = {value!r}: expected {_kind_name(kind)}") from None
    _check_meta(value, key, meta)
    return value


def _kind_name(kind: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, "a list of strings"
    )


def _check_meta(value: Any, key: str, meta: Mapping[str, Any]) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError(f"{key} = {value!r}: allowed range is {lo}..{hi if hi is not None else '∞'}")
    choices = meta.get("choices")
    if choices:
        items = value if isinstance(value, tuple) else (value,)
        bad = [item for item in items if item not in choices]
        if bad:
            raise ConfigError(f"{key} = {value!r}: {bad[0]!r} is not one of {', '.join(choices)}")
    if meta.get("cidr"):
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{key} = {list(value)!r}: {item!r} is not an address or CIDR such as 10.0.0.0/8"
                ) from None
    if meta.get("origins"):
        from ..gateway.origins import pattern_problem  # the grammar lives beside its matcher

        for item in value:
            if pattern_problem(item):
                raise ConfigError(f"{key} = {list(value)!r}: {pattern_problem(item)}")
    if meta.get("ip"):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError(f"{key} = {value!r}: expected an IP address such as 127.0.0.1") from None


def _check_cross_section(s: Settings) -> None:
    ports = [
        p
        for p in (s.ports.tool, s.ports.flow_socket, s.ports.flow_http, s.ports.event_feed, s.ports.metrics)
        if p
    ]
    if len(set(ports)) != len(ports):
        raise ConfigError(
            "ports.tool, ports.flow_socket, ports.flow_http, ports.event_feed and ports.metrics "
            f"must differ, got {ports}"
        )
    if not ipaddress.ip_address(s.ports.metrics_bind).is_loopback and not s.ports.allow_remote:
        raise ConfigError(
            f"ports.metrics_bind = {s.ports.metrics_bind!r} exposes the metrics beyond this machine: "
            "set ports.allow_remote = true (and ports.allow_clients to your Prometheus) on purpose"
        )
    if not ipaddress.ip_address(s.ports.bind).is_loopback and not s.ports.allow_remote:
        raise ConfigError(
            f"ports.bind = {s.ports.bind!r} exposes the kiosk's ports beyond this machine: "
            "set ports.allow_remote = true to do that on purpose"
        )
    if len(set(s.supervisor.workers)) != len(s.supervisor.workers):
        raise ConfigError(f"supervisor.workers = {list(s.supervisor.workers)}: a worker is listed twice")
    if s.supervisor.heartbeat_timeout <= 2 * s.supervisor.heartbeat_interval:
        raise ConfigError("supervisor.heartbeat_timeout must exceed twice supervisor.heartbeat_interval")
    from ..sync.sebox_target import config_problem  # the [sebox] rules live with the SE box client

    if config_problem(s):  # e.g. sebox.url pointing at this kiosk's own event feed
        raise ConfigError(config_problem(s))
