"""Untrusted image bytes -> BGR uint8 array, safely.

Camera frames and uploads arrive as raw bytes from a WebSocket.  Every way
they can be wrong ends in :class:`ImageError` with a short reason code, never
in an uncaught exception: too many bytes (checked before parsing), too many
pixels (checked from the header before the pixel data is decoded, so a
decompression bomb costs nothing), not an image, a format we do not accept,
truncated data, a zero-sized image.  Grayscale, palette, CMYK, 16-bit and
alpha images are converted to 3-channel BGR, and the EXIF orientation tag is
applied so a phone photo taken sideways is upright for the detector.

The common case, an 8-bit RGB/gray JPEG or PNG that ends with its end marker
(every camera frame), is recognised by a strict walk over its header
(``_sniff``: JPEG markers up to the frame header, PNG chunks up to the first
IDAT with their CRCs) that yields the format and the size for the checks above,
and its pixels are decoded by ``cv2.imdecode``: about the raw call's cost
(docs/bench.md, ``frame_decode``).  Anything the walk does not vouch for (CMYK,
alpha, palette, 16-bit, WEBP/BMP, arithmetic coding, MPO, a missing end marker,
an odd segment) and any OpenCV failure go through Pillow: it reads the header
first (the same checks), decodes, and names the exact fault.
"""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The analysis-level reason for every decode failure (see quality.REASONS).
BAD_IMAGE = "bad_image"
# Formats a camera or a kiosk front end sends; anything else is refused so
# rarely used (and rarely hardened) Pillow plugins never see hostile input.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
# Leading bytes of image formats we recognise but refuse (GIF, TIFF); HEIC/AVIF
# carry "ftyp" at offset 4.
_OTHER_IMAGE_MAGIC = (b"GIF8", b"II*\x00", b"MM\x00*")


class ImageError(ValueError):
    """Bytes that cannot be turned into an image.

    ``reason_code`` is one of: ``empty``, ``too_many_bytes``, ``not_an_image``,
    ``unsupported_format``, ``too_many_pixels``, ``zero_size``, ``truncated``,
    ``decode_failed``.  ``reason`` is always ``bad_image`` (the analysis code).
    """

    reason = BAD_IMAGE

    def __init__(self, reason_code: str, message: str):
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds checked before decoding. Defaults fit a 40 MP phone photo."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


def _open(data: bytes) -> Image.Image:
    """Parse only the header; Pillow reads pixel data lazily on load()."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit applies; Pillow's bomb warning would be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        if (
            data[:8] == b"\x89PNG\r\n\x1a\n"
            and data[12:16] == b"IHDR"
            and (data[16:20] == b"\0\0\0\0" or data[20:24] == b"\0\0\0\0")
        ):
            raise ImageError("zero_size", "PNG header declares a zero width or height") from exc
        if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
            raise ImageError("decode_failed", "damaged JPEG/PNG header") from exc
        if data[:4] in _OTHER_IMAGE_MAGIC or data[4:8] == b"ftyp":
            raise ImageError(
                "unsupported_format", f"image format not accepted (only {'/'.join(ALLOWED_FORMATS)})"
            ) from exc
        raise ImageError("not_an_image", f"bytes are not a {'/'.join(ALLOWED_FORMATS)} image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Some plugins raise while parsing a damaged header (e.g. a 0x0 PNG).
        raise ImageError("decode_failed", f"cannot read image header: {exc}") from exc


def _check_size(img: Image.Image, limits: DecodeLimits) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError("zero_size", f"image is {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageError("too_many_pixels", f"{width}x{height} exceeds {limits.max_pixels} pixels")


def _load(img: Image.Image) -> Image.Image:
    """Decode pixels, apply EXIF orientation; map every failure to ImageError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            return ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", str(exc)) from exc
    except (OSError, EOFError) as exc:
        text = str(exc)
        code = "truncated" if "truncated" in text or "broken data stream" in text else "decode_failed"
        raise ImageError(code, f"cannot decode image: {text}") from exc
    except (ValueError, SyntaxError, MemoryError) as exc:
        raise ImageError("decode_failed", f"cannot decode image: {exc}") from exc


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> HxWx3 uint8 RGB.

    Alpha is flattened onto white (a transparent PNG background is usually a
    cut-out on a page); 16/32-bit grayscale is scaled to its own range.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        gray = arr.clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, CMYK (Adobe-inverted handled by Pillow), YCbCr
    return np.asarray(img)


# The pixel layouts OpenCV decodes exactly as Pillow + _to_rgb would.
_FAST_MODES = ("RGB", "L")
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def _fast_path(img: Image.Image, data: bytes) -> bool:
    """True when cv2.imdecode gives the same BGR pixels as the Pillow path.

    The end marker is required because libjpeg fills a truncated JPEG with
    grey and calls it a warning: Pillow reports ``truncated`` instead.
    """
    if img.mode not in _FAST_MODES:
        return False
    if img.format == "JPEG":
        return data.rstrip(b"\0").endswith(_JPEG_END)
    if img.format == "PNG":  # an eXIf chunk's orientation: left to Pillow's exif_transpose
        return data.endswith(_PNG_END) and "exif" not in img.info
    return False


