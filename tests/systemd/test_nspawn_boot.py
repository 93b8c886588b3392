"""The unit under a real systemd: a Debian rootfs booted with systemd-nspawn.

The service reaches `active (running)` through Type=notify (READY only when every worker is
ready), its STATUS line reaches systemd, the watchdog is pinged, the gateway holds port 444 as
the unprivileged service user with CAP_NET_BIND_SERVICE alone, and a stuck worker stops the
watchdog pings so that systemd itself restarts the service.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from harness import ROOT

LIBS = [
    "libsqlite3-0",
    "libffi8",
    "libssl3",
    "libstdc++6",
    "libgomp1",
    "libglib2.0-0",
    "libbz2-1.0",
    "liblzma5",
    "zlib1g",
    "libuuid1",
]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("debootstrap") and shutil.which("systemd-nspawn")),
    reason="needs root, debootstrap and systemd-nspawn (Debian systemd-container)",
)


def run(*cmd, check=True, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def build_rootfs(root: Path) -> None:
    result = run(
        "debootstrap",
        "--variant=minbase",
        f"--include=systemd,systemd-sysv,dbus,{','.join(LIBS)}",
        "bookworm",
        str(root),
        "http://deb.debian.org/debian",
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.skip(f"debootstrap could not build a rootfs here: {result.stderr[-300:]}")
    run(
        "chroot",
        str(root),
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/var/lib/kiosk-appliance",
        "kiosk-appliance",
    )
    os.chmod(root / "root", 0o755)
    etc = root / "etc" / "kiosk-appliance"
    etc.mkdir(parents=True)
    for name in ("appliance.toml", "services.toml"):
        shutil.copy(ROOT / "firmware-config" / name, etc / name)
        os.chmod(etc / name, 0o644)
    units = root / "etc" / "systemd" / "system"
    unit = (
        (ROOT / "systemd" / "kiosk-appliance.service").read_text().replace("/opt/kiosk-appliance", str(ROOT))
    )
    (units / "kiosk-appliance.service").write_text(unit)
    dropin = units / "kiosk-appliance.service.d"
    dropin.mkdir()
    python_home = Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")).parents[2]
    (dropin / "test.conf").write_text(f"""[Service]
Environment=APPLIANCE_PATHS_MODELS_DIR={ROOT}/models
Environment=APPLIANCE_SUPERVISOR_WORKERS=dialogue,face,gateway
Environment=APPLIANCE_SUPERVISOR_HEARTBEAT_TIMEOUT=120
WatchdogSec=6
# this checkout's interpreter may live under /root (pyenv): show just that to the service;
# the checkout itself may live under /tmp, which PrivateTmp= would hide
ProtectHome=tmpfs
BindReadOnlyPaths={python_home}
BindReadOnlyPaths={ROOT}
""")
    run("chroot", str(root), "systemctl", "enable", "kiosk-appliance.service")
    for path in (ROOT, python_home):
        (root / str(path).lstrip("/")).mkdir(parents=True, exist_ok=True)


class Container:
    def __init__(self, root: Path):
        python_home = Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")).parents[2]
        self.log = open(root.parent / "nspawn.log", "wb")
        self.proc = subprocess.Popen(
            [
                "systemd-nspawn",
                "-D",
                str(root),
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                f"--bind-ro={ROOT}",
                f"--bind-ro={python_home}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def init_pid(self) -> int:
        out = run("pgrep", "-P", str(self.proc.pid), check=False).stdout.split()
        if not out:
            raise RuntimeError("container not started")
        return int(out[0])

    def sh(self, *cmd, namespaces=("-a",)):
        return run("nsenter", "-t", str(self.init_pid()), *namespaces, *cmd, check=False)

    def show(self) -> dict:
        out = self.sh(
            "systemctl",
            "show",
            "kiosk-appliance",
            "-p",
            "ActiveState",
            "-p",
            "SubState",
            "-p",
            "StatusText",
            "-p",
            "WatchdogTimestampMonotonic",
            "-p",
            "NRestarts",
        ).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait(self, predicate, timeout: float, what: str) -> dict:
        deadline, state = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            try:
                state = self.show()
                if predicate(state):
                    return state
            except (RuntimeError, ValueError):
                pass
            time.sleep(1)
        journal = self.sh("journalctl", "-u", "kiosk-appliance", "--no-pager").stdout[-3000:]
        raise AssertionError(f"{what} not reached: {state}\n{journal}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn powers the container off
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def worker_pid(name: str) -> int:
    """The container's worker, seen from the host's /proc."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"appliance.workers" in args
            and name.encode() in args
            and b"/etc/kiosk-appliance/appliance.toml" in args
        ):
            return int(proc.name)
    raise AssertionError(f"no {name} worker running")


def test_the_unit_under_a_real_systemd(tmp_path):
    root = tmp_path / "rootfs"
    build_rootfs(root)
    container = Container(root)
    try:
        state = container.wait(
            lambda s: s.get("ActiveState") == "active" and s.get("SubState") == "running",
            180,
            "active (running)",
        )
        assert "workers ready" in state["StatusText"] and state["StatusText"].endswith("serving")
        container.wait(
            lambda s: int(s.get("WatchdogTimestampMonotonic", "0") or 0) > 0, 30, "a watchdog ping"
        )
        sockets = container.sh("ss", "-ltnp", namespaces=("-n",)).stdout  # the container's network namespace
        gateway = next(line for line in sockets.splitlines() if ":444 " in line)
        pid = int(gateway.split("pid=")[1].split(",")[0])
        status = Path(f"/proc/{pid}/status").read_text()
        uid = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]
        cap = next(line for line in status.splitlines() if line.startswith("CapEff:")).split()[1]
        assert uid != "0" and int(cap, 16) == 1 << 10, (uid, cap)  # CAP_NET_BIND_SERVICE only

        # freeze a worker: heartbeats stop, the supervisor stops pinging, systemd's watchdog fires
        frozen = worker_pid("dialogue")
        os.kill(frozen, signal.SIGSTOP)
        container.wait(
            lambda s: int(s.get("NRestarts", "0")) >= 1 and s.get("ActiveState") == "active",
            120,
            "systemd restarting the service after its watchdog went quiet",
        )
        journal = container.sh("journalctl", "-u", "kiosk-appliance", "--no-pager").stdout
        assert "Watchdog timeout" in journal or "watchdog" in journal.lower()
    finally:
        container.stop()
