"""Technician and diagnostic commands: enrol, identify, users, transcribe, say.

Each asks the running service over the bus (so the gallery and sessions stay
consistent); when the service is not running it loads the same worker code
in-process and works on the database directly.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from .. import store
from ..runtime import bus, endpoints
from ..runtime.peers import NotEnabled, Peers
from ..runtime.worker import HandlerError
from ..workers.ops import Dialogue, Face, Speech
from .base import EXIT_FAIL, load_settings


def call(ctx: click.Context, worker: str, op: str, fields: dict, payloads=()):
    """Ask the running worker; if the service is down (or runs without that worker), run the
    worker's handler here, on the same database. ``ctx.obj["offline"]`` says which it was."""
    settings = load_settings(ctx)
    peers = ctx.obj.get("peers")
    if peers is None:
        peers = ctx.obj["peers"] = Peers(settings)
        ctx.find_root().call_on_close(peers.close)
    try:
        return peers.call(worker, op, fields, list(payloads))
    except (bus.WorkerUnavailable, NotEnabled):
        ctx.obj["offline"] = True
        return _local_call(ctx, settings, worker, op, fields, payloads)
    except bus.BusError as exc:
        click.echo(f"{worker} failed: {getattr(exc, 'reason', exc)}", err=True)
        ctx.exit(EXIT_FAIL)


def _local_call(ctx: click.Context, settings, worker: str, op: str, fields: dict, payloads):
    """The worker's own handler in this process: prepare and setup, never its background work."""
    local = ctx.obj.get(f"local-{worker}")
    if local is None:
        from ..workers import worker_class

        store.migrate(store.open_settings(settings))
        local = worker_class(worker)(settings)
        local.prepare()
        local.setup()
        ctx.obj[f"local-{worker}"] = local
    try:
        reply = local.handlers()[op]({"op": op, **fields}, list(payloads))
    except HandlerError as exc:
        click.echo(f"{worker}: {exc.reason}", err=True)
        ctx.exit(EXIT_FAIL)
    return reply if isinstance(reply, tuple) else (reply, [])


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None


def enrol_one(ctx: click.Context, user_id: str, images: list[str]) -> dict:
    reply, _ = call(ctx, "face", Face.ENROL, {"user_id": user_id}, [read_file(p) for p in images])
    return reply


