"""1:N search over random unit templates, against the memory-bandwidth bound and faiss.

Search cost does not depend on the values, so random unit vectors stand in
for enrolled faces.  The gallery is filled through its public ``set_user``
(one user per template, as enrolment does).  References, measured in the same
run on the same matrix:
- bandwidth bound: ``matrix.sum()``, which reads every byte once and does
  almost no arithmetic: no exhaustive search can beat it;
- faiss-cpu ``IndexFlatIP`` (exact inner-product search, a peer), when installed.
"""

from __future__ import annotations

import time

import numpy as np

from ..config import Settings
from .stats import figure, median_ms

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
        repeats = _repeats(size, quick)
        ours = median_ms(lambda: gallery.search(query), repeats)
        matrix = gallery._matrix[: len(gallery)]  # the very rows search reads
        bound = median_ms(lambda: matrix.sum(), repeats)
        label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        mb = matrix.nbytes / 2**20
        out[f"search_{label}"] = figure(ours, "ms", bound, f"read {mb:.0f} MB once (sum)", n=repeats,
                                        note=f"gallery filled in {build_s:.1f} s")
        if faiss is not None:
            faiss.omp_set_num_threads(1)  # one query: OpenMP wake-ups on a busy 2-core box cost more than they give
            index = faiss.IndexFlatIP(DIM)
            index.add(matrix)
            q = query.reshape(1, DIM).astype(np.float32)
            q /= np.linalg.norm(q)
            peer = median_ms(lambda: index.search(q, 2), repeats)
            out[f"search_{label}_vs_faiss"] = figure(ours, "ms", peer, "faiss IndexFlatIP k=2, 1 thread", n=repeats)
            del index
        del gallery, data, matrix
    if faiss is None:
        out["faiss"] = figure(None, "", None, "faiss-cpu not installed", note="pip install faiss-cpu to compare")
    return out
