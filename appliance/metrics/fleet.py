"""The series built at scrape time from what the other processes report over the bus.

The supervisor's snapshot (every worker's state, restarts by reason, heartbeat, resident memory, in-flight
requests and its own status figures) and the sync worker's outbox summary arrive as dicts; this module
turns them, the data dir's disk and the build into metric families. Pure functions of their inputs:
no I/O but two stat calls.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from .. import __version__
from ..config import Settings
from ..runtime import endpoints
from ..sync.outbox import OPEN_STATES
from . import upstream
from .labels import RESTART_REASONS, safe

FACE_CHECKSUMS = "face_checksums.json"
"""Written by `appliance models fetch` beside the face models (appliance.face.modelfiles)."""
CAMERA_UP = ("capturing",)
NOT_FIGURES = ("pid", "ports", "device_id", "frame_id")
"""Status keys that are numbers but not measurements."""


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def supervisor_families(snapshot: dict[str, Any] | None, settings: Settings) -> list[Metric]:
    """Per worker: up, ready, restarts by reason, heartbeat age, memory, in flight; the restart budget."""
    answered = _gauge("kiosk_supervisor_up", "1 when the supervisor answered this scrape")
    answered.add_metric([], 1.0 if snapshot else 0.0)
    if not snapshot:
        return [answered]
    ready = _gauge("kiosk_ready", "1 once every worker was ready (systemd READY=1 sent)")
    ready.add_metric([], float(bool(snapshot.get("ready"))))
    healthy = _gauge("kiosk_healthy", "1 while every worker is ready and its heartbeat fresh (/health)")
    healthy.add_metric([], float(bool(snapshot.get("healthy"))))
    window = _gauge("kiosk_supervisor_restarts_in_window", "Restarts within supervisor.restart_window")
    window.add_metric([], float(snapshot.get("restarts_in_window", 0)))
    budget = _gauge(
        "kiosk_supervisor_restart_budget",
        "supervisor.restart_budget: one more restart within the window and the service exits",
    )
    budget.add_metric([], float(settings.supervisor.restart_budget))
    up = _gauge("kiosk_worker_up", "1 while the worker's process runs (starting or ready)", ["worker"])
    is_ready = _gauge("kiosk_worker_ready", "1 while the worker is ready", ["worker"])
    restarts = CounterMetricFamily(
        "kiosk_worker_restarts", "Restarts by the supervisor, by reason", labels=["worker", "reason"]
    )
    age = _gauge(
        "kiosk_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat", ["worker"]
    )
    rss = _gauge("kiosk_worker_resident_memory_bytes", "Resident memory at the last heartbeat", ["worker"])
    inflight = _gauge("kiosk_worker_inflight", "Requests in flight at the last heartbeat", ["worker"])
    uptime = _gauge("kiosk_worker_uptime_seconds", "Seconds since the worker was (re)started", ["worker"])
    figures = _gauge(
        "kiosk_worker_status", "The worker's own numeric status figures (key: a code word)", ["worker", "key"]
    )
    for worker in snapshot.get("workers", []):
        name = safe(worker.get("name"))
        up.add_metric([name], float(worker.get("state") in ("starting", "ready")))
        is_ready.add_metric([name], float(worker.get("state") == "ready"))
        reasons = worker.get("restart_reasons") or {}
        for reason in (*RESTART_REASONS, "other"):
            restarts.add_metric([name, reason], float(reasons.get(reason, 0)))
        if worker.get("heartbeat_age") is not None:
            age.add_metric([name], float(worker["heartbeat_age"]))
        rss.add_metric([name], float(worker.get("rss") or 0))
        inflight.add_metric([name], float(worker.get("inflight") or 0))
        uptime.add_metric([name], float(worker.get("uptime") or 0))
        for key, value in _numbers(worker.get("status") or {}):
            figures.add_metric([name, key], value)
    families = [
        answered,
        ready,
        healthy,
        window,
        budget,
        up,
        is_ready,
        restarts,
        age,
        rss,
        inflight,
        uptime,
        figures,
    ]
    return families + worker_specific({w.get("name"): w.get("status") or {} for w in snapshot["workers"]})


def _numbers(status: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, float]]:
    """Numeric and boolean figures of a status dict, one level of nesting flattened (camera_fps)."""
    for key, value in status.items():
        label = safe(f"{prefix}{key}")
        if label == "other" or key in NOT_FIGURES:
            continue
        if isinstance(value, bool) or isinstance(value, (int, float)):
            yield label, float(value)
        elif isinstance(value, dict) and not prefix:
            yield from _numbers(value, f"{key}_")


def worker_specific(status: dict[str, dict]) -> list[Metric]:
    """The few figures the dashboard and the rules name: gallery size, camera, SE box feed."""
    out: list[Metric] = []
    face = status.get("face") or {}
    if "users" in face:
        gallery = _gauge("kiosk_face_gallery_size", "Enrolled people and face templates", ["kind"])
        gallery.add_metric(["users"], float(face.get("users", 0)))
        gallery.add_metric(["templates"], float(face.get("templates", 0)))
        out.append(gallery)
    camera = status.get("camera")
    if camera is not None and "state" in camera:
        up = _gauge("kiosk_camera_up", "1 while the camera delivers frames")
        up.add_metric([], float(camera.get("state") in CAMERA_UP))
        fps = _gauge("kiosk_camera_fps", "Frames per second delivered")
        fps.add_metric([], float(camera.get("fps") or 0))
        frames = CounterMetricFamily("kiosk_camera_frames", "Frames captured since the camera worker started")
        frames.add_metric([], float(camera.get("frames") or 0))
        out += [up, fps, frames]
    seen = (status.get("face") or {}).get("camera") or {}
    if "lost" in seen:
        dropped = CounterMetricFamily(
            "kiosk_camera_frames_dropped",
            "Camera frames that never reached the recogniser: it keeps only the newest, and the frame bus's "
            "small high-water mark drops what it does not read in time",
        )
        dropped.add_metric([], float(seen["lost"]))
        out.append(dropped)
    cache = (status.get("speech") or {}).get("tts_cache")
    if cache:
        lookups = CounterMetricFamily(
            "kiosk_speech_tts_cache",
            "TTS sentence cache lookups since the speech worker started, by result",
            labels=["result"],
        )
        lookups.add_metric(["hit"], float(cache.get("hits", 0)))
        lookups.add_metric(["miss"], float(cache.get("misses", 0)))
        out.append(lookups)
    calls = {**((status.get("sync") or {}).get("upstream") or {})}
    calls.update((status.get("liveness") or {}).get("upstream") or {})
    out += upstream_families(calls)
    sebox = (status.get("sync") or {}).get("sebox")
    if sebox:
        connected = _gauge("kiosk_sebox_connected", "1 while the SE box's event feed is connected")
        connected.add_metric([], float(bool(sebox.get("connected"))))
        records = CounterMetricFamily("kiosk_sebox_records", "Recognition records received from the SE box")
        records.add_metric([], float(sebox.get("records") or 0))
        out += [connected, records]
    return out


def upstream_families(calls: dict[str, dict]) -> list[Metric]:
    """The sync worker's upstream calls by API: outcomes and a latency histogram (metrics.upstream)."""
    if not calls:
        return []
    requests = CounterMetricFamily(
        "kiosk_upstream_requests",
        "Calls to the Tencent-style services, by API and outcome (ok, refused, unreachable)",
        labels=["api", "outcome"],
    )
    latency = HistogramMetricFamily(
        "kiosk_upstream_duration_seconds", "Time of a call to the Tencent-style services", labels=["api"]
    )
    for api, entry in calls.items():
        api = safe(api, tuple(upstream.APIS.values()) + ("other",))
        for outcome in upstream.OUTCOMES:
            requests.add_metric([api, outcome], float(entry.get(outcome, 0)))
        running, buckets = 0, []
        for bound, count in zip(upstream.BUCKETS, entry.get("buckets") or [], strict=False):
            running += count
            buckets.append((repr(float(bound)), float(running)))
        buckets.append(("+Inf", float(entry.get("count", 0))))
        latency.add_metric([api], buckets, float(entry.get("sum", 0.0)))
    return [requests, latency]


