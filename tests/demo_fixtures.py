"""Demo warehouses for the suite's own tests, built once per session and shared across tests.

Under pytest-xdist each worker builds its own copies (session fixtures run per worker); builds are
seconds, and sharing files across workers would need locking for no gain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from resilience.canary.engine import CanaryRun, run_canaries
from resilience.demo import DEFAULT_DEMO_DATE, build_demo
from resilience.settings import Settings, load_settings
from resilience.warehouse.duckdb_backend import DuckDBWarehouse

DemoFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def demo_factory(tmp_path_factory: pytest.TempPathFactory) -> DemoFactory:
    """``demo_factory(as_of=..., faults=(...))`` -> path of a built demo, cached by its arguments."""
    built: dict[tuple[dt.date, tuple[str, ...], int], Path] = {}
    folder = tmp_path_factory.mktemp("demo")

    def make(as_of: dt.date = DEFAULT_DEMO_DATE, faults: tuple[str, ...] = (), seed: int = 7) -> Path:
        key = (as_of, tuple(faults), seed)
        if key not in built:
            name = f"demo-{as_of.isoformat()}-{'-'.join(faults) or 'clean'}-{seed}.duckdb"
            built[key] = build_demo(folder / name, as_of, seed=seed, faults=faults).path
        return built[key]

    return make


@pytest.fixture(scope="session")
def demo_path(demo_factory: DemoFactory) -> Path:
    """The clean default demo warehouse."""
    return demo_factory()


def run_on(path: Path, settings: Settings, as_of: dt.date = DEFAULT_DEMO_DATE) -> CanaryRun:
    warehouse = DuckDBWarehouse(path)
    try:
        return run_canaries(warehouse, settings, as_of)
    finally:
        warehouse.close()
