"""Logging for every process, in the form logging.format asks for, with configured secrets scrubbed out.

- text: one line per record on stderr (the journal keeps it as MESSAGE);
- json: one JSON object per line with stable keys (time, level, worker, pid, logger, event,
  correlation_id; exception when there is one), which Vector, Promtail or Fluent Bit parse as is;
- journal: journald's own fields through systemd-python's JournalHandler (PRIORITY,
  SYSLOG_IDENTIFIER, WORKER, CORRELATION_ID…, queryable with `journalctl -o json`);
- auto: journal when the service runs under systemd (JOURNAL_STREAM set) and systemd-python is
  installed, else text.

A correlation id follows one citizen's journey across processes: the gateway sets it (a keyed digest
of the user id, never the hash or the id itself), the bus carries it in every request header (`cid`)
and a worker's handler runs with it set, so every log line of that journey carries it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sys
from typing import Any

from ..config import Settings

SYSLOG_IDENTIFIER = "kiosk-appliance"
CORRELATION: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
"""The journey being served by this task or thread ("" outside one)."""
HEADER_KEY = "cid"
"""The bus header key carrying the correlation id."""
_SALT = secrets.token_bytes(16)  # per process: a correlation id cannot be turned back into a user id


def correlation_for(user_id: str | None) -> str:
    """A short id for one citizen's journey: a keyed digest of the user id, or random without one."""
    if not user_id:
        return secrets.token_hex(6)
    return hashlib.blake2s(user_id.encode("utf-8", "surrogatepass"), key=_SALT, digest_size=6).hexdigest()


def bus_fields() -> dict[str, str]:
    """What a bus request adds to its header: the correlation id, when there is one."""
    cid = CORRELATION.get()
    return {HEADER_KEY: cid} if cid else {}


class SecretFilter(logging.Filter):
    """Replaces any configured token that slipped into a message."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "********")
                record.msg, record.args = message, None
        return True


class ContextFilter(logging.Filter):
    """Puts the worker's role and the current correlation id on every record (journal fields, JSON keys)."""

    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.role
        correlation_id = getattr(record, "correlation_id", "") or CORRELATION.get()
        record.correlation_id = correlation_id
        # journald keeps upper-case field names only (JournalHandler sends the record's attributes)
        record.WORKER, record.CORRELATION_ID = self.role, correlation_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the keys never change, absent values are null."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "worker": getattr(record, "worker", None),
            "pid": record.process,
            "logger": record.name,
            "event": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "") or None,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def under_systemd() -> bool:
    """stderr is connected to the journal (systemd sets JOURNAL_STREAM for the service)."""
    return bool(os.environ.get("JOURNAL_STREAM"))


def journal_handler(role: str) -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    return JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)


def choose_format(wanted: str) -> str:
    if wanted == "auto":
        return "journal" if under_systemd() and journal_handler("probe") is not None else "text"
    return wanted


def make_handler(fmt: str, role: str, stream=None) -> logging.Handler:
    """The handler of one format (journal falls back to json lines when systemd-python is missing)."""
    if fmt == "journal":
        handler = journal_handler(role)
        if handler is not None:
            return handler
        fmt = "json"
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {role}[%(process)d] %(levelname)s %(name)s: %(message)s")
        )
    return handler


def setup(settings: Settings, role: str, stream=None) -> logging.Handler:
    fmt = choose_format(getattr(settings.logging, "format", "text"))
    handler = make_handler(fmt, role, stream)
    handler.addFilter(SecretFilter(settings.secrets()))
    handler.addFilter(ContextFilter(role))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging.level)
    if fmt == "journal" and isinstance(handler, logging.StreamHandler):
        logging.getLogger(__name__).warning(
            "logging.format = journal but systemd-python is not installed: "
            "JSON lines on stderr instead (pip install systemd-python)"
        )
    return handler


def correlation_middleware():
    """aiohttp middleware of the gateway: every request or socket starts a journey of its own; the flow
    handlers narrow it to the citizen's (correlation_for(user_id)) once they know who it is."""
    from aiohttp import web

    @web.middleware
    async def middleware(request, handler):
        CORRELATION.set(correlation_for(None))  # this request's task only: contextvars are per task
        return await handler(request)

    return middleware
