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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import endpoints
from .config import Settings

ROOT = Path(__file__).resolve().parents[1]
PROBE_PHOTO = ROOT / "tests" / "data" / "faces" / "obama_1.jpg"
PROBE_SENTENCE, PROBE_WORD = "我要办身份证。", "身份证"
UNIT = "kiosk-appliance"
CAP_NET_BIND_SERVICE = 10
MIN_FREE_FAIL, MIN_FREE_WARN = 500 * 2**20, 2 * 2**30


@dataclass
class Check:
    name: str
    status: str  # PASS | WARN | FAIL
    detail: str
    fix: str = ""
    ms: float = 0.0


def _row(name: str, status: str, detail: str, fix: str = "") -> Check:
    return Check(name, status, detail, fix if status != "PASS" else "")


# -- software -------------------------------------------------------------------
def check_python(s: Settings) -> list[Check]:
    v = sys.version_info
    ok = v >= (3, 11)
    return [_row("python", "PASS" if ok else "FAIL", f"Python {v.major}.{v.minor}.{v.micro} at {sys.executable}",
                 "install Python 3.11 or newer and recreate the venv")]


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
        return [_row("packages", "FAIL", "; ".join(problems), "pip install -e /opt/kiosk-appliance (the venv's pip)")]
    return [_row("packages", "PASS", f"{count} required packages at allowed versions")]


def check_config(s: Settings) -> list[Check]:
    from .config_tool import catalogue_summary

    services, problem = catalogue_summary(s)
    rows = [_row("config", "PASS", f"{s.source or 'embedded defaults'} loads and validates")]
    if problem:
        rows.append(_row("catalogue", "FAIL", problem, "fix the file named (or restore its .bak)"))
    else:
        rows.append(_row("catalogue", "PASS", f"{len(services)} services in {s.path('services')}"))
    return rows


# -- models ---------------------------------------------------------------------------
def check_model_files(s: Settings) -> list[Check]:
    from .face.modelfiles import verify_models as verify_face
    from .speech.modelfiles import OPTIONAL, verify_models as verify_speech

    rows = []
    problems = verify_face(s.models_dir)
    rows.append(_row("models.face", "FAIL" if problems else "PASS",
                     "; ".join(problems) or f"detector and recogniser intact in {s.models_dir}",
                     "appliance models fetch --only face"))
    status = verify_speech(s.models_dir)
    bad = {k: v for k, v in status.items() if v != "ok"}
    required_bad = [f"{k}: {v}" for k, v in bad.items() if k not in OPTIONAL]
    optional_bad = [f"{k}: {v}" for k, v in bad.items() if k in OPTIONAL and s.speech.english_voice]
    level = "FAIL" if required_bad else "WARN" if optional_bad else "PASS"
    rows.append(_row("models.speech", level, "; ".join(required_bad + optional_bad)
                     or f"{len(status)} files match their pinned sha256", "appliance models fetch --only speech"))
    return rows


def check_face_model(s: Settings) -> list[Check]:
    from .face.engine import FaceEngine, FaceSettings
    from .face.modelfiles import verify_models

    if verify_models(s.models_dir):
        return [_row("face.answers", "FAIL", "skipped: the model files are not intact", "fix models.face first")]
    if not PROBE_PHOTO.exists():
        return [_row("face.answers", "WARN", f"probe photo {PROBE_PHOTO} not installed", "copy tests/data/faces")]
    engine = FaceEngine(s.models_dir, FaceSettings(verify_checksums=False))
    result = engine.analyse(PROBE_PHOTO.read_bytes())
    faces = len(result.faces)
    ok = result.ok and faces == 1
    return [_row("face.answers", "PASS" if ok else "FAIL",
                 f"{PROBE_PHOTO.name}: {faces} face(s), {result.reason or 'embedded'} in "
                 f"{result.timings_ms.get('total', 0):.0f} ms", "appliance models fetch --only face (re-convert)")]


