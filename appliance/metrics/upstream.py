"""Upstream calls (the Tencent-style services, the liveness API) counted in the process that makes them.

Plain Python, no prometheus_client: the sync and liveness workers put ``status()`` in their heartbeats
and the gateway turns it into ``kiosk_upstream_requests_total{api,outcome}`` and
``kiosk_upstream_duration_seconds{api}`` (fleet.upstream_families). The API label is one of the seed's
four paths' names or ``liveness_api``, never a URL.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

APIS = {
    "faceLib/person/reg": "reg",
    "faceLib/person/recong": "recong",
    "faceAdv": "face_adv",
    "faceAdvResult": "face_adv_result",
    "liveness": "liveness_api",  # the liveness worker's remote check (liveness_api.url)
}
OUTCOMES = ("ok", "refused", "unreachable")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
_stats: dict[str, dict[str, Any]] = {}


def record(path: str, outcome: str, seconds: float) -> None:
    api = APIS.get(path, "other")
    with _lock:
        entry = _stats.setdefault(
            api, {**{o: 0 for o in OUTCOMES}, "buckets": [0] * len(BUCKETS), "sum": 0.0, "count": 0}
        )
        entry[outcome if outcome in OUTCOMES else "unreachable"] += 1
        index = bisect.bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            entry["buckets"][index] += 1  # per bucket here; cumulative when exported
        entry["sum"] += seconds
        entry["count"] += 1


def status() -> dict[str, Any]:
    """{"upstream": {api: {ok, refused, unreachable, buckets, sum, count}}}, or {} before any call."""
    with _lock:
        calls = {api: {**entry, "buckets": list(entry["buckets"])} for api, entry in _stats.items()}
    return {"upstream": calls} if calls else {}
