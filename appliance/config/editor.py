"""The technician's config tool: get, set, diff and guided set-up over the TOML file.

Edits go through tomlkit so the comments a technician relies on survive every
change.  A change is never written blind: the would-be file is written next
to the real one and loaded with :func:`appliance.config.load` (with an empty
environment, so an override in the shell cannot hide a bad value); only when
that passes is the old file kept as ``<file>.bak`` and the new one renamed
over it (atomic on one file system: a power cut leaves the old or the new
file, never half of one).

Every changed key needs a restart: each worker reads its settings once at start
and nothing reloads them (no SIGHUP handler exists), so the CLI says so whenever
a value changed rather than guessing per key.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from . import settings as config
from .settings import ConfigError, Settings


@dataclass(frozen=True)
class KeyInfo:
    """One settable key: ``section.name``, its type, default, doc and metadata."""

    key: str
    section: str
    name: str
    kind: Any
    default: Any
    secret: bool
    doc: str
    meta: dict = dataclasses.field(default_factory=dict)


def config_file(explicit: str | os.PathLike | None = None) -> Path:
    """The file a change goes into: --config, else $APPLIANCE_CONFIG, else the shipped one."""
    chosen = explicit or os.environ.get(config.CONFIG_ENV) or config.shipped_config_path()
    return Path(chosen).resolve()


def _field_docs(cls: type) -> dict[str, str]:
    """Field docstrings (the string literal under each field) from the source."""
    import ast
    import inspect

    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs, last = {}, None
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            last = node.target.id
        elif last and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[last] = str(node.value.value).strip()
            last = None
    return docs


def all_keys() -> dict[str, KeyInfo]:
    """Every key of every section, in file order."""
    out = {}
    for section, cls in config.SECTIONS.items():
        hints, docs, defaults = typing.get_type_hints(cls), _field_docs(cls), cls()
        for f in dataclasses.fields(cls):
            out[f"{section}.{f.name}"] = KeyInfo(
                f"{section}.{f.name}",
                section,
                f.name,
                hints[f.name],
                getattr(defaults, f.name),
                bool(f.metadata.get("secret")),
                docs.get(f.name, ""),
                dict(f.metadata),
            )
    return out


def key_info(key: str) -> KeyInfo:
    keys = all_keys()
    if key not in keys:
        import difflib

        close = difflib.get_close_matches(key, list(keys), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `appliance config show` lists them"
        raise ConfigError(f"unknown key {key!r}{hint}")
    return keys[key]


def display(info: KeyInfo, value: Any) -> str:
    """A value as a technician reads it (TOML syntax); secrets masked."""
    if info.secret:
        return config.mask(value) or '""'
    if isinstance(value, tuple):
        value = list(value)
    return tomlkit.item(value).as_string()


def get_value(settings: Settings, key: str) -> tuple[KeyInfo, Any]:
    info = key_info(key)
    return info, getattr(getattr(settings, info.section), info.name)


def parse_value(info: KeyInfo, text: str) -> Any:
    """A command-line string as the key's type (validation of ranges is config.load's job)."""
    kind, raw = info.kind, text.strip()
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind == tuple[str, ...]:
            if raw.startswith("["):
                value = tomlkit.parse(f"v = {raw}")["v"].unwrap()
                if not all(isinstance(v, str) for v in value):
                    raise ValueError
                return list(value)
            return [item.strip() for item in raw.split(",") if item.strip()]
    except (ValueError, tomlkit.exceptions.TOMLKitError):
        raise ConfigError(f"{info.key} = {text!r}: expected {config._kind_name(kind)}") from None
    return text  # str: taken as typed (quotes are the shell's business)


def check_value(info: KeyInfo, text: str) -> Any:
    """Parse and check one value on its own (type, range, choices); cross-key rules come later."""
    value = config._coerce(parse_value(info, text), info.kind, info.key, info.meta)
    if info.key == "camera.source":
        _check_camera_source(value)
    return value


def _check_camera_source(spec: str) -> None:
    """A source the camera worker can build (nothing is opened here)."""
    from ..camera.sources import SourceError, make_source

    try:
        make_source(spec, 640, 480, 1.0)
    except SourceError as exc:
        raise ConfigError(
            f"camera.source = {spec!r}: {exc}; use auto, none, picamera2, v4l2:/dev/videoN, "
            "rtsp://…, file:PATH or stills:DIR"
        ) from None


def env_override(key: str, environ: typing.Mapping[str, str] | None = None) -> str | None:
    """The APPLIANCE_* variable that would shadow this key, if it is set."""
    section, _, name = key.partition(".")
    var = f"{config.ENV_PREFIX}{section}_{name}".upper()
    return var if var in (os.environ if environ is None else environ) else None


# -- writing ------------------------------------------------------------------
def read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def apply(doc: tomlkit.TOMLDocument, info: KeyInfo, value: Any) -> None:
    """Put one value into the document, keeping its comments and order."""
    if info.section not in doc:
        doc.add(tomlkit.nl())
        doc.add(info.section, tomlkit.table())
    table = doc[info.section]
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        array.extend(list(value))
        value = array
    table[info.name] = value


def validate_text(path: Path, text: str) -> Settings:
    """Load ``text`` as if it were the file at ``path`` (same folder: same base dir)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return config.load(tmp, environ={})
    finally:
        os.unlink(tmp)


