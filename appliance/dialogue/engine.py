"""The dialogue's meaning, in one place: what the kiosk answers at each step of the flow.

The dialogue worker (appliance/workers/dialogue.py) owns only transport,
sessions and transactions and calls this for every answer it gives:

    engine = DialogueEngine(load_catalogue(path))   # or DialogueEngine.from_file()
    check = engine.check_info(info)                  # refuse malformed info before any work
    hs = engine.handshake(check, "我要办身份证件")     # after transcribing audio input
    # -> hs.classify, hs.flow, hs.record, hs.info_errors, hs.qna_state (JSON dict: keep it with the session)
    engine.open_qna(state)                           # {"text", "done", "seq"}: the question being asked
    engine.answer(state, seq, text, from_audio)      # applies the answer to question `seq`, once
    record = engine.record(hs.record, state["answers"])
    engine.storage_output(record)                    # the storage "output": every field, null when unknown
    engine.summary_output(output, hs.classify, flow) # the summary "output"
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import clarify
from .catalogue import Catalogue, load_catalogue
from .classifier import Classifier
from .info import InfoCheck, age_of, validate_info
from .qna import QnaPlanner
from .record import OUTPUT_FIELDS, RECORD_FIELDS
from .soundalike import SoundAlike

ALREADY_COMPLETE = "您的信息已经齐全，不需要再回答问题了。"


@dataclass
class Handshake:
    """What the handshake produced."""

    classify: str
    flow: str
    services: list[str]
    record: dict[str, Any]  # validated, normalised fields of the back end's info
    info_errors: dict[str, str]  # field -> problem (those fields will be asked again)
    needed_fields: list[str]
    qna_state: dict[str, Any]  # JSON-serialisable; store it with the session
    fallback: bool = False
    scores: dict[str, float] = field(default_factory=dict)
    candidates: list[str] = field(default_factory=list)  # not sure: `flow` asks which (clarify.py)


def _known(value: Any) -> bool:
    """None and "" both mean: nobody said."""
    return value is not None and value != ""


class DialogueEngine:
    """Catalogue + classifier + QnA planner + output builders."""

    def __init__(self, catalogue: Catalogue, max_tries: int = 3, today: _dt.date | None = None) -> None:
        self.catalogue = catalogue
        self.classifier = Classifier(catalogue)
        self.soundalike = SoundAlike(catalogue)
        self.planner = QnaPlanner(max_tries=max_tries, today=today)
        self.today = today

    @classmethod
    def from_file(cls, path: str | Path | None = None, **kwargs: Any) -> DialogueEngine:
        """Load the catalogue (default firmware-config/services.toml); CatalogueError if bad."""
        return cls(load_catalogue(path), **kwargs)

    # -- handshake -------------------------------------------------------------
    def check_info(self, info: Any) -> InfoCheck:
        """The back end's `info`: usable fields, wrong values (asked again), wrong types (refused)."""
        return validate_info(info, self.today)

    def handshake(
        self, info: Any, text: str, waiting: dict[str, Any] | None = None, spoken: bool = False
    ) -> Handshake:
        """Classify the request and plan the questions for the fields still missing.

        ``info`` is the raw `info` object or the InfoCheck already made of it. ``waiting`` is the
        clarification the user's previous handshake asked (its qna_state's "clarify"): ``text`` is
        read as its answer first. When unsure, the fallback is answered with a question as ``flow``
        and the state keeps the candidates under "clarify" for the next handshake. ``spoken``: ``text``
        is a transcript, and a service named by a sound-alike is asked about (soundalike.py)."""
        check = info if isinstance(info, InfoCheck) else self.check_info(info)
        first = self.classifier.classify(text)
        if spoken:
            first = self.soundalike.check(first, text)
        result = clarify.settle(self.catalogue, waiting, text, first)
        needed = self.catalogue.needed_fields(result.services)
        state = self.planner.start(needed, check.record)
        if result.candidates:
            state["clarify"] = clarify.pending(result.candidates, text)
        elif waiting:  # the same answer resent (its reply lost) is read against the same question
            state["answered"] = {"question": waiting, "answer": text}
        return Handshake(
            result.classify,
            result.flow,
            result.services,
            check.record,
            check.errors,
            needed,
            state,
            result.fallback,
            result.scores,
            result.candidates,
        )

    def plan(self, classify: str, record: dict[str, Any]) -> dict[str, Any]:
        """A fresh question plan for a session whose stored plan is unusable (an older version's)."""
        return self.planner.start(self.catalogue.needed_fields(classify), record)

    # -- qna ---------------------------------------------------------------------
    def open_qna(self, state: dict[str, Any]) -> dict[str, Any]:
        """The question being asked now (after a reconnect too) with its number."""
        question = self.planner.current_question(state)
        if question is None:
            return {"text": ALREADY_COMPLETE, "done": True, "seq": state["seq"]}
        return {"text": question, "done": False, "seq": state["seq"]}

    def answer(self, state: dict[str, Any], seq: int, text: str, from_audio: bool = False) -> dict[str, Any]:
        """Apply ``text`` as the answer to question number ``seq``, exactly once.

        The reply says what to say next and the number of that question. Mutates ``state`` only when
        the answer is applied (``applied`` in the reply): the answer to the question being asked now.
        The same answer to the question just answered (resent after a crash lost the reply) gets the
        reply it got the first time; anything else is not applied and gets the current question."""
        if seq == state["seq"]:
            reply = self.planner.answer(state, text, from_audio=from_audio)
            state["seq"] += 1
            out = {
                "text": reply.text,
                "done": reply.done,
                "field": reply.field,
                "event": reply.event,
                "seq": state["seq"],
            }
            state["last"] = {"seq": seq, "text": text, "from_audio": from_audio, "reply": out}
            return {**out, "applied": True}
        last = state.get("last")
        if last and last["seq"] == seq and last["text"] == text:
            return {**last["reply"], "applied": False}
        # A stale question (another connection answered it meanwhile): ask the current one.
        current = self.open_qna(state)
        return {**current, "field": None, "event": "stale", "applied": False}

    # -- storage and summary -------------------------------------------------------
    @staticmethod
    def record(info: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        """The citizen's record: the handshake's checked info, the answers winning; known fields only."""
        merged = {**info, **{k: v for k, v in answers.items() if _known(v)}}
        return {k: merged[k] for k in RECORD_FIELDS if _known(merged.get(k))}

    def storage_output(self, record: dict[str, Any]) -> dict[str, Any]:
        """Every field of the record in OUTPUT_FIELDS order, null when unknown, `age` from the birth date."""
        values = {**{k: v for k, v in record.items() if _known(v)}, "age": age_of(record, self.today)}
        return {key: values.get(key) for key in OUTPUT_FIELDS}

    def summary_output(
        self, record_output: dict[str, Any], classify: str, flow: str | None = None
    ) -> dict[str, Any]:
        """The summary ``output``: the citizen's record table first, then the documents to bring.

        ``flow`` is the procedure the citizen was given at the handshake (the catalogue's when None)."""
        tables: list[dict[str, Any]] = [dict(record_output)]
        tables.extend(self.catalogue.documents_for(classify))
        return {
            "tables": tables,
            "classify": classify,
            "flow": self.catalogue.flow_for(classify) if flow is None else flow,
        }
