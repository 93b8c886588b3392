"""Timing helpers shared by the bench families."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def samples_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall times of ``repeats`` calls after ``warmup`` untimed ones (first calls allocate)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    return statistics.median(samples_ms(fn, repeats, warmup))


def figure(
    value: float | None,
    unit: str,
    reference: float | None = None,
    ref: str = "",
    higher_is_better: bool = False,
    n: int | None = None,
    note: str = "",
) -> dict:
    """One row of the report: our value, the reference beside it and value/reference.

    For a rate (higher is better) the ratio is still value/reference, so a ratio
    under 1 means "we reach that fraction of the reference".
    """
    ratio = None
    if value is not None and reference:
        ratio = round(value / reference, 2)
    return {
        "value": None if value is None else round(value, 3),
        "unit": unit,
        "reference": None if reference is None else round(reference, 3),
        "ref": ref,
        "ratio": ratio,
        "higher_is_better": higher_is_better,
        "n": n,
        "note": note,
    }


def interleaved_ms(calls: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median ms of each call, run in turn within every repeat: on a shared machine
    a burst of load then hits ours and the reference alike, so the ratio holds."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(v) for name, v in times.items()}
