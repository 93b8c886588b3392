"""One object that ties the dialogue pieces together for the flow worker.

The worker (HTTP/WebSocket plumbing, sessions, database) calls:

    engine = DialogueEngine.from_file()            # or DialogueEngine(load_catalogue(path))
    hs = engine.handshake(info, "我要办身份证")      # after transcribing audio input
    # -> hs.classify, hs.flow, hs.record, hs.info_errors, hs.qna_state (JSON dict)
    engine.planner.current_question(state) / engine.planner.answer(state, text, from_audio)
    engine.storage_output(hs.record, state["answers"])   # the storage "output" object
    engine.summary_output(record_output, hs.classify)    # the summary "output" object
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalogue import FIELD_ORDER, Catalogue, load_catalogue
from .classifier import Classifier
from .info import age_of, validate_info
from .qna import QnaPlanner


@dataclass
class Handshake:
    """What the handshake produced."""

    classify: str
    flow: str
    services: list[str]
    record: dict[str, Any]             # validated, normalised fields of the back end's info
    info_errors: dict[str, str]        # field -> problem (those fields will be asked again)
    needed_fields: list[str]
    qna_state: dict[str, Any]          # JSON-serialisable; store it with the session
    fallback: bool = False
    scores: dict[str, float] = field(default_factory=dict)


class DialogueEngine:
    """Catalogue + classifier + QnA planner + output builders."""

    def __init__(self, catalogue: Catalogue, max_tries: int = 3, today: _dt.date | None = None) -> None:
        self.catalogue = catalogue
        self.classifier = Classifier(catalogue)
        self.planner = QnaPlanner(max_tries=max_tries, today=today)
        self.today = today

    @classmethod
    def from_file(cls, path: str | Path | None = None, **kwargs: Any) -> "DialogueEngine":
        """Load the catalogue (default firmware-config/services.toml); CatalogueError if bad."""
        return cls(load_catalogue(path), **kwargs)

    def handshake(self, info: Any, text: str) -> Handshake:
        """Classify the request and plan the questions for the fields still missing."""
        result = self.classifier.classify(text)
        check = validate_info(info, self.today)
        needed = self.catalogue.needed_fields(result.services)
        state = self.planner.start(needed, check.record)
        return Handshake(result.classify, result.flow, result.services, check.record, check.errors,
                         needed, state, result.fallback, result.scores)

    def storage_output(self, record: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        """Every known field of the record (answers win), plus ``age`` from the birth date."""
        merged = {**record, **{k: v for k, v in answers.items() if v not in (None, "")}}
        output: dict[str, Any] = {}
        for key in FIELD_ORDER:
            if merged.get(key) not in (None, ""):
                output[key] = merged[key]
        age = age_of(merged, self.today)
        if age is not None:
            # Placed after name, as in the seed's example output.
            output = {**({"name": output.pop("name")} if "name" in output else {}), "age": age, **output}
        return output

    def summary_output(self, record_output: dict[str, Any], classify: str) -> dict[str, Any]:
        """The summary ``output``: citizen's record table first, then the documents to bring."""
        tables: list[dict[str, Any]] = [dict(record_output)]
        tables.extend(self.catalogue.documents_for(classify))
        return {"tables": tables, "classify": classify, "flow": self.catalogue.flow_for(classify)}
