"""``healing analyze``: aggregates over a small DuckDB warehouse of crafted heals, the rules' edges, the
CSV export, the command's usage errors, and that the analysis only ever asks the warehouse for aggregates."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import expressions as exp

from healing.analyze import (
    HealingAnalysis,
    RecommendationKind,
    analyze,
    export_csv,
    render,
    to_json,
)
from healing.analyze_cli import add_analyze_parser, run_analyze_command
from healing.model import HealingEvent
from resilience.schemas import bigquery_fields, load_catalog
from resilience.settings import Settings
from resilience.warehouse import QueryParams, QueryResult
from resilience.warehouse.duckdb_backend import DuckDBWarehouse

TABLE = "nba_orchestration.healing_events"
UTC = dt.UTC
#: A Monday in winter (Eastern = UTC-5): the analysis windows below start here.
JAN_12 = dt.datetime(2026, 1, 12, 5, 0, tzinfo=UTC)  # 2026-01-12 00:00 EST


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = DuckDBWarehouse(tmp_path / "heals.duckdb", read_only=False, create=True)
    opened.ensure_table(TABLE, bigquery_fields(load_catalog()[TABLE]), None)
    yield opened
    opened.close()


_ids = itertools.count(1)


def heal(
    at: dt.datetime,
    healing_type: str = "batch_completion",
    reason: str = "batch stalled at 95%",
    *,
    success: bool = True,
    healing_id: str | None = None,
) -> HealingEvent:
    return HealingEvent(
        healing_id=healing_id or f"heal_test_{next(_ids):06d}",
        timestamp=at,
        healing_type=healing_type,
        trigger_reason=reason,
        action_taken="marked batch complete",
        before_state={"completed_players": 380, "expected_players": 400, "note": 'quote " and, comma'},
        after_state={"is_complete": True},
        success=success,
        metadata={"batch_id": "batch_2026-01-12_1768194000"},
        check_fingerprint="phase5_predictions",
    )


def record(warehouse: DuckDBWarehouse, events: Sequence[HealingEvent]) -> None:
    warehouse.insert_rows(TABLE, [event.to_row() for event in events])


def spread(count: int, start: dt.datetime, hours: float, **fields: Any) -> list[HealingEvent]:
    """``count`` heals, one every ``hours`` from ``start``."""
    return [heal(start + dt.timedelta(hours=hours * index), **fields) for index in range(count)]


def week(warehouse: DuckDBWarehouse, healing_type: str | None = None) -> HealingAnalysis:
    return analyze(warehouse, TABLE, JAN_12, JAN_12 + dt.timedelta(days=7), healing_type)


def kinds(analysis: HealingAnalysis, kind: RecommendationKind) -> list[str]:
    return [r.healing_type for r in analysis.recommendations if r.kind is kind]


# --- totals, rates, reasons, days -----------------------------------------------------------------


def test_totals_and_success_rates_by_type_come_out_of_the_warehouse(warehouse: DuckDBWarehouse) -> None:
    record(
        warehouse,
        [
            *spread(8, JAN_12, 6, healing_type="batch_completion"),
            *spread(2, JAN_12 + dt.timedelta(hours=1), 6, healing_type="batch_completion", success=False),
            *spread(3, JAN_12 + dt.timedelta(days=2), 1, healing_type="cache_rebuild"),
            *spread(1, JAN_12 + dt.timedelta(days=3), 1, healing_type="cache_rebuild", success=False),
            # Outside the window on both sides: never counted.
            heal(JAN_12 - dt.timedelta(microseconds=1)),
            heal(JAN_12 + dt.timedelta(days=7)),
        ],
    )
    analysis = week(warehouse)
    assert analysis.table_exists
    assert (analysis.totals.events, analysis.totals.succeeded, analysis.totals.failed) == (14, 11, 3)
    assert analysis.totals.success_rate == pytest.approx(11 / 14)
    assert [(t.healing_type, t.events, t.succeeded) for t in analysis.by_type] == [
        ("batch_completion", 10, 8),
        ("cache_rebuild", 4, 3),
    ]
    assert [t.success_rate for t in analysis.by_type] == [0.8, 0.75]
    assert analysis.first_at == JAN_12
    assert analysis.last_at == JAN_12 + dt.timedelta(days=3)


def test_top_reasons_are_the_five_most_frequent_most_first_ties_by_name(warehouse: DuckDBWarehouse) -> None:
    counts = {"lost ack": 6, "stalled": 9, "cold start": 4, "zz tie": 4, "aa tie": 4, "rare": 1, "oom": 5}
    events = [
        heal(JAN_12 + dt.timedelta(minutes=len(counts) * index + offset), reason=reason)
        for offset, (reason, count) in enumerate(counts.items())
        for index in range(count)
    ]
    record(warehouse, events)
    analysis = week(warehouse)
    assert [(r.trigger_reason, r.events) for r in analysis.top_reasons] == [
        ("stalled", 9),
        ("lost ack", 6),
        ("oom", 5),
        ("aa tie", 4),
        ("cold start", 4),
    ]


@pytest.mark.parametrize("session_zone", [None, "Asia/Tokyo", "America/Los_Angeles"])
def test_heals_per_day_fall_on_the_eastern_date_whatever_duckdbs_session_zone(
    warehouse: DuckDBWarehouse, session_zone: str | None
) -> None:
    if session_zone:
        # The day must not depend on the machine's zone (DuckDB takes its session zone from it).
        warehouse.execute_script(f"SET TimeZone = '{session_zone}'")
    record(
        warehouse,
        [
            heal(dt.datetime(2026, 1, 13, 4, 59, 59, tzinfo=UTC)),  # 23:59:59 EST on the 12th
            heal(dt.datetime(2026, 1, 13, 5, 0, 0, tzinfo=UTC), success=False),  # 00:00 EST on the 13th
            heal(dt.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
        ],
    )
    analysis = analyze(warehouse, TABLE, JAN_12, JAN_12 + dt.timedelta(days=4), None)
    assert [(d.day.isoformat(), d.events, d.failed) for d in analysis.per_day] == [
        ("2026-01-12", 1, 0),
        ("2026-01-13", 1, 1),
        ("2026-01-14", 0, 0),
        ("2026-01-15", 1, 0),
    ]


def test_heals_per_day_follow_daylight_saving_time(warehouse: DuckDBWarehouse) -> None:
    # Summer: Eastern is UTC-4, so 03:59 UTC is still the previous day.
    record(
        warehouse,
        [heal(dt.datetime(2026, 7, 15, 3, 59, tzinfo=UTC)), heal(dt.datetime(2026, 7, 15, 4, 0, tzinfo=UTC))],
    )
    start = dt.datetime(2026, 7, 14, 4, 0, tzinfo=UTC)
    analysis = analyze(warehouse, TABLE, start, start + dt.timedelta(days=2), None)
    assert [(d.day.isoformat(), d.events) for d in analysis.per_day] == [("2026-07-14", 1), ("2026-07-15", 1)]


def test_the_type_filter_keeps_only_that_types_heals(warehouse: DuckDBWarehouse) -> None:
    record(
        warehouse,
        [
            *spread(3, JAN_12, 1, healing_type="batch_completion", reason="stalled"),
            *spread(2, JAN_12, 1, healing_type="cache_rebuild", reason="cache miss", success=False),
        ],
    )
    analysis = week(warehouse, "cache_rebuild")
    assert analysis.healing_type == "cache_rebuild"
    assert (analysis.totals.events, analysis.totals.failed) == (2, 2)
    assert [t.healing_type for t in analysis.by_type] == ["cache_rebuild"]
    assert [r.trigger_reason for r in analysis.top_reasons] == ["cache miss"]
    assert sum(d.events for d in analysis.per_day) == 2


# --- recommendations at their edges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "succeeded", "fires"),
    [
        (5, 3, True),  # the smallest sample the rule judges
        (10, 7, True),  # 70%
        (10, 8, False),  # exactly 80% is not below 80%
        (5, 4, False),
        (4, 0, False),  # every heal failed, but too few to judge
    ],
)
def test_failing_heals_fire_below_80_percent_success_over_5_heals(
    warehouse: DuckDBWarehouse, events: int, succeeded: int, fires: bool
) -> None:
    record(
        warehouse,
        [
            heal(
                JAN_12 + dt.timedelta(hours=index),
                "cache_rebuild",
                f"reason {index}",
                success=index < succeeded,
            )
            for index in range(events)
        ],
    )
    analysis = week(warehouse)
    assert kinds(analysis, RecommendationKind.FAILING_HEALS) == (["cache_rebuild"] if fires else [])
    if fires:
        text = analysis.recommendations[0].text
        assert f"{succeeded} of {events} succeeded" in text
        window = '--start "2026-01-12 00:00" --end "2026-01-19 00:00"'
        assert f"`healing analyze --type cache_rebuild {window} --export heals.csv`" in text


@pytest.mark.parametrize(
    ("same_reason", "other_reasons", "fires"),
    [
        (5, 11, True),  # 5 heals, 31%
        (6, 14, True),  # exactly 30%
        (6, 15, False),  # 28.6%
        (4, 0, False),  # 100%, but fewer than 5 heals
    ],
)
def test_a_recurring_reason_fires_at_5_heals_and_30_percent_of_its_type(
    warehouse: DuckDBWarehouse, same_reason: int, other_reasons: int, fires: bool
) -> None:
    record(
        warehouse,
        [
            *spread(same_reason, JAN_12, 7, reason="coordinator missed callback"),
            *[
                heal(JAN_12 + dt.timedelta(hours=5 * i + 1), reason=f"one-off {i}")
                for i in range(other_reasons)
            ],
            # Another type with the same reason: it counts toward its own type only.
            *spread(20, JAN_12, 8, healing_type="phase_retrigger", reason=f"{'x'}"),
        ],
    )
    analysis = week(warehouse)
    recurring = [
        r
        for r in analysis.recommendations
        if r.kind is RecommendationKind.RECURRING_REASON and r.healing_type == "batch_completion"
    ]
    assert len(recurring) == (1 if fires else 0)
    if fires:
        assert recurring[0].trigger_reason == "coordinator missed callback"
        assert recurring[0].text.startswith("heal the cause, not the symptom: ")
        assert f"{same_reason} of {same_reason + other_reasons} batch_completion heals" in recurring[0].text


@pytest.mark.parametrize(
    ("earlier", "recent", "fires"),
    [
        (2, 5, True),  # 5/day against 1/day
        (0, 5, True),  # new in the last third
        (5, 6, True),  # 6/day against 2.5/day
        (5, 5, False),  # 5/day against 2.5/day: exactly twice is not more than twice
        (0, 4, False),  # fewer heals than the rule's minimum
    ],
)
def test_rising_frequency_fires_when_the_last_third_runs_above_twice_the_rate_before(
    warehouse: DuckDBWarehouse, earlier: int, recent: int, fires: bool
) -> None:
    # A 3-day window: the first two days against the last one.
    start, end = JAN_12, JAN_12 + dt.timedelta(days=3)
    record(
        warehouse,
        [
            *[
                heal(start + dt.timedelta(hours=9 * i + 1), "phase_retrigger", f"e{i}")
                for i in range(earlier)
            ],
            *[heal(end - dt.timedelta(hours=4 * i + 1), "phase_retrigger", f"r{i}") for i in range(recent)],
        ],
    )
    analysis = analyze(warehouse, TABLE, start, end, None)
    assert analysis.recent_start == start + dt.timedelta(days=2)
    assert kinds(analysis, RecommendationKind.RISING_FREQUENCY) == (["phase_retrigger"] if fires else [])
    if fires:
        assert f"{recent} since 2026-01-14 00:00 EST" in analysis.recommendations[0].text


def test_healthy_heals_get_no_recommendation(warehouse: DuckDBWarehouse) -> None:
    record(warehouse, [heal(JAN_12 + dt.timedelta(hours=4 * i), reason=f"r{i % 10}") for i in range(40)])
    analysis = week(warehouse)
    assert analysis.recommendations == ()
    assert "recommendations: none" in render(analysis)


# --- only aggregates, always within the window --------------------------------------------------


class RecordingWarehouse:
    """A warehouse that notes every query before passing it on."""

    def __init__(self, inner: DuckDBWarehouse) -> None:
        self.inner = inner
        self.queries: list[tuple[str, QueryParams]] = []

    @property
    def target(self) -> str:
        return self.inner.target

    @property
    def dialect(self) -> str:
        return self.inner.dialect

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        self.queries.append((sql, dict(params)))
        return self.inner.query(sql, params, label=label)

    def describe_table(self, table: str) -> Any:
        return self.inner.describe_table(table)

    def close(self) -> None:
        self.inner.close()


def _own_nodes(select: exp.Select, kind: Any) -> list[exp.Expression]:
    """Nodes of ``kind`` in ``select``'s own projection (not inside a nested query)."""
    return [
        node
        for projection in select.expressions
        for node in projection.find_all(kind)
        if node.find_ancestor(exp.Select) is select
    ]


