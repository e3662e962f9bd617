"""Prediction-quality rules on real DuckDB files: the clean demo, and small grading tables written row
by row to sit just either side of every threshold and every minimum sample."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import duckdb
import pytest

from resilience.demo import DEFAULT_DEMO_DATE
from resilience.demo.schema import create_warehouse, load_schemas
from resilience.outcomes import Outcome
from resilience.quality.config import QUALITY_RULES
from resilience.quality.prediction_quality import QUALITY_CHECKS, evaluate_prediction_quality, planned_sql
from resilience.results import CheckResult
from resilience.schemas import load_catalog
from resilience.settings import DEFAULT_SETTINGS_PATH, Settings, SettingsError, load_settings
from resilience.sql_guard import partition_filter_violations
from resilience.warehouse.base import QueryParams, QueryResult
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.subprocess_env import read_json_lines, run_pytest

AS_OF = dt.date(2026, 1, 15)
YESTERDAY = AS_OF - dt.timedelta(days=1)
CHAMPION = "catboost_v9"
LINE = 20.5

#: Rules the clean demo cannot meet with its generated data, and what it produces instead. The demo
#: builder is not ours to change and the thresholds are production's: the lead decides.


def check_id(rule: str) -> str:
    return QUALITY_CHECKS[rule].check_id


class GradingWarehouse:
    """A DuckDB file with the production tables and only the grading and prediction rows a test writes."""

    def __init__(self, path: Path, empty: Path) -> None:
        self.path = path
        shutil.copyfile(empty, path)
        self.connection = duckdb.connect(str(path))
        self.players = itertools.count()

    def graded(
        self,
        count: int,
        *,
        hits: int = 0,
        day: dt.date = YESTERDAY,
        confidence: float = 0.6,
        edge: float = 1.5,
        recommendation: str = "OVER",
        system_id: str = CHAMPION,
        voided: bool = False,
        absolute_error: float | None = None,
        closer: bool | None = None,
        line_source: str = "ACTUAL_PROP",
        correct_known: bool = True,
    ) -> None:
        """``count`` graded rows, the first ``hits`` of them correct OVER picks at ``edge`` over the line.

        A hit scores 2.5 over the line, a miss 2.5 under it; ``closer`` puts the actual points on the
        prediction (closer than the line) or far beyond the line (not closer).
        """
        rows = []
        predicted = LINE + edge
        for index in range(count):
            hit = index < hits
            actual = LINE + 2.5 if hit else LINE - 2.5
            if closer is True:
                actual = round(predicted)
            elif closer is False:
                actual = LINE - 10.5
            error = absolute_error if absolute_error is not None else abs(predicted - actual)
            player = next(self.players)
            rows.append([
                f"player{player}", f"{day:%Y%m%d}_NYK_BOS", day, system_id, predicted, confidence,
                recommendation, LINE, int(actual), error, predicted - actual,
                hit if correct_known else None, line_source, voided,
            ])  # fmt: skip
        self._insert(
            "INSERT INTO nba_predictions.prediction_accuracy (player_lookup, game_id, game_date, system_id, "
            "predicted_points, confidence_score, recommendation, line_value, actual_points, absolute_error, "
            "signed_error, prediction_correct, line_source, is_voided) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def predictions(
        self, count: int, *, day: dt.date = YESTERDAY, active: bool = True, system_id: str = CHAMPION
    ) -> None:
        rows = [
            [f"prediction{n}-{day}-{system_id}-{active}", system_id, f"player{n}", f"{day:%Y%m%d}_NYK_BOS",
             day, 20.0, active]
            for n in range(count)
        ]  # fmt: skip
        self._insert(
            "INSERT INTO nba_predictions.player_prop_predictions (prediction_id, system_id, player_lookup, "
            "game_id, game_date, predicted_points, is_active) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _insert(self, sql: str, rows: list[list[object]]) -> None:
        # One multi-row INSERT per 500 rows: DuckDB's executemany runs row by row and is slow.
        head, placeholders = sql.split(" VALUES ")
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            values = ", ".join([placeholders] * len(chunk))
            self.connection.execute(f"{head} VALUES {values}", [value for row in chunk for value in row])

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def evaluate(self, settings: Settings) -> Mapping[str, CheckResult]:
        self.connection.close()
        warehouse = DuckDBWarehouse(self.path)
        try:
            return evaluate_prediction_quality(warehouse, settings, AS_OF)
        finally:
            warehouse.close()


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with every table of ``schemas/`` and no rows, copied by each test."""
    path = tmp_path_factory.mktemp("empty") / "empty.duckdb"
    connection = duckdb.connect(str(path))
    try:
        create_warehouse(connection, load_schemas())
    finally:
        connection.close()
    return path


