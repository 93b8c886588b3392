"""Field commands: `appliance doctor`, `config get|set|diff|services`, `setup`, `bench`.

Registered on `appliance.cli.main` (and its `config` group) by importing this
module.  Secrets are masked in every line printed here; `config set` never
echoes a secret it was given.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import config, doctor
from ..config import editor
from .base import EXIT_FAIL, EXIT_USAGE, load_settings


# -- doctor -------------------------------------------------------------------------------
@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice(list(doctor.CHECKS)),
    help="Skip a group of checks (e.g. --skip speech on a slow board).",
)
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool, skip: tuple[str, ...]) -> None:
    """Check everything and print PASS / WARN / FAIL with a fix for each problem.

    Python and packages, model files and checksums, each model on a known
    input, camera, ports, privileged port, data dir, database, disk, clock,
    upstream systems, systemd and the watchdog, the outbox. Exit 1 on any FAIL.
    """
    try:
        settings = config.load(ctx.obj.get("config"))
    except config.ConfigError as exc:
        row = doctor.Check("config", "FAIL", str(exc), "appliance config validate; fix the key named")
        click.echo(doctor.as_json([row], []) if as_json else doctor.table([row], []))
        ctx.exit(EXIT_FAIL)
    checks = doctor.run(settings, skip)
    secrets = settings.secrets()
    click.echo(doctor.as_json(checks, secrets) if as_json else doctor.table(checks, secrets))
    ctx.exit(EXIT_FAIL if doctor.failed(checks) else 0)


# -- config get / set / diff ------------------------------------------------------------------
@click.command("get")
@click.argument("key")
@click.pass_context
def config_get(ctx: click.Context, key: str) -> None:
    """Print one setting in force (KEY = section.name), or a whole SECTION. Secrets are masked."""
    settings = load_settings(ctx)
    keys = editor.all_keys()
    chosen = [k for k in keys if k.startswith(key + ".")] if key in config.SECTIONS else [key]
    try:
        for k in chosen:
            info, value = editor.get_value(settings, k)
            shown = editor.display(info, value)
            click.echo(f"{k} = {shown}" if len(chosen) > 1 else shown)
    except config.ConfigError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(EXIT_USAGE)


@click.command("set")
@click.argument("key")
@click.argument("value")
@click.pass_context
def config_set(ctx: click.Context, key: str, value: str) -> None:
    """Change one setting in the config file: validated first, written atomically, old file kept as .bak.

    Lists are comma-separated or TOML arrays: appliance config set supervisor.workers dialogue,face,gateway
    """
    path = editor.config_file(ctx.obj.get("config"))
    try:
        (change,) = editor.set_values(path, {key: value})
    except config.ConfigError as exc:
        click.echo(f"REJECTED, {path} unchanged: {exc}", err=True)
        ctx.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"cannot write {path}: {exc}", err=True)
        ctx.exit(EXIT_FAIL)
    _report(path, [change])


def _report(path: Path, changes: list[editor.Change]) -> None:
    for c in changes:
        if not c.changed:
            click.echo(f"{c.key} = {c.new} (unchanged)")
            continue
        click.echo(f"{c.key}: {c.old} -> {c.new}")
        if c.shadowed_by:
            click.echo(f"  note: {c.shadowed_by} is set in the environment and overrides the file")
    if any(c.changed for c in changes):
        backup = next((c.backup for c in changes if c.backup), None)
        click.echo(f"written to {path}" + (f" (previous file kept as {backup.name})" if backup else ""))
        if any(c.changed for c in changes):  # settings are read once, at start
            click.echo("restart needed: systemctl restart kiosk-appliance (settings are read at start)")


@click.command("diff")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def config_diff(ctx: click.Context, as_json: bool) -> None:
    """What the settings in force change from the shipped defaults (file + environment)."""
    settings = load_settings(ctx)
    rows = editor.diff(settings)
    if as_json:
        click.echo(
            json.dumps([{"key": i.key, "default": d, "value": v} for i, d, v in rows], ensure_ascii=False)
        )
        return
    if not rows:
        click.echo("no differences from the shipped defaults")
    for info, default, value in rows:
        click.echo(f"{info.key} = {value}    (default {default})")


@click.command("services")
@click.pass_context
def config_services(ctx: click.Context) -> None:
    """List the government services of the catalogue in force (exit 2 if it is broken)."""
    settings = load_settings(ctx)
    names, problem = editor.catalogue_summary(settings)
    if problem:
        click.echo(f"INVALID: {problem}", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(f"{len(names)} services in {settings.path('services')}:")
    for name in names:
        click.echo(f"  {name}")


# -- setup --------------------------------------------------------------------------------------
def _ask(info: editor.KeyInfo, current) -> object:
    """Prompt until the answer passes the key's own checks; Enter keeps the current value."""
    click.echo(f"\n{info.key}: {info.doc}")
    while True:
        if info.secret:
            text = click.prompt(
                "  value (hidden; Enter keeps the current one)",
                default="",
                hide_input=True,
                show_default=False,
            )
            if text == "":
                return current
        elif info.kind is bool:
            return click.confirm("  enable?", default=bool(current))
        else:
            shown = ", ".join(current) if isinstance(current, tuple) else str(current)
            text = click.prompt("  value", default=shown)
        try:
            return editor.check_value(info, text)
        except config.ConfigError as exc:
            click.echo(f"  not accepted: {exc}")


