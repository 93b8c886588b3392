"""Dialogue engine: service catalogue, request classifier, field parsers and the QnA planner.

Pure Python, no I/O beyond reading the catalogue file; the flow worker wraps it.
"""
from .catalogue import Catalogue, CatalogueError, Service, load_catalogue
from .classifier import Classification, Classifier
from .engine import DialogueEngine, Handshake
from .fields import ParseResult, parse_field
from .info import InfoCheck, validate_info
from .numbers import compute_age
from .qna import QnaPlanner, Reply

__all__ = [
    "Catalogue", "CatalogueError", "Classification", "Classifier", "DialogueEngine", "Handshake",
    "InfoCheck", "ParseResult", "QnaPlanner", "Reply", "Service", "compute_age", "load_catalogue",
    "parse_field", "validate_info",
]
