"""Betting-line checks on real DuckDB files: the clean demo, and small warehouses built row by row to
sit just either side of every threshold."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import pytest

from resilience.demo import DEFAULT_DEMO_DATE
from resilience.demo.schema import create_warehouse, load_schemas
from resilience.outcomes import Outcome
from resilience.quality.betting_lines import BETTING_LINE_CHECKS, evaluate_betting_lines, planned_sql
from resilience.results import CheckResult
from resilience.schemas import load_catalog
from resilience.settings import DEFAULT_SETTINGS_PATH, Settings, SettingsError, load_settings
from resilience.sql_guard import partition_filter_violations
from resilience.warehouse.base import QueryParams, QueryResult
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.subprocess_env import read_json_lines, run_pytest

AS_OF = dt.date(2026, 1, 15)
#: Later than noon Eastern on AS_OF, so ages are measured from noon (17:00 UTC), as for a past date.
NOW = dt.datetime(2026, 1, 15, 22, 0, tzinfo=dt.UTC)
EVALUATED_AT = dt.datetime(2026, 1, 15, 17, 0, tzinfo=dt.UTC)
LAST_THREE = tuple(AS_OF - dt.timedelta(days=back) for back in (3, 2, 1))
COVERAGE, FRESHNESS, LINE_FEATURES = (check.check_id for check in BETTING_LINE_CHECKS)


class LinesWarehouse:
    """A DuckDB file with the production tables (from ``schemas/``) and only the rows a test writes."""

    def __init__(self, path: Path, empty: Path) -> None:
        self.path = path
        shutil.copyfile(empty, path)
        self.connection = duckdb.connect(str(path))
        self.games = 0

    def game(self, day: dt.date, status: int = 3, regular: bool = True, all_star: bool = False) -> None:
        self.games += 1
        self.connection.execute(
            "INSERT INTO nba_raw.nbac_schedule (game_id, game_date, game_status, home_team_tricode, "
            "away_team_tricode, season_year, is_regular_season, is_playoffs, is_all_star) "
            "VALUES (?, ?, ?, 'BOS', 'NYK', 2025, ?, FALSE, ?)",
            [f"00225{self.games:05d}", day, status, regular, all_star],
        )

    def roster(self, day: dt.date, players: int) -> list[str]:
        lookups = [f"player{day:%m%d}{n:03d}" for n in range(players)]
        self._insert(
            "INSERT INTO nba_raw.nbac_gamebook_player_stats (game_id, game_date, season_year, player_lookup) "
            "VALUES (?, ?, 2025, ?)",
            [[f"{day:%Y%m%d}_NYK_BOS", day, lookup] for lookup in lookups],
        )
        return lookups

    def lines(
        self,
        day: dt.date,
        lookups: Sequence[str],
        processed_at: dt.datetime | None = None,
        market: str = "points",
        books: Sequence[str] = ("DraftKings", "FanDuel"),
    ) -> None:
        at = processed_at or dt.datetime.combine(day, dt.time(13), dt.UTC)
        self._insert(
            "INSERT INTO nba_raw.bettingpros_player_points_props (game_date, player_lookup, bookmaker, "
            "market_type, bet_side, points_line, processed_at) VALUES (?, ?, ?, ?, ?, 18.5, ?)",
            [
                [day, lookup, book, market, side, at]
                for lookup in lookups
                for book in books
                for side in ("over", "under")
            ],
        )

    def features(
        self, day: dt.date, lookups: Sequence[str], vegas: float | None = 18.5, has_line: float = 1.0
    ) -> None:
        values: list[float | None] = [10.0] * 37
        values[25], values[28] = vegas, has_line
        self._insert(
            "INSERT INTO nba_predictions.ml_feature_store_v2 (player_lookup, game_date, game_id, features) "
            "VALUES (?, ?, ?, ?)",
            [[lookup, day, f"{day:%Y%m%d}_NYK_BOS", values] for lookup in lookups],
        )

    def healthy_day(self, day: dt.date, rostered: int = 100, lined: int = 40) -> list[str]:
        """A final game, its roster, points lines for the first ``lined`` players and their features."""
        self.game(day)
        lookups = self.roster(day, rostered)
        self.lines(day, lookups[:lined])
        self.features(day, lookups[:lined])
        self.features(day, lookups[lined:], vegas=0.0, has_line=0.0)
        return lookups

    def today(self, processed_at: dt.datetime | None = None) -> None:
        """A game scheduled on AS_OF with its morning lines."""
        self.game(AS_OF, status=1)
        self.lines(AS_OF, ["today_player"], processed_at or dt.datetime(2026, 1, 15, 13, 0, tzinfo=dt.UTC))

    def _insert(self, sql: str, rows: list[list[object]]) -> None:
        # One multi-row INSERT per 500 rows: DuckDB's executemany runs row by row and is slow.
        head, placeholders = sql.split(" VALUES ")
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            values = ", ".join([placeholders] * len(chunk))
            self.connection.execute(f"{head} VALUES {values}", [value for row in chunk for value in row])

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def evaluate(
        self, settings: Settings, now: dt.datetime = NOW, as_of: dt.date = AS_OF
    ) -> Mapping[str, CheckResult]:
        self.connection.close()
        warehouse = DuckDBWarehouse(self.path)
        try:
            return evaluate_betting_lines(warehouse, settings, as_of, now)
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
def tiny(tmp_path: Path, empty_warehouse: Path) -> Iterator[LinesWarehouse]:
    warehouse = LinesWarehouse(tmp_path / "lines.duckdb", empty_warehouse)
    yield warehouse
    warehouse.connection.close()


@pytest.fixture
def healthy(tiny: LinesWarehouse) -> LinesWarehouse:
    """Three healthy game dates before AS_OF and fresh lines for today's game."""
    for day in LAST_THREE:
        tiny.healthy_day(day)
    tiny.today()
    return tiny


