"""Dialogue engine: service catalogue, request classifier, field parsers and the QnA planner.

Pure Python, no I/O beyond reading the catalogue file; the worker wraps it.
"""
from .catalogue import Catalogue, CatalogueError, Service, load_catalogue
from .classifier import Classification, Classifier

__all__ = ["Catalogue", "CatalogueError", "Classification", "Classifier", "Service", "load_catalogue"]
