"""Audio bytes in and out: decode any common WAV (or another container via PyAV) to mono
float32 at 16 kHz, and encode float samples as a 16-bit PCM mono RIFF/WAV file.

The WAV reader is our own RIFF parser rather than the stdlib ``wave`` module because
``wave`` (Python 3.11) refuses IEEE-float and WAVE_FORMAT_EXTENSIBLE files, both of which
browsers and sound tools write, and because we must validate a header that may lie
(a client's upload is untrusted) and refuse over-long audio before decoding any of it.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import numpy as np

TARGET_RATE = 16000
DEFAULT_MAX_SECONDS = 60.0
MAX_CHANNELS = 32

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming writers leave the data size unset


class AudioError(ValueError):
    """The bytes are not usable audio: empty, not audio, a lying header, or too long."""


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy's Kaiser-windowed FIR), float32 out."""
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # scipy import is slow: only when needed

    g = math.gcd(int(src_rate), int(dst_rate))
    return resample_poly(samples, dst_rate // g, src_rate // g).astype(np.float32)


def _chunks(data: bytes):
    """Yield (chunk id, offset of body, declared size) for each RIFF chunk after 'WAVE'."""
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)  # chunks are word-aligned


def _parse_fmt(body: bytes) -> tuple[int, int, int, int, int]:
    """Return (format tag, channels, rate, block align, bits) from a 'fmt ' chunk."""
    if len(body) < 16:
        raise AudioError("WAV fmt chunk is truncated")
    tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", body, 0)
    if tag == _EXTENSIBLE:
        if len(body) < 26:
            raise AudioError("WAV extensible fmt chunk is truncated")
        tag = struct.unpack_from("<H", body, 24)[0]  # first 2 bytes of the sub-format GUID
    if channels == 0 or channels > MAX_CHANNELS:
        raise AudioError(f"WAV header claims {channels} channels")
    if not 1000 <= rate <= 768000:
        raise AudioError(f"WAV header claims an implausible sample rate {rate}")
    ok = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64)}
    if tag not in ok:
        raise AudioError(f"unsupported WAV encoding (format tag {tag})")
    if bits not in ok[tag]:
        raise AudioError(f"unsupported WAV sample width {bits} bits for format {tag}")
    if align != channels * bits // 8:
        raise AudioError(f"WAV header is inconsistent: block align {align} for {channels}x{bits} bits")
    return tag, channels, rate, align, bits


def _to_float(raw: bytes, tag: int, bits: int) -> np.ndarray:
    """Interleaved sample bytes -> float32 in [-1, 1]."""
    if tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
        return np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    if bits == 8:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if bits == 16:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)  # sign-extend
        return v.astype(np.float32) / float(1 << 23)
    return (np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)


def read_wav(data: bytes, max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Parse a RIFF/WAVE file -> (mono float32 samples, native rate). Raises AudioError."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    if data[:4] == b"RIFX":
        raise AudioError("big-endian WAV (RIFX) is not supported")
    fmt = None
    for cid, start, size in _chunks(data):
        if cid == b"fmt ":
            fmt = _parse_fmt(data[start : start + size])
        elif cid == b"data":
            if fmt is None:
                raise AudioError("WAV data chunk comes before its fmt chunk")
            tag, channels, rate, align, bits = fmt
            avail = len(data) - start
            if size in _UNKNOWN_SIZES:
                size = avail
            elif size > avail:
                raise AudioError(f"WAV header lies: data size {size} but only {avail} bytes follow")
            frames = size // align
            if frames / rate > max_seconds:  # refuse before decoding anything
                raise AudioError(f"audio too long: {frames / rate:.1f} s (limit {max_seconds:g} s)")
            if frames == 0:
                raise AudioError("WAV file holds no samples")
            x = _to_float(data[start : start + frames * align], tag, bits)
            return x.reshape(frames, channels).mean(axis=1, dtype=np.float32), rate
    raise AudioError("WAV file has no fmt chunk" if fmt is None else "WAV file has no data chunk")


def _read_other(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode a non-WAV container (FLAC, OGG, MP3, WebM ...) with PyAV, if it is installed."""
    try:
        import av  # ships with faster-whisper
    except ImportError as e:  # pragma: no cover - av is a faster-whisper dependency
        raise AudioError("not a WAV file and no decoder for other formats is installed") from e
    try:
        with av.open(io.BytesIO(data), mode="r") as box:
            if not box.streams.audio:
                raise AudioError("no audio stream in the file")
            if box.duration and box.duration / av.time_base > max_seconds:
                raise AudioError(
                    f"audio too long: {box.duration / av.time_base:.1f} s (limit {max_seconds:g} s)"
                )
            rs = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE)
            out, total = [], 0
            for frame in box.decode(audio=0):
                for f in rs.resample(frame):
                    arr = f.to_ndarray().reshape(-1)
                    total += arr.size
                    if total > max_seconds * TARGET_RATE:  # header may not say how long it is
                        raise AudioError(f"audio too long (limit {max_seconds:g} s)")
                    out.append(arr)
    except AudioError:
        raise
    except Exception as e:  # av raises many types (InvalidDataError, ValueError ...)
        raise AudioError(f"not decodable audio: {type(e).__name__}") from e
    if not out:
        raise AudioError("the audio file holds no samples")
    return np.concatenate(out).astype(np.float32), TARGET_RATE


def decode_audio(
    data: bytes, max_seconds: float = DEFAULT_MAX_SECONDS, rate: int = TARGET_RATE
) -> np.ndarray:
    """Any common audio file bytes -> mono float32 samples at ``rate`` (16 kHz for Whisper).

    Raises AudioError for empty input, non-audio bytes, a header that lies, or audio
    longer than ``max_seconds`` (checked from the header before decoding).
    """
    if not data:
        raise AudioError("empty audio")
    if data[:4] in (b"RIFF", b"RIFX"):
        samples, native = read_wav(bytes(data), max_seconds)
    else:
        samples, native = _read_other(bytes(data), max_seconds)
    return resample(samples, native, rate)


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """Float samples in [-1, 1] (mono) -> RIFF/WAV bytes, 16-bit PCM mono at ``rate``."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    x = np.clip(np.nan_to_num(x), -1.0, 1.0)
    pcm = np.round(x * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
