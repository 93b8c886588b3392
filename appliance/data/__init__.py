"""Data the appliance ships (package data, so an installed wheel has it too): real face photos
used by the doctor's probe, the face bench, the liveness evaluation and the SE box simulator;
and the citizens' request sets the classifier is measured on (`appliance classify-eval`).
See faces/README.md for where each photo comes from."""

from pathlib import Path

FACES_DIR = Path(__file__).resolve().parent / "faces"
"""JPEG photos of real faces (public-domain portraits)."""

PROBE_PHOTO = FACES_DIR / "obama_1.jpg"
"""The photo the doctor and the face bench detect and embed."""

REQUESTS_DIR = Path(__file__).resolve().parent / "requests"
"""Tab-separated ``expected<TAB>text`` request sets; the ``*_blind`` ones are never tuned on."""