def outbox_families(summary: dict[str, Any] | None, now: dt.datetime | None = None) -> list[Metric]:
    """Outbox items by state and the age of the oldest one still to deliver (0: none)."""
    if not summary:
        return []
    items = _gauge("kiosk_sync_outbox_items", "Outbox items by state", ["state"])
    for state, count in (summary.get("counts") or {}).items():
        items.add_metric([safe(state)], float(count))
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the store's naive UTC
    oldest = 0.0
    for item in summary.get("items") or []:
        if item.get("state") in OPEN_STATES:
            try:
                created = dt.datetime.fromisoformat(str(item.get("created_at")))
            except ValueError:
                continue
            oldest = max(oldest, (now - created.replace(tzinfo=None)).total_seconds())
    age = _gauge("kiosk_sync_outbox_oldest_pending_seconds", "Age of the oldest item not yet delivered")
    age.add_metric([], oldest)
    return [items, age]


def _model_name(rel: str) -> str:
    """A code word for a model file: whisper-base/model.bin -> whisper_base_model_bin."""
    if rel == "face_landmark.tflite":
        return "face_mesh"
    return re.sub(r"[^a-z]+", "_", rel.lower()).strip("_")[-32:].lstrip("_")


def model_families(settings: Settings) -> list[Metric]:
    """The model files in use with their sha256: the face models from the file `appliance models fetch`
    wrote, the speech and face-mesh files from the digests they were checked against at fetch."""
    from ..liveness.modelfiles import MESH_FILE, MESH_SHA256
    from ..speech.modelfiles import SHA256 as SPEECH_SHA256

    try:
        sums = json.loads((settings.models_dir / FACE_CHECKSUMS).read_text())
    except (OSError, ValueError):
        sums = {}
    pinned = {rel: {"file": rel, "sha256": digest} for rel, digest in SPEECH_SHA256.items()}
    pinned[MESH_FILE] = {"file": MESH_FILE, "sha256": MESH_SHA256}
    for rel, entry in pinned.items():
        if (settings.models_dir / rel).is_file():  # only what this kiosk has
            sums[_model_name(rel)] = entry
    if not sums:
        return []
    models = InfoMetricFamily(
        "kiosk_model",
        "Model files in use and their sha256 (a fleet spots a kiosk with other models)",
        labels=["model"],
    )
    for name, entry in sums.items():
        if isinstance(entry, dict):
            models.add_metric(
                [safe(name)],
                {"file": str(entry.get("file", ""))[:100], "sha256": str(entry.get("sha256", ""))[:64]},
            )
    return [models]


