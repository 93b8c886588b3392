"""A persistent cache of synthesised sentences, so the kiosk's fixed prompts are spoken at once.

One file per sentence under the data dir (endpoints.tts_cache_dir), named by the sha256 of the
engine identity (engine, voice, speed, model files, package versions, this format) and the text:
a change of any of them is simply a different name, so stale audio is never found, and old
files age out through the size bound.

A file is ``MAGIC | u32 meta length | meta JSON | int16 samples | sha256 of all before``: 16-bit as
/tts sends it (encode_wav rounds the same way, so a cached sentence's WAV is bit-identical). It is
written to a temporary name in the same directory, fsynced and renamed over the final name, so
a reader in any process sees either no file or a whole one; a torn or foreign file (power cut
mid-write on a filesystem that reorders, a disk error) fails the digest and is treated as a miss
and removed. The size bound evicts the least recently used files (mtime, touched on each hit).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"KTTS\x01\n"
FORMAT = 1
"""Bump when the file layout or what a sentence's audio means changes: every old entry misses."""
SUFFIX = ".tts"
_DIGEST = 32


class TTSCache:
    """Sentence audio keyed by (identity, text). Thread-safe; safe across processes sharing ``root``."""

    def __init__(self, root: Path, max_bytes: int = 128 << 20):
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size = self._scan_size()
        self.hits = self.misses = self.corrupt = 0

    @staticmethod
    def key(identity: dict, text: str) -> str:
        blob = json.dumps(
            {"format": FORMAT, "identity": identity, "text": text}, sort_keys=True, ensure_ascii=False
        ).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / (key + SUFFIX)

    def _scan_size(self) -> int:
        total = 0
        for p in self.root.glob("*" + SUFFIX):
            try:
                total += p.stat().st_size
            except FileNotFoundError:  # evicted by another process meanwhile
                pass
        return total

    def get(self, identity: dict, text: str) -> Optional[np.ndarray]:
        """The cached float32 audio, or None (absent, torn, or someone else's)."""
        path = self._path(self.key(identity, text))
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            self.misses += 1
            return None
        audio = _decode(blob, identity, text)
        if audio is None:
            self.corrupt += 1
            self.misses += 1
            log.warning("TTS cache: %s is damaged; removed", path.name)
            self._remove(path)
            return None
        try:
            os.utime(path)  # recently used: the last to be evicted
        except OSError:
            pass
        self.hits += 1
        return audio

    def __contains__(self, item: tuple[dict, str]) -> bool:
        return self._path(self.key(*item)).is_file()

    def put(self, identity: dict, text: str, audio: np.ndarray) -> None:
        """Store atomically; a failure to write (disk full) is logged, never raised: the kiosk speaks on."""
        blob = _encode(identity, text, audio)
        if len(blob) > self.max_bytes:
            return
        path = self._path(self.key(identity, text))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=self.root)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with _quiet():
                    os.unlink(tmp)
                raise
            _fsync_dir(self.root)
        except OSError as exc:
            log.warning("TTS cache: could not store a sentence: %s", exc)
            return
        with self._lock:
            self._size += len(blob)
            if self._size > self.max_bytes:
                self._evict()

    def _evict(self) -> None:
        """Drop least recently used files until under 90 % of the bound (sizes re-measured: other
        processes write here too)."""
        entries = []
        for p in self.root.glob("*" + SUFFIX):
            with _quiet():
                st = p.stat()
                entries.append((st.st_mtime_ns, st.st_size, p))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * 0.9)
        for _, size, p in entries:
            if total <= target:
                break
            self._remove(p)
            total -= size
        self._size = total

    @staticmethod
    def _remove(path: Path) -> None:
        with _quiet():
            path.unlink()

    def size_bytes(self) -> int:
        return self._scan_size()

    def stats(self) -> dict:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "corrupt": self.corrupt,
            "files": sum(1 for _ in self.root.glob("*" + SUFFIX)),
            "bytes": self._scan_size(),
        }


class _quiet:
    """Ignore the file vanishing under us (another process evicted or replaced it)."""

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        return typ is not None and issubclass(typ, OSError)


def _fsync_dir(root: Path) -> None:
    """The rename is durable only once the directory is synced."""
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _encode(identity: dict, text: str, audio: np.ndarray) -> bytes:
    x = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    samples = np.round(x * 32767.0).astype("<i2")
    meta = json.dumps(
        {"identity": identity, "text": text, "samples": int(samples.size)}, sort_keys=True, ensure_ascii=False
    ).encode("utf-8")
    body = MAGIC + struct.pack("<I", len(meta)) + meta + samples.tobytes()
    return body + hashlib.sha256(body).digest()


def _decode(blob: bytes, identity: dict, text: str) -> Optional[np.ndarray]:
    """The samples if the blob is whole and is this text in this identity, else None."""
    head = len(MAGIC) + 4
    if len(blob) < head + _DIGEST or not blob.startswith(MAGIC):
        return None
    body, digest = blob[:-_DIGEST], blob[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        return None
    (meta_len,) = struct.unpack("<I", body[len(MAGIC) : head])
    try:
        meta = json.loads(body[head : head + meta_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if meta.get("text") != text or meta.get("identity") != json.loads(json.dumps(identity)):
        return None  # a hash collision or a file copied from elsewhere: not ours to speak
    pcm = body[head + meta_len :]
    if len(pcm) != 2 * meta.get("samples", -1):
        return None
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767.0
