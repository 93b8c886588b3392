"""The header walk that lets camera frames skip Pillow (issue 18 §3): it vouches only for images
OpenCV decodes exactly as the Pillow path would, and everything else still meets Pillow's verdict."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from appliance.face import imagedecode
from appliance.face.imagedecode import ImageError, decode_image


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _pillow_only(data: bytes) -> np.ndarray | str:
    """What the Pillow path alone answers (header, pixels, conversion)."""
    try:
        img = imagedecode._open(data)
        img = imagedecode._load(img)
        return np.ascontiguousarray(imagedecode._to_rgb(img)[:, :, ::-1])
    except ImageError as exc:
        return exc.reason_code


@pytest.fixture(scope="module")
def variants(face_photos) -> dict[str, bytes]:
    rgb = Image.open(io.BytesIO(face_photos["obama_1"])).convert("RGB")
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "camera": face_photos["obama_1"],
        "progressive": _save(rgb, "JPEG", progressive=True),
        "gray": _save(rgb.convert("L"), "JPEG"),
        "exif_rotated": _save(rgb, "JPEG", exif=exif.tobytes()),
        "icc": _save(rgb, "JPEG", icc_profile=b"x" * 300),
        "restart_markers": cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 4])[1].tobytes(),
        "png": cv2.imencode(".png", bgr)[1].tobytes(),
        "png_dpi": _save(rgb, "PNG", dpi=(96, 96)),
        "png_gray": _save(rgb.convert("L"), "PNG"),
    }


def test_camera_frames_never_reach_pillow(variants, monkeypatch):
    def no_pillow(data):
        raise AssertionError("Pillow opened a frame the header walk vouches for")

    monkeypatch.setattr(imagedecode, "_open", no_pillow)
    for name, data in variants.items():
        assert imagedecode._sniff(data) is not None, name
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(decode_image(data), ref), name


def test_sniffed_images_decode_like_the_pillow_path(variants):
    for name, data in variants.items():
        ours, pillow = decode_image(data), _pillow_only(data)
        assert isinstance(pillow, np.ndarray), name
        assert ours.shape == pillow.shape, name
        assert np.abs(ours.astype(int) - pillow).mean() < 2.0, name  # JPEG decoders differ by rounding


def test_what_the_walk_does_not_vouch_for_goes_to_pillow(face_photos):
    rgb = Image.open(io.BytesIO(face_photos["obama_1"])).convert("RGB")
    for data in (
        _save(rgb.convert("CMYK"), "JPEG"),
        _save(rgb.convert("RGBA"), "PNG"),
        _save(rgb.convert("P"), "PNG"),
        _save(rgb, "PNG", pnginfo=_text_chunk()),
        _save(rgb, "WEBP"),
        face_photos["obama_1"][:-2],  # no end marker
    ):
        assert imagedecode._sniff(data) is None


def _text_chunk():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "a text chunk Pillow reads")
    return info


def test_damaged_frames_get_the_same_verdict_as_before(face_photos):
    # random byte changes and cuts of a camera frame and a PNG: the answer (pixels or reason code)
    # is the Pillow path's whenever the walk refuses, and OpenCV's only for an intact header
    rng = np.random.default_rng(7)
    png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(face_photos["biden"], np.uint8), 1))[1].tobytes()
    for data in (face_photos["obama_1"], png):
        for k in range(60):
            bad = bytearray(data)
            if k % 2:
                bad[int(rng.integers(0, 600))] = int(rng.integers(0, 256))
            else:
                bad = bad[: int(rng.integers(2, len(bad)))]
            try:
                out: np.ndarray | str = decode_image(bytes(bad))
            except ImageError as exc:
                out = exc.reason_code
            if imagedecode._sniff(bytes(bad)) is None and isinstance(out, np.ndarray):
                pillow = _pillow_only(bytes(bad))
                assert isinstance(pillow, np.ndarray) and pillow.shape == out.shape
