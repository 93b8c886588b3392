"""YuNet on onnxruntime vs OpenCV's own YuNet/SFace, on real photos."""

import cv2
import numpy as np
import pytest

from appliance.face import modelfiles
from appliance.face.detector import nms
from appliance.face.embedder import SFACE_TEMPLATE, align_face, similarity_transform
from appliance.face.imagedecode import decode_image


@pytest.fixture(scope="session")
def face_original_models(face_models_dir):
    """The wheel's original int8bq files, which cv2 (4.x) loads directly."""
    return modelfiles.original_paths(face_models_dir)


@pytest.mark.parametrize("name", ["obama_1", "biden", "astronaut"])
def test_one_face_found_with_plausible_landmarks(face_engine, face_photos, name):
    img = decode_image(face_photos[name])
    faces = face_engine.detector.detect(img)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert face.score > 0.85 and w > 80 and h > 80
    pts = face.landmarks
    assert ((pts[:, 0] > x) & (pts[:, 0] < x + w) & (pts[:, 1] > y) & (pts[:, 1] < y + h)).all()
    right_eye, left_eye, nose, mouth_r, mouth_l = pts
    assert right_eye[0] < nose[0] < left_eye[0]  # image-left eye first
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])


def test_detections_match_opencv_facedetectoryn(face_engine, face_photos, face_original_models):
    det = face_engine.detector
    for name in ("obama_1", "obama_2", "biden", "astronaut"):
        padded, _ = det.prepare(decode_image(face_photos[name]))
        boxes, kps, scores = det.detect_prepared(padded)
        cv_det = cv2.FaceDetectorYN.create(
            str(face_original_models["detector"]),
            "",
            (padded.shape[1], padded.shape[0]),
            det.score_threshold,
            det.nms_threshold,
            5000,
        )
        _, ref = cv_det.detect(padded)
        assert ref is not None and len(ref) == len(boxes)
        ref = ref[np.argsort(-ref[:, 14])]
        np.testing.assert_allclose(boxes, ref[:, :4], atol=0.05)
        np.testing.assert_allclose(kps.reshape(-1, 10), ref[:, 4:14], atol=0.05)
        np.testing.assert_allclose(scores, ref[:, 14], atol=1e-4)


def test_alignment_and_embedding_match_opencv_facerecognizersf(
    face_engine, face_photos, face_original_models
):
    rec = cv2.FaceRecognizerSF.create(str(face_original_models["recognizer"]), "")
    det = face_engine.detector
    for name in ("obama_1", "biden"):
        img = decode_image(face_photos[name])
        padded, _ = det.prepare(img)
        boxes, kps, scores = det.detect_prepared(padded)
        row = np.concatenate([boxes[0], kps[0].reshape(-1), scores[:1]]).astype(np.float32)
        cv_crop = rec.alignCrop(padded, row)
        ours = align_face(padded, kps[0])
        assert np.abs(ours.astype(int) - cv_crop).mean() < 0.05  # same transform up to rounding
        ref = rec.feature(cv_crop).reshape(-1)
        ref /= np.linalg.norm(ref)
        assert float(face_engine.embed_aligned(cv_crop) @ ref) > 0.9999


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = np.radians(20), 2.5, np.array([30.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (SFACE_TEMPLATE - shift) @ np.linalg.inv(rot).T  # points that map onto the template
    matrix = similarity_transform(src)
    np.testing.assert_allclose(src @ matrix[:, :2].T + matrix[:, 2], SFACE_TEMPLATE, atol=1e-9)


@pytest.mark.parametrize("shape", [(50, 50), (333, 517), (2000, 3000)])
def test_any_input_size(face_engine, face_photos, shape):
    img = decode_image(face_photos["astronaut"])
    resized = cv2.resize(img, (shape[1], shape[0]))
    faces = face_engine.detector.detect(resized)
    if shape == (50, 50):
        assert len(faces) <= 1  # too small to be sure of anything, but must not crash
    else:
        assert len(faces) == 1
        # box scales with the image: centre lands at the same relative place
        cx = (faces[0].box[0] + faces[0].box[2] / 2) / shape[1]
        assert 0.35 < cx < 0.55


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.3) == [1, 2]
