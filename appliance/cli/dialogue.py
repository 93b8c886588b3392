"""`appliance classify-eval`: how well the kiosk understands requests, as a table.

Runs the configured catalogue's classifier over the request sets in tests/data (indirect tuning and
blind parts, the direct sets): accuracy, wrong-service rate, clarifying questions, fallbacks
(appliance/dialogue/evaluation.py says what each means). Exit 1 when a set's wrong-service rate is
above --max-wrong, so a technician who edits the catalogue's situation phrases can gate on it.
"""

from __future__ import annotations

from pathlib import Path

import click

from .base import EXIT_FAIL, EXIT_USAGE, load_settings


@click.command("classify-eval")
@click.option(
    "--set",
    "names",
    multiple=True,
    help="Only this set (repeatable): indirect-tuning, indirect-blind, direct, direct-blind.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Folder with the request sets (default: the checkout's tests/data).",
)
@click.option(
    "--misses",
    is_flag=True,
    help="Also list every request not answered exactly right "
    "(never tune on the blind set's: it measures what tuning did).",
)
@click.option(
    "--max-wrong",
    type=float,
    default=None,
    help="Exit 1 if any set's wrong-service rate is above this (e.g. 0.05).",
)
@click.pass_context
def classify_eval(
    ctx: click.Context, names: tuple[str, ...], data_dir: str | None, misses: bool, max_wrong: float | None
) -> None:
    """Accuracy and wrong-service rate of request classification on the held-in request sets."""
    from ..dialogue import Classifier, evaluation, load_catalogue

    settings = load_settings(ctx)
    catalogue = load_catalogue(settings.path("services"))
    folder = Path(data_dir) if data_dir else evaluation.DATA_DIR
    chosen = names or tuple(evaluation.SETS)
    unknown = [n for n in chosen if n not in evaluation.SETS]
    if unknown:
        click.echo(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(evaluation.SETS)}", err=True)
        ctx.exit(EXIT_USAGE)
    classifier = Classifier(catalogue)
    results = {}
    for name in chosen:
        path = folder / evaluation.SETS[name]
        if not path.exists():
            click.echo(f"{name}: {path} not found (use --data)", err=True)
            ctx.exit(EXIT_USAGE)
        rows = evaluation.read_rows(path)
        results[name] = evaluation.run(classifier.classify, rows, catalogue.fallback.classify)
    click.echo(evaluation.table(results))
    if misses:
        for name, judged in results.items():
            click.echo(f"\n[{name}]")
            for line in evaluation.misses(judged):
                click.echo(line)
    if max_wrong is not None and any(evaluation.summary(j)["wrong"] > max_wrong for j in results.values()):
        ctx.exit(EXIT_FAIL)
