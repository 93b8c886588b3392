"""`appliance doctor`: every check a technician needs, each PASS, WARN or FAIL with a fix.

The checks read and probe, they never repair: the database is opened
read-only (a doctor run as root must not leave root-owned WAL files in the
service's data dir), ports are bound and released at once, models are loaded
in this process and dropped.  Any FAIL makes the command exit non-zero; WARN
means "works, but look at it" (an upstream switched off, no camera).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..config import Settings
from ..data import PROBE_PHOTO
from ..runtime import endpoints
from ..sync.outbox import State
from . import host, upstream
from .check import Check, row

ROOT = Path(__file__).resolve().parents[2]
PROBE_SENTENCE, PROBE_WORD = "我要办身份证。", "身份证"
MIN_FREE_FAIL, MIN_FREE_WARN = 500 * 2**20, 2 * 2**30


# -- software -------------------------------------------------------------------
def check_python(s: Settings) -> list[Check]:
    v = sys.version_info
    ok = v >= (3, 11)
    return [
        row(
            "python",
            "PASS" if ok else "FAIL",
            f"Python {v.major}.{v.minor}.{v.micro} at {sys.executable}",
            "install Python 3.11 or newer and recreate the venv",
        )
    ]


def _requirements() -> list[str]:
    """install_requires of the source checkout (the truth), else of the installed metadata."""
    cfg = ROOT / "setup.cfg"
    if cfg.exists():
        import configparser

        parser = configparser.ConfigParser()
        parser.read(cfg, encoding="utf-8")
        lines = parser.get("options", "install_requires", fallback="").splitlines()
        return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    from importlib import metadata

    return [r for r in (metadata.requires("kiosk-appliance") or []) if "extra ==" not in r]


def check_packages(s: Settings) -> list[Check]:
    from importlib import metadata

    from packaging.requirements import Requirement

    problems, count = [], 0
    for line in _requirements():
        req = Requirement(line)
        count += 1
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} missing")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            problems.append(f"{req.name} {have} (want {req.specifier})")
    if problems:
        return [
            row(
                "packages",
                "FAIL",
                "; ".join(problems),
                "pip install -e /opt/kiosk-appliance (the venv's pip)",
            )
        ]
    return [row("packages", "PASS", f"{count} required packages at allowed versions")]


def check_config(s: Settings) -> list[Check]:
    from ..config.editor import catalogue_summary

    services, problem = catalogue_summary(s)
    rows = [row("config", "PASS", f"{s.source or 'embedded defaults'} loads and validates")]
    if problem:
        rows.append(row("catalogue", "FAIL", problem, "fix the file named (or restore its .bak)"))
    else:
        rows.append(row("catalogue", "PASS", f"{len(services)} services in {s.path('services')}"))
    return rows


def check_origins(s: Settings) -> list[Check]:
    """ports.allow_origins: which web pages may drive the kiosk from a browser."""
    from ..gateway.origins import OriginPolicy

    warnings = OriginPolicy(s.ports.allow_origins, s.ports.flow_http).warnings()
    if warnings:
        return [
            row(
                "origins",
                "WARN",
                "; ".join(warnings),
                "list only the kiosk's own pages: appliance config set ports.allow_origins "
                '"self,http://127.0.0.1:*,http://localhost:*"',
            )
        ]
    return [
        row("origins", "PASS", "browser pages allowed from: " + ", ".join(s.ports.allow_origins or ("none",)))
    ]


# -- models ---------------------------------------------------------------------------
def check_model_files(s: Settings) -> list[Check]:
    from ..face.modelfiles import verify_models as verify_face
    from ..speech.modelfiles import OPTIONAL
    from ..speech.modelfiles import verify_models as verify_speech

    rows = []
    problems = verify_face(s.models_dir)
    rows.append(
        row(
            "models.face",
            "FAIL" if problems else "PASS",
            "; ".join(problems) or f"detector and recogniser intact in {s.models_dir}",
            "appliance models fetch --only face",
        )
    )
    status = verify_speech(s.models_dir)
    bad = {k: v for k, v in status.items() if v != "ok"}
    required_bad = [f"{k}: {v}" for k, v in bad.items() if k not in OPTIONAL]
    optional_bad = [f"{k}: {v}" for k, v in bad.items() if k in OPTIONAL and s.speech.english_voice]
    level = "FAIL" if required_bad else "WARN" if optional_bad else "PASS"
    rows.append(
        row(
            "models.speech",
            level,
            "; ".join(required_bad + optional_bad) or f"{len(status)} files match their pinned sha256",
            "appliance models fetch --only speech",
        )
    )
    return rows


def check_face_model(s: Settings) -> list[Check]:
    from ..face.engine import FaceEngine, FaceSettings
    from ..face.modelfiles import verify_models

    if verify_models(s.models_dir):
        return [
            row("face.answers", "FAIL", "skipped: the model files are not intact", "fix models.face first")
        ]
    if not PROBE_PHOTO.exists():
        return [
            row(
                "face.answers",
                "WARN",
                f"probe photo {PROBE_PHOTO} not installed",
                "reinstall the package (appliance/data/faces is package data)",
            )
        ]
    engine = FaceEngine(s.models_dir, FaceSettings(verify_checksums=False))
    result = engine.analyse(PROBE_PHOTO.read_bytes())
    faces = len(result.faces)
    ok = result.ok and faces == 1
    return [
        row(
            "face.answers",
            "PASS" if ok else "FAIL",
            f"{PROBE_PHOTO.name}: {faces} face(s), {result.reason or 'embedded'} in "
            f"{result.timings_ms.get('total', 0):.0f} ms",
            "appliance models fetch --only face (re-convert)",
        )
    ]


def check_speech_models(s: Settings) -> list[Check]:
    from ..speech.audio import decode_audio, encode_wav
    from ..speech.stt import SpeechToText, to_simplified
    from ..speech.tts import TextToSpeech

    voice = s.speech.voice
    t0 = time.perf_counter()
    tts = TextToSpeech(s.models_dir, voice=voice, english=False)
    audio, rate = tts.synthesize(PROBE_SENTENCE)
    tts_ms = (time.perf_counter() - t0) * 1000
    engine = tts.engines["zh"]
    rows = [
        row(
            "speech.tts",
            "PASS" if engine == "kokoro" else "WARN",
            f"{engine} spoke {len(audio) / rate:.1f} s of audio (load + synthesis {tts_ms:.0f} ms)",
            "Kokoro did not load: appliance models fetch --only speech",
        )
    ]
    ggml = s.models_dir / s.speech.ggml_model if s.speech.ggml_model else None
    stt = SpeechToText(
        s.models_dir,
        language=None if s.speech.language == "auto" else s.speech.language,
        backend=s.speech.stt_backend,
        ggml_path=ggml,
    )
    heard = to_simplified(stt.transcribe(decode_audio(encode_wav(audio, rate))).text)
    ok = PROBE_WORD in heard
    rows.append(
        row(
            "speech.stt",
            "PASS" if ok else "FAIL",
            f"said {PROBE_SENTENCE!r}, heard {heard!r}",
            "appliance models fetch --only speech; check speech.stt_backend",
        )
    )
    return rows


# -- data -------------------------------------------------------------------------------------
def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(s: Settings) -> list[Check]:
    d = s.data_dir
    fix = f"mkdir -p {d} && chown kiosk-appliance: {d} (or set paths.data_dir)"
    if d.exists() and not d.is_dir():
        return [row("data_dir", "FAIL", f"{d} exists but is not a directory", fix)]
    if not d.exists():
        base = _existing_ancestor(d)
        if not base.is_dir() or not os.access(base, os.W_OK):
            return [row("data_dir", "FAIL", f"{d} is missing and {base} does not let us create it", fix)]
        return [
            row(
                "data_dir",
                "WARN",
                f"{d} does not exist yet (created at first start)",
                "start the service once",
            )
        ]
    try:
        probe = d / f".doctor-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"x")
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return [row("data_dir", "FAIL", f"{d} is not writable: {exc.strerror}", fix)]
    return [row("data_dir", "PASS", f"{d} is writable")]


def _open_read_only(path: Path):
    """Open without creating anything: a reader of a WAL database makes -wal and -shm
    files, and root-owned ones would lock the service out.  When the service has them
    open already (-wal exists) we share them read-only; otherwise nobody writes, and
    ``immutable=1`` reads the file as it is without any side file."""
    import peewee

    wal = path.with_name(path.name + "-wal")
    db = peewee.SqliteDatabase(f"file:{path}?{'mode=ro' if wal.exists() else 'immutable=1'}", uri=True)
    try:
        db.connect()
        db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
    except peewee.DatabaseError as exc:
        db.close()
        raise OSError(f"cannot read {path}: {exc}") from None
    return db


def check_database(s: Settings) -> list[Check]:
    from .. import store
    from ..store.db import integrity_check

    path = endpoints.database_path(s.data_dir)
    if not path.exists():
        return [
            row(
                "database",
                "WARN",
                f"{path} not created yet (created at first start)",
                "start the service once",
            )
        ]
    try:
        db = _open_read_only(path)
    except OSError as exc:
        return [row("database", "FAIL", str(exc), "check the file's owner and permissions")]
    previous = store.database.obj
    store.database.initialize(db)  # the models' queries must go to this read-only handle
    try:
        verdict = integrity_check(db)
        rows = [
            row(
                "database",
                "PASS" if verdict == "ok" else "FAIL",
                f"integrity_check: {verdict}",
                f"stop the service and restore {path.name} from a backup",
            )
        ]
        have, want = store.current_version(db), store.SCHEMA_VERSION
        level = "PASS" if have == want else "WARN" if have < want else "FAIL"
        rows.append(
            row(
                "schema",
                level,
                f"version {have}, software expects {want}",
                "start the service to migrate" if have < want else "install the newer software again",
            )
        )
        if have >= 1:
            pending = store.OutboxItem.select().where(store.OutboxItem.state == State.PENDING).count()
            dead = store.OutboxItem.select().where(store.OutboxItem.state == State.DEAD).count()
            level = "WARN" if dead or pending > 100 else "PASS"
            rows.append(
                row(
                    "outbox",
                    level,
                    f"{pending} pending, {dead} dead",
                    "check upstream.tencent; `appliance sync` lists and retries items",
                )
            )
        return rows
    finally:
        db.close()
        store.database.initialize(previous)


def check_disk(s: Settings) -> list[Check]:
    where = _existing_ancestor(s.data_dir)
    usage = shutil.disk_usage(where)
    free = usage.free
    level = "FAIL" if free < MIN_FREE_FAIL else "WARN" if free < MIN_FREE_WARN else "PASS"
    return [
        row(
            "disk",
            level,
            f"{free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {where}",
            "free space: old logs (journalctl --vacuum-size=100M), images in the data dir",
        )
    ]


def check_clock(s: Settings) -> list[Check]:
    now = time.time()
    newest = max((p.stat().st_mtime for p in Path(__file__).parents[1].rglob("*.py")), default=0.0)
    year = time.gmtime(now).tm_year
    if year < 2024 or now + 60 < newest:
        return [
            row(
                "clock",
                "FAIL",
                f"the clock says {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC, "
                f"before this software's files ({time.strftime('%Y-%m-%d', time.gmtime(newest))})",
                "timedatectl set-ntp true (or set the RTC: hwclock --systohc)",
            )
        ]
    return [row("clock", "PASS", f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))} UTC")]


# -- outside world and systemd -----------------------------------------------------------------


CHECKS: dict[str, Callable[[Settings], list[Check]]] = {
    "python": check_python,
    "packages": check_packages,
    "config": check_config,
    "origins": check_origins,
    "models": check_model_files,
    "face": check_face_model,
    "speech": check_speech_models,
    "camera": host.check_camera,
    "ports": host.check_ports,
    "privileged_port": host.check_privileged_port,
    "data_dir": check_data_dir,
    "database": check_database,
    "disk": check_disk,
    "clock": check_clock,
    "upstreams": upstream.probe_all,
    "systemd": host.check_systemd,
}
"""Groups of checks, in the order printed; `--skip` takes these names."""


def run(settings: Settings, skip: Iterable[str] = ()) -> list[Check]:
    """Every check group not skipped; a check that crashes is itself a FAIL naming the error."""
    out: list[Check] = []
    for group, fn in CHECKS.items():
        if group in skip:
            continue
        t0 = time.perf_counter()
        try:
            rows = fn(settings)
        except Exception as exc:  # the doctor reports, it does not die halfway
            rows = [Check(group, "FAIL", f"check crashed: {type(exc).__name__}: {exc}", "see the message")]
        ms = round((time.perf_counter() - t0) * 1000, 1)
        for check in rows:
            check.ms = ms
        out.extend(rows)
    return out


def failed(checks: list[Check]) -> bool:
    return any(c.status == "FAIL" for c in checks)


def as_json(checks: list[Check], secrets: list[str]) -> str:
    text = json.dumps(
        {"ok": not failed(checks), "checks": [dataclasses.asdict(c) for c in checks]},
        ensure_ascii=False,
        indent=2,
    )
    return scrub(text, secrets)


def table(checks: list[Check], secrets: list[str]) -> str:
    width = max(len(c.name) for c in checks) if checks else 10
    lines = [f"{'':4}  {'check':{width}}  detail"]
    for c in checks:
        lines.append(f"{c.status:4}  {c.name:{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':4}  {'':{width}}  → fix: {c.fix}")
    counts = {k: sum(c.status == k for c in checks) for k in ("PASS", "WARN", "FAIL")}
    lines.append(f"\n{counts['PASS']} passed, {counts['WARN']} warnings, {counts['FAIL']} failed")
    return scrub("\n".join(lines), secrets)


def scrub(text: str, secrets: list[str]) -> str:
    """Belt and braces: no token ever reaches the screen, even inside an error message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text
