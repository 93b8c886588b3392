"""1:N search over random unit templates, against the memory-bandwidth bound and faiss.

Search cost does not depend on the values, so random unit vectors stand in
for enrolled faces.  The gallery (int8 codes + a scale per row, the face
worker's form) is filled through its public ``set_user`` (one user per
template, as enrolment does).  References, measured in the same run on the
same rows, interleaved with our search:
- the float32 bound: an OR-reduce over the float32 templates viewed as
  uint64, which reads every byte of a float32 matrix once with the cheapest
  arithmetic numpy has: an exhaustive float32 search cannot beat it by much
  (issue 18's goal: ≤ 2× it, or below it with smaller templates);
- the int8 bound: the same OR-reduce over the gallery's own int8 codes (the
  floor for the compact form: how much the conversion to float32 costs);
- the float32 gallery (``Gallery(dtype="float32")``, the form before issue 18)
  up to 100k, where its 512 MB at 1M would double the bench's memory;
- faiss-cpu ``IndexFlatIP`` (exact inner-product search, a peer), when installed.
``search_<n>_memory`` is the gallery's template storage (``Gallery.nbytes``)
against the same rows in float32.
"""

from __future__ import annotations

import time

import numpy as np

from ..config import Settings
from .stats import figure, interleaved_ms

DIM = 128
FLOAT32_GALLERY_UP_TO = 100_000


def _repeats(size: int, quick: bool) -> int:
    if quick:
        return 5
    return 50 if size <= 10_000 else 20 if size <= 100_000 else 7


def _label(size: int) -> str:
    return f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"


def _filled(data: np.ndarray, dtype: str):
    from ..face.gallery import Gallery

    gallery = Gallery(capacity=len(data), dtype=dtype)
    t0 = time.perf_counter()
    for i in range(len(data)):
        gallery.set_user(f"u{i}", data[i])
    return gallery, time.perf_counter() - t0


def run(settings: Settings, quick: bool, sizes: tuple[int, ...] | None = None) -> dict:
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
        gallery, build_s = _filled(data, "int8")
        query = data[size // 2] + 0.05 * rng.standard_normal(DIM, dtype=np.float32)
        words32 = data.view(np.uint64).reshape(-1)  # the same rows as float32
        words8 = gallery._matrix[: len(gallery)].view(np.uint64).reshape(-1)  # the very codes search reads
        calls = {
            "ours": lambda: gallery.search(query),
            "bound32": lambda: np.bitwise_or.reduce(words32),
            "bound8": lambda: np.bitwise_or.reduce(words8),
        }
        exact = None
        if size <= FLOAT32_GALLERY_UP_TO:
            exact32, _ = _filled(data, "float32")
            exact = exact32
            calls["float32"] = lambda: exact32.search(query)
        if faiss is not None:
            faiss.omp_set_num_threads(
                1
            )  # one query: OpenMP wake-ups on a busy 2-core box cost more than they give
            index = faiss.IndexFlatIP(DIM)
            index.add(data)
            q = (query / np.linalg.norm(query)).reshape(1, DIM).astype(np.float32)
            calls["faiss"] = lambda: index.search(q, 2)
        n = _repeats(size, quick)
        t = interleaved_ms(calls, n, warmup=2)
        label = _label(size)
        out[f"search_{label}"] = figure(
            t["ours"],
            "ms",
            t["bound32"],
            f"read {data.nbytes / 2**20:.1f} MB of float32 once (uint64 OR)",
            n=n,
            note=f"int8 gallery filled in {build_s:.1f} s",
        )
        out[f"search_{label}_vs_int8_read"] = figure(
            t["ours"], "ms", t["bound8"], f"read the {words8.nbytes / 2**20:.1f} MB of int8 codes once", n=n
        )
        if exact is not None:
            out[f"search_{label}_vs_float32_gallery"] = figure(
                t["ours"], "ms", t["float32"], "Gallery(dtype='float32'), as before", n=n
            )
        out[f"search_{label}_memory"] = figure(
            gallery.nbytes / 2**20, "MB", (data.nbytes + 8 * size) / 2**20, "float32 templates + owners"
        )
        if faiss is not None:
            out[f"search_{label}_vs_faiss"] = figure(
                t["ours"], "ms", t["faiss"], "faiss IndexFlatIP k=2, 1 thread", n=n
            )
            index = None
        # free the big arrays before the next size
        gallery = exact = exact32 = None
        data = np.empty((0, DIM), np.float32)
        words32 = words8 = np.empty(0, np.uint64)
    if faiss is None:
        out["faiss"] = figure(
            None, "", None, "faiss-cpu not installed", note="pip install faiss-cpu to compare"
        )
    return out