def _reads_the_table(select: exp.Select) -> bool:
    # sqlglot names the key "from_" since version 28, "from" before.
    sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
    return any(isinstance(source.this, exp.Table) for source in sources if source is not None)


def _filters_time_range(select: exp.Select) -> bool:
    where = select.args.get("where")
    if where is None:
        return False
    comparisons = {
        (type(node).__name__, node.left.name, node.right.name)
        for node in where.find_all(exp.GTE, exp.LT)
        if isinstance(node.left, exp.Column) and isinstance(node.right, exp.Parameter | exp.Placeholder)
    }
    return {("GTE", "timestamp", "start"), ("LT", "timestamp", "end")} <= comparisons


@pytest.mark.parametrize("healing_type", [None, "batch_completion"])
def test_analyze_asks_only_for_aggregates_and_always_filters_the_window(
    warehouse: DuckDBWarehouse, healing_type: str | None
) -> None:
    record(warehouse, spread(30, JAN_12, 3, reason="stalled"))
    recording = RecordingWarehouse(warehouse)
    analysis = analyze(recording, TABLE, JAN_12, JAN_12 + dt.timedelta(days=7), healing_type)
    assert analysis.totals.events == 30
    assert 1 <= len(recording.queries) <= 3
    for sql, params in recording.queries:
        tree = sqlglot.parse_one(sql, read="bigquery")
        selects = list(tree.find_all(exp.Select))
        assert any(_reads_the_table(select) for select in selects)
        for select in selects:
            grouped = select.args.get("group") is not None
            assert grouped or _own_nodes(select, exp.AggFunc), f"not an aggregate:\n{select.sql('bigquery')}"
            if not _reads_the_table(select):
                continue  # it reads the aggregate of a nested SELECT, which is checked in its turn
            assert _filters_time_range(select), f"no time window:\n{select.sql('bigquery')}"
            if healing_type is not None:
                assert any(
                    node.left.name == "healing_type" and node.right.name == "healing_type"
                    for node in select.args["where"].find_all(exp.EQ)
                )
        assert isinstance(params["start"], dt.datetime) and params["start"].tzinfo is not None
        assert isinstance(params["end"], dt.datetime) and params["end"].tzinfo is not None
        assert params.get("healing_type") == healing_type