@click.command()
@click.argument("user_id", required=False)
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--folder",
    type=click.Path(exists=True, file_okay=False),
    help="Bulk: one sub-folder per user id, holding that person's photos.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Bulk: rows of user_id,image_path (several rows per user allowed).",
)
@click.pass_context
def enrol(ctx, user_id, images, folder, csv_path):
    """Enrol a face from photos of one person: appliance enrol USER_ID A.jpg B.jpg C.jpg

    The photos pass the same checks as face_train (one clear frontal face, the
    same person in all). Exit 1 if any enrolment failed.
    """
    jobs: dict[str, list[str]] = {}
    if folder:
        for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
            jobs[sub.name] = sorted(
                str(f) for f in sub.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
    if csv_path:
        with open(csv_path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if len(row) >= 2 and row[0].strip() and not row[0].startswith("#"):
                    jobs.setdefault(row[0].strip(), []).append(row[1].strip())
    if user_id:
        if not images:
            raise click.UsageError("give at least one image after USER_ID")
        jobs[user_id] = list(images)
    if not jobs:
        raise click.UsageError("nothing to enrol: give USER_ID IMAGE..., --folder or --csv")
    failed = 0
    with click.progressbar(
        list(jobs.items()), label="enrolling", show_pos=True, item_show_func=lambda j: j[0] if j else ""
    ) as bar:
        results = [(uid, enrol_one(ctx, uid, paths)) for uid, paths in bar]
    for uid, reply in results:
        ok = reply.get("message") == "success"
        failed += not ok
        why = "" if ok else f" — {reply.get('reason', 'not enough good samples')} {reply.get('detail', '')}"
        click.echo(
            f"{'OK  ' if ok else 'FAIL'} {uid}: "
            f"{reply.get('samples', 0)}/{reply.get('required', '?')} samples{why}"
        )
    ctx.exit(EXIT_FAIL if failed else 0)


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--top", default=5, show_default=True, help="How many identities to list.")
@click.pass_context
def identify(ctx, image, top):
    """Who is in this photo? Prints the best matches with scores (0–100; 70 = the threshold)."""
    reply, _ = call(ctx, "face", Face.IDENTIFY, {"top": top}, [read_file(image)])
    if not reply.get("found"):
        click.echo(f"no usable face: {reply.get('reason')} ({reply.get('detail', '')})", err=True)
        ctx.exit(EXIT_FAIL)
    verdict = f"MATCH {reply['user_id']}" if reply["message"] == "success" else "no match (stranger)"
    click.echo(f"{verdict}  box={reply['box']}")
    for rank, hit in enumerate(reply["top"], 1):
        click.echo(f"{rank:>2}. {hit['user_id']:<24} score {hit['score']:>5}  cosine {hit['cosine']:.4f}")
    ctx.exit(0 if reply["message"] == "success" else EXIT_FAIL)


@click.group()
def users() -> None:
    """Enrolled citizens: list, show, delete."""


def _open_db(ctx):
    settings = load_settings(ctx)
    store.migrate(store.open_settings(settings))


@users.command("list")
@click.pass_context
def users_list(ctx):
    """Every citizen with a record or a face template."""
    _open_db(ctx)
    faces = {
        t.user_id: t
        for t in store.FaceTemplate.select(
            store.FaceTemplate.user_id, store.FaceTemplate.count, store.FaceTemplate.created_at
        )
    }
    people = {c.user_id: c for c in store.Citizen.select()}
    click.echo(f"{'user_id':<24} {'name':<10} {'face':>4}  enrolled")
    for uid in sorted(set(faces) | set(people)):
        name = (people[uid].name if uid in people else "") or ""
        template = faces.get(uid)
        enrolled = f"{template.created_at:%Y-%m-%d %H:%M}" if template else "-"
        click.echo(f"{uid:<24} {name:<10} {template.count if template else 0:>4}  {enrolled}")


@users.command("show")
@click.argument("user_id")
@click.pass_context
def users_show(ctx, user_id):
    """A citizen's record and face template."""
    _open_db(ctx)
    citizen = store.Citizen.get_or_none(store.Citizen.user_id == user_id)
    template = store.FaceTemplate.get_or_none(store.FaceTemplate.user_id == user_id)
    if citizen is None and template is None:
        click.echo(f"no such user: {user_id}", err=True)
        ctx.exit(EXIT_FAIL)
    out = {
        "user_id": user_id,
        "record": citizen.record() if citizen else None,
        "face": {
            "templates": template.count,
            "model": template.model,
            "sample_bytes": len(template.sample_jpeg or b""),
            "enrolled": str(template.created_at),
        }
        if template
        else None,
    }
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


@users.command("delete")
@click.argument("user_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def users_delete(ctx, user_id, yes):
    """Delete a citizen: record, sessions, face template and sample image."""
    if not yes:
        click.confirm(f"Delete everything about {user_id}?", abort=True)
    face, _ = call(ctx, "face", Face.USER_DELETE, {"user_id": user_id})
    record, _ = call(ctx, "dialogue", Dialogue.USER_DELETE, {"user_id": user_id})
    if not face.get("removed") and not record.get("removed"):
        click.echo(f"no such user: {user_id}", err=True)
        ctx.exit(EXIT_FAIL)
    click.echo(
        f"deleted {user_id}: face {'yes' if face.get('removed') else 'none'}, "
        f"record {'yes' if record.get('removed') else 'none'}, sessions {record.get('sessions', 0)}"
    )


@click.command()
@click.argument("audio", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def transcribe(ctx, audio):
    """Speech to text of an audio file (WAV of any rate/width/channels)."""
    reply, _ = call(ctx, "speech", Speech.TRANSCRIBE, {}, [read_file(audio)])
    click.echo(reply["text"])
    click.echo(
        f"# {reply['duration']:.2f}s of audio, language {reply['language']}, "
        f"{reply['timings'].get('total', 0):.2f}s",
        err=True,
    )
    if reply.get("heard") and not reply.get("trusted", True):  # what the kiosk would not act on, and why
        click.echo(
            f"# not trusted ({', '.join(reply.get('reasons', []))}): heard {reply['heard']!r}", err=True
        )


@click.command()
@click.argument("text")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="WAV file to write.")
@click.option("--voice", help="Kokoro voice (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo).")
@click.pass_context
def say(ctx, text, output, voice):
    """Text to speech into a 16-bit mono WAV file."""
    fields = {"text": text, **({"voice": voice} if voice else {})}
    _, payloads = call(ctx, "speech", Speech.SYNTHESIZE, fields)
    Path(output).write_bytes(payloads[0])
    click.echo(f"wrote {output} ({len(payloads[0])} bytes)")


@click.group()
def db() -> None:
    """The database: encryption at rest (SQLCipher) and key rotation. Stop the service first."""


def _service_running(settings) -> bool:
    client = bus.BusClient(endpoints.supervisor_requests(settings.runtime_dir), timeout=1.0)
    try:
        client.request("status")
        return True
    except bus.BusError:
        return False
    finally:
        client.close()


def _read_key(path: str) -> str | None:
    from ..store.keys import DatabaseKeyError, read_key

    try:
        return read_key(path)
    except DatabaseKeyError as exc:
        raise click.BadParameter(str(exc)) from None


def _stopped_settings(ctx):
    settings = load_settings(ctx)
    if _service_running(settings):
        click.echo("stop the service first (systemctl stop kiosk-appliance)", err=True)
        ctx.exit(EXIT_FAIL)
    return settings


@db.command("encrypt")
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def db_encrypt(ctx, key_file):
    """Encrypt a plaintext database with the key in KEY_FILE (mode 0600)."""
    settings = _stopped_settings(ctx)
    key = _read_key(key_file)
    path = endpoints.database_path(settings.data_dir)
    encrypted = path.with_suffix(".encrypted")
    import sqlcipher3

    conn = sqlcipher3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(encrypted), key))
    conn.execute("SELECT sqlcipher_export('encrypted')")
    conn.execute("DETACH DATABASE encrypted")
    conn.close()
    backup = path.with_suffix(".plaintext-backup")
    path.rename(backup)
    encrypted.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    click.echo(
        f"encrypted {path}; set database.key_file = {key_file!r}; then delete {backup} "
        "(it holds the plaintext)"
    )


@db.command("rekey")
@click.argument("new_key_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def db_rekey(ctx, new_key_file):
    """Re-encrypt the database with the key in NEW_KEY_FILE (key rotation)."""
    settings = _stopped_settings(ctx)
    new_key = _read_key(new_key_file)
    if not settings.database.key_file:
        raise click.UsageError("the database is not encrypted: use `appliance db encrypt` first")
    database = store.open_settings(settings)
    database.rekey(new_key)
    database.close()
    click.echo(f"re-encrypted; now set database.key_file = {new_key_file!r} and start the service")