class CountingWarehouse(DuckDBWarehouse):
    """The real DuckDB warehouse, recording every query it is asked to run."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sql: list[str] = []

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        self.sql.append(sql)
        return super().query(sql, params, label=label)


# ---- the clean demo ---------------------------------------------------------------------------------


def test_the_clean_demo_passes_every_betting_line_check(demo_path: Path, settings: Settings) -> None:
    warehouse = DuckDBWarehouse(demo_path)
    try:
        results = evaluate_betting_lines(warehouse, settings, DEFAULT_DEMO_DATE)
    finally:
        warehouse.close()
    assert {check_id: result.outcome for check_id, result in results.items()} == {
        COVERAGE: Outcome.PASSED,
        FRESHNESS: Outcome.PASSED,
        LINE_FEATURES: Outcome.PASSED,
    }, [result.message for result in results.values()]
    assert all(not result.message.startswith("nothing expected") for result in results.values())
    coverage = results[COVERAGE]
    assert coverage.dates == tuple(DEFAULT_DEMO_DATE - dt.timedelta(days=back) for back in (3, 2, 1))
    assert all(rule.value is not None and 0.35 <= rule.value <= 0.5 for rule in coverage.rules)


def test_the_three_checks_cost_two_queries_and_filter_every_partition(
    demo_path: Path, settings: Settings
) -> None:
    warehouse = CountingWarehouse(demo_path)
    try:
        results = evaluate_betting_lines(warehouse, settings, DEFAULT_DEMO_DATE)
    finally:
        warehouse.close()
    assert len(warehouse.sql) == 2
    catalog = load_catalog()
    for sql in (*planned_sql(settings), *warehouse.sql, *(s for r in results.values() for s in r.sql)):
        assert partition_filter_violations(sql, catalog) == [], sql
    assert set(warehouse.sql) == set(planned_sql(settings))


def test_the_partition_guard_would_catch_an_unfiltered_props_read(settings: Settings) -> None:
    unfiltered = planned_sql(settings)[1].replace(
        "WHERE game_date BETWEEN @window_start AND @window_end\n    AND", "WHERE", 1
    )
    assert partition_filter_violations(unfiltered, load_catalog()) == [
        "nba_raw.bettingpros_player_points_props is read without a filter on its partition column game_date"
    ]


# ---- coverage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lined", "expected"),
    [(35, Outcome.PASSED), (34, Outcome.WARN), (20, Outcome.WARN), (19, Outcome.FAILED)],
    ids=["35%-passes", "34%-warns", "20%-warns", "19%-fails"],
)
def test_coverage_is_judged_per_date_against_its_bands(
    tiny: LinesWarehouse, settings: Settings, lined: int, expected: Outcome
) -> None:
    bad_day = LAST_THREE[1]
    for day in LAST_THREE:
        tiny.healthy_day(day, rostered=100, lined=lined if day == bad_day else 40)
    tiny.today()
    result = tiny.evaluate(settings)[COVERAGE]
    assert result.outcome is expected, result.message
    rule = {r.name: r for r in result.rules}[f"coverage_{bad_day:%Y_%m_%d}"]
    assert rule.value == pytest.approx(lined / 100) and rule.outcome is expected
    assert [r.name for r in result.rules] == [f"coverage_{day:%Y_%m_%d}" for day in LAST_THREE]
    if expected is Outcome.FAILED:
        assert result.message == (
            "data bad on 2026-01-13: betting-line coverage = 19% (fail < 20%, warn < 35%): "
            "19 of 100 rostered players on 2026-01-13"
        )
    elif expected is Outcome.WARN:
        assert result.message.startswith(f"warning on 2026-01-13: betting-line coverage = {lined}% (")
    else:
        assert result.message == (
            "passed on 2026-01-12..2026-01-14: betting-line coverage = 35%..40% of rostered players "
            "(fail < 20%, warn < 35%)"
        )


def test_coverage_reads_the_last_dates_with_final_games_only(
    tiny: LinesWarehouse, settings: Settings
) -> None:
    # Games on -6 (bad, but older than the last three game dates), -5, -4, -1; -3 and -2 have none.
    tiny.healthy_day(AS_OF - dt.timedelta(days=6), lined=5)
    for back in (5, 4, 1):
        tiny.healthy_day(AS_OF - dt.timedelta(days=back))
    tiny.game(AS_OF - dt.timedelta(days=3), status=3, regular=False, all_star=True)  # not pipeline work
    tiny.today()
    result = tiny.evaluate(settings)[COVERAGE]
    assert result.outcome is Outcome.PASSED, result.message
    assert result.dates == tuple(AS_OF - dt.timedelta(days=back) for back in (5, 4, 1))


def test_coverage_counts_points_lines_of_rostered_players_only(
    tiny: LinesWarehouse, settings: Settings
) -> None:
    for day in LAST_THREE:
        lookups = tiny.healthy_day(day, lined=19)
        tiny.lines(day, lookups[19:40], market="rebounds")  # another market in the same table
        tiny.lines(day, [f"unrostered{n}" for n in range(30)])  # lines of players not in the gamebook
    tiny.today()
    result = tiny.evaluate(settings)[COVERAGE]
    assert result.outcome is Outcome.FAILED
    assert [rule.value for rule in result.rules] == [pytest.approx(0.19)] * 3
    assert result.message.startswith("data bad on 2026-01-12..2026-01-14: betting-line coverage = 19% (")


def test_a_game_date_without_a_gamebook_is_data_bad_not_a_broken_check(
    healthy: LinesWarehouse, settings: Settings
) -> None:
    healthy.execute("DELETE FROM nba_raw.nbac_gamebook_player_stats WHERE game_date = DATE '2026-01-14'")
    result = healthy.evaluate(settings)[COVERAGE]
    assert result.outcome is Outcome.FAILED
    assert result.message == (
        "data bad on 2026-01-14: betting-line coverage not measurable (fail < 20%, warn < 35%): "
        "no gamebook rows on 2026-01-14 for its 1 final games"
    )


# ---- freshness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_old", "expected"),
    [(24 * 60 - 1, Outcome.PASSED), (24 * 60 + 1, Outcome.FAILED)],
    ids=["just-under-24h-passes", "just-over-24h-fails"],
)
def test_the_newest_points_line_must_be_younger_than_the_maximum_age(
    tiny: LinesWarehouse, settings: Settings, minutes_old: int, expected: Outcome
) -> None:
    for day in LAST_THREE:
        tiny.healthy_day(day)
    tiny.today(processed_at=EVALUATED_AT - dt.timedelta(minutes=minutes_old))
    result = tiny.evaluate(settings)[FRESHNESS]
    assert result.outcome is expected, result.message
    assert result.rules[0].value == pytest.approx(minutes_old / 60)
    assert result.dates == (AS_OF,)
    if expected is Outcome.FAILED:
        assert result.message == (
            "data bad on 2026-01-15: age of the newest BettingPros points line = 24.02 h (fail > 24 h)"
        )


def test_freshness_is_measured_from_now_when_now_is_before_noon(
    healthy: LinesWarehouse, settings: Settings
) -> None:
    # Today's lines at 13:00 UTC; at 14:00 UTC (9 am Eastern) they are one hour old, not four.
    result = healthy.evaluate(settings, now=dt.datetime(2026, 1, 15, 14, 0, tzinfo=dt.UTC))[FRESHNESS]
    assert result.rules[0].value == pytest.approx(1.0)


def test_a_fresh_line_of_another_market_does_not_make_points_fresh(
    tiny: LinesWarehouse, settings: Settings
) -> None:
    for day in LAST_THREE:
        tiny.healthy_day(day)
    tiny.game(AS_OF, status=1)
    tiny.lines(AS_OF, ["today_player"], EVALUATED_AT - dt.timedelta(hours=1), market="rebounds")
    result = tiny.evaluate(settings)[FRESHNESS]
    assert result.outcome is Outcome.FAILED
    # Yesterday's points lines, scraped at 13:00 UTC, are 28 hours old.
    assert result.rules[0].value == pytest.approx(28.0)


def test_no_points_lines_at_all_is_data_bad(tiny: LinesWarehouse, settings: Settings) -> None:
    tiny.game(AS_OF, status=1)
    result = tiny.evaluate(settings)[FRESHNESS]
    assert result.outcome is Outcome.FAILED
    assert result.message == (
        "data bad on 2026-01-15: age of the newest BettingPros points line not measurable (fail > 24 h): "
        "no points lines for games on 2026-01-13..2026-01-15"
    )


def test_freshness_expects_nothing_on_a_day_without_games(tiny: LinesWarehouse, settings: Settings) -> None:
    for day in LAST_THREE:
        tiny.healthy_day(day)  # yesterday's lines are 28 hours old, and nothing is due today
    result = tiny.evaluate(settings)[FRESHNESS]
    assert result.outcome is Outcome.PASSED
    assert result.message == ("nothing expected: no regular-season or playoff games scheduled on 2026-01-15")


def test_lines_without_processed_at_make_freshness_a_broken_check(
    tiny: LinesWarehouse, settings: Settings
) -> None:
    for day in LAST_THREE:
        tiny.healthy_day(day)
    tiny.today()
    tiny.execute("UPDATE nba_raw.bettingpros_player_points_props SET processed_at = NULL")
    result = tiny.evaluate(settings)[FRESHNESS]
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("check broken: processed_at is NULL on every points line of ")


# ---- line features --------------------------------------------------------------------------------


def _break_features(tiny: LinesWarehouse, defect: str) -> None:
    day = LAST_THREE[2]
    if defect == "no feature row":
        tiny.execute(
            "DELETE FROM nba_predictions.ml_feature_store_v2 "
            f"WHERE game_date = DATE '{day}' AND player_lookup = 'player{day:%m%d}000'"
        )
        return
    column = {"has-line flag 0": (29, "0"), "vegas line 0": (26, "0"), "vegas line NULL": (26, "NULL")}
    position, value = column[defect]
    # DuckDB lists are 1-based: position 29 is BigQuery's features[OFFSET(28)].
    tiny.execute(
        "UPDATE nba_predictions.ml_feature_store_v2 SET features = "
        f"features[1:{position - 1}] || [CAST({value} AS DOUBLE)] || features[{position + 1}:] "
        f"WHERE game_date = DATE '{day}' AND player_lookup = 'player{day:%m%d}000'"
    )


@pytest.mark.parametrize(
    "defect", ["none", "has-line flag 0", "vegas line 0", "vegas line NULL", "no feature row"]
)
def test_every_player_with_a_line_needs_the_line_features(
    healthy: LinesWarehouse, settings: Settings, defect: str
) -> None:
    if defect != "none":
        _break_features(healthy, defect)
    result = healthy.evaluate(settings)[LINE_FEATURES]
    if defect == "none":
        assert result.outcome is Outcome.PASSED, result.message
        assert result.rules[0].value == 0
        return
    assert result.outcome is Outcome.FAILED, result.message
    assert result.rules[0].value == 1
    kind = (
        "players have no feature row (2026-01-14: 1)"
        if defect == "no feature row"
        else ("has-line flag (2026-01-14: 1)")
    )
    assert result.message.startswith(
        "data bad on 2026-01-14: lined players without line features = 1 (fail > 0): of 120 players"
    )
    assert kind in result.message


def test_players_without_a_line_may_lack_line_features(healthy: LinesWarehouse, settings: Settings) -> None:
    # healthy_day writes unlined players' features without a line (flag 0, vegas 0), as phase 4 does.
    assert healthy.evaluate(settings)[LINE_FEATURES].outcome is Outcome.PASSED


@pytest.mark.parametrize(("lined", "expected"), [(0, Outcome.SKIPPED), (1, Outcome.PASSED)])
def test_line_features_need_at_least_one_player_with_a_line(
    tiny: LinesWarehouse, settings: Settings, lined: int, expected: Outcome
) -> None:
    for day in LAST_THREE:
        tiny.game(day)
        lookups = tiny.roster(day, 10)
        if day == LAST_THREE[0] and lined:
            tiny.lines(day, lookups[:lined])
            tiny.features(day, lookups[:lined])
    result = tiny.evaluate(settings)[LINE_FEATURES]
    assert result.outcome is expected, result.message
    if expected is Outcome.SKIPPED:
        assert result.message == (
            "not evaluated: 0 players with a points line over 2026-01-12..2026-01-14, "
            "fewer than the 1 this rule needs"
        )


# ---- calendar and errors --------------------------------------------------------------------------


def test_the_off_season_expects_nothing_and_costs_one_query(tiny: LinesWarehouse, settings: Settings) -> None:
    tiny.connection.close()
    warehouse = CountingWarehouse(tiny.path)
    try:
        results = evaluate_betting_lines(warehouse, settings, AS_OF, NOW)
    finally:
        warehouse.close()
    assert len(warehouse.sql) == 1
    for result in results.values():
        assert result.outcome is Outcome.PASSED
        assert result.message.startswith(
            "nothing expected: no final regular-season or playoff games in the 21 days"
        )


@pytest.mark.parametrize(
    ("statement", "label"),
    [
        (
            "ALTER TABLE nba_raw.bettingpros_player_points_props DROP COLUMN market_type",
            "betting_lines_props",
        ),
        ("ALTER TABLE nba_predictions.ml_feature_store_v2 DROP COLUMN features", "betting_lines_props"),
        ("ALTER TABLE nba_raw.nbac_schedule DROP COLUMN is_playoffs", "betting_lines_schedule"),
    ],
    ids=["props-column", "features-column", "schedule-column"],
)
def test_a_query_error_is_a_broken_check_never_a_pass(
    healthy: LinesWarehouse, settings: Settings, statement: str, label: str
) -> None:
    healthy.execute(statement)
    results = healthy.evaluate(settings)
    for result in results.values():
        assert result.outcome is Outcome.ERROR
        assert result.message.startswith(f"check broken: query '{label}' on duckdb://"), result.message


# ---- settings ---------------------------------------------------------------------------------------

GOOD = DEFAULT_SETTINGS_PATH.read_text(encoding="utf-8")
SECTION = GOOD[GOOD.index("[betting_lines]") : GOOD.index("[prediction_quality]")]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("game_dates = 3", "game_dates = 0", "betting_lines.game_dates = 0: expected a whole number >= 1"),
        (
            "search_days = 21",
            "search_days = 2",
            "betting_lines.search_days = 2: expected at least game_dates (3)",
        ),
        ('market_type = "points"', "market_type = 1", "betting_lines.market_type = 1: expected a string"),
        (
            "max_bettingpros_age_hours = 24",
            "max_bettingpros_age_hours = -1",
            "betting_lines.max_bettingpros_age_hours = -1: expected a number > 0",
        ),
        (
            "fail_below = 0.20",
            "fail_below = 0.40",
            "betting_lines.coverage = {fail < 0.4, warn < 0.35}: warn_below",
        ),
        (
            "fail_below = 0.20",
            "fail_below = 0",
            "fail_below 0 can never fail: betting-line coverage is never",
        ),
        ("fail_above = 0\n", "fail_above = -1\n", "betting_lines.missing_line_features.fail_above = -1"),
        ("game_dates = 3", "game_date = 3", "unknown key betting_lines.game_date"),
    ],
)
def test_a_bad_betting_lines_value_names_the_file_key_and_value(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in SECTION, f"test setup: {old!r} is not in [betting_lines]"
    path = tmp_path / "resilience.toml"
    path.write_text(GOOD.replace(SECTION, SECTION.replace(old, new, 1)), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message, message


# ---- the pytest checks --------------------------------------------------------------------------------


def test_the_gate_checks_pass_on_the_clean_demo(demo_path: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "results.jsonl"
    completed = run_pytest(
        "-m",
        "gate",
        "-k",
        "test_betting_lines",
        f"--warehouse=duckdb://{demo_path}",
        f"--as-of={DEFAULT_DEMO_DATE}",
        f"--resilience-json={json_path}",
        "checks/gate",
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    records = read_json_lines(json_path)
    assert {record["id"]: record["outcome"] for record in records} == {
        check.check_id: "passed" for check in BETTING_LINE_CHECKS
    }