def _decode_cv2(img: Image.Image, data: bytes) -> np.ndarray | None:
    """BGR pixels by OpenCV (EXIF orientation applied), or None to fall back to Pillow."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        return None
    if sorted(bgr.shape[:2]) != sorted(img.size):  # header and pixels disagree: let Pillow judge
        return None
    return bgr


_JPEG_SOF = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive Huffman: what cameras write
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_PLAIN = {b"sRGB": 1, b"gAMA": 4, b"cHRM": 32, b"pHYs": 9, b"tIME": 7}
"""Ancillary PNG chunks (with their sizes) Pillow reads without judging them; any other before IDAT
(text, ICC, eXIf, palette, transparency…) sends the image to Pillow."""


def _sniff(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image the fast path decodes exactly as Pillow would, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return _sniff_jpeg(data)
    if data[:8] == _PNG_MAGIC:
        return _sniff_png(data)
    return None


def _sniff_jpeg(data: bytes) -> tuple[int, int] | None:
    """A JPEG's size from its frame header: 8-bit, 1 or 3 components (Pillow's L or RGB)."""
    if not data.rstrip(b"\0").endswith(_JPEG_END):
        return None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None
        if marker in _JPEG_SOF:
            if len(body) < 6 or body[0] != 8 or body[5] not in (1, 3):
                return None
            height, width = (body[1] << 8) | body[2], (body[3] << 8) | body[4]
            return (width, height) if width and height else None
        if not (0xE0 <= marker <= 0xEF or marker in (0xDB, 0xC4, 0xDD, 0xFE)):
            return None  # another frame type, a scan before the frame, a stray marker: Pillow judges
        if marker == 0xE0 and body[:4] == b"JFIF" and len(body) < 12:
            return None  # Pillow reads the density from it
        if marker == 0xE2 and body[:4] == b"MPF\0":
            return None  # a multi-picture file: Pillow's MPO reader
        if marker == 0xEE and body[:5] == b"Adobe" and len(body) < 12:
            return None  # Pillow reads the colour transform from it
        pos += 2 + length
    return None


def _sniff_png(data: bytes) -> tuple[int, int] | None:
    """An 8-bit gray or RGB PNG's size from IHDR, every chunk before IDAT checked (CRC, kind)."""
    if not data.endswith(_PNG_END) or data[12:16] != b"IHDR":
        return None
    size = None
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n or zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return None
        if kind == b"IDAT":
            return size
        body = data[pos + 8 : end - 4]
        if kind == b"IHDR" and size is None and length == 13:
            width, height = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            depth, colour, method, filtering, interlace = body[8:13]
            if not (width and height and depth == 8 and colour in (0, 2)) or method or filtering:
                return None
            if interlace not in (0, 1):
                return None
            size = (width, height)
        elif size is None or _PNG_PLAIN.get(kind) != length:
            return None
        pos = end
    return None


def _decode_sniffed(data: bytes, size: tuple[int, int], limits: DecodeLimits) -> np.ndarray | None:
    """The pixels of an image ``_sniff`` vouched for, after the size checks; None: ask Pillow."""
    width, height = size
    if width * height > limits.max_pixels or (
        Image.MAX_IMAGE_PIXELS and width * height > 2 * Image.MAX_IMAGE_PIXELS  # Pillow's bomb error
    ):
        raise ImageError("too_many_pixels", f"{width}x{height} exceeds {limits.max_pixels} pixels")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or sorted(bgr.shape[:2]) != sorted(size):
        return None  # header and pixels disagree, or OpenCV failed: Pillow judges
    return bgr


def decode_image(data: bytes, limits: DecodeLimits | None = None) -> np.ndarray:
    """Decode image bytes to a contiguous HxWx3 BGR uint8 array.

    Raises :class:`ImageError` for every kind of bad input.
    """
    limits = limits or DecodeLimits()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError("not_an_image", f"expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ImageError("empty", "no image bytes")
    if len(data) > limits.max_bytes:
        raise ImageError("too_many_bytes", f"{len(data)} bytes exceeds {limits.max_bytes}")
    data = bytes(data)
    size = _sniff(data)
    if size is not None:
        bgr = _decode_sniffed(data, size, limits)
        if bgr is not None:
            return bgr
    img = _open(data)
    try:
        _check_size(img, limits)
        if size is None and _fast_path(img, data):  # sniffed and failed in OpenCV: not again
            bgr = _decode_cv2(img, data)
            if bgr is not None:
                return bgr
        img = _load(img)
        _check_size(img, limits)
        rgb = _to_rgb(img)
    finally:
        img.close()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ImageError("decode_failed", f"unexpected pixel layout {rgb.shape}")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def encode_jpeg(bgr: np.ndarray, max_bytes: int = 400 * 1024, max_side: int = 1024) -> bytes:
    """Encode BGR pixels as a JPEG under ``max_bytes`` (lowering quality, then size)."""
    img = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    while True:
        for quality in (92, 85, 75, 65, 50):
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= max_bytes:
                return buf.getvalue()
        if min(img.size) <= 32:
            return buf.getvalue()  # cannot happen for sane limits; never loop forever
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)), Image.Resampling.LANCZOS)
