"""In-memory 1:N face gallery: one compact matrix, one pass over it per search.

Rows are unit-length templates, kept as **int8 codes with one float32 scale
per row** (``row ≈ codes × scale``, scale = max |component| / 127): 132 bytes
a template instead of 512, so 1M templates are 126 MB, not 488 MB (a Pi 4/5
with 2–8 GB holds that beside the speech models).  The accuracy cost is
measured on the calibration set (docs/face-calibration.md): the cosine moves
by < 0.004, rank-1 and the open-set decisions are unchanged.  The database
keeps the float32 templates (:mod:`appliance.store.faces`, unchanged format),
so the in-memory form can change without a migration.

``owners[i]`` is the integer identity of row i and ``user_ids[owner]`` its
user id.  A user may have several rows.  Adding appends (the matrix grows by
doubling, like a list), removing moves the last rows into the hole, so no
operation rebuilds everything.  Search returns the best and the second-best
*identity*: a user with three close templates must not crowd out the real
runner-up.

Search converts ``CHUNK`` rows at a time to float32 into a reused buffer that
stays in the CPU cache and multiplies it with the query (BLAS sgemv; OpenBLAS
runs on one thread, ``appliance/__init__.py``: its threads fight onnxruntime's
on 2 cores): reading 132 bytes a row instead of 512 keeps the pass within the
float32 matrix's memory-bandwidth bound (appliance/bench/search.py).  The
runner-up identity costs about one more pass over the scores, not over the
owners.

Scores are cosine similarities in [-1, 1].  :func:`to_percent` maps them to
0–100 for technicians, anchored so the match threshold reads 70 (Tencent's
convention: 70 ≈ 1/1000 false accepts, see docs/face-calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedder import EMBEDDING_DIM, l2_normalise

INT8 = "int8"
FLOAT32 = "float32"
DTYPES = (INT8, FLOAT32)
CHUNK = 4096
"""Rows converted per step of an int8 search: 4096 × 128 float32 = 2 MB, cache-sized."""
RUNNER_UP_PROBES = 8
"""Rows of the best identity dropped one by one before the runner-up search masks all of them."""


def quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows -> (int8 codes, float32 scale per row) with rows ≈ codes × scale."""
    rows = np.asarray(rows, np.float32)
    scales = np.maximum(np.abs(rows).max(axis=1), 1e-12) / 127.0
    codes = np.clip(np.rint(rows / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


@dataclass(frozen=True)
class SearchResult:
    """Best and runner-up identities (user id or None, cosine score or None)."""

    best_id: str | None
    best_score: float | None
    second_id: str | None
    second_score: float | None


class Gallery:
    """Templates of enrolled users. Not thread-safe: one owner (the face worker).

    ``dtype``: ``"int8"`` (default, compact) or ``"float32"`` (exact; the
    calibration compares the two)."""

    def __init__(self, dim: int = EMBEDDING_DIM, capacity: int = 1024, dtype: str = INT8):
        if dtype not in DTYPES:
            raise ValueError(f"gallery dtype must be one of {DTYPES}, got {dtype!r}")
        self.dim, self.dtype = dim, dtype
        capacity = max(1, capacity)
        self._matrix = np.zeros((capacity, dim), np.int8 if dtype == INT8 else np.float32)
        self._scales = np.ones(capacity, np.float32)  # per row (int8); all 1 for float32
        self._owners = np.zeros(capacity, np.int64)
        self._size = 0
        self._user_ids: list[str | None] = []  # owner index -> user id (None when freed)
        self._owner_of: dict[str, int] = {}  # user id -> owner index
        self._free_owners: list[int] = []
        self._buffer = np.empty((CHUNK, dim), np.float32) if dtype == INT8 else None

    def __len__(self) -> int:
        """Number of templates (rows)."""
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes of the template storage in use (codes, scales, owners)."""
        n = self._size
        return n * (self.dim * self._matrix.itemsize + (4 if self.dtype == INT8 else 0) + 8)

    @property
    def user_count(self) -> int:
        return len(self._owner_of)

    def __contains__(self, user_id: str) -> bool:
        return user_id in self._owner_of

    def users(self) -> list[str]:
        return list(self._owner_of)

    def _rows(self, owner: int) -> np.ndarray:
        """Row numbers of one identity (a scan of the owners array: rare, on change only)."""
        return np.flatnonzero(self._owners[: self._size] == owner)

    def templates(self, user_id: str) -> np.ndarray:
        """A user's template rows as float32 (dequantised), shape (k, dim), in storage order
        (a removal may have moved them); empty if unknown."""
        owner = self._owner_of.get(user_id)
        if owner is None:
            return np.zeros((0, self.dim), np.float32)
        rows = self._rows(owner)
        return self._matrix[rows].astype(np.float32) * self._scales[rows, None]

    def _grow(self, needed: int) -> None:
        cap = self._matrix.shape[0]
        if needed <= cap:
            return
        new_cap = max(needed, cap * 2)
        matrix = np.zeros((new_cap, self.dim), self._matrix.dtype)
        matrix[: self._size] = self._matrix[: self._size]
        scales = np.ones(new_cap, np.float32)
        scales[: self._size] = self._scales[: self._size]
        owners = np.zeros(new_cap, np.int64)
        owners[: self._size] = self._owners[: self._size]
        self._matrix, self._scales, self._owners = matrix, scales, owners

    def set_user(self, user_id: str, embeddings: np.ndarray) -> None:
        """Add a user or replace all of their templates. ``embeddings``: (dim,) or (k, dim)."""
        emb = l2_normalise(np.asarray(embeddings, np.float32).reshape(-1, self.dim))
        if emb.shape[0] == 0 or not np.isfinite(emb).all():
            raise ValueError("need at least one finite embedding")
        self.remove(user_id)
        if self._free_owners:
            owner = self._free_owners.pop()
            self._user_ids[owner] = user_id
        else:
            owner = len(self._user_ids)
            self._user_ids.append(user_id)
        self._owner_of[user_id] = owner
        self._grow(self._size + len(emb))
        start, stop = self._size, self._size + len(emb)
        if self.dtype == INT8:
            self._matrix[start:stop], self._scales[start:stop] = quantise(emb)
        else:
            self._matrix[start:stop] = emb
        self._owners[start:stop] = owner
        self._size = stop

    def remove(self, user_id: str) -> bool:
        """Delete a user's templates; returns False if the user was not enrolled."""
        owner = self._owner_of.pop(user_id, None)
        if owner is None:
            return False
        # Fill each hole (highest first) with the current last row.
        for row in self._rows(owner)[::-1]:
            last = self._size - 1
            if row != last:
                self._matrix[row] = self._matrix[last]
                self._scales[row] = self._scales[last]
                self._owners[row] = self._owners[last]
            self._size -= 1
        self._user_ids[owner] = None
        self._free_owners.append(owner)
        return True

    def owner_of_row(self, row: int) -> str | None:
        """The user whose template is in this row of the matrix."""
        return self._user_ids[int(self._owners[row])] if 0 <= row < self._size else None

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine score of the query against every row (a new array)."""
        q = l2_normalise(np.asarray(query, np.float32).reshape(self.dim))
        n = self._size
        if self.dtype == FLOAT32:
            return self._matrix[:n] @ q
        out = np.empty(n, np.float32)
        buf = self._buffer
        assert buf is not None  # allocated whenever dtype is INT8
        matrix, scales = self._matrix, self._scales
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            block = buf[: stop - start]
            block[...] = matrix[start:stop]  # int8 -> float32, in cache
            part = out[start:stop]
            np.dot(block, q, out=part)
            np.multiply(part, scales[start:stop], out=part)  # while the block's scores are in cache
        return out

    def search(self, query: np.ndarray) -> SearchResult:
        """Best and second-best identity for one embedding."""
        if self._size == 0:
            return SearchResult(None, None, None, None)
        scores = self.scores(query)
        best_row = int(np.argmax(scores))
        best_owner = int(self._owners[best_row])
        best = SearchResult(self._user_ids[best_owner], float(scores[best_row]), None, None)
        if self.user_count < 2:
            return best
        second_row = self._runner_up(scores, best_row, best_owner)
        return SearchResult(
            best.best_id,
            best.best_score,
            self._user_ids[int(self._owners[second_row])],
            float(scores[second_row]),
        )

    def _runner_up(self, scores: np.ndarray, best_row: int, best_owner: int) -> int:
        """The first row holding the highest score of any other identity (``scores`` is ours to
        change). A user has a few rows: drop the best identity's rows as argmax finds them, a pass
        over the scores each, instead of a mask over every row's owner (~6× the time at 100k);
        past RUNNER_UP_PROBES of them, the mask."""
        owners = self._owners
        row = best_row
        for _ in range(RUNNER_UP_PROBES):
            scores[row] = -np.inf
            row = int(np.argmax(scores))
            if owners[row] != best_owner:
                return row
        scores[owners[: self._size] == best_owner] = -np.inf
        return int(np.argmax(scores))


def decide(best: float | None, second: float | None, threshold: float, margin: float) -> bool:
    """Open-set rule: accept only at/above threshold AND ``margin`` ahead of the runner-up."""
    if best is None or best < threshold:
        return False
    return second is None or best - second >= margin


def to_percent(score: float | None, threshold: float) -> float | None:
    """Cosine -> 0–100: piecewise linear, 0 at cosine ≤ 0, 70 at threshold, 100 at 1."""
    if score is None:
        return None
    s = float(np.clip(score, 0.0, 1.0))
    if s <= threshold:
        value = 70.0 * s / threshold
    else:
        value = 70.0 + 30.0 * (s - threshold) / (1.0 - threshold)
    return round(value, 1)


def from_percent(percent: float, threshold: float) -> float:
    """Inverse of :func:`to_percent` (e.g. a technician types 80 → cosine)."""
    p = float(np.clip(percent, 0.0, 100.0))
    if p <= 70.0:
        return p / 70.0 * threshold
    return threshold + (p - 70.0) / 30.0 * (1.0 - threshold)


@dataclass(frozen=True)
class Match:
    """A 1:N verdict for the worker: ``user_id`` is set only when accepted."""

    accepted: bool
    user_id: str | None
    score: float | None  # best identity's cosine
    second_score: float | None  # runner-up identity's cosine
    percent: float | None  # score on the technicians' 0–100 scale
    candidate_id: str | None  # best identity even when not accepted (for logs)


def identify(gallery: Gallery, embedding: np.ndarray, threshold: float, margin: float) -> Match:
    """Search the gallery and apply :func:`decide`."""
    res = gallery.search(embedding)
    ok = decide(res.best_score, res.second_score, threshold, margin)
    return Match(
        ok,
        res.best_id if ok else None,
        res.best_score,
        res.second_score,
        to_percent(res.best_score, threshold),
        res.best_id,
    )


def template_to_bytes(template: np.ndarray) -> bytes:
    """(k, 128) float32 -> bytes for a database BLOB (little-endian float32)."""
    arr = np.asarray(template, dtype="<f4")
    return arr.reshape(-1, EMBEDDING_DIM).tobytes()


def template_from_bytes(blob: bytes) -> np.ndarray:
    """Inverse of :func:`template_to_bytes`; raises ValueError on a wrong length."""
    if len(blob) == 0 or len(blob) % (4 * EMBEDDING_DIM):
        raise ValueError(f"template blob of {len(blob)} bytes is not k×{EMBEDDING_DIM} float32")
    return np.frombuffer(blob, dtype="<f4").reshape(-1, EMBEDDING_DIM).astype(np.float32)
