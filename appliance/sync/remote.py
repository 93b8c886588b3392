"""The optional upstream policies, as one call each for the workers that apply
them.  Both ask the sync worker over the bus (only it touches the network)
and never raise: an upstream that is down must not stop the kiosk.

- ``remote_identify`` — for the face worker when its gallery has no match and
  ``tencent.recong_fallback`` is on: faceLib/person/recong, accepted at
  ``tencent.recong_threshold`` (a 1:N threshold), mapped back to a local
  user_id through the citizen's ID number.
- ``verify_citizen`` — for the dialogue worker before ``storage`` when
  ``tencent.verify_before_storage`` is on: faceAdv ``authmatch`` with the
  record's name and ID number and the user's enrolment photo; the answer is
  what to store in ``FlowSession.verification`` (``passed`` None: could not
  verify, which never blocks storage; see sync/verify.py).
"""

from __future__ import annotations

import logging
from typing import Any

from ..runtime import bus
from ..runtime.peers import Peers
from ..workers.ops import Sync
from .verify import unverified

log = logging.getLogger(__name__)


def remote_identify(peers: Peers, image: bytes) -> dict[str, Any] | None:
    """{"user_id", "score", "idNum", "source": "remote"} if the upstream library knows
    this face well enough and the ID number belongs to a local citizen; else None."""
    settings = peers.settings
    if not (settings.tencent.enabled and settings.tencent.recong_fallback):
        return None
    try:
        found = peers.call("sync", Sync.RECONG, {}, [image])[0]
    except bus.BusError as exc:
        log.warning("remote recong unavailable: %s", getattr(exc, "reason", exc))
        return None
    if not found.get("accepted") or not found.get("idNum"):
        return None
    from ..store.models import Citizen

    citizen = Citizen.get_or_none(Citizen.id_card == found["idNum"])
    if citizen is None:
        return None
    return {
        "user_id": citizen.user_id,
        "score": found.get("score"),
        "idNum": found["idNum"],
        "source": "remote",
    }


def verify_citizen(
    peers: Peers, user_id: str, name: str, id_no: str, photo: bytes | None = None
) -> dict[str, Any] | None:
    """faceAdv authmatch of this person's face against name + ID number.

    None when the policy is off. Otherwise a dict for the session's
    ``verification``: ``passed`` True/False when the service gave a verdict,
    or ``passed`` None with ``error`` and ``reason`` when the check could not
    be made (no enrolment photo, upstream unreachable or refusing, no usable
    result). Only False may stop ``storage``; None never blocks the kiosk."""
    settings = peers.settings
    if not (settings.tencent.enabled and settings.tencent.verify_before_storage):
        return None
    if photo is None:
        from ..store import faces

        photo = faces.sample_of(user_id)
    if not photo:
        return unverified("no_photo", "no enrolment photo for this user_id")
    try:
        return peers.call(
            "sync",
            Sync.VERIFY,
            {"type": "authmatch", "name": name, "id_no": id_no, "user_id": user_id},
            [photo],
        )[0]
    except bus.BusError as exc:
        log.warning("identity check of %s could not be made: %s", user_id, getattr(exc, "reason", exc))
        return unverified(getattr(exc, "code", "unavailable"), getattr(exc, "reason", str(exc)))
