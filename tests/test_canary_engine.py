"""The canary engine on real demo warehouses: batching, partition filters, faults, calendar, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pytest

from resilience.canary.catalog import CANARIES, CANARIES_BY_ID
from resilience.canary.engine import plan_queries, run_canaries
from resilience.demo import DEFAULT_DEMO_DATE, FAULTS
from resilience.outcomes import Outcome, Threshold
from resilience.schemas import load_catalog
from resilience.settings import CanarySettings, Settings
from resilience.sql_guard import partition_filter_violations
from resilience.warehouse.base import QueryParams, QueryResult
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.demo_fixtures import DemoFactory, run_on

ALL_IDS = {spec.id for spec in CANARIES}


class CountingWarehouse:
    """The real DuckDB warehouse, counting the queries it is asked to run."""

    def __init__(self, inner: DuckDBWarehouse) -> None:
        self.inner = inner
        self.labels: list[str] = []

    target = property(lambda self: self.inner.target)
    dialect = "duckdb"

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        self.labels.append(label)
        return self.inner.query(sql, params, label=label)

    def close(self) -> None:
        self.inner.close()


def failing(run_results: Mapping[str, object]) -> set[str]:
    return {canary_id for canary_id, result in run_results.items() if result.outcome is Outcome.FAILED}  # type: ignore[attr-defined]


@pytest.mark.parametrize("as_of", [DEFAULT_DEMO_DATE, dt.date(2026, 2, 16), dt.date(2025, 7, 1)])
def test_every_query_filters_the_partition_column_of_every_partitioned_table(
    settings: Settings, as_of: dt.date
) -> None:
    catalog = load_catalog()
    planned = plan_queries(CANARIES, settings, as_of)
    assert planned, "nothing was planned"
    for query in planned:
        assert partition_filter_violations(query.sql, catalog) == [], query.sql


def test_the_partition_guard_catches_an_unfiltered_query() -> None:
    sql = "SELECT COUNT(*) FROM `nba_raw.nbac_gamebook_player_stats` WHERE player_name IS NULL"
    assert partition_filter_violations(sql, load_catalog()) == [
        "nba_raw.nbac_gamebook_player_stats is read without a filter on its partition column game_date"
    ]


def test_all_canaries_cost_one_query_per_table(demo_path: Path, settings: Settings) -> None:
    warehouse = CountingWarehouse(DuckDBWarehouse(demo_path))
    run = run_canaries(warehouse, settings, DEFAULT_DEMO_DATE)
    tables = {metric.table for spec in CANARIES for metric in spec.metrics()} | {"schedule"}
    assert sorted(warehouse.labels) == sorted(f"canary_{table}" for table in tables)
    assert len(run.results) == len(CANARIES)


def test_the_clean_demo_passes_every_canary(demo_path: Path, settings: Settings) -> None:
    run = run_on(demo_path, settings)
    assert {
        cid: r.outcome for cid, r in run.results.items() if r.outcome not in (Outcome.PASSED, Outcome.WARN)
    } == {}
    assert all(not r.message.startswith("nothing expected") for r in run.results.values())


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_exactly_the_canaries_it_is_meant_to(
    fault: str, demo_factory: DemoFactory, settings: Settings
) -> None:
    run = run_on(demo_factory(faults=(fault,)), settings)
    assert failing(run.results) == set(FAULTS[fault].trips)
    others = {cid: r.outcome for cid, r in run.results.items() if cid not in FAULTS[fault].trips}
    # A canary whose sample the fault removed (edge collapse without predictions) skips, never fails.
    assert all(outcome in (Outcome.PASSED, Outcome.WARN, Outcome.SKIPPED) for outcome in others.values()), (
        others
    )
    for canary_id in FAULTS[fault].trips:
        assert run.results[canary_id].message.startswith("data bad on "), run.results[canary_id].message


def test_a_failure_names_the_metric_its_value_and_the_threshold(
    demo_factory: DemoFactory, settings: Settings
) -> None:
    result = run_on(demo_factory(faults=("null_player_names",)), settings).results["phase2_raw"]
    yesterday = (DEFAULT_DEMO_DATE - dt.timedelta(days=1)).isoformat()
    nulls = next(rule for rule in result.rules if rule.name == "null_player_name")
    assert nulls.outcome is Outcome.FAILED and nulls.value and nulls.value > 0
    assert result.message == (
        f"data bad on {yesterday}: rows with NULL player_name = {int(nulls.value)} (fail > 0)"
    )


def test_a_complete_gap_and_a_partial_one_are_told_apart(
    demo_factory: DemoFactory, settings: Settings
) -> None:
    run = run_on(demo_factory(faults=("empty_analytics_day",)), settings)
    assert "(0 of " in run.results["schedule_gap"].message
    assert run.results["phase3_analytics"].outcome is Outcome.FAILED
    assert "no rows on" in run.results["phase3_analytics"].message
    partial = run_on(demo_factory(faults=("partial_coverage_day",)), settings).results["analytics_coverage"]
    day = (DEFAULT_DEMO_DATE - dt.timedelta(days=4)).isoformat()
    assert f"dates with only some games in analytics = 1 (fail > 0): {day} (" in partial.message


@pytest.mark.parametrize(
    ("as_of", "reason"),
    [
        (dt.date(2026, 2, 16), "All-Star break"),
        (dt.date(2025, 7, 1), "off-season"),
        (dt.date(2025, 11, 28), "no games scheduled"),
    ],
)
def test_a_day_without_games_passes_as_nothing_expected(
    as_of: dt.date, reason: str, demo_factory: DemoFactory, settings: Settings
) -> None:
    demo = demo_factory(as_of=max(as_of, dt.date(2025, 11, 28)))
    run = run_on(demo, settings, as_of)
    quiet = "phase2_raw" if as_of == dt.date(2025, 11, 28) else "phase5_predictions"
    assert run.results[quiet].outcome is Outcome.PASSED
    assert run.results[quiet].message.startswith("nothing expected: no games on ")
    assert run.results[quiet].message.endswith(f"({reason})")
    assert run.outcome in (Outcome.PASSED, Outcome.WARN)


def test_a_broken_query_is_an_error_for_the_canaries_on_that_table_only(
    demo_path: Path, tmp_path: Path, settings: Settings
) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(demo_path, broken)
    with duckdb.connect(str(broken)) as connection:
        connection.execute("ALTER TABLE nba_predictions.ml_feature_store_v2 DROP COLUMN matchup_quality_pct")
    run = run_on(broken, settings)
    assert run.results["phase4_precompute"].outcome is Outcome.ERROR
    assert run.results["phase4_precompute"].message.startswith(
        "check broken: query 'canary_features' on duckdb://"
    )
    assert "matchup_quality_pct" in run.results["phase4_precompute"].message
    assert {cid for cid, r in run.results.items() if r.outcome is Outcome.ERROR} == {"phase4_precompute"}


class NullingWarehouse(CountingWarehouse):
    """Answers one metric as NULL, as a broken aggregate or a changed column type would."""

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        result = self.inner.query(sql, params, label=label)
        if label != "canary_gamebook":
            return result
        rows = [{**row, "null_player_name": None} for row in result.rows]
        return dataclasses.replace(result, rows=rows)


def test_a_null_metric_is_an_error_never_a_pass(demo_path: Path, settings: Settings) -> None:
    warehouse = NullingWarehouse(DuckDBWarehouse(demo_path))
    result = run_canaries(warehouse, settings, DEFAULT_DEMO_DATE).results["phase2_raw"]
    assert result.outcome is Outcome.ERROR
    assert "rows with NULL player_name not measurable" in result.message


def with_canary(settings: Settings, canary_id: str, **changes: object) -> Settings:
    current = settings.canaries[canary_id]
    updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(settings, canaries={**settings.canaries, canary_id: updated})


def test_a_rule_below_its_minimum_sample_is_skipped_with_the_reason(
    demo_path: Path, settings: Settings
) -> None:
    strict = with_canary(settings, "edge_collapse", params={"min_sample": 100_000})
    result = run_on(demo_path, strict).results["edge_collapse"]
    assert result.outcome is Outcome.SKIPPED
    assert "fewer than the 100000 this rule needs" in result.message


def test_per_game_thresholds_follow_the_slate(demo_path: Path, settings: Settings) -> None:
    base = run_on(demo_path, settings).results["phase4_precompute"]
    players = next(rule for rule in base.rules if rule.name == "players")
    assert players.threshold.per_game is False and players.threshold.fail_below is not None
    assert players.threshold.fail_below % 10 == 0 and players.threshold.fail_below >= 20
    strict: CanarySettings = settings.canaries["phase4_precompute"]
    thresholds = {**strict.thresholds, "players": Threshold(fail_below=40, per_game=True)}
    result = run_on(demo_path, with_canary(settings, "phase4_precompute", thresholds=thresholds))
    assert result.results["phase4_precompute"].outcome is Outcome.FAILED
    assert "distinct players with features" in result.results["phase4_precompute"].message


def test_a_one_game_finals_night_is_judged_per_game(demo_factory: DemoFactory, settings: Settings) -> None:
    day_after_game_3 = dt.date(2026, 6, 6)  # one Finals game yesterday, none today
    run = run_on(demo_factory(as_of=day_after_game_3), settings, day_after_game_3)
    assert run.outcome in (Outcome.PASSED, Outcome.WARN), {k: r.message for k, r in run.results.items()}
    rows = next(rule for rule in run.results["phase2_raw"].rules if rule.name == "rows")
    assert rows.threshold.fail_below == 20  # one final game yesterday: 20 rows per game
    assert run.results["phase5_predictions"].message.startswith("nothing expected")


def test_the_catalog_and_the_checks_name_the_same_canaries() -> None:
    checks = Path(__file__).resolve().parent.parent / "checks" / "canaries"
    marked = set()
    for path in checks.glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        marked |= {canary_id for canary_id in CANARIES_BY_ID if f'mark.canary("{canary_id}")' in text}
    assert marked == ALL_IDS
