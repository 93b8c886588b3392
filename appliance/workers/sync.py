"""The sync worker: the only process that waits on the network (PROTOCOL.md §2).

Three things run on one asyncio loop in a background thread, so that the bus
loop of ServiceWorker (heartbeats, requests) never waits on a socket:

- the SE box feed (``sebox.enabled``): records are stored in RecognitionEvent
  (deduplicated) and published as endpoints.TOPIC_SEBOX;
- the outbox deliverer (``tencent.enabled``): faceLib/person/reg for every
  enrolment, persistent, in order per person, retried, dead-lettered;
- the requests below that need the upstream, run on that loop from the
  handler threads.

A second thread subscribes to endpoints.TOPIC_ENROLLED and queues each
enrolment at once.  Events are fire-and-forget, so the deliverer also
reconciles the FaceTemplate table against the outbox at start and every
``sync.reconcile_interval`` seconds: an enrolment made while this worker was
down is queued all the same, and the dedup key keeps it to one item.

Ops (bus requests to worker "sync", named in workers/ops.py):
- ``status``  {limit?} → {outbox: {counts, items}, sebox: {...}, tencent: {...}}
- ``retry``   {ids?: [int], states?: ["dead"|"waiting"|"pending"]} → {retried}
- ``purge``   {states?: ["delivered","dead"], older_than_days?: float} → {purged}
- ``reconcile`` {} → {queued}
- ``recong``       one image payload → {isMatch, score, accepted, idNum, name, personType}
  (accepted: isMatch and score ≥ tencent.recong_threshold; the face worker may
  call it when its gallery has no match and tencent.recong_fallback is on)
- ``verify``       {name, id_no, user_id?} + the live photo → faceAdv (authmatch)
  then faceAdvResult → {passed, similarity, liveRate, orderNo} (sync/verify.py;
  passed None with ``error`` when no verdict could be reached); with
  {type: "match"} and a second payload (the source photo) a 1:1 match instead.
  The caller (dialogue, before storage when tencent.verify_before_storage)
  stores the answer on the session's ``verification``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import threading
from typing import Any

import zmq

from .. import store
from ..metrics import upstream
from ..runtime import bus, endpoints
from ..runtime.worker import HandlerError, ServiceWorker
from ..store import faces as face_store
from ..sync import outbox, verify
from ..sync.delivery import Deliverer
from ..sync.records import BoxRecord
from ..sync.records import store as store_record
from ..sync.sebox_client import SeboxClient
from ..sync.tencent_client import Refused, TencentClient, Unreachable
from .ops import Sync

log = logging.getLogger(__name__)
SAFE_USER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
REMOTE_GRACE = 5.0
"""Seconds a handler waits beyond the upstream timeout before giving up on the loop."""


class SyncWorker(ServiceWorker):
    name = "sync"
    threads = 4

    def __init__(self, settings):
        super().__init__(settings)
        self.loop = asyncio.new_event_loop()
        self.publisher: bus.Publisher | None = None
        self.sebox: SeboxClient | None = None
        self.deliverer: Deliverer | None = None
        self.client: TencentClient | None = None
        self._tasks: list[asyncio.Task] = []
        self._halt = threading.Event()
        self._loop_thread = threading.Thread(target=self._run_loop, name="sync-loop", daemon=True)

    def setup(self) -> None:
        """What the ops need: the database, the loop, the upstream's client (the CLI runs them too)."""
        # a URL that can never work is a configuration error, said once at start (not retried for ever)
        if self.settings.sebox.enabled and not self.settings.sebox.url:  # the settings checked its form
            log.error(
                "sebox.enabled but sebox.url is empty: no SE box feed until it is set "
                "(appliance config set sebox.url ws://<box-ip>:5679)"
            )
        if self.settings.tencent.enabled and not self.settings.tencent.base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"tencent.base_url = {self.settings.tencent.base_url!r}: expected http(s)://…")
        store.open_settings(self.settings)
        self._loop_thread.start()
        tencent = self.settings.tencent
        if tencent.enabled:
            self.client = TencentClient(tencent.base_url, tencent.token, tencent.timeout)

    def start(self) -> None:
        """The service's own work: delivering the outbox, listening to enrolments, the SE box feed."""
        self.publisher = bus.Publisher(self.settings.runtime_dir)  # used only on the loop thread
        if self.client is not None:
            self.deliverer = Deliverer(self.client, self.settings.tencent, self.settings.sync)
            self._spawn(self.deliverer.run())
            self._sub_thread = threading.Thread(target=self._listen_enrolments, name="sync-sub", daemon=True)
            self._sub_thread.start()
        if self.settings.sebox.enabled and self.settings.sebox.url:
            self.sebox = SeboxClient.from_settings(self.settings.sebox, self._on_record)
            self._spawn(self.sebox.run())
        log.info("sync: sebox %s, tencent %s", "on" if self.sebox else "off", "on" if self.client else "off")

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _spawn(self, coro) -> None:
        def start() -> None:
            self._tasks.append(self.loop.create_task(coro))

        self.loop.call_soon_threadsafe(start)

    def teardown(self) -> None:
        self._halt.set()

        async def stop() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.client is not None:
                await self.client.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(3)
        except Exception:  # stopping anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(2)

    # -- the SE box feed -------------------------------------------------------------
    def _on_record(self, record: BoxRecord) -> bool:
        """Runs on the loop: store (dedup) and, if new, publish."""
        keep = self.settings.sebox.keep_images
        new = store_record(record, keep)
        if new:
            frames = [record.face_image] if keep and record.face_image else []
            assert self.publisher is not None  # start() made it before the feed's client
            self.publisher.publish(endpoints.TOPIC_SEBOX, record.event_header(), frames)
        return new

    # -- enrolments ------------------------------------------------------------------
    def _listen_enrolments(self) -> None:
        sock = bus.subscriber(self.settings.runtime_dir, [endpoints.TOPIC_ENROLLED], self.ctx)
        try:
            while not self._halt.is_set():
                if not sock.poll(500, zmq.POLLIN):
                    continue
                frames = sock.recv_multipart()
                try:
                    header, payloads = bus.decode(frames[1:])
                    user_id = header["user_id"]
                    jpeg = payloads[0] if payloads else face_store.sample_of(user_id)
                    if jpeg and outbox.queue_registration(user_id, bytes(jpeg)):
                        assert self.deliverer is not None  # start() made it before this thread
                        self.loop.call_soon_threadsafe(self.deliverer.wake.set)
                except Exception:  # one bad event must not stop the listener; reconcile catches up
                    log.exception("enrolment event not queued")
        finally:
            sock.close(linger=0)

    # -- ops -------------------------------------------------------------------------
    def ops(self):
        return {
            Sync.RETRY: self.op_retry,
            Sync.PURGE: self.op_purge,
            Sync.RECONCILE: self.op_reconcile,
            Sync.RECONG: self.op_recong,
            Sync.VERIFY: self.op_verify,
        }  # and `status`: describe below

    def inline_ops(self) -> frozenset[str]:
        return frozenset()  # describe() reads the outbox from the database: on the pool like the rest

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.sebox is not None:
            out["sebox"] = {k: v for k, v in self.sebox.stats.as_dict().items() if k != "last_error"}
        if self.deliverer is not None:
            out["outbox_delivered"] = self.deliverer.stats["delivered"]
        out.update(upstream.status())  # the Tencent-style calls by API, for /metrics
        return out

    def describe(self, header: dict, _payloads) -> dict:
        tencent = None
        if self.deliverer is not None:
            assert self.client is not None  # the deliverer exists only with a client
            tencent = {**self.deliverer.stats, "base_url": self.client.base_url}
        return {
            "outbox": outbox.summary(int(header.get("limit", 20))),
            "sebox": None if self.sebox is None else {**self.sebox.stats.as_dict(), "url": self.sebox.url},
            "tencent": tencent,
        }

    def _wake(self) -> None:
        if self.deliverer is not None:
            self.loop.call_soon_threadsafe(self.deliverer.wake.set)

    def op_retry(self, header: dict, _payloads) -> dict:
        count = outbox.retry(header.get("ids") or (), header.get("states") or (outbox.State.DEAD,))
        self._wake()
        return {"retried": count}

    def op_purge(self, header: dict, _payloads) -> dict:
        return {
            "purged": outbox.purge(
                header.get("states") or outbox.FINISHED, float(header.get("older_than_days", 0))
            )
        }

    def op_reconcile(self, header: dict, _payloads) -> dict:
        queued = outbox.reconcile()
        self._wake()
        return {"queued": queued}

    def _remote(self, coro):
        """Run an upstream call on the loop; translate its failures for the caller."""
        if self.client is None:
            coro.close()
            raise HandlerError("disabled", "the Tencent-style API is not enabled (tencent.enabled)")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.settings.tencent.timeout * 2 + REMOTE_GRACE)
        except Refused as exc:
            raise HandlerError("refused", str(exc), errcode=exc.errcode) from None
        except Unreachable as exc:
            raise HandlerError("unreachable", str(exc)) from None
        except TimeoutError:
            future.cancel()
            raise HandlerError("unreachable", "the upstream call did not finish") from None

    def op_recong(self, header: dict, payloads: list[bytes]) -> dict:
        if len(payloads) != 1:
            raise HandlerError("bad_request", "exactly one image payload expected")
        found = self._remote(self.client.recognise(payloads[0]) if self.client else _noop())
        accepted = bool(found["isMatch"]) and (found["score"] or 0) >= self.settings.tencent.recong_threshold
        return {
            "accepted": accepted,
            **{k: found.get(k) for k in ("isMatch", "score", "idNum", "name", "personType", "customerID")},
        }

    def op_verify(self, header: dict, payloads: list[bytes]) -> dict:
        kind = header.get("type", "authmatch")
        if kind not in ("authmatch", "match"):
            raise HandlerError("bad_request", "type must be authmatch or match")
        if not payloads or (kind == "match" and len(payloads) != 2):
            raise HandlerError("bad_request", "the live photo (and for match, the source photo) expected")
        if kind == "authmatch" and not (header.get("name") and header.get("id_no")):
            raise HandlerError("bad_request", "authmatch needs name and id_no")
        user_id = str(header.get("user_id") or header.get("id_no") or "kiosk")
        if not SAFE_USER_ID.match(user_id):  # the seed: userId without special characters
            user_id = "u" + hashlib.sha1(user_id.encode()).hexdigest()[:24]
        live = base64.b64encode(payloads[0]).decode("ascii")
        return self._remote(self._verify(user_id, kind, header, live, payloads) if self.client else _noop())

    async def _verify(
        self, user_id: str, kind: str, header: dict, live_b64: str, payloads: list[bytes]
    ) -> dict:
        from ..sync.tencent_client import fit_image

        assert self.client is not None  # op_verify runs this only with a client
        adv = await self.client.face_adv(
            user_id,
            kind,
            name=header.get("name", ""),
            id_no=header.get("id_no", ""),
            source_jpeg=payloads[1] if kind == "match" else None,
            ext_data={"livePhoto": fit_image(base64.b64decode(live_b64))},
        )
        order_no, why_not = verify.order_of(adv)
        if why_not is not None:  # the service answered, but gave nothing to look up: no verdict
            return {**why_not, "type": kind}
        final = await self.client.face_adv_result(order_no)
        tencent = self.settings.tencent
        return verify.judge(final, order_no, kind, tencent.verify_threshold, tencent.verify_live_threshold)


async def _noop() -> None:
    return None