# --- CSV export ---------------------------------------------------------------------------------


def test_the_csv_has_one_row_per_event_with_every_column_in_time_order(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    events = spread(7, JAN_12, 2, reason="stalled") + spread(
        3, JAN_12 + dt.timedelta(days=1), 1, success=False
    )
    # The same row twice (a retried insert) straddling a chunk boundary: both rows are exported.
    twice = heal(JAN_12 + dt.timedelta(hours=5), healing_id="heal_test_twice")
    events += [twice, twice]
    outside = heal(JAN_12 + dt.timedelta(days=8))
    record(warehouse, [*events, outside])
    path = tmp_path / "heals.csv"

    written = export_csv(warehouse, TABLE, JAN_12, JAN_12 + dt.timedelta(days=7), None, path, chunk_rows=4)

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert written == len(rows) == len(events) == 12
    assert list(rows[0]) == [field.name for field in load_catalog()[TABLE].fields]
    stamps = [dt.datetime.fromisoformat(row["timestamp"]) for row in rows]
    assert stamps == sorted(stamps)
    assert sorted(row["healing_id"] for row in rows) == sorted(event.healing_id for event in events)
    by_id = {event.healing_id: event.to_row() for event in events}
    for row in rows:
        expected = by_id[row["healing_id"]]
        for name in ("before_state", "after_state", "metadata"):
            assert json.loads(row[name]) == json.loads(expected[name])
        assert row["success"] == ("true" if expected["success"] else "false")
        assert dt.datetime.fromisoformat(row["timestamp"]) == dt.datetime.fromisoformat(expected["timestamp"])
        assert {k: row[k] for k in ("healing_type", "trigger_reason", "action_taken")} == {
            k: expected[k] for k in ("healing_type", "trigger_reason", "action_taken")
        }
    assert not list(tmp_path.glob(".*.part"))


def test_the_csv_export_honours_the_type_filter(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    record(warehouse, [*spread(3, JAN_12, 1), *spread(2, JAN_12, 1, healing_type="cache_rebuild")])
    path = tmp_path / "cache.csv"
    assert export_csv(warehouse, TABLE, JAN_12, JAN_12 + dt.timedelta(days=1), "cache_rebuild", path) == 2


# --- the command --------------------------------------------------------------------------------

NOW = dt.datetime(2026, 1, 19, 17, 0, tzinfo=UTC)  # 12:00 EST, a week after JAN_12


def command(
    argv: Sequence[str], warehouse: Any, settings: Settings, now: dt.datetime = NOW
) -> tuple[argparse.Namespace, int]:
    parser = argparse.ArgumentParser(prog="healing")
    add_analyze_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["analyze", *argv])
    return args, run_analyze_command(args, warehouse=warehouse, settings=settings, now=now)


def test_the_command_defaults_to_the_seven_days_before_now(
    warehouse: DuckDBWarehouse, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record(warehouse, [heal(NOW - dt.timedelta(days=7, minutes=1)), heal(NOW - dt.timedelta(days=7))])
    _, status = command(["--json"], warehouse, settings)
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (document["start"], document["end"]) == ("2026-01-12T17:00:00+00:00", "2026-01-19T17:00:00+00:00")
    assert document["totals"]["events"] == 1


def test_command_times_are_eastern_and_a_date_alone_as_end_includes_that_day(
    warehouse: DuckDBWarehouse, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record(
        warehouse,
        [
            heal(dt.datetime(2026, 1, 13, 0, 59, tzinfo=UTC)),  # 19:59 EST on the 12th: before --start
            heal(dt.datetime(2026, 1, 13, 1, 0, tzinfo=UTC)),  # 20:00 EST
            heal(dt.datetime(2026, 1, 16, 4, 59, tzinfo=UTC)),  # 23:59 EST on the 15th
            heal(dt.datetime(2026, 1, 16, 5, 0, tzinfo=UTC)),  # the 16th: after --end
        ],
    )
    _, status = command(["--start", "2026-01-12 20:00", "--end", "2026-01-15", "--json"], warehouse, settings)
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (document["start"], document["end"]) == ("2026-01-13T01:00:00+00:00", "2026-01-16T05:00:00+00:00")
    assert document["totals"]["events"] == 2


def test_the_command_prints_an_aligned_report_and_exports(
    warehouse: DuckDBWarehouse, settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record(
        warehouse,
        [
            *spread(12, JAN_12, 5, reason="stalled"),
            *spread(6, JAN_12, 9, healing_type="cache_rebuild", reason="miss", success=False),
        ],
    )
    path = tmp_path / "out.csv"
    _, status = command(["--start", "2026-01-12", "--export", str(path)], warehouse, settings)
    out = capsys.readouterr().out
    assert status == 0
    assert "18 heals: 12 succeeded, 6 failed (66.7% success)" in out
    by_type = out.split("\n\n")[1].splitlines()
    assert [len(line) for line in by_type] == [len(by_type[0])] * len(by_type)  # columns line up
    assert "[failing_heals] cache_rebuild heals are failing: 0 of 6 succeeded" in out
    # The suggested command is never wrapped across lines.
    command_text = 'healing analyze --type cache_rebuild --start "2026-01-12 00:00" --end "2026-01-19 12:00"'
    assert any(command_text in line for line in out.splitlines())
    assert f"wrote 18 events to {path}" in out
    assert path.exists()


def test_no_events_in_the_window_says_so_and_exits_0(
    warehouse: DuckDBWarehouse, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record(warehouse, [heal(JAN_12 - dt.timedelta(days=30))])
    _, status = command(["--type", "cache_rebuild"], warehouse, settings)
    assert status == 0
    assert capsys.readouterr().out.startswith(
        "no cache_rebuild healing events between 2026-01-12 12:00 EST and 2026-01-19 12:00 EST in "
    )


def test_a_missing_table_means_no_heal_was_ever_recorded_not_a_crash(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = DuckDBWarehouse(tmp_path / "bare.duckdb", read_only=False, create=True)
    try:
        analysis = week(bare)
        assert not analysis.table_exists
        assert (analysis.totals.events, analysis.totals.success_rate) == (0, None)
        _, status = command(["--json"], bare, settings)
        document = json.loads(capsys.readouterr().out)
        assert status == 0
        assert document["table_exists"] is False
        assert document["totals"]["events"] == 0
        _, status = command([], bare, settings)
        assert status == 0
        assert f"{TABLE} on {bare.target} does not exist" in capsys.readouterr().out
    finally:
        bare.close()


def test_any_other_query_error_is_check_broken_with_exit_3(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = DuckDBWarehouse(tmp_path / "broken.duckdb", read_only=False, create=True)
    try:
        # The table exists but lacks columns the analysis reads.
        broken.execute_script(f"CREATE SCHEMA nba_orchestration; CREATE TABLE {TABLE} (healing_id VARCHAR)")
        _, status = command([], broken, settings)
    finally:
        broken.close()
    captured = capsys.readouterr()
    assert status == 3
    assert captured.out == ""
    assert captured.err.startswith("healing analyze: check broken")
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--start", "2026-13-01"], "--start '2026-13-01'"),
        (["--start", "yesterday"], "--start 'yesterday'"),
        (["--end", "2026-01-15 25:00"], "--end '2026-01-15 25:00'"),
        (
            ["--start", "2026-01-15", "--end", "2026-01-14"],
            "--end '2026-01-14' is not after --start '2026-01-15'",
        ),
        (
            ["--start", "2026-01-15 10:00", "--end", "2026-01-15 10:00"],
            "--end '2026-01-15 10:00' is not after",
        ),
        (["--start", "2026-02-01"], "--end (now, 2026-01-19 12:00 EST) is not after --start '2026-02-01'"),
        (["--export", "heals.json"], "--export 'heals.json' is not a .csv file name"),
        (["--export", "/nonexistent-folder/heals.csv"], "--export '/nonexistent-folder/heals.csv': folder"),
    ],
)
def test_usage_errors_exit_64_naming_the_option_and_value(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    named: str,
) -> None:
    _, status = command(argv, warehouse, settings)
    captured = capsys.readouterr()
    assert status == 64
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert named in captured.err


def test_exporting_into_an_unwritable_folder_is_a_usage_error(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    real_access = __import__("os").access

    def access(path: Any, mode: int) -> bool:
        # Root writes anywhere whatever the mode says; judge the folder as a normal user would.
        return False if Path(path) == locked else bool(real_access(path, mode))

    monkeypatch.setattr("healing.analyze_cli.os.access", access)
    _, status = command(["--export", str(locked / "heals.csv")], warehouse, settings)
    assert status == 64
    assert f"--export '{locked / 'heals.csv'}': folder {locked} is not writable" in capsys.readouterr().err


def test_to_json_is_plain_json(warehouse: DuckDBWarehouse) -> None:
    record(warehouse, spread(6, JAN_12, 1, success=False))
    document: Mapping[str, Any] = json.loads(json.dumps(to_json(week(warehouse))))
    assert document["totals"] == {"events": 6, "succeeded": 0, "failed": 6, "success_rate": 0.0}
    assert document["per_day"][0] == {"day": "2026-01-12", "events": 6, "failed": 6}
    assert {r["kind"] for r in document["recommendations"]} >= {"failing_heals", "recurring_reason"}


# --- the same SQL on BigQuery (the local emulator) ----------------------------------------------


@pytest.mark.bigquery
def test_bigquery_gives_the_same_analysis_and_export_as_duckdb(
    bigquery_emulator: Any, warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    from resilience.warehouse.base import BigQueryOptions
    from resilience.warehouse.bigquery_backend import BigQueryWarehouse

    events = [
        *spread(12, JAN_12, 5, reason="stalled"),
        *spread(
            6, JAN_12 + dt.timedelta(days=5), 3, healing_type="cache_rebuild", reason="miss", success=False
        ),
        heal(dt.datetime(2026, 1, 13, 4, 59, 59, tzinfo=UTC), reason="at the day boundary"),
        heal(dt.datetime(2026, 1, 13, 5, 0, tzinfo=UTC), reason="at the day boundary"),
    ]
    record(warehouse, events)
    client = bigquery_emulator.client()
    dataset = f"test_healing_{next(_ids)}"
    table = f"{dataset}.healing_events"
    on_bigquery = BigQueryWarehouse(client, BigQueryOptions(job_timeout_seconds=60))
    try:
        on_bigquery.ensure_table(table, bigquery_fields(load_catalog()[TABLE]), None)
        on_bigquery.insert_rows(table, [event.to_row() for event in events])
        for healing_type in (None, "cache_rebuild"):
            expected = to_json(week(warehouse, healing_type))
            got = to_json(analyze(on_bigquery, table, JAN_12, JAN_12 + dt.timedelta(days=7), healing_type))
            for document in (expected, got):
                del document["table"], document["target"]
            assert got == expected
        end = JAN_12 + dt.timedelta(days=7)
        written = export_csv(on_bigquery, table, JAN_12, end, None, tmp_path / "bq.csv", chunk_rows=5)
        export_csv(warehouse, TABLE, JAN_12, end, None, tmp_path / "duck.csv", chunk_rows=5)
        assert written == len(events)
        assert (tmp_path / "bq.csv").read_text() == (tmp_path / "duck.csv").read_text()
    finally:
        client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        client.close()
