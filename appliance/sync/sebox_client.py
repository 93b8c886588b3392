"""The SE box's recognition feed: a WebSocket client that never gives up.

Seed 001: the box says nothing after the connection opens; the client sends
its configuration, then the box pushes one JSON record per recognition.  The
configuration goes again after every reconnect (the box forgets it with the
connection).  Reconnects wait ``min(backoff_max, 0.5 · 2^n)`` seconds with
full jitter (many kiosks restarting together must not hammer one box), and
the wait resets once a connection has been configured.  aiohttp's heartbeat
pings the box every ``ping_interval`` seconds and closes a link that does not
answer, so a dead box (cable pulled, no FIN) is noticed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from .records import BoxRecord, RecordError, config_message, normalise, parse_frame

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5
HANDSHAKE_TIMEOUT = 10.0
"""Seconds to connect and upgrade; a box that accepts TCP but never answers is retried."""
STABLE_LINK = 5.0
"""Seconds a configured connection must last for the reconnect backoff to reset."""
MAX_FRAME = 16 * 1024 * 1024
"""A record with two base64 photos is a few hundred KB; more is not a record."""


def backoff_delay(failures: int, cap: float, first: float = FIRST_BACKOFF, rng=random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, first·2^n)], never below 50 ms."""
    ceiling = min(cap, first * (2 ** min(failures, 30)))
    return max(0.05, ceiling * rng())


@dataclass
class FeedStats:
    connected: bool = False
    connects: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    last_error: str = ""
    last_record_at: float | None = None
    connected_since: float | None = None

    def as_dict(self) -> dict:
        return {
            "connected": self.connected,
            "connects": self.connects,
            "records": self.records,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "last_error": self.last_error,
            "last_record_age": None
            if self.last_record_at is None
            else round(time.time() - self.last_record_at, 1),
        }


class SeboxClient:
    """Connect, configure, read records for ever.

    ``on_record(record) -> bool`` stores and publishes one record and says
    whether it was new; it runs on the event loop, so it must be quick (one
    SQLite insert is).
    """

    def __init__(
        self,
        url: str,
        config: dict,
        on_record: Callable[[BoxRecord], bool],
        ping_interval: float = 10.0,
        backoff_max: float = 30.0,
    ):
        self.url = url
        self.config = config
        self.on_record = on_record
        self.ping_interval = ping_interval
        self.backoff_max = backoff_max
        self.stats = FeedStats()
        self._stopping = False

    @classmethod
    def from_settings(cls, sebox, on_record) -> SeboxClient:
        config = config_message(
            sebox.dialect, sebox.with_face_image, sebox.with_register_image, sebox.media_device_ids
        )
        return cls(sebox.url, config, on_record, sebox.ping_interval, sebox.backoff_max)

    async def run(self) -> None:
        failures = 0
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping:
                lasted = 0.0
                try:
                    lasted = await self._session(session)
                except asyncio.CancelledError:
                    raise
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("SE box %s: %s", self.url, self.stats.last_error)
                except Exception as exc:  # never let a surprise end the feed
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("SE box feed failed")
                finally:
                    self.stats.connected = False
                # a link that held for a while starts the backoff afresh; one that a box keeps
                # accepting and dropping at once must not become a tight reconnect loop
                failures = 0 if lasted >= STABLE_LINK else failures + 1
                delay = backoff_delay(failures, self.backoff_max)
                log.info("SE box: reconnecting in %.1fs", delay)
                await asyncio.sleep(delay)

    def stop(self) -> None:
        self._stopping = True

    async def _session(self, session: aiohttp.ClientSession) -> float:
        """One connection: configure, then read until it ends. Returns how long it lasted."""
        # a box that accepts TCP but never answers the upgrade must not hang us: bound the handshake
        ws = await asyncio.wait_for(
            session.ws_connect(self.url, heartbeat=self.ping_interval, max_msg_size=MAX_FRAME, autoping=True),
            timeout=HANDSHAKE_TIMEOUT,
        )
        try:
            await ws.send_str(json.dumps(self.config, ensure_ascii=False))
            self.stats.connected, self.stats.connected_since = True, time.time()
            self.stats.connects += 1
            log.info("SE box %s connected and configured (%s)", self.url, sorted(self.config))
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._handle(message.data)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    self.stats.last_error = f"websocket error: {ws.exception()}"
                    break
        finally:
            self.stats.connected = False
            await ws.close()
        reason = f"closed by the box (code {ws.close_code})" if ws.close_code else "connection lost"
        if ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE or isinstance(
            ws.exception(), asyncio.TimeoutError
        ):
            reason = "connection lost (no answer to ping, or the link died)"
        self.stats.last_error = reason
        log.warning("SE box %s: %s", self.url, reason)
        return time.time() - self.stats.connected_since

    def _handle(self, data: str | bytes) -> None:
        self.stats.records += 1
        try:
            record = normalise(parse_frame(data))
        except RecordError as exc:
            self.stats.malformed += 1
            preview = data[:120] if isinstance(data, str) else repr(bytes(data[:60]))
            log.warning("SE box: record skipped (%s): %s", exc, preview)
            return
        self.stats.last_record_at = time.time()
        try:
            new = self.on_record(record)
        except Exception:  # a storage hiccup loses this record, not the feed
            log.exception("SE box: storing record %s failed", record.event_id)
            return
        if new:
            self.stats.stored += 1
        else:
            self.stats.duplicates += 1
