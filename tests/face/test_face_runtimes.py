"""Both runtimes of each face model (onnxruntime, OpenCV) agree, and the faster is chosen and stored."""

import json
import shutil

import numpy as np
import pytest

from appliance.face import runtimes
from appliance.face.engine import FaceEngine, FaceSettings

# Measured on tests/data/faces (issue 18 §3): the same aligned crop gives embeddings with a cosine
# of 1.000000 (6 decimals) on both runtimes, landmarks agree to 0.0 px. The bounds leave room for a
# different OpenCV/onnxruntime build's rounding, not for another network.
EMBEDDING_COSINE_MIN = 0.9999
LANDMARK_PX_MAX = 1.0


def _engine(models, det, rec):
    return FaceEngine(models, FaceSettings(detector_runtime=det, recognizer_runtime=rec))


@pytest.fixture(scope="module")
def both(face_models_dir):
    return (
        _engine(face_models_dir, runtimes.ONNXRUNTIME, runtimes.ONNXRUNTIME),
        _engine(face_models_dir, runtimes.OPENCV, runtimes.OPENCV),
    )


def test_engines_use_the_runtime_asked_for(both):
    ort, cv = both
    assert type(ort.detector).__name__ == "YuNetDetector" and type(ort.embedder).__name__ == "SFaceEmbedder"
    assert isinstance(cv.detector, runtimes.OpenCVDetector)
    assert isinstance(cv.embedder, runtimes.OpenCVEmbedder)


def test_embeddings_and_landmarks_agree_across_runtimes(both, face_photos):
    ort, cv = both
    for name, data in face_photos.items():
        a, b = ort.analyse(data), cv.analyse(data)
        assert a.ok and b.ok, name
        assert float(cv.embedder.embed(a.aligned) @ a.embedding) >= EMBEDDING_COSINE_MIN, name
        assert np.abs(np.array(a.landmarks) - np.array(b.landmarks)).max() <= LANDMARK_PX_MAX, name
        assert float(a.embedding @ b.embedding) >= EMBEDDING_COSINE_MIN, name


def test_opencv_detector_finds_nothing_on_a_blank_frame(both):
    assert both[1].detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []


def _models_copy(face_models_dir, tmp_path):
    dst = tmp_path / "models"
    shutil.copytree(face_models_dir / "face-original", dst / "face-original")
    for name in (
        "face_checksums.json",
        "face_detection_yunet_2023mar_f32.onnx",
        "face_recognition_sface_2021dec_f32.onnx",
    ):
        shutil.copy(face_models_dir / name, dst / name)
    return dst


def test_auto_measures_once_stores_and_reads_back(face_models_dir, tmp_path, monkeypatch):
    models = _models_copy(face_models_dir, tmp_path)
    first = FaceEngine(models)
    stored = json.loads((models / runtimes.CHOICE_FILE).read_text())
    assert stored["detector"] in (runtimes.ONNXRUNTIME, runtimes.OPENCV)
    assert set(stored["measured_ms"]["recognizer"]) == {runtimes.ONNXRUNTIME, runtimes.OPENCV}
    # The verdict is the faster median of the measurement.
    for model in ("detector", "recognizer"):
        ms = stored["measured_ms"][model]
        assert stored[model] == min(ms, key=ms.get)
        assert first.runtime_choice[model] == stored[model]

    def no_measuring(*_a, **_k):
        raise AssertionError("measured again although a matching choice is stored")

    monkeypatch.setattr(runtimes, "measure", no_measuring)
    again = FaceEngine(models)
    assert again.runtime_choice == {"detector": stored["detector"], "recognizer": stored["recognizer"]}
    # Another detection scale is another key: measured again.
    with pytest.raises(AssertionError, match="measured again"):
        FaceEngine(models, FaceSettings(detect_face_px=40.0))


def test_a_stored_choice_naming_an_unknown_runtime_is_ignored(face_models_dir, tmp_path):
    models = _models_copy(face_models_dir, tmp_path)
    FaceEngine(models)
    data = json.loads((models / runtimes.CHOICE_FILE).read_text())
    data["recognizer"] = "tensorrt"
    (models / runtimes.CHOICE_FILE).write_text(json.dumps(data))
    assert runtimes.stored_choice(models, data["key"]) is None
    assert FaceEngine(models).runtime_choice["recognizer"] in (runtimes.ONNXRUNTIME, runtimes.OPENCV)


def test_without_the_original_files_only_onnxruntime_runs(face_models_dir, tmp_path):
    models = _models_copy(face_models_dir, tmp_path)
    shutil.rmtree(models / "face-original")
    engine = FaceEngine(models)
    assert engine.runtime_choice == {"detector": runtimes.ONNXRUNTIME, "recognizer": runtimes.ONNXRUNTIME}
    assert not (models / runtimes.CHOICE_FILE).exists()
    with pytest.raises(FileNotFoundError, match="original"):
        FaceEngine(models, FaceSettings(recognizer_runtime=runtimes.OPENCV))


def test_unknown_runtime_setting_is_refused(face_models_dir):
    with pytest.raises(ValueError, match="runtime"):
        FaceEngine(face_models_dir, FaceSettings(detector_runtime="cuda"))
