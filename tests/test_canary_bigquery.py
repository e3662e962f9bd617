"""Queries are written once: canaries on the BigQuery emulator agree with DuckDB, number for number."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resilience.canary.catalog import CANARIES
from resilience.canary.engine import run_canaries
from resilience.demo import DEFAULT_DEMO_DATE
from resilience.settings import Settings
from resilience.warehouse import BigQueryOptions, WarehouseTarget, open_warehouse
from tests.bigquery_emulator import BigQueryEmulator, load_duckdb_into_bigquery
from tests.demo_fixtures import DemoFactory, run_on
from tests.subprocess_env import clean_environment, read_json_lines, run_pytest

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
# A fault, so that the comparison covers a FAILED canary and its message, not only green ones.
FAULT = "null_player_names"


def canary_tables(settings: Settings) -> list[str]:
    keys = {metric.table for spec in CANARIES for metric in spec.metrics()} | {"schedule"}
    return sorted(settings.tables[key] for key in keys)


@pytest.fixture(scope="module")
def loaded_emulator(
    bigquery_emulator: BigQueryEmulator, demo_factory: DemoFactory, settings: Settings
) -> BigQueryEmulator:
    demo = demo_factory(faults=(FAULT,))
    load_duckdb_into_bigquery(demo, bigquery_emulator.client(), canary_tables(settings))
    return bigquery_emulator


def test_every_canary_measures_the_same_on_bigquery_and_duckdb(
    loaded_emulator: BigQueryEmulator, demo_factory: DemoFactory, settings: Settings
) -> None:
    on_duckdb = run_on(demo_factory(faults=(FAULT,)), settings)
    target = WarehouseTarget("bigquery", project=loaded_emulator.project, endpoint=loaded_emulator.endpoint)
    warehouse = open_warehouse(target, BigQueryOptions(job_timeout_seconds=60, labels={"suite": "test"}))
    try:
        on_bigquery = run_canaries(warehouse, settings, DEFAULT_DEMO_DATE)
    finally:
        warehouse.close()
    assert [q.error for q in on_bigquery.queries] == [None] * len(on_bigquery.queries)
    assert len(on_bigquery.queries) == len(on_duckdb.queries)
    for canary_id, expected in on_duckdb.results.items():
        actual = on_bigquery.results[canary_id]
        assert (actual.outcome, actual.message) == (expected.outcome, expected.message), canary_id
        for got, want in zip(actual.rules, expected.rules, strict=True):
            assert got.value == pytest.approx(want.value), f"{canary_id}.{got.name}"
    assert on_bigquery.results["phase2_raw"].message.startswith("data bad on ")
    assert all(q.query_id and not q.query_id.startswith("duckdb") for q in on_bigquery.queries)


def test_pytest_m_canary_runs_against_bigquery_from_the_environment(
    loaded_emulator: BigQueryEmulator, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    env = clean_environment()
    env["RESILIENCE_WAREHOUSE"] = f"bigquery://{loaded_emulator.project}?endpoint={loaded_emulator.endpoint}"
    env["RESILIENCE_AS_OF"] = DEFAULT_DEMO_DATE.isoformat()
    done = run_pytest("-m", "canary", f"--resilience-json={results}", env=env, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    records = {r["id"]: r for r in read_json_lines(results)}
    assert records["phase2_raw"]["outcome"] == "failed"
    assert {r["outcome"] for cid, r in records.items() if cid != "phase2_raw"} <= {"passed", "warn"}
    assert records["phase2_raw"]["target"].startswith(f"bigquery://{loaded_emulator.project}")
    yesterday = (DEFAULT_DEMO_DATE - dt.timedelta(days=1)).isoformat()
    assert records["phase2_raw"]["dates"] == [yesterday]