def write_atomically(path: Path, text: str) -> Path | None:
    """Keep the current file as .bak, then rename the new text over it. Returns the backup."""
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        backup.write_bytes(path.read_bytes())
        os.chmod(backup, path.stat().st_mode & 0o777)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)  # the rename itself must survive a power cut
    finally:
        os.close(dirfd)
    return backup


@dataclass
class Change:
    key: str
    old: str
    new: str
    changed: bool
    backup: Path | None
    shadowed_by: str | None


def set_values(path: Path, values: dict[str, str | Any], parsed: bool = False) -> list[Change]:
    """Validate and write several keys at once (raw strings unless ``parsed``).

    Raises ConfigError (file untouched) when any value or the resulting file is bad.
    """
    doc = read_document(path)
    try:
        before = config.load(path, environ={}) if path.exists() else Settings()
    except ConfigError:
        before = None  # a broken file can still be repaired by set
    pending = []
    for key, raw in values.items():
        info = key_info(key)
        value = raw if parsed else check_value(info, raw)
        apply(doc, info, value)
        pending.append(info)
    text = tomlkit.dumps(doc)
    after = validate_text(path, text)
    if "paths.services" in values:
        _, problem = catalogue_summary(after)
        if problem:
            raise ConfigError(f"paths.services: {problem}")
    changes = []
    for info in pending:
        old = getattr(getattr(before, info.section), info.name) if before else None
        new = getattr(getattr(after, info.section), info.name)
        changes.append(
            Change(
                info.key,
                "?" if before is None else display(info, old),
                display(info, new),
                old != new,
                None,
                env_override(info.key),
            )
        )
    if any(c.changed for c in changes) or before is None:
        backup = write_atomically(path, text)
        for c in changes:
            c.backup = backup
    return changes


def diff(settings: Settings) -> list[tuple[KeyInfo, str, str]]:
    """(key, shipped default, value in force) for every key that differs from the default."""
    out = []
    for info in all_keys().values():
        value = getattr(getattr(settings, info.section), info.name)
        if value != info.default:
            out.append((info, display(info, info.default), display(info, value)))
    return out


def catalogue_summary(settings: Settings) -> tuple[list[str], str | None]:
    """(service names, problem) of the government-service catalogue in force."""
    from ..dialogue.catalogue import load_catalogue

    try:
        cat = load_catalogue(settings.path("services"))
    except Exception as exc:  # CatalogueError, OSError, TOML errors: all mean "fix the file"
        return [], f"{settings.path('services')}: {exc}"
    return [s.classify + (" (fallback)" if getattr(s, "fallback", False) else "") for s in cat.services], None


# -- guided set-up ------------------------------------------------------------
def _is_loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True


SETUP_STEPS: list[tuple[str, typing.Callable[[dict], bool] | None]] = [
    ("ports.bind", None),
    ("ports.allow_remote", lambda a: not _is_loopback(str(a.get("ports.bind", "127.0.0.1")))),
    ("ports.tool", None),
    ("ports.flow_socket", None),
    ("ports.flow_http", None),
    ("sebox.enabled", None),
    ("sebox.url", lambda a: bool(a.get("sebox.enabled"))),
    ("tencent.enabled", None),
    ("tencent.base_url", lambda a: bool(a.get("tencent.enabled"))),
    ("tencent.token", lambda a: bool(a.get("tencent.enabled"))),
    ("liveness_api.enabled", None),
    ("liveness_api.url", lambda a: bool(a.get("liveness_api.enabled"))),
    ("liveness_api.app_id", lambda a: bool(a.get("liveness_api.enabled"))),
    ("liveness_api.authorization", lambda a: bool(a.get("liveness_api.enabled"))),
    ("camera.source", None),  # asked only once a [camera] section exists (see setup_steps)
    ("face.match_threshold", None),
    ("face.match_margin", None),
]
"""The essential settings a technician sets on site, in the order asked.
A step is skipped when its condition (over the answers so far) is false."""


def setup_steps() -> list[tuple[KeyInfo, typing.Callable[[dict], bool] | None]]:
    keys = all_keys()
    return [(keys[k], cond) for k, cond in SETUP_STEPS if k in keys]
