"""Resident memory per worker and in total, from the service's /health,
beside a bare interpreter's RSS measured in the same run (what a process
costs before it loads anything)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .service import Service
from .stats import figure


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def bare_interpreter_rss() -> int:
    code = (
        "from pathlib import Path; "
        "print([l for l in Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmRSS:')][0].split()[1])"
    )
    return (
        int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        * 1024
    )


def run(service: Service) -> dict:
    health = service.health()
    bare = bare_interpreter_rss() / 2**20
    out, total = {}, 0.0
    supervisor = rss_of(health["pid"]) / 2**20
    out["rss_supervisor"] = figure(supervisor, "MB", bare, "bare python interpreter", n=1)
    total += supervisor
    for w in health.get("workers", []):
        mb = (w.get("rss") or 0) / 2**20
        total += mb
        out[f"rss_{w['name']}"] = figure(mb, "MB", bare, "bare python interpreter", n=1)
    out["rss_total"] = figure(
        total, "MB", bare * (1 + len(health.get("workers", []))), "as many bare interpreters", n=1
    )
    return out
