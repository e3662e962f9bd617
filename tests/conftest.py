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


# --- Firestore emulator (tests/firestore_emulator.py) -------------------------------------------
# Tests that need it ask for ``firestore_emulator`` and carry ``@pytest.mark.firestore``. As with
# BigQuery, each xdist worker starts its own emulator on its own leased port (2-4 s, ~200 MiB).

if TYPE_CHECKING:
    from tests.firestore_emulator import FirestoreEmulator


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """A running Firestore emulator for this session (or xdist worker); fails, never skips, if absent."""
    # Imported here: the google client costs a second to import, and most sessions never need it.
    from tests.firestore_emulator import (
        EmulatorDidNotStart,
        EmulatorNotInstalled,
        find_start_script,
        running_emulator,
    )

    # pytest.fail outside the except blocks: inside, pytest prints the message twice (chained).
    problem = ""
    try:
        script = find_start_script()
    except EmulatorNotInstalled as error:
        problem = str(error)
    if problem:
        pytest.fail(problem, pytrace=False)
    with contextlib.ExitStack() as stack:
        try:
            emulator = stack.enter_context(running_emulator(script, tmp_path_factory.mktemp("firestore")))
        except EmulatorDidNotStart as error:
            problem = str(error)
        if problem:
            pytest.fail(problem, pytrace=False)
        yield emulator
