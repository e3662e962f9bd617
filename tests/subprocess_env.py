"""The environment for running the suite's own commands in a subprocess during the tests.

Without the caller's RESILIENCE_*, PYTEST_* and SLACK_* variables (so a developer's settings or a real
webhook never leak into a test), and with a state store of the test session's own, so no test writes
alert state or heartbeats into the developer's ``.resilience/state.sqlite``.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path


@functools.cache
def _session_state() -> Path:
    return Path(tempfile.mkdtemp(prefix="resilience-test-state-")) / "state.sqlite"


def clean_environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RESILIENCE_", "PYTEST_", "SLACK_"))
    }
    environment["RESILIENCE_STATE"] = f"sqlite://{_session_state()}"
    return environment
