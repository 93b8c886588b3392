"""The persistent sentence cache: keys, durability, torn files, size bound, concurrent writers."""

import multiprocessing
import os
import threading

import numpy as np
import pytest

from appliance.speech.ttscache import SUFFIX, TTSCache

IDENT = {"engine": "kokoro", "voice": "jf_gongitsune", "speed": 0.9, "models": {"m": ["abc", 1, 2]}}


def tone(seconds=0.5, freq=440.0, rate=24000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def files(root):
    return sorted(p for p in root.iterdir() if p.name.endswith(SUFFIX))


def test_round_trip_is_the_16bit_audio(tmp_path):
    cache = TTSCache(tmp_path)
    audio = tone()
    cache.put(IDENT, "请问您叫什么名字？", audio)
    got = cache.get(IDENT, "请问您叫什么名字？")
    assert got.dtype == np.float32 and got.shape == audio.shape
    assert np.array_equal(np.round(got * 32767), np.round(audio * 32767))  # what encode_wav would send


@pytest.mark.parametrize(
    "change",
    [{"voice": "jf_alpha"}, {"speed": 1.0}, {"engine": "espeak-ng"}, {"models": {"m": ["abd", 1, 2]}}],
)
def test_any_identity_change_misses(tmp_path, change):
    cache = TTSCache(tmp_path)
    cache.put(IDENT, "好的。", tone())
    assert cache.get({**IDENT, **change}, "好的。") is None
    assert cache.get(IDENT, "好的！") is None
    assert cache.get(IDENT, "好的。") is not None


def test_survives_a_restart(tmp_path):
    TTSCache(tmp_path).put(IDENT, "好的。", tone())
    again = TTSCache(tmp_path)
    assert again.get(IDENT, "好的。") is not None and again.hits == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "other_text"])
def test_a_torn_or_foreign_file_is_never_served(tmp_path, damage):
    cache = TTSCache(tmp_path)
    cache.put(IDENT, "好的。", tone())
    cache.put(IDENT, "谢谢。", tone(freq=300))
    (path,) = [p for p in files(tmp_path) if p.name.startswith(cache.key(IDENT, "好的。"))]
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":
        path.write_bytes(blob[:100] + bytes([blob[100] ^ 1]) + blob[101:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a whole, valid file of another sentence under this name
        other = [p for p in files(tmp_path) if p != path][0]
        path.write_bytes(other.read_bytes())
    assert cache.get(IDENT, "好的。") is None
    assert not path.exists() and cache.corrupt == 1  # removed: the next prewarm makes it again
    assert cache.get(IDENT, "谢谢。") is not None


def test_size_is_bounded_least_recently_used_first(tmp_path):
    one = len(tone(0.5)) * 2 + 300  # bytes a file takes, roughly
    cache = TTSCache(tmp_path, max_bytes=int(one * 3.5))
    for i in range(3):
        cache.put(IDENT, f"第{i}句。", tone(0.5, 200 + i))
        os.utime(tmp_path / (cache.key(IDENT, f"第{i}句。") + SUFFIX), ns=(i * 10**9, i * 10**9))
    os.utime(tmp_path / (cache.key(IDENT, "第0句。") + SUFFIX), ns=(10**12, 10**12))  # recently used
    cache.put(IDENT, "第3句。", tone(0.5, 500))
    assert cache.size_bytes() <= cache.max_bytes
    assert cache.get(IDENT, "第0句。") is not None and cache.get(IDENT, "第3句。") is not None
    assert cache.get(IDENT, "第1句。") is None  # the oldest unused one went


def test_no_temporary_files_are_left(tmp_path):
    cache = TTSCache(tmp_path)
    for i in range(5):
        cache.put(IDENT, f"第{i}句。", tone(0.1))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files(tmp_path))


def test_a_write_that_fails_is_not_an_error(tmp_path):
    cache = TTSCache(tmp_path)
    (tmp_path / (cache.key(IDENT, "好的。") + SUFFIX)).mkdir()  # the rename onto it fails (even as root)
    cache.put(IDENT, "好的。", tone())  # logged; the kiosk speaks on without the cache
    assert cache.get(IDENT, "好的。") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def _writer(root, n, seed):
    cache = TTSCache(root)
    for i in range(n):
        cache.put(IDENT, "同一句。", tone(0.2, 300 + (seed * 7 + i) % 50))


def test_concurrent_writers_and_readers_never_see_a_torn_file(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path, 30, s)) for s in range(2)]
    for p in procs:
        p.start()
    cache, seen, bad = TTSCache(tmp_path), 0, []

    def thread_writer():
        _writer(tmp_path, 30, 9)

    t = threading.Thread(target=thread_writer)
    t.start()
    while any(p.is_alive() for p in procs) or t.is_alive():
        got = cache.get(IDENT, "同一句。")
        if got is not None:
            seen += 1
            if got.size != int(0.2 * 24000):
                bad.append(got.size)
    for p in procs:
        p.join()
    t.join()
    assert cache.corrupt == 0 and not bad
    assert cache.get(IDENT, "同一句。") is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
