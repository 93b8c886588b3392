"""Decoding untrusted bytes: every bad input is an ImageError, every mode becomes BGR."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from appliance.face.imagedecode import DecodeLimits, ImageError, decode_image, encode_jpeg


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height, with one tiny IDAT (a bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def _code(data, **limits) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(data, DecodeLimits(**limits) if limits else None)
    assert info.value.reason == "bad_image"
    assert info.value.message
    return info.value.reason_code


def test_empty_and_non_image_bytes():
    assert _code(b"") == "empty"
    assert _code(b"hello, this is not a picture at all" * 10) == "not_an_image"
    assert _code(np.random.default_rng(1).bytes(5000)) == "not_an_image"
    assert _code("a string") == "not_an_image"


def test_too_many_bytes_is_refused_before_parsing(face_photos):
    data = face_photos["obama_1"]
    assert _code(data, max_bytes=len(data) - 1) == "too_many_bytes"


def test_pixel_limit_checked_from_header():
    # 50 000 × 50 000 claimed by a file of ~100 bytes: refused without decoding.
    bomb = _png_header_only(50_000, 50_000)
    assert len(bomb) < 200
    assert _code(bomb) == "too_many_pixels"
    assert _code(_png_header_only(8000, 6000), max_pixels=40_000_000) == "too_many_pixels"


def test_zero_sized_png():
    assert _code(_png_header_only(0, 0)) == "zero_size"
    assert _code(_png_header_only(0, 5)) == "zero_size"


def test_truncated_jpeg(face_photos):
    data = face_photos["obama_1"]
    assert _code(data[: len(data) // 2]) == "truncated"
    assert _code(data[:300]) in ("truncated", "decode_failed")


def test_gif_is_an_unsupported_format():
    assert _code(_save(Image.new("RGB", (20, 20), "red"), "GIF")) == "unsupported_format"


def test_grayscale_becomes_three_equal_channels():
    gray = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1)), "L")
    out = decode_image(_save(gray, "PNG"))
    assert out.shape == (32, 64, 3) and out.dtype == np.uint8
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()
    assert out[0, 10, 0] == 40


def test_cmyk_jpeg_decodes_to_bgr():
    red = Image.new("RGB", (40, 30), (220, 20, 20)).convert("CMYK")
    out = decode_image(_save(red, "JPEG", quality=95))
    b, g, r = out[15, 20].astype(int)
    assert r > 180 and g < 70 and b < 70


def test_rgba_flattens_alpha_on_white_and_is_bgr():
    img = Image.new("RGBA", (10, 10), (0, 0, 255, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent
    out = decode_image(_save(img, "PNG"))
    assert out.shape == (10, 10, 3)
    assert tuple(out[5, 5]) == (255, 0, 0)  # blue in BGR order
    assert tuple(out[0, 0]) == (255, 255, 255)  # transparent -> white


def test_sixteen_bit_and_palette_images():
    deep = Image.fromarray(np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    assert deep.mode == "I;16"
    out = decode_image(_save(deep, "PNG"))
    assert out.shape == (10, 10, 3) and out[9, 9, 0] == 255 and out[0, 0, 0] == 0
    pal = Image.new("RGB", (8, 8), (0, 200, 0)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert tuple(decode_image(_save(pal, "PNG"))[4, 4]) == (0, 200, 0)


def test_exif_orientation_is_applied():
    # A 40×20 image, left half black, right half white, tagged "rotate 90 CW" (6).
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 20:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(_save(Image.fromarray(arr), "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape[:2] == (40, 20)  # upright: now tall
    assert out[5, 10].mean() < 30 and out[35, 10].mean() > 225  # black on top after rotation


def test_real_photo_matches_opencv(face_photos):
    import cv2

    data = face_photos["astronaut"]
    ours = decode_image(data)
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert ours.shape == ref.shape
    assert np.abs(ours.astype(int) - ref).mean() < 2.0  # JPEG decoders differ by rounding


def test_encode_jpeg_respects_byte_limit(face_photos):
    big = np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)  # noise: worst case
    data = encode_jpeg(big, max_bytes=60_000)
    assert len(data) <= 60_000
    assert decode_image(data).ndim == 3


def test_camera_jpeg_pixels_come_from_opencv_not_pillow(face_photos, monkeypatch):
    # Issue 18 §3: the common frame (8-bit RGB JPEG) is decoded by cv2.imdecode after
    # Pillow's header checks; Pillow's pixel decode (_load) is not reached.
    import cv2

    from appliance.face import imagedecode

    def no_pillow_pixels(img):
        raise AssertionError("Pillow decoded the pixels")

    monkeypatch.setattr(imagedecode, "_load", no_pillow_pixels)
    for name in ("astronaut", "obama_1"):
        data = face_photos[name]
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(decode_image(data), ref), name


def test_jpeg_without_end_marker_still_refused_as_truncated(face_photos):
    # libjpeg would grey-fill a cut JPEG; the fast path needs the end marker, so Pillow judges.
    data = face_photos["astronaut"]
    cut = data[: int(len(data) * 0.9)]
    assert _code(cut) == "truncated"
    assert _code(cut + b"\0" * 64) == "truncated"


def test_gray_png_fast_path_has_three_equal_channels():
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = decode_image(_save(Image.fromarray(gray, "L"), "PNG"))
    assert out.shape == (16, 16, 3)
    assert (out[:, :, 0] == gray).all() and (out[:, :, 2] == gray).all()
