"""Face pipeline per 640×480 frame, stage by stage, against the raw model calls alone.

The input is a real photo (tests/data/faces/obama_1.jpg) placed on a 640×480
canvas and JPEG-encoded, as a camera frame would arrive on /face_predict.
FaceEngine.analyse reports its own per-stage times; each stage's reference
is the bare operation it wraps, on the same data, and for the models the
**faster of the two runtimes** (onnxruntime on the float32 expansion,
OpenCV's FaceDetectorYN / FaceRecognizerSF on the original int8 file) on the
**full frame**, i.e. the pipeline before issue 18 done with nothing of ours:
- decode: cv2.imdecode alone (ours adds Pillow's header checks);
- detect: one detector call on the whole 640×480 frame (ours: the frame
  shrunk to 320×240 and the subject re-detected in a crop, see face/locate.py);
- align: cv2.warpAffine alone (ours adds the similarity fit);
- embed: one SFace call (ours adds the blob and normalisation);
- total: the detect and embed references added;
- match: Gallery.search over 1,000 templates vs the bare float32 matrix product.
The engine's runtimes are the ones it chose (measured and stored, face/runtimes.py).
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
DECODE_PAIRS = 10
"""decode_image / cv2.imdecode pairs timed per round (a decode is ~1 ms: more samples than the models)."""


def frame_jpeg(photo: Path = PHOTO) -> bytes:
    """The photo letterboxed onto a 640×480 canvas, as JPEG bytes (a camera-sized frame)."""
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if img is None:  # what img.shape would have raised
        raise AttributeError(
            f"'NoneType' object has no attribute 'shape' (cv2.imread could not read {photo})"
        )
    scale = min(WIDTH / img.shape[1], HEIGHT / img.shape[0])
    img = cv2.resize(
        img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    canvas = np.full((HEIGHT, WIDTH, 3), 127, np.uint8)
    y, x = (HEIGHT - img.shape[0]) // 2, (WIDTH - img.shape[1]) // 2
    canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def run(settings: Settings, quick: bool) -> dict:
    from ..face.embedder import align_face, l2_normalise, similarity_transform
    from ..face.engine import FaceEngine, FaceSettings
    from ..face.gallery import Gallery
    from ..face.imagedecode import decode_image

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
    assert bgr is not None  # the engine has just decoded the same bytes
    landmarks = np.asarray(first.landmarks, np.float32)
    matrix = similarity_transform(landmarks)
    crop = align_face(bgr, landmarks)
    raw_calls = {
        "decode": lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR),
        "align": lambda: cv2.warpAffine(bgr, matrix, (112, 112), flags=cv2.INTER_LINEAR),
    }
    raw_calls.update(model_calls(settings, engine, bgr, crop))
    runs = []
    raw_runs: dict[str, list[float]] = {k: [] for k in raw_calls}
    decodes: dict[str, list[float]] = {"ours": [], "raw": []}
    pair = {"ours": lambda: decode_image(data), "raw": raw_calls["decode"]}
    for _ in range(repeats):
        runs.append(engine.analyse(data).timings_ms)
        for key, call in raw_calls.items():
            t0 = time.perf_counter()
            call()
            raw_runs[key].append((time.perf_counter() - t0) * 1000)
        # decode_image and cv2.imdecode back to back, each first in turn: inside analyse our decode
        # follows the previous round's model calls (their threads still winding down on 2 cores)
        for i in range(DECODE_PAIRS):
            for key in ("ours", "raw") if i % 2 else ("raw", "ours"):
                t0 = time.perf_counter()
                pair[key]()
                decodes[key].append((time.perf_counter() - t0) * 1000)
    stages = ("decode", "detect", "align", "embed", "total")
    ours = {stage: statistics.median(r[stage] for r in runs) for stage in stages}
    raw = {key: statistics.median(v) for key, v in raw_runs.items()}
    in_analyse = ours["decode"]
    ours["decode"], raw["decode"] = statistics.median(decodes["ours"]), statistics.median(decodes["raw"])
    fastest = {
        model: min((k for k in raw if k.startswith(model + ":")), key=lambda k: raw[k])
        for model in ("detect", "embed")
    }
    raw["detect"], raw["embed"] = raw[fastest["detect"]], raw[fastest["embed"]]
    raw["total"] = raw["detect"] + raw["embed"]  # the floor: the two fastest model calls alone

    gallery = Gallery()
    rows = l2_normalise(np.random.default_rng(0).standard_normal((1000, 128)).astype(np.float32))
    for i, row in enumerate(rows):
        gallery.set_user(f"u{i}", row)
    query = first.embedding
    assert query is not None  # an ok analysis has an embedding
    ours["match"] = median_ms(lambda: gallery.search(query), repeats * 4)
    matrix_1k = rows  # the same templates in float32, as before issue 18
    raw["match"] = median_ms(lambda: matrix_1k @ query, repeats * 4)

    labels = {
        "decode": "cv2.imdecode",
        "detect": f"{fastest['detect'][7:]} on the full 640x480 frame",
        "align": "cv2.warpAffine",
        "embed": fastest["embed"][6:],
        "match": "float32 matrix @ query (1k)",
        "total": "fastest detect+embed model calls",
    }
    out = {
        f"frame_{stage}": figure(ours[stage], "ms", raw[stage], labels[stage], n=repeats)
        for stage in ("decode", "detect", "align", "embed", "match", "total")
    }
    out["frame_decode"]["n"] = repeats * DECODE_PAIRS
    out["frame_decode"]["note"] = (
        f"decode_image vs cv2.imdecode back to back; inside analyse (after model calls) {in_analyse:.2f} ms"
    )
    choice = engine.runtime_choice
    out["frame_total"]["note"] = (
        f"640x480 JPEG, one face; total excludes match; engine runs detector on "
        f"{choice['detector']}, recogniser on {choice['recognizer']}"
    )
    for model, ort_key, cv_key in (
        ("detect", "detect:YuNet session.run", "detect:cv2.FaceDetectorYN"),
        ("embed", "embed:SFace session.run", "embed:cv2.FaceRecognizerSF"),
    ):
        if ort_key in raw and cv_key in raw:
            ref = f"{cv_key[len(model) + 1 :]} (int8 file); ours: onnxruntime, float32 expansion"
            out[f"frame_{model}_vs_opencv"] = figure(raw[ort_key], "ms", raw[cv_key], ref, n=repeats)
    return out


def model_calls(settings: Settings, engine, bgr: np.ndarray, crop: np.ndarray) -> dict:
    """The bare model calls of both runtimes on the full frame and the aligned crop."""
    from ..face.detector import YuNetDetector
    from ..face.embedder import SFaceEmbedder
    from ..face.modelfiles import CONVERTED
    from ..face.runtimes import originals_ok

    models = settings.models_dir
    det = YuNetDetector(models / CONVERTED["detector"], threads=2)
    padded, _ = det.prepare(bgr)
    blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
    emb = SFaceEmbedder(models / CONVERTED["recognizer"], threads=2)
    emb_blob = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
    calls = {
        "detect:YuNet session.run": lambda: det.session.run(det.output_names, {det.input_name: blob}),
        "embed:SFace session.run": lambda: emb.session.run(None, {emb.input_name: emb_blob}),
    }
    if not originals_ok(models):
        return calls
    originals = models / "face-original"
    try:
        detector = cv2.FaceDetectorYN.create(
            str(originals / "face_detection_yunet_2023mar_int8bq.onnx"),
            "",
            (bgr.shape[1], bgr.shape[0]),
            0.6,
            0.3,
        )
        recognizer = cv2.FaceRecognizerSF.create(
            str(originals / "face_recognition_sface_2021dec_int8bq.onnx"), ""
        )
    except cv2.error:  # an OpenCV build that cannot run them: onnxruntime only
        return calls
    calls["detect:cv2.FaceDetectorYN"] = lambda: detector.detect(bgr)
    calls["embed:cv2.FaceRecognizerSF"] = lambda: recognizer.feature(crop)
    return calls
