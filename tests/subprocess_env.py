"""The environment for running the suite's own commands in a subprocess during the tests.

Without the caller's RESILIENCE_*, PYTEST_* and SLACK_* variables (so a developer's settings or a real
webhook never leak into a test), and with a state store of the test session's own, so no test writes
alert state or heartbeats into the developer's ``.resilience/state.sqlite``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


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


REPO = Path(__file__).resolve().parent.parent


def run_pytest(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest -p no:cacheprovider ARGS`` from the repository root, as the scheduler runs it,
    in :func:`clean_environment` unless ``env`` is given."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=clean_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The records of a ``--resilience-json`` file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