def check_speech_models(s: Settings) -> list[Check]:
    from .speech.audio import decode_audio, encode_wav
    from .speech.stt import SpeechToText, to_simplified
    from .speech.tts import TextToSpeech

    voice = s.speech.voice
    t0 = time.perf_counter()
    tts = TextToSpeech(s.models_dir, voice=voice, english=False)
    audio, rate = tts.synthesize(PROBE_SENTENCE)
    tts_ms = (time.perf_counter() - t0) * 1000
    engine = tts.engines["zh"]
    rows = [_row("speech.tts", "PASS" if engine == "kokoro" else "WARN",
                 f"{engine} spoke {len(audio) / rate:.1f} s of audio (load + synthesis {tts_ms:.0f} ms)",
                 "Kokoro did not load: appliance models fetch --only speech")]
    ggml = s.models_dir / s.speech.ggml_model if s.speech.ggml_model else None
    stt = SpeechToText(s.models_dir, language=None if s.speech.language == "auto" else s.speech.language,
                       backend=s.speech.stt_backend, ggml_path=ggml)
    heard = to_simplified(stt.transcribe(decode_audio(encode_wav(audio, rate))).text)
    ok = PROBE_WORD in heard
    rows.append(_row("speech.stt", "PASS" if ok else "FAIL", f"said {PROBE_SENTENCE!r}, heard {heard!r}",
                     "appliance models fetch --only speech; check speech.stt_backend"))
    return rows


def check_camera(s: Settings) -> list[Check]:
    camera = getattr(s, "camera", None)
    if camera is None:
        return [_row("camera", "WARN", "no camera configured", "the front end sends images itself")]
    running = [w for w in (our_gateway(s) or {}).get("workers", []) if w.get("name") == "camera"]
    if running and running[0].get("state") == "ready":  # the device is the worker's: do not fight it
        return [_row("camera", "PASS", f"{camera.source}: the running camera worker delivers frames "
                     f"({running[0].get('status') or 'ready'})")]
    from .camera.sources import SourceError, make_source

    fix = "check the cable / device path, group video; or appliance config set camera.source none"
    try:
        source = make_source(camera.source, camera.width, camera.height, camera.fps, loop=False)
    except SourceError as exc:
        return [_row("camera", "FAIL", str(exc), fix)]
    if source is None:
        return [_row("camera", "WARN", f"no camera configured (camera.source = {camera.source!r} found none)",
                     "set camera.source when the kiosk's own camera is used")]
    frame = None
    try:
        source.open()
        deadline = time.monotonic() + 3.0  # a camera's first frames may take a moment
        while frame is None and time.monotonic() < deadline:
            frame = source.read()
    except Exception as exc:  # SourceError, OpenCV errors: the source does not deliver
        return [_row("camera", "FAIL", f"{camera.source}: {exc}", fix)]
    finally:
        source.close()
    if frame is None:
        return [_row("camera", "FAIL", f"{camera.source}: opened but delivered no frame in 3 s", fix)]
    return [_row("camera", "PASS", f"{camera.source}: frame {frame.shape[1]}x{frame.shape[0]}")]


