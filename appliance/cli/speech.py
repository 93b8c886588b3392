"""`appliance speech-eval`: the hard-audio set through the kiosk's STT, trust check and dialogue.

Runs in this process on the installed models (the service need not run). Prints the table README's
Speech section shows; exit 1 when anything was falsely accepted (a service or a field value from
audio that did not say it), so a technician's bench or CI can gate on it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .base import EXIT_FAIL, load_settings


@click.command("speech-eval")
@click.option("--quick", is_flag=True, help="A few items of each kind instead of the whole set (100 items).")
@click.option("--verbose", is_flag=True, help="One line per item: what was said, heard, why (not) trusted.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write every item's outcome here."
)
@click.pass_context
def speech_eval(ctx: click.Context, quick: bool, verbose: bool, json_path: str | None) -> None:
    """False-accept and ask-again rates of speech on hard audio made here (noise, tones, clicks,
    espeak-ng, clipped, quiet, the kiosk's TTS under noise)."""
    from ..speech import evaluate

    settings = load_settings(ctx)
    stt, tts, espeak, catalogue = evaluate.load_engines(settings.models_dir, settings.path("services"))

    def progress(j: evaluate.Judged) -> None:
        if verbose:
            why = ",".join(j.reasons) or "trusted"
            click.echo(
                f"{j.outcome:12} {j.item.condition:24} said {j.item.said or '-'!s:14} "
                f"heard {j.heard or '-'} [{why}] -> {j.result or '-'}",
                err=True,
            )

    t0 = time.perf_counter()
    judged = evaluate.run(stt, tts, catalogue, quick=quick, espeak=espeak, progress=progress)
    summary = evaluate.summary(judged)
    click.echo(evaluate.table(summary))
    click.echo(f"({len(judged)} items in {time.perf_counter() - t0:.0f} s)", err=True)
    if json_path:
        detail = {**summary, "items_detail": [j.row() for j in judged]}
        Path(json_path).write_text(json.dumps(detail, ensure_ascii=False, indent=1), encoding="utf-8")
    if summary["false_accepts"]:
        ctx.exit(EXIT_FAIL)
