"""Every worker's bus operations, named once; the workers register their handlers under
these names and every caller (gateway, CLI, other workers) sends them.

One way of naming: the worker is the namespace (no ``sync.`` prefix inside the sync
worker); a step of a multi-request exchange is ``<exchange>.<step>`` and the step that
drops a connection's state is ``.close``; removing a person is ``user.delete`` in
every worker that holds something of them; every worker answers ``status``.
These are internal names: no client of the kiosk's ports sees them.
"""

from __future__ import annotations

from enum import StrEnum

STATUS = "status"
"""Every worker: its figures (runtime.worker.STATUS_OP)."""


class Face(StrEnum):
    PREDICT = "predict"
    """One /face_predict frame: {hash} + the image → message, user_id, score."""
    PREDICT_CLOSE = "predict.close"
    TRAIN_OPEN = "train.open"
    TRAIN_FRAME = "train.frame"
    TRAIN_CLOSE = "train.close"
    IDENTIFY = "identify"
    """The technician's `appliance identify`."""
    ENROL = "enrol"
    """The technician's `appliance enrol` (still photos)."""
    USER_DELETE = "user.delete"
    STATUS = STATUS


class Dialogue(StrEnum):
    FLOW = "flow"
    """An HTTP flow request (handshake, storage, summary)."""
    QNA_OPEN = "qna.open"
    QNA_ANSWER = "qna.answer"
    USER_DELETE = "user.delete"
    STATUS = STATUS


class Speech(StrEnum):
    TRANSCRIBE = "transcribe"
    SYNTHESIZE = "synthesize"
    STATUS = STATUS


class Liveness(StrEnum):
    OBSERVE = "observe"
    OBSERVE_CLOSE = "observe.close"
    """Drop the presentation's state (the face worker's connection ended)."""
    STATUS = STATUS


class Sync(StrEnum):
    STATUS = STATUS
    """{limit?} → {outbox: {counts, items}, sebox, tencent}."""
    RETRY = "retry"
    PURGE = "purge"
    RECONCILE = "reconcile"
    RECONG = "recong"
    """faceLib/person/recong: one image → {accepted, isMatch, score, idNum…}."""
    VERIFY = "verify"
    """faceAdv: {name, id_no, user_id?} + the live photo → {passed, similarity…}."""


class Camera(StrEnum):
    SNAPSHOT = "snapshot"
    STATUS = STATUS