# -- ports and privileges -------------------------------------------------------------------
def _port_state(bind: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except PermissionError:
            return "denied"
        except OSError:
            return "in use"
    return "free"


def our_gateway(s: Settings, timeout: float = 2.0) -> dict | None:
    """The /health answer of our gateway on flow_http, or None when something else (or nothing) is there."""
    host = "127.0.0.1" if s.ports.bind in ("0.0.0.0", "::") else s.ports.bind
    host = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{host}:{s.ports.flow_http}/health", timeout=timeout) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and "healthy" in body else None


def check_ports(s: Settings) -> list[Check]:
    rows, health = [], None
    for key in ("tool", "flow_socket", "flow_http"):
        port = getattr(s.ports, key)
        name = f"port.{key}"
        if port == 0:
            rows.append(_row(name, "PASS", "0: a free port is picked at start"))
            continue
        state = _port_state(s.ports.bind, port)
        if state == "free":
            rows.append(_row(name, "PASS", f"{s.ports.bind}:{port} is free"))
        elif state == "denied":
            rows.append(_row(name, "WARN", f"{port} is privileged for this user (the service gets the capability)",
                             "see the privileged_port check"))
        else:
            health = health if health is not None else (our_gateway(s) or {})
            if health:
                pid = health.get("pid", "?")
                rows.append(_row(name, "PASS", f"{port} held by our running service (supervisor pid {pid}, "
                                 f"{'healthy' if health.get('healthy') else 'NOT healthy'})"))
            else:
                rows.append(_row(name, "FAIL", f"{s.ports.bind}:{port} is held by another program",
                                 f"find it: ss -ltnp 'sport = :{port}'; or appliance config set ports.{key} N"))
    return rows


def _effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def _file_grants_bind(path: str) -> bool:
    """Whether the file's security.capability xattr permits CAP_NET_BIND_SERVICE (setcap)."""
    try:
        raw = os.getxattr(path, "security.capability")
    except OSError:
        return False
    return len(raw) >= 8 and bool(int.from_bytes(raw[4:8], "little") & (1 << CAP_NET_BIND_SERVICE))


def _unit_text() -> str:
    for base in ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"):
        path = Path(base) / f"{UNIT}.service"
        if path.exists():
            return path.read_text(errors="replace")
    return ""


def check_privileged_port(s: Settings) -> list[Check]:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    low = [p for p in (s.ports.tool, s.ports.flow_socket, s.ports.flow_http) if 0 < p < start]
    name = "privileged_port"
    if not low:
        return [_row(name, "PASS", f"no configured port below {start}")]
    if os.geteuid() == 0:
        return [_row(name, "PASS", f"ports {low}: running as root (the service itself runs unprivileged)")]
    if _effective_caps() & (1 << CAP_NET_BIND_SERVICE):
        return [_row(name, "PASS", f"ports {low}: this process holds CAP_NET_BIND_SERVICE")]
    exe = os.path.realpath(sys.executable)
    if _file_grants_bind(exe):
        return [_row(name, "PASS", f"ports {low}: {exe} has file capability cap_net_bind_service")]
    unit = _unit_text()
    if "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit.replace(" ", ""):
        return [_row(name, "PASS", f"ports {low}: granted by the unit's AmbientCapabilities")]
    return [_row(name, "FAIL", f"ports {low} need CAP_NET_BIND_SERVICE and nothing grants it",
                 "install the systemd unit (AmbientCapabilities=CAP_NET_BIND_SERVICE) or choose ports ≥ 1024")]


# -- data -------------------------------------------------------------------------------------
def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(s: Settings) -> list[Check]:
    d = s.data_dir
    fix = f"mkdir -p {d} && chown kiosk-appliance: {d} (or set paths.data_dir)"
    if d.exists() and not d.is_dir():
        return [_row("data_dir", "FAIL", f"{d} exists but is not a directory", fix)]
    if not d.exists():
        base = _existing_ancestor(d)
        if not base.is_dir() or not os.access(base, os.W_OK):
            return [_row("data_dir", "FAIL", f"{d} is missing and {base} does not let us create it", fix)]
        return [_row("data_dir", "WARN", f"{d} does not exist yet (created at first start)", "start the service once")]
    try:
        probe = d / f".doctor-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"x")
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return [_row("data_dir", "FAIL", f"{d} is not writable: {exc.strerror}", fix)]
    return [_row("data_dir", "PASS", f"{d} is writable")]


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
    from . import store
    from .store.db import integrity_check

    path = endpoints.database_path(s.data_dir)
    if not path.exists():
        return [_row("database", "WARN", f"{path} not created yet (created at first start)", "start the service once")]
    try:
        db = _open_read_only(path)
    except OSError as exc:
        return [_row("database", "FAIL", str(exc), "check the file's owner and permissions")]
    previous = store.database.obj
    store.database.initialize(db)  # the models' queries must go to this read-only handle
    try:
        verdict = integrity_check(db)
        rows = [_row("database", "PASS" if verdict == "ok" else "FAIL", f"integrity_check: {verdict}",
                     f"stop the service and restore {path.name} from a backup")]
        have, want = store.current_version(db), store.SCHEMA_VERSION
        level = "PASS" if have == want else "WARN" if have < want else "FAIL"
        rows.append(_row("schema", level, f"version {have}, software expects {want}",
                         "start the service to migrate" if have < want else "install the newer software again"))
        if have >= 1:
            pending = store.OutboxItem.select().where(store.OutboxItem.state == "pending").count()
            dead = store.OutboxItem.select().where(store.OutboxItem.state == "dead").count()
            level = "WARN" if dead or pending > 100 else "PASS"
            rows.append(_row("outbox", level, f"{pending} pending, {dead} dead",
                             "check upstream.tencent; `appliance sync` lists and retries items"))
        return rows
    finally:
        db.close()
        store.database.initialize(previous)


def check_disk(s: Settings) -> list[Check]:
    where = _existing_ancestor(s.data_dir)
    usage = shutil.disk_usage(where)
    free = usage.free
    level = "FAIL" if free < MIN_FREE_FAIL else "WARN" if free < MIN_FREE_WARN else "PASS"
    return [_row("disk", level, f"{free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {where}",
                 "free space: old logs (journalctl --vacuum-size=100M), images in the data dir")]


def check_clock(s: Settings) -> list[Check]:
    now = time.time()
    newest = max((p.stat().st_mtime for p in Path(__file__).parent.rglob("*.py")), default=0.0)
    year = time.gmtime(now).tm_year
    if year < 2024 or now + 60 < newest:
        return [_row("clock", "FAIL", f"the clock says {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC, "
                     f"before this software's files ({time.strftime('%Y-%m-%d', time.gmtime(newest))})",
                     "timedatectl set-ntp true (or set the RTC: hwclock --systohc)")]
    return [_row("clock", "PASS", f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))} UTC")]


