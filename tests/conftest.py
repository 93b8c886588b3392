import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/harness.py

from harness import Appliance  # noqa: E402


@pytest.fixture
def start_appliance():
    """Start real appliances; every one is stopped at the end of the test."""
    started: list[Appliance] = []

    def start(**kwargs) -> Appliance:
        app = Appliance(**kwargs)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