def host_families(settings: Settings, inflight: dict[str, int]) -> list[Metric]:
    """Disk of the data dir, database size, the gateway's own calls in flight, build, the clock."""
    out: list[Metric] = []
    try:
        usage = shutil.disk_usage(settings.data_dir)
        free = _gauge("kiosk_disk_free_bytes", "Free bytes on the data dir's file system")
        free.add_metric([], float(usage.free))
        size = _gauge("kiosk_disk_size_bytes", "Size of the data dir's file system")
        size.add_metric([], float(usage.total))
        out += [free, size]
    except OSError:
        pass
    database = _gauge("kiosk_database_bytes", "Size of the SQLite database (with its WAL)")
    path = endpoints.database_path(settings.data_dir)
    database.add_metric(
        [], float(sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p)))
    )
    calls = _gauge("kiosk_gateway_calls_inflight", "The gateway's bus calls waiting for a worker", ["worker"])
    for worker, count in inflight.items():
        calls.add_metric([safe(worker)], float(count))
    build = InfoMetricFamily("kiosk_build", "Version of the appliance")
    build.add_metric([], {"version": __version__, "python": platform.python_version()})
    out += model_families(settings)
    clock = _gauge("kiosk_clock_seconds", "The kiosk's wall clock (alert on its distance to the scrape time)")
    clock.add_metric([], time.time())
    return out + [database, calls, build, clock]