# -- outside world and systemd -----------------------------------------------------------------
def check_upstreams(s: Settings) -> list[Check]:
    from .doctor_upstream import probe_all

    return [_row(*row) for row in probe_all(s)]


def _systemctl(*args: str) -> tuple[int, str]:
    res = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=10)
    return res.returncode, (res.stdout.strip() or res.stderr.strip())


def check_systemd(s: Settings) -> list[Check]:
    if not shutil.which("systemctl"):
        return [_row("systemd", "WARN", "systemctl not found: not a systemd machine", "run under systemd on the kiosk")]
    if not Path("/run/systemd/system").exists():
        return [_row("systemd", "WARN", "systemd is not running here (a container or a chroot?)",
                     "run the doctor on the kiosk itself")]
    code, state = _systemctl("is-enabled", UNIT)
    if state != "enabled":
        fix = "systemctl enable --now kiosk-appliance" if state in ("disabled", "static") else "install the unit: systemd/install.sh"
        return [_row("systemd", "FAIL", f"{UNIT}.service is {state or 'not installed'}", fix)]
    rows = [_row("systemd", "PASS", f"{UNIT}.service installed and enabled")]
    _, stamp = _systemctl("show", "-p", "WatchdogTimestamp", "--value", UNIT)
    rows.append(_row("watchdog", "PASS" if stamp else "WARN", f"last watchdog ping: {stamp or 'none recorded'}",
                     "systemctl status kiosk-appliance: is the service running?"))
    return rows


CHECKS: dict[str, Callable[[Settings], list[Check]]] = {
    "python": check_python, "packages": check_packages, "config": check_config,
    "models": check_model_files, "face": check_face_model, "speech": check_speech_models,
    "camera": check_camera, "ports": check_ports, "privileged_port": check_privileged_port,
    "data_dir": check_data_dir, "database": check_database, "disk": check_disk, "clock": check_clock,
    "upstreams": check_upstreams, "systemd": check_systemd,
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
        for row in rows:
            row.ms = ms
        out.extend(rows)
    return out


def failed(checks: list[Check]) -> bool:
    return any(c.status == "FAIL" for c in checks)


def as_json(checks: list[Check], secrets: list[str]) -> str:
    text = json.dumps({"ok": not failed(checks), "checks": [dataclasses.asdict(c) for c in checks]},
                      ensure_ascii=False, indent=2)
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
