"""Shared fixtures of the face engine tests: models (fetched once), engine, photos."""

import os
from pathlib import Path

import pytest

from appliance.face.engine import FaceEngine
from appliance.face.modelfiles import ensure_models

DATA = Path(__file__).resolve().parents[1] / "data" / "faces"


@pytest.fixture(scope="session")
def face_models_dir() -> Path:
    """The checkout's models folder (filled by `appliance models fetch`, the set-up step)."""
    models = Path(os.environ.get("APPLIANCE_FACE_MODELS", Path(__file__).resolve().parents[2] / "models"))
    ensure_models(models)
    return models


@pytest.fixture(scope="session")
def face_engine(face_models_dir) -> FaceEngine:
    return FaceEngine(face_models_dir)


@pytest.fixture(scope="session")
def face_photos() -> dict[str, bytes]:
    """name (file stem) -> JPEG bytes of the real test photos (see README.md there)."""
    return {p.stem: p.read_bytes() for p in sorted(DATA.glob("*.jpg"))}


@pytest.fixture(scope="session")
def face_analyses(face_engine, face_photos) -> dict:
    """Each test photo analysed once."""
    return {name: face_engine.analyse(data) for name, data in face_photos.items()}
