"""Dialogue engine: service catalogue, request classifier, field parsers and the QnA planner.

Pure Python, no I/O beyond reading the catalogue file; the dialogue worker wraps it.
The names below are loaded on first use: the store imports the record's field list
(``dialogue.record``) and must not pay for the classifier's pinyin tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Catalogue": "catalogue",
    "CatalogueError": "catalogue",
    "Service": "catalogue",
    "load_catalogue": "catalogue",
    "Classification": "classifier",
    "Classifier": "classifier",
    "DialogueEngine": "engine",
    "Handshake": "engine",
    "ParseResult": "fields",
    "parse_field": "fields",
    "InfoCheck": "info",
    "validate_info": "info",
    "compute_age": "numbers",
    "QnaPlanner": "qna",
    "Reply": "qna",
}

if TYPE_CHECKING:
    from .catalogue import Catalogue, CatalogueError, Service, load_catalogue
    from .classifier import Classification, Classifier
    from .engine import DialogueEngine, Handshake
    from .fields import ParseResult, parse_field
    from .info import InfoCheck, validate_info
    from .numbers import compute_age
    from .qna import QnaPlanner, Reply

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
