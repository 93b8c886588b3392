"""The pluggable ONNX liveness model: loading, MiniFASNet pre-processing, fusion.

No anti-spoofing model ships anywhere, so the test builds a tiny model with
MiniFASNet's signature (N×3×80×80 BGR in, N×3 logits out, class 1 = real)
whose answer depends on the colour of the crop: red faces are "real", blue
ones "spoof".  That makes the crop and the channel order observable.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from appliance.liveness.checker import LivenessChecker
from appliance.liveness.onnx_model import ModelError, OnnxLivenessModel, crop_face, softmax
from appliance.liveness.policy import Policy

LANDMARKS = [[140, 110], [180, 110], [160, 125], [145, 140], [175, 140]]
BOX = [120, 80, 80, 90]


def build_model(path, channels=3, size=80):
    """mean over H,W per channel (B, G, R) -> logits = W · means: real = R − B, spoof = B − R."""
    weights = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]], np.float32) / 10  # rows: B,G,R
    if channels != 3:
        weights = np.zeros((channels, 3), np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["means"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "W"], ["logits"]),
        ],
        "tiny_fasnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("W", TensorProto.FLOAT, list(weights.shape), weights.ravel().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def face_frame(bgr):
    frame = np.full((240, 320, 3), 128, np.uint8)
    frame[80:170, 120:200] = bgr  # the face box region
    return frame


def test_crop_is_the_box_scaled_about_its_centre_and_kept_inside():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)  # left half red (BGR)
    crop = crop_face(frame, [140, 100, 40, 40], 1.0, size=80)  # centred on the boundary
    assert crop.shape == (80, 80, 3)
    assert crop[:, :30, 2].mean() > 250 and crop[:, 50:, 2].mean() < 5
    edge = crop_face(frame, [0, 0, 100, 100], 2.7)  # would leave the image: shifted inside
    assert edge.shape == (80, 80, 3)


def test_model_loads_preprocesses_bgr_and_reads_class_one_as_real(tmp_path):
    model = OnnxLivenessModel(build_model(tmp_path / "m.onnx"), crop_scale=1.0)
    red, blue = face_frame((0, 0, 220)), face_frame((220, 0, 0))
    assert model.preprocess(red, BOX).shape == (1, 3, 80, 80)
    assert model.preprocess(red, BOX)[0, 2].mean() > 200  # channel 2 is R: BGR order kept
    assert model.real_probability(red, BOX) > 0.99
    assert model.real_probability(blue, BOX) < 0.01
    assert np.allclose(softmax(np.array([[0.0, 0.0, 0.0]])), 1 / 3)


def test_bad_model_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        OnnxLivenessModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot be loaded"):
        OnnxLivenessModel(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="N×3×80×80"):
        OnnxLivenessModel(build_model(tmp_path / "grey.onnx", channels=1))


def run(checker, frame, n):
    verdict = None
    for _ in range(n):
        verdict = checker.observe("k", frame, LANDMARKS, BOX)
    return verdict


def test_fusion_model_veto_and_model_as_the_required_check(tmp_path):
    model = OnnxLivenessModel(build_model(tmp_path / "m.onnx"), crop_scale=1.0)
    veto = LivenessChecker(Policy(required=("motion",), vetoes=("model",)), model=model)
    verdict = run(veto, face_frame((220, 0, 0)), 3)
    assert verdict.live is False and verdict.reason == "model_spoof" and verdict.cues["model"] < 0.01
    only_model = LivenessChecker(Policy(required=("model",), vetoes=("model",)), model=model)
    verdict = run(only_model, face_frame((0, 0, 220)), 3)
    assert verdict.live is True and verdict.cues["model"] > 0.99
    with pytest.raises(ValueError, match="model_file"):
        LivenessChecker(Policy(required=("model",)), model=None)
