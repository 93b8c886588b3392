"""The doctor's checks of the machine: camera, ports, the privileged port, systemd.

Each returns rows ``(name, status, detail, fix)``; :mod:`appliance.doctor`
turns them into its table.  Probes only: a port is bound and released at once,
the camera is opened only when no running camera worker owns it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..config import Settings
from .check import Check, row

UNIT = "kiosk-appliance"
CAP_NET_BIND_SERVICE = 10


def check_camera(s: Settings) -> list[Check]:
    camera = getattr(s, "camera", None)
    if camera is None:
        return [row("camera", "WARN", "no camera configured", "the front end sends images itself")]
    running = [w for w in (our_gateway(s) or {}).get("workers", []) if w.get("name") == "camera"]
    if running and running[0].get("state") == "ready":  # the device is the worker's: do not fight it
        return [
            row(
                "camera",
                "PASS",
                f"{camera.source}: the running camera worker delivers frames "
                f"({running[0].get('status') or 'ready'})",
            )
        ]
    from ..camera.sources import SourceError, make_source

    fix = "check the cable / device path, group video; or appliance config set camera.source none"
    try:
        source = make_source(camera.source, camera.width, camera.height, camera.fps, loop=False)
    except SourceError as exc:
        return [row("camera", "FAIL", str(exc), fix)]
    if source is None:
        return [
            row(
                "camera",
                "WARN",
                f"no camera configured (camera.source = {camera.source!r} found none)",
                "set camera.source when the kiosk's own camera is used",
            )
        ]
    frame = None
    try:
        source.open()
        deadline = time.monotonic() + 3.0  # a camera's first frames may take a moment
        while frame is None and time.monotonic() < deadline:
            frame = source.read()
    except Exception as exc:  # SourceError, OpenCV errors: the source does not deliver
        return [row("camera", "FAIL", f"{camera.source}: {exc}", fix)]
    finally:
        source.close()
    if frame is None:
        return [row("camera", "FAIL", f"{camera.source}: opened but delivered no frame in 3 s", fix)]
    return [row("camera", "PASS", f"{camera.source}: frame {frame.shape[1]}x{frame.shape[0]}")]


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
            rows.append(row(name, "PASS", "0: a free port is picked at start"))
            continue
        state = _port_state(s.ports.bind, port)
        if state == "free":
            rows.append(row(name, "PASS", f"{s.ports.bind}:{port} is free"))
        elif state == "denied":
            rows.append(
                row(
                    name,
                    "WARN",
                    f"{port} is privileged for this user (the service gets the capability)",
                    "see the privileged_port check",
                )
            )
        else:
            health = health if health is not None else (our_gateway(s) or {})
            if health:
                pid = health.get("pid", "?")
                rows.append(
                    row(
                        name,
                        "PASS",
                        f"{port} held by our running service (supervisor pid {pid}, "
                        f"{'healthy' if health.get('healthy') else 'NOT healthy'})",
                    )
                )
            else:
                rows.append(
                    row(
                        name,
                        "FAIL",
                        f"{s.ports.bind}:{port} is held by another program",
                        f"find it: ss -ltnp 'sport = :{port}'; or appliance config set ports.{key} N",
                    )
                )
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
        return [row(name, "PASS", f"no configured port below {start}")]
    if os.geteuid() == 0:
        return [row(name, "PASS", f"ports {low}: running as root (the service itself runs unprivileged)")]
    if _effective_caps() & (1 << CAP_NET_BIND_SERVICE):
        return [row(name, "PASS", f"ports {low}: this process holds CAP_NET_BIND_SERVICE")]
    exe = os.path.realpath(sys.executable)
    if _file_grants_bind(exe):
        return [row(name, "PASS", f"ports {low}: {exe} has file capability cap_net_bind_service")]
    unit = _unit_text()
    if "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit.replace(" ", ""):
        return [row(name, "PASS", f"ports {low}: granted by the unit's AmbientCapabilities")]
    return [
        row(
            name,
            "FAIL",
            f"ports {low} need CAP_NET_BIND_SERVICE and nothing grants it",
            "install the systemd unit (AmbientCapabilities=CAP_NET_BIND_SERVICE) or choose ports ≥ 1024",
        )
    ]


def _systemctl(*args: str) -> tuple[int, str]:
    res = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=10)
    return res.returncode, (res.stdout.strip() or res.stderr.strip())


def check_systemd(s: Settings) -> list[Check]:
    """The unit installed and enabled, and when systemd last heard the watchdog."""
    no_watchdog = row(
        "watchdog", "WARN", "not readable without systemd", "run the doctor on the kiosk itself"
    )
    if not shutil.which("systemctl"):
        return [
            row(
                "systemd",
                "WARN",
                "systemctl not found: not a systemd machine",
                "run under systemd on the kiosk",
            ),
            no_watchdog,
        ]
    if not Path("/run/systemd/system").exists():
        return [
            row(
                "systemd",
                "WARN",
                "systemd is not running here (a container or a chroot?)",
                "run the doctor on the kiosk itself",
            ),
            no_watchdog,
        ]
    _, state = _systemctl("is-enabled", UNIT)
    if state != "enabled":
        fix = (
            "systemctl enable --now kiosk-appliance"
            if state in ("disabled", "static")
            else "install the unit: sudo systemd/install.sh"
        )
        rows = [row("systemd", "FAIL", f"{UNIT}.service is {state or 'not installed'}", fix)]
    else:
        rows = [row("systemd", "PASS", f"{UNIT}.service installed and enabled", "")]
    _, stamp = _systemctl("show", "-p", "WatchdogTimestamp", "--value", UNIT)
    rows.append(
        row(
            "watchdog",
            "PASS" if stamp else "WARN",
            f"last watchdog ping: {stamp or 'none recorded'}",
            "systemctl status kiosk-appliance: is the service running?",
        )
    )
    return rows