@click.command("setup")
@click.option("--no-doctor", is_flag=True, help="Do not run the doctor afterwards.")
@click.pass_context
def setup(ctx: click.Context, no_doctor: bool) -> None:
    """Walk through the essential settings (ports, bind address, upstreams and tokens,
    camera, thresholds), validate them together, write them, then run the doctor."""
    path = editor.config_file(ctx.obj.get("config"))
    try:
        settings = config.load(path, environ={}) if path.exists() else config.Settings()
    except config.ConfigError as exc:
        click.echo(f"the current file is invalid ({exc}); starting from the shipped defaults")
        settings = config.Settings()
    click.echo(f"Setting up {path}. Press Enter to keep the value shown.")
    answers: dict[str, object] = {}
    for _round in range(3):
        for info, condition in editor.setup_steps():
            if condition is not None and not condition(answers):
                continue
            current = answers.get(info.key, getattr(getattr(settings, info.section), info.name))
            answers[info.key] = _ask(info, current)
        try:
            changes = editor.set_values(path, answers, parsed=True)
            break
        except config.ConfigError as exc:
            click.echo(f"\nThese settings do not work together: {exc}\nPlease go through them again.")
    else:
        click.echo(f"giving up; {path} unchanged", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo("")
    if any(c.changed for c in changes):
        _report(path, [c for c in changes if c.changed])
    else:
        click.echo("nothing changed")
    if not no_doctor:
        click.echo("\nRunning the doctor:")
        ctx.invoke(doctor_cmd)


# -- bench --------------------------------------------------------------------------------------
BENCH_FAMILIES = ("face", "search", "speech", "stt", "gateway", "metrics", "supervisor", "memory", "journey")
"""appliance.bench.runner.FAMILIES, spelled here so `appliance --help` imports no bench code (a test keeps
them equal)."""


@click.command("bench")
@click.option("--quick", is_flag=True, help="A fast subset (small sizes, few repeats).")
@click.option(
    "--only", multiple=True, type=click.Choice(BENCH_FAMILIES), help="Run only this family (repeatable)."
)
@click.option("--out", "out_path", default="bench.json", show_default=True, type=click.Path(dir_okay=False))
@click.pass_context
def bench_cmd(ctx: click.Context, quick: bool, only: tuple[str, ...], out_path: str) -> None:
    """Measure the real pipeline on real inputs; write bench.json and print the table.

    Every figure is a median over repeats beside a reference measured in the same run.
    """
    from ..bench import runner

    settings = load_settings(ctx)
    report = runner.run(settings, quick=quick, only=only, echo=lambda line: click.echo(line, err=True))
    Path(out_path).write_text(json.dumps(report, ensure_ascii=False, indent=1))
    click.echo(runner.render(report))
    click.echo(f"\nwritten {out_path}")
