"""Shared fixtures: demo warehouses (from tests/demo_fixtures.py) and the local BigQuery emulator.

Tests that need it ask for ``bigquery_emulator`` and carry ``@pytest.mark.bigquery``. Under
pytest-xdist every worker starts its own emulator (session fixtures run per worker); each leases
its own ports and data directory, and startup is a few seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.demo_fixtures import demo_factory, demo_path, settings

__all__ = ["bigquery_emulator", "demo_factory", "demo_path", "settings"]

if TYPE_CHECKING:
    from tests.bigquery_emulator import BigQueryEmulator


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """A running local-bigquery for this session (or xdist worker); fails, never skips, if absent."""
    # Imported here: the google client and DuckDB cost a second to import, and most sessions never
    # ask for the emulator.
    from tests.bigquery_emulator import (
        EmulatorDidNotStart,
        EmulatorInstall,
        EmulatorNotInstalled,
        running_emulator,
    )

    try:
        install = EmulatorInstall.find()
    except EmulatorNotInstalled as error:
        pytest.fail(str(error), pytrace=False)
    with contextlib.ExitStack() as stack:
        try:
            emulator = stack.enter_context(running_emulator(install, tmp_path_factory.mktemp("bigquery")))
        except EmulatorDidNotStart as error:
            pytest.fail(str(error), pytrace=False)
        yield emulator
