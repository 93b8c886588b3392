"""Benchmarks: gallery search at 1k/10k/100k templates, and per-stage engine times.

    python -m appliance.face.bench [--models MODELS_DIR] [--image PHOTO]

Gallery rows are random unit vectors (search cost does not depend on the
values).  Times are medians over repeated runs, in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from .embedder import EMBEDDING_DIM, l2_normalise
from .gallery import Gallery


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def bench_gallery(sizes=(1_000, 10_000, 100_000), repeats: int = 30, seed: int = 0) -> dict:
    """{size: {search_ms, add_ms, replace_ms, remove_ms, build_s}} for each gallery size."""
    rng = np.random.default_rng(seed)
    out = {}
    for size in sizes:
        data = l2_normalise(rng.standard_normal((size, EMBEDDING_DIM)).astype(np.float32))
        gallery = Gallery()
        start = time.perf_counter()
        for i in range(size):
            gallery.set_user(f"u{i}", data[i])
        build_s = time.perf_counter() - start
        query = l2_normalise(rng.standard_normal(EMBEDDING_DIM).astype(np.float32))
        counter = iter(range(10**9))
        out[size] = {
            "search_ms": _median_ms(lambda: gallery.search(query), repeats),
            "add_ms": _median_ms(lambda: gallery.set_user(f"new{next(counter)}", query), repeats),
            "replace_ms": _median_ms(lambda: gallery.set_user("u1", query), repeats),
            "remove_ms": _median_ms(lambda: gallery.remove(f"u{next(counter) % size}"), repeats),
            "build_s": round(build_s, 3),
            "matrix_mb": round(len(gallery) * EMBEDDING_DIM * 4 / 2**20, 1),
        }
    return out


def bench_engine(models_dir: Path, image_path: Path, repeats: int = 10) -> dict:
    """Median per-stage times of FaceEngine.analyse on one photo."""
    from .engine import FaceEngine

    engine = FaceEngine(models_dir)
    data = Path(image_path).read_bytes()
    engine.analyse(data)  # warm-up: first run allocates
    runs = [engine.analyse(data).timings_ms for _ in range(repeats)]
    return {stage: round(statistics.median(r.get(stage, 0.0) for r in runs), 2) for stage in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="face engine benchmarks")
    parser.add_argument("--models", type=Path)
    parser.add_argument("--image", type=Path)
    args = parser.parse_args(argv)
    report = {"gallery": bench_gallery()}
    if args.models and args.image:
        report["engine"] = bench_engine(args.models, args.image)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