@pytest.fixture
def tiny(tmp_path: Path, empty_warehouse: Path) -> Iterator[GradingWarehouse]:
    warehouse = GradingWarehouse(tmp_path / "grading.duckdb", empty_warehouse)
    yield warehouse
    warehouse.connection.close()


class CountingWarehouse(DuckDBWarehouse):
    """The real DuckDB warehouse, recording every query it is asked to run."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sql: list[str] = []

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        self.sql.append(sql)
        return super().query(sql, params, label=label)


# ---- the clean demo ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_results(demo_path: Path, settings: Settings) -> Mapping[str, CheckResult]:
    warehouse = DuckDBWarehouse(demo_path)
    try:
        return evaluate_prediction_quality(warehouse, settings, DEFAULT_DEMO_DATE)
    finally:
        warehouse.close()


@pytest.mark.parametrize(
    "rule",
    [rule for rule in QUALITY_RULES],
)
def test_the_clean_demo_passes_the_rule(demo_results: Mapping[str, CheckResult], rule: str) -> None:
    result = demo_results[check_id(rule)]
    assert result.outcome in (Outcome.PASSED, Outcome.WARN), result.message


def test_seven_rules_cost_two_queries_that_filter_every_partition(
    demo_path: Path, settings: Settings
) -> None:
    warehouse = CountingWarehouse(demo_path)
    try:
        results = evaluate_prediction_quality(warehouse, settings, DEFAULT_DEMO_DATE)
    finally:
        warehouse.close()
    assert len(warehouse.sql) == 2
    assert set(warehouse.sql) == set(planned_sql(settings))
    catalog = load_catalog()
    for sql in (*planned_sql(settings), *(s for result in results.values() for s in result.sql)):
        assert partition_filter_violations(sql, catalog) == [], sql
    assert sorted(results) == sorted(f"prediction_quality.{rule}" for rule in QUALITY_RULES)


# ---- every rule just either side of its threshold ---------------------------------------------------

Scenario = Callable[[GradingWarehouse, bool], None]


def _premium(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.graded(100, hits=55 if healthy else 54, confidence=0.92, edge=3.0)


def _high_edge(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.graded(100, hits=72 if healthy else 71, edge=5.0)


def _mae(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.graded(99, absolute_error=5.0)
    tiny.graded(1, absolute_error=5.0 if healthy else 6.0)


def _spread(tiny: GradingWarehouse, healthy: bool) -> None:
    # Daily premium hit rates 50%, 65% and 79% (std dev 14.5 points) or 81% (15.5 points).
    for back, hits in ((1, 50), (2, 65), (3, 79 if healthy else 81)):
        tiny.graded(100, hits=hits, confidence=0.95, edge=3.0, day=AS_OF - dt.timedelta(days=back))


def _grading(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.predictions(100)
    tiny.predictions(100, active=False)  # superseded rows are not owed a grade
    tiny.predictions(100, system_id="catboost_v8")  # nor are other models'
    tiny.graded(80 if healthy else 79)


def _leakage(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.graded(100, hits=80 if healthy else 81)


def _closer(tiny: GradingWarehouse, healthy: bool) -> None:
    tiny.graded(40 if healthy else 39, closer=True)
    tiny.graded(60 if healthy else 61, closer=False)


SCENARIOS: Mapping[str, tuple[Scenario, float, float, str]] = {
    # rule: (scenario, value just inside, value just outside, failure message after "data bad on ...: ")
    "premium_hit_rate": (_premium, 0.55, 0.54, "premium hit rate = 54% (fail < 55%): 54 of 100 premium bets"),
    "high_edge_hit_rate": (_high_edge, 0.72, 0.71, "high-edge hit rate = 71% (fail < 72%): 71 of 100 bets"),
    "mae": (_mae, 5.0, 5.01, "mean absolute error = 5.01 points (fail > 5 points): over 100 graded"),
    "premium_hit_rate_spread": (
        _spread,
        14.50,
        15.50,
        "daily premium hit-rate spread = 15.5 points (fail > 15",
    ),
    "grading_completeness": (
        _grading,
        0.8,
        0.79,
        "share of predictions graded = 79% (fail < 80%): 79 of 100",
    ),
    "leakage_guard": (_leakage, 0.8, 0.81, "overall hit rate = 81% (fail > 80%): 81 of 100 bets hit"),
    "closer_than_line": (_closer, 0.4, 0.39, "share closer to the result than the line = 39% (fail < 40%)"),
}


def test_every_rule_has_a_threshold_scenario() -> None:
    assert sorted(SCENARIOS) == sorted(QUALITY_RULES)


@pytest.mark.parametrize("healthy", [True, False], ids=["just-inside-passes", "just-outside-fails"])
@pytest.mark.parametrize("rule", list(SCENARIOS))
def test_each_rule_is_judged_against_its_threshold(
    tiny: GradingWarehouse, settings: Settings, rule: str, healthy: bool
) -> None:
    scenario, inside, outside, failure = SCENARIOS[rule]
    scenario(tiny, healthy)
    result = tiny.evaluate(settings)[check_id(rule)]
    assert result.outcome is (Outcome.PASSED if healthy else Outcome.FAILED), result.message
    assert result.rules[0].value == pytest.approx(inside if healthy else outside, abs=0.006)
    if healthy:
        assert result.message.startswith("passed on 2026-01-"), result.message
    else:
        assert result.message.startswith("data bad on 2026-01-"), result.message
        assert failure in result.message, result.message


def test_premium_means_confidence_and_edge_both_at_their_minimums(
    tiny: GradingWarehouse, settings: Settings
) -> None:
    tiny.graded(20, hits=20, confidence=0.92, edge=3.0)  # premium, at both minimums
    tiny.graded(30, confidence=0.919, edge=6.0)  # confidence just short
    tiny.graded(30, confidence=0.97, edge=2.9)  # edge just short
    result = tiny.evaluate(settings)[check_id("premium_hit_rate")]
    assert result.outcome is Outcome.PASSED
    assert result.rules[0].detail.startswith("20 of 20 premium bets")


def test_only_graded_unvoided_picks_of_the_champion_are_bets(
    tiny: GradingWarehouse, settings: Settings
) -> None:
    tiny.graded(30, hits=15)
    tiny.graded(10, hits=10, voided=True)
    tiny.graded(10, hits=10, recommendation="PASS")
    tiny.graded(10, hits=10, recommendation="NO_LINE")
    tiny.graded(10, hits=10, correct_known=False)
    tiny.graded(10, hits=10, system_id="catboost_v8")
    tiny.graded(10, hits=10, day=AS_OF)  # not graded yet in production; outside the window here
    tiny.graded(10, hits=10, day=AS_OF - dt.timedelta(days=8))  # older than the 7-day window
    result = tiny.evaluate(settings)[check_id("leakage_guard")]
    assert result.rules[0].detail == "15 of 30 bets hit"


def test_closer_than_the_line_reads_real_prop_lines_only(tiny: GradingWarehouse, settings: Settings) -> None:
    tiny.graded(100, closer=True)
    tiny.graded(100, closer=False, line_source="ESTIMATED_AVG")
    result = tiny.evaluate(settings)[check_id("closer_than_line")]
    assert result.rules[0].value == 1.0


def test_duplicate_grading_rows_do_not_inflate_completeness(
    tiny: GradingWarehouse, settings: Settings
) -> None:
    tiny.predictions(100)
    tiny.graded(70)
    tiny.execute(
        "INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy"
    )
    result = tiny.evaluate(settings)[check_id("grading_completeness")]
    assert result.outcome is Outcome.FAILED
    assert result.rules[0].value == pytest.approx(0.7)


# ---- minimum samples --------------------------------------------------------------------------------

Fill = Callable[[GradingWarehouse, int], None]


def _spread_days(tiny: GradingWarehouse, days: int) -> None:
    tiny.graded(9, hits=5, confidence=0.95, edge=3.0, day=AS_OF - dt.timedelta(days=7))  # under 10: no day
    for back in range(1, days + 1):
        tiny.graded(10, hits=5 + back % 2, confidence=0.95, edge=3.0, day=AS_OF - dt.timedelta(days=back))


def _graded_predictions(tiny: GradingWarehouse, count: int) -> None:
    tiny.predictions(count)
    tiny.graded(count)


SAMPLES: Mapping[str, tuple[Fill, str]] = {
    "premium_hit_rate": (
        lambda tiny, n: tiny.graded(n, hits=n, confidence=0.95, edge=3.5),
        "premium bets (confidence >= 0.92, edge >= 3) over 2026-01-08..2026-01-14",
    ),
    "high_edge_hit_rate": (
        lambda tiny, n: tiny.graded(n, hits=n, edge=5.5),
        "bets with edge >= 5 over 2026-01-08..2026-01-14",
    ),
    "mae": (lambda tiny, n: tiny.graded(n), "graded predictions over 2026-01-08..2026-01-14"),
    "premium_hit_rate_spread": (
        _spread_days,
        "days with at least 10 premium bets over 2026-01-08..2026-01-14",
    ),
    "grading_completeness": (
        _graded_predictions,
        "active catboost_v9 predictions over 2026-01-12..2026-01-14",
    ),
    "leakage_guard": (lambda tiny, n: tiny.graded(n, hits=n // 2), "bets over 2026-01-08..2026-01-14"),
    "closer_than_line": (
        lambda tiny, n: tiny.graded(n, closer=True),
        "graded predictions with a line over 2026-01-08..2026-01-14",
    ),
}


def test_every_rule_has_a_sample_scenario() -> None:
    assert sorted(SAMPLES) == sorted(QUALITY_RULES)


@pytest.mark.parametrize("at_minimum", [False, True], ids=["one-below-skips", "at-minimum-is-judged"])
@pytest.mark.parametrize("rule", list(SAMPLES))
def test_each_rule_skips_below_its_minimum_sample_with_the_reason(
    tiny: GradingWarehouse, settings: Settings, rule: str, at_minimum: bool
) -> None:
    fill, described = SAMPLES[rule]
    minimum = settings.prediction_quality.rules[rule].min_sample
    fill(tiny, minimum if at_minimum else minimum - 1)
    result = tiny.evaluate(settings)[check_id(rule)]
    if at_minimum:
        assert result.outcome in (Outcome.PASSED, Outcome.FAILED), result.message
        assert len(result.rules) == 1
    else:
        assert result.outcome is Outcome.SKIPPED
        assert result.message == (
            f"not evaluated: {minimum - 1} {described}, fewer than the {minimum} this rule needs"
        )
        assert result.rules == ()


# ---- errors -----------------------------------------------------------------------------------------


def test_a_broken_grading_query_breaks_every_rule(tiny: GradingWarehouse, settings: Settings) -> None:
    tiny.graded(200, hits=120)
    tiny.predictions(200)
    tiny.execute("ALTER TABLE nba_predictions.prediction_accuracy DROP COLUMN prediction_correct")
    results = tiny.evaluate(settings)
    for result in results.values():
        assert result.outcome is Outcome.ERROR
        assert result.message.startswith("check broken: query 'prediction_quality_accuracy' on duckdb://")


def test_a_broken_predictions_query_breaks_grading_completeness_only(
    tiny: GradingWarehouse, settings: Settings
) -> None:
    tiny.graded(200, hits=120)
    tiny.execute("ALTER TABLE nba_predictions.player_prop_predictions DROP COLUMN is_active")
    results = tiny.evaluate(settings)
    broken = {rule for rule in QUALITY_RULES if results[check_id(rule)].outcome is Outcome.ERROR}
    assert broken == {"grading_completeness"}
    assert results[check_id("grading_completeness")].message.startswith(
        "check broken: query 'prediction_quality_predictions' on duckdb://"
    )


class NullWarehouse(DuckDBWarehouse):
    """Answers every query with one row of NULLs: a metric that was never measured."""

    def __init__(self) -> None:
        super().__init__(Path(":memory:"), read_only=False, create=True)

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        columns = [line.rsplit(" AS ", 1)[1].rstrip(",") for line in sql.splitlines() if " AS " in line]
        row: dict[str, object] = {column: None for column in columns}
        return QueryResult([{**row, "measured_date": YESTERDAY}], f"null-{label}", 0.0)


def test_a_null_metric_is_a_broken_check_never_a_pass(settings: Settings) -> None:
    warehouse = NullWarehouse()
    try:
        results = evaluate_prediction_quality(warehouse, settings, AS_OF)
    finally:
        warehouse.close()
    for result in results.values():
        assert result.outcome is Outcome.ERROR
        assert (
            result.message.startswith("check broken: ") and "came back NULL on 2026-01-14" in result.message
        )


# ---- settings ---------------------------------------------------------------------------------------

GOOD = DEFAULT_SETTINGS_PATH.read_text(encoding="utf-8")
SECTION = GOOD[GOOD.index("[prediction_quality]") :]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("days = 7", "days = 0", "prediction_quality.days = 0: expected a whole number >= 1"),
        (
            "premium_min_confidence = 0.92",
            "premium_min_confidence = 1.5",
            "prediction_quality.premium_min_confidence = 1.5: expected a number > 0 and at most 1.0",
        ),
        (
            "high_edge_min_edge = 5",
            'high_edge_min_edge = "5"',
            "prediction_quality.high_edge_min_edge = '5': expected a whole number or a number",
        ),
        (
            "fail_below = 0.55\nmin_sample = 20",
            "fail_below = 0.55\nmin_sample = 0",
            "prediction_quality.rules.premium_hit_rate.min_sample = 0: expected a whole number >= 1",
        ),
        (
            "fail_above = 0.80",
            "fail_above = 1.0",
            "prediction_quality.rules.leakage_guard = {fail > 1}: fail_above 1 can never fail",
        ),
        (
            "fail_above = 5.0",
            "fail_above = -5.0",
            "prediction_quality.rules.mae.fail_above = -5.0: expected a threshold >= 0",
        ),
        (
            "min_bets_per_day = 10",
            "",
            "prediction_quality.rules.premium_hit_rate_spread.min_bets_per_day is missing",
        ),
        (
            "days = 3",
            "days = 0",
            "prediction_quality.rules.grading_completeness.days = 0: expected a whole number",
        ),
        (
            "[prediction_quality.rules.mae]",
            "[prediction_quality.rules.median]\nfail_above = 1\n[prediction_quality.rules.mae]",
            "unknown key prediction_quality.rules.median",
        ),
    ],
)
def test_a_bad_prediction_quality_value_names_the_file_key_and_value(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in SECTION, f"test setup: {old!r} is not in [prediction_quality]"
    path = tmp_path / "resilience.toml"
    path.write_text(GOOD.replace(SECTION, SECTION.replace(old, new, 1)), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message, message


# ---- the pytest checks --------------------------------------------------------------------------------


def test_every_gate_check_passes_on_the_clean_demo(demo_path: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "results.jsonl"
    completed = run_pytest(
        "-m",
        "gate",
        f"--warehouse=duckdb://{demo_path}",
        f"--as-of={DEFAULT_DEMO_DATE}",
        f"--resilience-json={json_path}",
        "checks/gate",
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    records = read_json_lines(json_path)
    outcomes = {record["id"]: record["outcome"] for record in records}
    # The whole gate suite: the phase 2 gate's rules and verdict, betting lines, prediction quality.
    assert {check_id(rule) for rule in QUALITY_RULES} <= set(outcomes)
    assert any(key.startswith("gate.phase2.") for key in outcomes)
    assert any(key.startswith("betting_line") for key in outcomes)
    assert set(outcomes.values()) == {"passed"}, outcomes
