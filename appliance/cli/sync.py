"""`appliance sync …` (the upstream outbox) and `appliance simulate …` (the remote systems).

The sync commands ask the running sync worker; when it is not running they run the
worker's own operation in this process, on the database (tools.call, as every other
technician's command does), so a technician can inspect and revive items on a kiosk
whose service is stopped.
"""

from __future__ import annotations

import json

import click

from ..sync.outbox import FINISHED, State
from ..workers.ops import Sync
from .base import EXIT_FAIL, load_settings
from .tools import call


def _ask(ctx: click.Context, op: str, fields: dict) -> dict:
    return call(ctx, "sync", op, fields)[0]


@click.group()
def sync() -> None:
    """The upstream outbox (faceLib/person/reg) and the SE box feed."""


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the raw answer as JSON.")
@click.option("--limit", default=20, show_default=True, help="Open and dead items to list.")
@click.pass_context
def sync_status(ctx: click.Context, as_json: bool, limit: int) -> None:
    """Counts by state, the open and dead items, the feeds' health (exit 1 if any item is dead)."""
    reply = _ask(ctx, Sync.STATUS, {"limit": limit})
    if ctx.obj.get("offline"):  # the worker's answer, computed here: no live feed figures
        reply = {**reply, "offline": True}
    if as_json:
        click.echo(json.dumps(reply, ensure_ascii=False, indent=2, default=str))
    else:
        counts = reply["outbox"]["counts"]
        click.echo(
            "outbox: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + ("   (service not running: database only)" if reply.get("offline") else "")
        )
        for item in reply["outbox"]["items"]:
            click.echo(
                f"  #{item['id']:<5} {item['user_id']:20} {item['state']:8} attempts {item['attempts']:<3} "
                f"next {item['next_attempt_at'][:19]}  {item['last_error'][:80]}"
            )
        tencent, sebox = reply.get("tencent"), reply.get("sebox")
        if tencent:
            click.echo(
                f"tencent: {tencent['base_url']} delivered {tencent['delivered']}, "
                f"last error: {tencent['last_error'] or '-'}"
            )
        if sebox:
            click.echo(
                f"sebox: {sebox['url']} {'connected' if sebox['connected'] else 'DISCONNECTED'}, "
                f"{sebox['connects']} connects, {sebox['stored']} stored, {sebox['duplicates']} duplicates, "
                f"{sebox['malformed']} malformed; last error: {sebox['last_error'] or '-'}"
            )
    ctx.exit(EXIT_FAIL if reply["outbox"]["counts"].get(State.DEAD) else 0)


@sync.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--waiting", is_flag=True, help="Also re-check items waiting for a citizen's record now.")
@click.pass_context
def sync_retry(ctx: click.Context, ids: tuple[int, ...], waiting: bool) -> None:
    """Send dead items again (these IDS, else every dead item), failures reset."""
    states = [State.DEAD, State.WAITING] if waiting else [State.DEAD]
    reply = _ask(ctx, Sync.RETRY, {"ids": list(ids), "states": states})
    click.echo(f"{reply['retried']} item(s) due again")


@sync.command("purge")
@click.option("--older-than", "days", default=30.0, show_default=True, help="Only items older than DAYS.")
@click.option("--dead-only", is_flag=True, help="Only dead items (they become tombstones, never retried).")
@click.pass_context
def sync_purge(ctx: click.Context, days: float, dead_only: bool) -> None:
    """Drop the stored photos of delivered and dead items (the rows stay as proof)."""
    states = [State.DEAD] if dead_only else list(FINISHED)
    reply = _ask(ctx, Sync.PURGE, {"states": states, "older_than_days": days})
    click.echo(f"{reply['purged']} item(s) purged")


@click.command("sebox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5679, show_default=True)
@click.option("--devices", default=None, help="Camera ids, comma-separated.")
@click.option("--images", type=click.Path(file_okay=False), help="Folder of face JPEGs to send.")
@click.option("--rate", default=0.0, show_default=True, help="Push a generated record every RATE seconds.")
@click.option(
    "--variant", type=click.Choice(["seed", "example", "sophon"]), default="seed", show_default=True
)
def simulate_sebox(
    host: str, port: int, devices: str | None, images: str | None, rate: float, variant: str
) -> None:
    """The SE box's feed on ws://HOST:PORT (control: /_sim/push, /_sim/drop, /_sim/malformed, /_sim/state)."""
    from ..simulators import sebox

    ids = tuple(d for d in devices.split(",") if d) if devices else sebox.DEFAULT_DEVICES
    sebox.serve(host, port, ids, images, rate, variant)


@click.command("tencent")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7007, show_default=True)
@click.option("--token", default="sim-token", show_default=True, help="The Authorization value accepted.")
@click.option("--journal", type=click.Path(dir_okay=False), help="Keep registrations here across restarts.")
@click.option("--models", type=click.Path(file_okay=False), help="Face models (default: paths.models_dir).")
@click.option("--errcode", default=9999, show_default=True, help="errcode of injected errors.")
@click.pass_context
def simulate_tencent(
    ctx: click.Context,
    host: str,
    port: int,
    token: str,
    journal: str | None,
    models: str | None,
    errcode: int,
) -> None:
    """The face library API on http://HOST:PORT/tech/ai/face/ (control: /_sim/state, /_sim/fault)."""
    from ..simulators import tencent

    models = models or str(load_settings(ctx).models_dir)
    tencent.serve(host, port, token, journal, models, errcode)
