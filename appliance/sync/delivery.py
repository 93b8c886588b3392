"""Delivering the outbox: one item at a time, oldest due first, for ever.

Exactly-once, as far as the API allows: an item is marked delivered in the
same breath as errcode 0 arrives, and never sent again.  The API has no
idempotency key, so one window remains: the request reached the service but
its answer did not reach us (a timeout, a reset), or this process died while
waiting for it.  Such an item is marked ``uncertain`` (or was left marked
``sending``, written before every request); before sending it again the
deliverer asks faceLib/person/recong with the same photo, and if the library
already returns this ID number it records the item as delivered instead of
registering twice.  (If recong cannot tell, it registers again: the library
keys people by idNum, so the worst case is the same person registered anew.)
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

from ..store.models import Citizen
from . import outbox
from .tencent_client import REG, Refused, TencentClient, Unreachable

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(self, client: TencentClient, tencent, sync):
        self.client = client
        self.tencent = tencent
        self.sync = sync
        self.wake = asyncio.Event()
        self.stats: dict[str, Any] = {
            "delivered": 0,
            "refused": 0,
            "unreachable": 0,
            "last_error": "",
            "last_success_at": None,
            "reconciled": 0,
        }
        self._last_reconcile = 0.0

    async def run(self) -> None:
        while True:
            try:
                await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the database busy for too long: try again shortly
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"
                log.exception("outbox pass failed")
                await asyncio.sleep(1.0)
            timeout = outbox.next_due_in(self._until_reconcile())
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.05, timeout))
            except TimeoutError:
                pass

    def _until_reconcile(self) -> float:
        return max(0.0, self._last_reconcile + self.sync.reconcile_interval - time.monotonic())

    async def _pass(self) -> None:
        if self._until_reconcile() <= 0:
            self._last_reconcile = time.monotonic()
            self.stats["reconciled"] += outbox.reconcile()
        for item in outbox.due():
            if item.kind != REG:
                outbox.mark_refused(item, f"unknown kind {item.kind}", 1, 1, 1)
                continue
            await self.deliver(item)

    async def deliver(self, item) -> None:
        sync = self.sync
        citizen = Citizen.get_or_none(Citizen.user_id == item.key)
        if citizen is None or not citizen.name or not citizen.id_card:
            missing = (
                "record"
                if citizen is None
                else " and ".join(
                    k for k, v in (("name", citizen.name), ("ID number", citizen.id_card)) if not v
                )
            )
            outbox.mark_waiting(
                item, f"waiting for the citizen's {missing} (written by storage)", sync.record_wait
            )
            return
        jpeg = base64.b64decode(item.payload["image"])
        try:
            # uncertain: the last attempt got no answer; sending: this process died waiting for one
            doubt = item.payload.get("uncertain") or item.payload.get("sending")
            if doubt and await self._already_registered(jpeg, citizen.id_card):
                outbox.mark_delivered(item, "found registered after an unanswered attempt")
                self._success()
                return
            outbox.mark_sending(item)
            await self.client.register(citizen.id_card, citizen.name, self.tencent.person_type, jpeg)
        except Refused as exc:
            self.stats["refused"] += 1
            self.stats["last_error"] = str(exc)
            outbox.mark_refused(item, str(exc), sync.max_failures, sync.backoff_base, sync.backoff_max)
            return
        except Unreachable as exc:
            self.stats["unreachable"] += 1
            self.stats["last_error"] = str(exc)
            outbox.mark_unreachable(item, str(exc), exc.ambiguous, sync.backoff_base, sync.backoff_max)
            return
        outbox.mark_delivered(item)
        self._success()

    def _success(self) -> None:
        self.stats["delivered"] += 1
        was_down = self.stats["unreachable"] > 0  # consecutive network failures before this success
        self.stats["last_success_at"] = time.time()
        if was_down and outbox.wake_all():
            log.info("outbox: upstream answers again; every pending item is due now")
        self.stats["unreachable"] = 0

    async def _already_registered(self, jpeg: bytes, id_num: str) -> bool:
        """Did an unanswered attempt arrive after all? Ask the library who this face is."""
        try:
            found = await self.client.recognise(jpeg)
        except Refused as exc:  # cannot tell: register (the library replaces by idNum)
            log.warning("outbox: recong check refused (%s); registering again", exc)
            return False
        return bool(found.get("isMatch")) and found.get("idNum") == id_num
