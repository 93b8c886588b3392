"""Run the bench families, collect one report, render the table.

A family that fails is recorded with its error and the others still run: a
technician gets every figure the machine can give.  The report is plain
JSON: ``{"meta": {...}, "results": {family: {figure: {...}}}, "errors": {...}}``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable

from ..config import Settings

FAMILIES = ("face", "search", "speech", "stt", "gateway", "metrics", "supervisor", "memory", "journey")
SERVICE_FAMILIES = ("gateway", "metrics", "supervisor", "memory")


def _meta(quick: bool, only: Iterable[str] = ()) -> dict:
    import numpy
    import onnxruntime

    try:
        import faiss

        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = None
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "faiss": faiss_version,
        "command": "appliance bench" + (" --quick" if quick else "") + "".join(f" --only {f}" for f in only),
    }


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(
    settings: Settings,
    quick: bool = False,
    only: Iterable[str] = (),
    echo: Callable[[str], None] = lambda line: None,
) -> dict:
    only = tuple(only)
    chosen = [f for f in FAMILIES if not only or f in only]
    if quick and not only:
        chosen = [f for f in chosen if f not in ("speech", "stt", "journey")]  # model loads are not "quick"
    report: dict = {"meta": _meta(quick, only), "results": {}, "errors": {}}

    def attempt(family: str, fn: Callable[[], dict]) -> None:
        echo(f"bench: {family} …")
        t0 = time.perf_counter()
        try:
            report["results"][family] = fn()
        except Exception as exc:  # record and go on: the other families still tell something
            report["errors"][family] = f"{type(exc).__name__}: {exc}"
            echo("".join(traceback.format_exception(exc))[-2000:])
        echo(f"bench: {family} done in {time.perf_counter() - t0:.1f} s")

    from . import face, search

    jpeg = face.frame_jpeg()
    if "face" in chosen:
        attempt("face", lambda: face.run(settings, quick))
    if "search" in chosen:
        attempt("search", lambda: search.run(settings, quick))
    if "speech" in chosen:
        from . import speech

        attempt("speech", lambda: speech.run(settings, quick))
    if "stt" in chosen:  # decode settings: cost and CER of each on one speech set (issue 18 §2)
        from . import stt

        attempt("stt", lambda: stt.run(settings, quick))
    if any(f in chosen for f in SERVICE_FAMILIES):
        _service_families(settings, quick, chosen, jpeg, attempt, report)
    if "journey" in chosen:  # its own service: spoken questions on, its TTS cache prewarmed
        from . import journey

        attempt("journey", lambda: journey.run(settings, quick))
    return report


def _service_families(settings, quick, chosen, jpeg, attempt, report) -> None:
    from . import gateway, memory, metrics, supervisor
    from .service import Service

    workers = ["dialogue", "face", "gateway"] if quick else ["dialogue", "face", "speech", "gateway"]
    # the kill -9 rounds are more deaths in a minute than supervisor.restart_budget allows a real kiosk
    service = Service(
        settings,
        ",".join(workers),
        {"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "10000", "APPLIANCE_SUPERVISOR_RESTART_BUDGET": "1000"},
    )
    try:
        service.wait_ready()
        if "memory" in chosen:  # before the kill -9 rounds: steady-state memory of first starts
            attempt("memory", lambda: memory.run(service))
        if "gateway" in chosen:
            attempt("gateway", lambda: gateway.run(service, quick, jpeg))
        if "metrics" in chosen:  # what a Prometheus scrape costs, and costs the citizen's flow
            attempt("metrics", lambda: metrics.run(service, quick))
        if "supervisor" in chosen:
            attempt(
                "supervisor",
                lambda: supervisor.run(
                    service, workers, settings.models_dir, quick, jpeg, settings.supervisor.spares
                ),
            )
    except Exception as exc:
        for family in SERVICE_FAMILIES:
            if family in chosen and family not in report["results"]:
                report["errors"].setdefault(family, f"service did not start: {exc}")
    finally:
        service.stop()


def _fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"


def render(report: dict) -> str:
    """The table: family, figure, ours, reference (what it is), ratio."""
    rows = [("family", "figure", "ours", "reference", "ratio", "reference is")]
    for family, figures in report["results"].items():
        for name, f in figures.items():
            ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}×"
            rows.append(
                (
                    family,
                    name,
                    _fmt(f["value"], f["unit"]),
                    _fmt(f["reference"], f["unit"]),
                    ratio,
                    "; ".join(part for part in (f["ref"], f.get("note")) if part),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(r)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for family, error in report.get("errors", {}).items():
        lines.append(f"{family}: NOT MEASURED: {error}")
    m = report["meta"]
    lines.append(
        f"\n{m['when']}  {m['cpu']} ×{m['cpus']}  python {m['python']}  onnxruntime {m['onnxruntime']}"
        f"  faiss {m['faiss'] or 'absent'}  ({m['command']})"
    )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m appliance.bench.runner [--quick]
    import json

    from .. import config

    result = run(config.load(), quick="--quick" in sys.argv, echo=lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print(render(result), file=sys.stderr)
