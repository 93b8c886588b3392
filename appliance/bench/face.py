"""Face pipeline per 640×480 frame, stage by stage, against the raw calls alone.

The input is a real photo (tests/data/faces/obama_1.jpg) placed on a 640×480
canvas and JPEG-encoded, as a camera frame would arrive on /face_predict.
FaceEngine.analyse reports its own per-stage times; each stage's reference
is the bare operation it wraps, on the same data:
- decode: cv2.imdecode alone (ours adds size limits and checks);
- detect: the YuNet onnxruntime session.run alone (ours adds resize, padding,
  output decoding and NMS);
- align: cv2.warpAffine alone (ours adds the similarity fit);
- embed: the SFace session.run alone (ours adds the blob and normalisation);
- match: Gallery.search over 1,000 templates vs the bare matrix product.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ..config import Settings
from ..data import PROBE_PHOTO
from .stats import figure, median_ms

PHOTO = PROBE_PHOTO
WIDTH, HEIGHT = 640, 480


def frame_jpeg(photo: Path = PHOTO) -> bytes:
    """The photo letterboxed onto a 640×480 canvas, as JPEG bytes (a camera-sized frame)."""
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    scale = min(WIDTH / img.shape[1], HEIGHT / img.shape[0])
    img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((HEIGHT, WIDTH, 3), 127, np.uint8)
    y, x = (HEIGHT - img.shape[0]) // 2, (WIDTH - img.shape[1]) // 2
    canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def run(settings: Settings, quick: bool) -> dict:
    from ..face.embedder import align_face, similarity_transform
    from ..face.engine import FaceEngine, FaceSettings
    from ..face.gallery import Gallery

    repeats = 5 if quick else 40
    engine = FaceEngine(settings.models_dir, FaceSettings(threads=2))
    data = frame_jpeg()
    first = engine.analyse(data)
    if not first.ok:
        raise RuntimeError(f"the bench frame gave no usable face: {first.reason} {first.detail}")
    # The raw calls on the same frame, interleaved with ours: both see the same
    # machine load (other processes, CPU frequency), so the ratio is fair.
    buf = np.frombuffer(data, np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    padded, _ = engine.detector.prepare(bgr)
    det = engine.detector
    blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
    landmarks = np.asarray(first.landmarks, np.float32)
    matrix = similarity_transform(landmarks)
    crop = align_face(bgr, landmarks)
    emb_blob = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
    emb_session, emb_input = engine.embedder.session, engine.embedder.input_name
    raw_calls = {
        "decode": lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR),
        "detect": lambda: det.session.run(det.output_names, {det.input_name: blob}),
        "align": lambda: cv2.warpAffine(bgr, matrix, (112, 112), flags=cv2.INTER_LINEAR),
        "embed": lambda: emb_session.run(None, {emb_input: emb_blob}),
    }
    runs, raw_runs = [], {k: [] for k in raw_calls}
    for _ in range(repeats):
        runs.append(engine.analyse(data).timings_ms)
        for key, call in raw_calls.items():
            t0 = time.perf_counter()
            call()
            raw_runs[key].append((time.perf_counter() - t0) * 1000)
    stages = ("decode", "detect", "align", "embed", "total")
    ours = {stage: statistics.median(r[stage] for r in runs) for stage in stages}
    raw = {key: statistics.median(v) for key, v in raw_runs.items()}
    raw["total"] = raw["detect"] + raw["embed"]  # the floor: the two model calls alone

    gallery = Gallery()
    rng = np.random.default_rng(0)
    for i, row in enumerate(rng.standard_normal((1000, 128)).astype(np.float32)):
        gallery.set_user(f"u{i}", row)
    query = first.embedding
    ours["match"] = median_ms(lambda: gallery.search(query), repeats * 4)
    matrix_1k = gallery._matrix[: len(gallery)]  # the same rows the search reads
    raw["match"] = median_ms(lambda: matrix_1k @ query, repeats * 4)

    labels = {"decode": "cv2.imdecode", "detect": "YuNet session.run", "align": "cv2.warpAffine",
              "embed": "SFace session.run", "match": "matrix @ query (1k)", "total": "detect+embed model calls"}
    out = {f"frame_{stage}": figure(ours[stage], "ms", raw[stage], labels[stage], n=repeats)
           for stage in ("decode", "detect", "align", "embed", "match", "total")}
    out["frame_total"]["note"] = "640x480 JPEG, one face; total excludes match"
    out.update(opencv_peer(settings, bgr, repeats, raw))
    return out


def opencv_peer(settings: Settings, bgr: np.ndarray, repeats: int, raw: dict) -> dict:
    """The same models in OpenCV's own runtime (cv2.FaceDetectorYN / FaceRecognizerSF on the
    wheel's original int8 files) against our onnxruntime sessions on float32 expansions."""
    originals = settings.models_dir / "face-original"
    det_file = originals / "face_detection_yunet_2023mar_int8bq.onnx"
    rec_file = originals / "face_recognition_sface_2021dec_int8bq.onnx"
    if not (det_file.exists() and rec_file.exists()):
        return {}
    try:
        detector = cv2.FaceDetectorYN.create(str(det_file), "", (bgr.shape[1], bgr.shape[0]), 0.6, 0.3)
        recognizer = cv2.FaceRecognizerSF.create(str(rec_file), "")
        _, faces = detector.detect(bgr)
        crop = recognizer.alignCrop(bgr, faces[0])
    except cv2.error as exc:  # an OpenCV build that cannot run them: no peer figure
        return {"opencv_peer_error": {"value": None, "note": str(exc)[:200]}}
    cv_detect = median_ms(lambda: detector.detect(bgr), repeats)
    cv_embed = median_ms(lambda: recognizer.feature(crop), repeats)
    return {
        "frame_detect_vs_opencv": figure(raw["detect"], "ms", cv_detect, "cv2.FaceDetectorYN (int8)", n=repeats),
        "frame_embed_vs_opencv": figure(raw["embed"], "ms", cv_embed, "cv2.FaceRecognizerSF (int8)", n=repeats),
    }
