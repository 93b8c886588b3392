"""1:N search over random unit templates, against the memory-bandwidth bound and faiss.

Search cost does not depend on the values, so random unit vectors stand in
for enrolled faces.  The gallery is filled through its public ``set_user``
(one user per template, as enrolment does).  References, measured in the same
run on the same matrix:
- bandwidth bound: an OR-reduce over the matrix viewed as uint64, which reads
  every byte once with the cheapest arithmetic numpy has (faster than
  ``sum``, which does pairwise float additions): an exhaustive search that
  reads every template cannot beat it by much;
- faiss-cpu ``IndexFlatIP`` (exact inner-product search, a peer), when installed.
"""

from __future__ import annotations

import time

import numpy as np

from ..config import Settings
from .stats import figure, interleaved_ms

DIM = 128


def _repeats(size: int, quick: bool) -> int:
    if quick:
        return 5
    return 50 if size <= 10_000 else 20 if size <= 100_000 else 7


def run(settings: Settings, quick: bool, sizes: tuple[int, ...] | None = None) -> dict:
    from ..face.gallery import Gallery

    try:
        import faiss
    except ImportError:
        faiss = None
    sizes = sizes or ((1_000, 10_000) if quick else (1_000, 10_000, 100_000, 1_000_000))
    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        data = rng.standard_normal((size, DIM), dtype=np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        gallery = Gallery(capacity=size)
        t0 = time.perf_counter()
        for i in range(size):
            gallery.set_user(f"u{i}", data[i])
        build_s = time.perf_counter() - t0
        query = data[size // 2] + 0.05 * rng.standard_normal(DIM, dtype=np.float32)
        matrix = gallery._matrix[: len(gallery)]  # the very rows search reads
        words = matrix.view(np.uint64).reshape(-1)
        calls = {"ours": lambda: gallery.search(query), "bound": lambda: np.bitwise_or.reduce(words)}
        if faiss is not None:
            faiss.omp_set_num_threads(1)  # one query: OpenMP wake-ups on a busy 2-core box cost more than they give
            index = faiss.IndexFlatIP(DIM)
            index.add(matrix)
            q = (query / np.linalg.norm(query)).reshape(1, DIM).astype(np.float32)
            calls["faiss"] = lambda: index.search(q, 2)
        t = interleaved_ms(calls, _repeats(size, quick), warmup=2)
        label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        n = _repeats(size, quick)
        out[f"search_{label}"] = figure(t["ours"], "ms", t["bound"], f"read {matrix.nbytes / 2**20:.1f} MB once "
                                        "(uint64 OR)", n=n, note=f"gallery filled in {build_s:.1f} s")
        if faiss is not None:
            out[f"search_{label}_vs_faiss"] = figure(t["ours"], "ms", t["faiss"], "faiss IndexFlatIP k=2, 1 thread", n=n)
            index = None
        gallery = data = matrix = words = None  # free the big arrays before the next size
    if faiss is None:
        out["faiss"] = figure(None, "", None, "faiss-cpu not installed", note="pip install faiss-cpu to compare")
    return out
