"""Audio decoding/encoding: every WAV flavour, resampling accuracy, and each bad input."""

import io
import struct
import wave

import numpy as np
import pytest

from appliance.speech.audio import AudioError, decode_audio, encode_wav, read_wav, resample


def _wav(
    samples: np.ndarray, rate: int, channels: int, bits: int, fmt: int = 1, extensible: bool = False
) -> bytes:
    """Build a RIFF/WAVE file by hand (the stdlib cannot write float or extensible)."""
    x = np.repeat(samples[:, None], channels, axis=1).reshape(-1)
    if fmt == 3:
        raw = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        raw = np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 16:
        raw = np.round(x * 32767).astype("<i2").tobytes()
    elif bits == 24:
        v = np.round(x * (2**23 - 1)).astype("<i4")
        raw = b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    else:
        raw = np.round(x * (2**31 - 1)).astype("<i4").tobytes()
    align = channels * bits // 8
    tag = 0xFFFE if extensible else fmt
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", fmt) + b"\x00" * 14
    fmt_chunk = b"fmt " + struct.pack("<I", len(body)) + body
    data_chunk = b"data" + struct.pack("<I", len(raw)) + raw
    return (
        b"RIFF" + struct.pack("<I", 4 + len(fmt_chunk) + len(data_chunk)) + b"WAVE" + fmt_chunk + data_chunk
    )


def _sine(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("bits,fmt", [(8, 1), (16, 1), (24, 1), (32, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_decode_every_sample_format(bits, fmt, channels):
    rate = 22050
    data = _wav(_sine(440, rate), rate, channels, bits, fmt)
    out = decode_audio(data)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 16000) <= 2
    assert _peak_hz(out, 16000) == pytest.approx(440, abs=2)
    # amplitude preserved (8-bit is coarse; mono mix of identical channels keeps the level)
    assert np.max(np.abs(out[1000:-1000])) == pytest.approx(0.5, abs=0.03)


def test_extensible_header_is_read():
    data = _wav(_sine(300, 16000), 16000, 2, 16, fmt=1, extensible=True)
    samples, rate = read_wav(data)
    assert rate == 16000 and len(samples) == 16000


def test_resample_keeps_1khz_at_44k1():
    out = decode_audio(_wav(_sine(1000, 44100, 2.0), 44100, 1, 16))
    assert len(out) == 32000
    assert _peak_hz(out, 16000) == pytest.approx(1000, abs=1)
    # a polyphase filter leaves no strong alias: energy away from 1 kHz is tiny
    spec = np.abs(np.fft.rfft(out * np.hanning(len(out)))) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    assert spec[np.abs(freqs - 1000) > 50].sum() / spec.sum() < 1e-3


def test_content_above_nyquist_is_filtered_out():
    # 12 kHz at 48 kHz cannot exist at 16 kHz; a naive decimator would alias it to 4 kHz
    x = resample(_sine(12000, 48000), 48000, 16000)
    assert np.sqrt(np.mean(x[100:-100] ** 2)) < 0.01


def test_encode_wav_is_16bit_mono_and_round_trips():
    x = _sine(500, 24000, 0.5)
    data = encode_wav(x, 24000)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() == len(x)
    back, rate = read_wav(data)
    assert rate == 24000 and np.max(np.abs(back - x)) < 1e-4


def test_encode_clips_instead_of_wrapping():
    back, _ = read_wav(encode_wav(np.array([2.0, -2.0, np.nan], np.float32), 16000))
    assert back[0] > 0.99 and back[1] < -0.99 and back[2] == 0


def test_empty_is_refused():
    with pytest.raises(AudioError, match="empty"):
        decode_audio(b"")


def test_non_audio_bytes_are_refused():
    with pytest.raises(AudioError):
        decode_audio(b"this is certainly not audio, just some text" * 10)
    with pytest.raises(AudioError):
        decode_audio(b"RIFF\x00\x00\x00\x00JUNK")


def test_header_with_data_size_beyond_the_file_is_refused():
    good = _wav(_sine(440, 16000), 16000, 1, 16)
    with pytest.raises(AudioError, match="lies"):
        decode_audio(good[:-1000])


def test_zero_channels_is_refused():
    data = bytearray(_wav(_sine(440, 16000), 16000, 1, 16))
    struct.pack_into("<H", data, 22, 0)  # fmt: channels field
    with pytest.raises(AudioError, match="channels"):
        decode_audio(bytes(data))


def test_inconsistent_block_align_is_refused():
    data = bytearray(_wav(_sine(440, 16000), 16000, 1, 16))
    struct.pack_into("<H", data, 32, 7)  # fmt: block align
    with pytest.raises(AudioError, match="inconsistent"):
        decode_audio(bytes(data))


def test_no_samples_is_refused():
    with pytest.raises(AudioError, match="no samples"):
        decode_audio(_wav(np.zeros(0, np.float32), 16000, 1, 16))


def test_too_long_is_refused_from_the_header_before_decoding(monkeypatch):
    from appliance.speech import audio

    def no_decoding(*a):
        raise AssertionError("samples were decoded before the length check")

    hour = _wav(_sine(440, 8000, 61.0), 8000, 1, 8)  # 61 s really present
    monkeypatch.setattr(audio, "_to_float", no_decoding)
    with pytest.raises(AudioError, match="too long"):
        decode_audio(hour, max_seconds=60)


def test_header_claiming_hours_on_a_short_file_is_refused():
    data = bytearray(_wav(_sine(440, 16000, 0.1), 16000, 1, 16))
    assert len(decode_audio(bytes(data), max_seconds=60)) == 1600
    struct.pack_into("<I", data, 40, 0xFFFFFFF0)  # data size: ~37 hours at 16 kHz 16-bit
    with pytest.raises(AudioError, match="lies"):
        decode_audio(bytes(data))


def test_max_seconds_is_configurable():
    data = _wav(_sine(440, 16000, 3.0), 16000, 1, 16)
    assert len(decode_audio(data, max_seconds=5)) == 48000
    with pytest.raises(AudioError, match="too long"):
        decode_audio(data, max_seconds=2)


def test_streaming_unknown_data_size_reads_to_the_end():
    data = bytearray(_wav(_sine(440, 16000, 0.5), 16000, 1, 16))
    struct.pack_into("<I", data, 40, 0xFFFFFFFF)
    assert len(decode_audio(bytes(data))) == 8000


def test_other_container_via_pyav():
    av = pytest.importorskip("av")
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as box:
        st = box.add_stream("flac", rate=44100, layout="mono")
        x = (_sine(1000, 44100, 1.0) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(x[None, :], format="s16", layout="mono")
        frame.sample_rate = 44100
        for packet in st.encode(frame):
            box.mux(packet)
        for packet in st.encode(None):
            box.mux(packet)
    out = decode_audio(buf.getvalue())
    assert abs(len(out) - 16000) < 400
    assert _peak_hz(out, 16000) == pytest.approx(1000, abs=2)
