"""Real Chromium for the kiosk page tests: the system's own (Debian `chromium`), driven by Playwright.

The camera is a Y4M file the test writes from the face photos, the
microphone a WAV spoken by the kiosk's own TTS (`/tts`); Chromium plays them
through its fake capture devices. Chromium reads the audio file each time a
page opens the microphone, so a test can put the next utterance in place
before the page records it.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np
from PIL import Image

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
WIDTH, HEIGHT = 640, 480
INSTALL = (
    "Chromium cannot start, so the browser tests cannot run. Install it: `apt-get install chromium` "
    "(./bootstrap does this when run as root), or set KIOSK_CHROMIUM=/path/to/chromium. "
    "The Python side: `.venv/bin/pip install '.[test]'` (playwright). "
    "No `playwright install` is needed."
)


def chromium_path() -> str:
    """The system Chromium; fails (never skips) with the install command when it is missing."""
    for candidate in (
        os.environ.get("KIOSK_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError(INSTALL)


def chromium_args(video: Path | None = None, audio: Path | None = None) -> list[str]:
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
    ]
    if video:
        args.append(f"--use-file-for-fake-video-capture={video}")
    if audio:
        args.append(f"--use-file-for-fake-audio-capture={audio}%noloop")
    return args


def launch(playwright, video: Path | None = None, audio: Path | None = None):
    """A persistent context with its own fresh profile (--user-data-dir); closes with the context."""
    profile = tempfile.mkdtemp(prefix="ka-chromium-")
    try:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=chromium_args(video, audio),
            viewport={"width": 1080, "height": 1920},
            locale="zh-CN",
            timeout=60_000,
        )
    except Exception as exc:  # Playwright's own error says what broke; ours says how to fix it
        raise AssertionError(f"{INSTALL}\n\n{exc}") from exc
    context.on("close", lambda _ctx: shutil.rmtree(profile, ignore_errors=True))
    return context


def face_frame(photo: str, shift: int = 0) -> np.ndarray:
    """The photo letterboxed into 640x480 (RGB), moved `shift` pixels sideways."""
    image = Image.open(FACES / photo).convert("RGB")
    image.thumbnail((WIDTH - 40, HEIGHT))
    canvas = Image.new("RGB", (WIDTH, HEIGHT), (200, 200, 200))
    canvas.paste(image, ((WIDTH - image.width) // 2 + shift, (HEIGHT - image.height) // 2))
    return np.asarray(canvas)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """YUV4MPEG2 4:2:0 (what Chromium's fake camera plays, looped)."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            out.write(b"FRAME\n")
            out.write(_yuv420(rgb))
    return path


def _yuv420(rgb: np.ndarray) -> bytes:
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) * 0.564 + 128
    v = (r - y) * 0.713 + 128

    def sub(plane):  # 2x2 average
        return plane.reshape(HEIGHT // 2, 2, WIDTH // 2, 2).mean(axis=(1, 3))

    planes = [y, sub(u), sub(v)]
    return b"".join(np.clip(p, 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_wav(path: Path, wav_bytes: bytes, lead_s: float = 0.6, tail_s: float = 1.5) -> Path:
    """The TTS answer padded with silence (the page waits for quiet, then for speech, then a pause)."""
    with wave.open(io.BytesIO(wav_bytes)) as src:
        rate, width, channels = src.getframerate(), src.getsampwidth(), src.getnchannels()
        frames = src.readframes(src.getnframes())
    pad = lambda seconds: b"\0" * (int(rate * seconds) * width * channels)  # noqa: E731
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(pad(lead_s) + frames + pad(tail_s))
    tmp.replace(path)  # atomic: Chromium never reads half a file
    return path
