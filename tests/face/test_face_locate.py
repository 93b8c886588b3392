"""Detection on a shrunk frame keeps the smallest kiosk face; the subject is refined; no frame twice."""

import cv2
import numpy as np
import pytest

from appliance.face import quality
from appliance.face.engine import FaceEngine, FaceSettings
from appliance.face.imagedecode import decode_image


def _frame_with_face(photo: bytes, engine, face_px: float) -> np.ndarray:
    """The photo scaled so its face's shorter side is ``face_px``, on a 640×480 grey canvas."""
    bgr = decode_image(photo)
    face = max(engine.detector.detect(bgr, max_scale=1.0), key=lambda f: f.area)
    scale = face_px / face.short_side
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 127, np.uint8)
    h, w = min(480, small.shape[0]), min(640, small.shape[1])
    canvas[:h, :w] = small[:h, :w]
    return canvas


@pytest.fixture(scope="module")
def half_engine(face_models_dir):
    """Detection at half size (detect_face_px 40): not the default, measured in face-calibration.md."""
    return FaceEngine(face_models_dir, FaceSettings(detect_face_px=40.0))


def test_default_detection_is_one_full_resolution_pass(face_engine):
    assert face_engine.detect_scale == 1.0  # detect_face_px 80 / quality.min_face_px 80


def test_half_size_detection_scale(half_engine):
    assert half_engine.detect_scale == 0.5


def test_the_smallest_face_the_gate_keeps_is_found_and_analysed(half_engine, face_photos):
    frame = _frame_with_face(face_photos["obama_1"], half_engine, quality.QualitySettings().min_face_px + 6)
    result = half_engine.analyse_array(frame)
    assert result.ok, (result.reason, result.detail)
    assert result.quality["face_px"] >= 80


def test_subject_is_re_detected_at_full_resolution_in_a_crop(half_engine, face_photos, monkeypatch):
    face_engine = half_engine
    frame = decode_image(face_photos["biden"])
    calls = []
    real = face_engine.detector.detect

    def spy(bgr, max_scale=None):
        calls.append((bgr.shape[:2], max_scale))
        return real(bgr, max_scale)

    monkeypatch.setattr(face_engine.detector, "detect", spy)
    faces = face_engine.locate(frame)
    assert faces
    assert calls[0] == (frame.shape[:2], 0.5)
    crop_shape, scale = calls[1]
    assert scale == 1.0 and crop_shape[0] * crop_shape[1] < frame.shape[0] * frame.shape[1]


def test_located_faces_are_not_detected_again(face_engine, face_photos, monkeypatch):
    frame = decode_image(face_photos["obama_2"])
    faces = face_engine.locate(frame)

    def no_second_detection(*_a, **_k):
        raise AssertionError("frame detected twice")

    monkeypatch.setattr(face_engine.detector, "detect", no_second_detection)
    result = face_engine.analyse_array(frame, faces=faces)
    assert result.ok and result.faces == faces
