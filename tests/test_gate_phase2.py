"""The phase 2 -> 3 quality gate: scoring, cut-offs, fail-closed errors, the CLI and the pytest rules."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from resilience.demo import DEFAULT_DEMO_DATE, FAULTS
from resilience.gate.checks import gate_check_results
from resilience.gate.phase2 import GateResult, GateStatus, evaluate_phase2_gate, gate_queries, score_rules
from resilience.outcomes import Outcome
from resilience.schemas import load_catalog
from resilience.settings import Settings
from resilience.sql_guard import partition_filter_violations
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.demo_fixtures import DemoFactory
from tests.subprocess_env import clean_environment, run_pytest

REPO = Path(__file__).resolve().parent.parent
YESTERDAY = DEFAULT_DEMO_DATE - dt.timedelta(days=1)
GAMEBOOK = "nba_raw.nbac_gamebook_player_stats"
CLEAN = {
    "rows_total": 400.0,
    "actual_games": 10.0,
    "null_player_name": 0.0,
    "null_team_abbr": 0.0,
    "active_rows": 260.0,
    "null_points": 0.0,
    "null_minutes": 0.0,
    "timestamped_rows": 400.0,
    "max_age_hours": 8.0,
    "mean_age_hours": 6.0,
}


def gate_on(path: Path, settings: Settings, game_date: dt.date = YESTERDAY) -> GateResult:
    warehouse = DuckDBWarehouse(path)
    try:
        return evaluate_phase2_gate(warehouse, game_date, settings)
    finally:
        warehouse.close()


def deductions(settings: Settings, **changes: float) -> dict[str, float]:
    rules = score_rules({**CLEAN, **changes}, 10, settings)
    return {rule.name: rule.deduction for rule in rules if rule.violated}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {}),
        ({"rows_total": 199.0}, {"rows_per_game": 0.2}),
        ({"rows_total": 200.0, "null_player_name": 0.0}, {}),
        ({"actual_games": 9.0}, {"missing_games": 0.3}),
        ({"null_player_name": 21.0}, {"null_player_name": 0.3}),
        ({"null_player_name": 20.0}, {}),  # exactly 5% is allowed; above it is not
        ({"null_team_abbr": 21.0}, {"null_team_abbr": 0.2}),
        ({"null_points": 14.0}, {"null_points": 0.2}),  # 14 of 260 active players
        ({"null_minutes": 14.0}, {"null_minutes": 0.2}),
        (
            {"max_age_hours": 25.0, "mean_age_hours": 20.0},
            {"max_age": 0.2},
        ),  # one freshness deduction at most
        ({"max_age_hours": 20.0, "mean_age_hours": 13.0}, {"mean_age": 0.1}),
        ({"timestamped_rows": 0.0, "max_age_hours": 99.0, "mean_age_hours": 99.0}, {}),
    ],
)
def test_each_rule_deducts_what_production_deducted(
    settings: Settings, changes: dict[str, float], expected: dict[str, float]
) -> None:
    assert deductions(settings, **changes) == expected


def test_null_points_and_minutes_count_active_players_only(settings: Settings) -> None:
    # 30 NULLs are 7.5% of 400 rows but 11.5% of 260 active rows: the rate is over active players.
    rules = {rule.name: rule for rule in score_rules({**CLEAN, "null_points": 13.0}, 10, settings)}
    assert rules["null_points"].value == pytest.approx(13 / 260)
    assert rules["null_points"].deduction == 0.0


def test_the_clean_demo_proceeds_with_a_perfect_score(demo_path: Path, settings: Settings) -> None:
    result = gate_on(demo_path, settings)
    assert (result.status, result.quality_score, result.can_proceed) == (GateStatus.PROCEED, 1.0, True)
    assert result.expected_games == result.actual_games
    assert result.expected_games and result.expected_games > 0
    assert result.quality_issues == ()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_moves_the_score_by_its_documented_deductions(
    fault: str, demo_factory: DemoFactory, settings: Settings
) -> None:
    result = gate_on(demo_factory(faults=(fault,)), settings)
    cut = settings.phase2_gate.deductions
    expected_names = {
        "null_player_name": "null_player_name",
        "missing_games": "missing_games",
        "too_few_rows": "rows_per_game",
    }
    documented = FAULTS[fault].gate
    assert {rule.name for rule in result.rules if rule.violated} == {expected_names[d] for d in documented}
    expected_score = round(1.0 - sum(cut[name] for name in documented), 4)
    assert result.quality_score == pytest.approx(expected_score)
    if not documented:
        assert result.status is GateStatus.PROCEED
    elif expected_score >= settings.phase2_gate.warning_score:
        assert result.status is GateStatus.PROCEED_WITH_WARNING
    else:
        assert result.status is GateStatus.FAIL
        assert not result.can_proceed


def test_the_documented_faults_cross_both_cut_offs(settings: Settings) -> None:
    cut = settings.phase2_gate.deductions
    scores = {name: 1.0 - sum(cut[d] for d in fault.gate) for name, fault in FAULTS.items() if fault.gate}
    assert any(score >= settings.phase2_gate.warning_score for score in scores.values())
    assert any(score < settings.phase2_gate.warning_score for score in scores.values())


@pytest.fixture
def editable_demo(demo_path: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "edited.duckdb"
    shutil.copy(demo_path, copy)
    return copy


def edit(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute(sql, [YESTERDAY])


@pytest.mark.parametrize(
    ("sql", "violated"),
    [
        (
            f"UPDATE {GAMEBOOK} SET team_abbr = NULL WHERE game_date = ? AND hash(player_lookup) % 10 = 0",
            "null_team_abbr",
        ),
        (
            f"UPDATE {GAMEBOOK} SET points = NULL WHERE game_date = ? AND player_status = 'active' "
            "AND hash(player_lookup) % 10 = 0",
            "null_points",
        ),
        (
            f"UPDATE {GAMEBOOK} SET minutes = NULL WHERE game_date = ? AND player_status = 'active' "
            "AND hash(player_lookup) % 10 = 0",
            "null_minutes",
        ),
        (
            f"UPDATE {GAMEBOOK} SET processed_at = processed_at - INTERVAL 30 HOUR WHERE game_date = ?",
            "max_age",
        ),
        (
            f"UPDATE {GAMEBOOK} SET processed_at = processed_at - INTERVAL 5 HOUR WHERE game_date = ?",
            "mean_age",
        ),
    ],
)
def test_each_field_rule_trips_on_real_rows(
    editable_demo: Path, settings: Settings, sql: str, violated: str
) -> None:
    edit(editable_demo, sql)
    result = gate_on(editable_demo, settings)
    assert [rule.name for rule in result.rules if rule.violated] == [violated]
    assert result.status is GateStatus.PROCEED_WITH_WARNING
    assert result.quality_issues[0].startswith(next(r.title for r in result.rules if r.name == violated))


def test_a_day_without_games_proceeds_and_says_why(demo_factory: DemoFactory, settings: Settings) -> None:
    all_star_sunday = dt.date(2026, 2, 15)
    result = gate_on(demo_factory(as_of=dt.date(2026, 2, 16)), settings, all_star_sunday)
    assert result.status is GateStatus.PROCEED
    assert result.message == "no games scheduled on 2026-02-15: nothing to gate"


def test_a_gate_that_cannot_measure_is_inconclusive_never_proceed(
    editable_demo: Path, settings: Settings
) -> None:
    with duckdb.connect(str(editable_demo)) as connection:
        connection.execute(f"ALTER TABLE {GAMEBOOK} DROP COLUMN team_abbr")
    result = gate_on(editable_demo, settings)
    assert result.status is GateStatus.INCONCLUSIVE
    assert not result.can_proceed
    assert "team_abbr" in result.message
    checks = gate_check_results(result)
    assert {check.outcome for check in checks.values()} == {Outcome.ERROR}


def test_rule_checks_warn_while_the_gate_proceeds_and_fail_when_it_fails(
    demo_factory: DemoFactory, settings: Settings
) -> None:
    warned = gate_check_results(gate_on(demo_factory(faults=("missing_games",)), settings))
    assert warned["missing_games"].outcome is Outcome.WARN
    assert warned["verdict"].outcome is Outcome.WARN
    failed = gate_check_results(gate_on(demo_factory(faults=("stale_raw_data",)), settings))
    assert failed["missing_games"].outcome is Outcome.FAILED
    assert failed["rows_per_game"].outcome is Outcome.FAILED
    assert failed["verdict"].outcome is Outcome.FAILED
    assert failed["null_team_abbr"].outcome is Outcome.PASSED


def test_the_gate_queries_filter_their_partitions(settings: Settings) -> None:
    for sql in gate_queries(settings).values():
        assert partition_filter_violations(sql, load_catalog()) == []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment()
    return subprocess.run(
        [sys.executable, "-m", "resilience.cli", "gate", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("fault", "status"),
    [(None, "PROCEED"), ("missing_games", "PROCEED_WITH_WARNING"), ("stale_raw_data", "FAIL")],
)
def test_the_cli_exit_status_and_json_follow_the_verdict(
    demo_factory: DemoFactory, fault: str | None, status: str
) -> None:
    demo = demo_factory(faults=(fault,) if fault else ())
    done = run_cli(f"--warehouse=duckdb://{demo}", f"--date={YESTERDAY.isoformat()}", "--json")
    answer = json.loads(done.stdout)
    assert (
        done.returncode
        == GateStatus(status).exit_code
        == {"PROCEED": 0, "PROCEED_WITH_WARNING": 1, "FAIL": 2}[status]
    )
    assert answer["status"] == status
    assert answer["can_proceed"] is (status != "FAIL")
    assert {"quality_score", "message", "expected_games", "actual_games", "quality_issues", "rules"} <= set(
        answer
    )


def test_the_cli_exits_3_when_inconclusive(editable_demo: Path) -> None:
    with duckdb.connect(str(editable_demo)) as connection:
        connection.execute(f"DROP TABLE {GAMEBOOK}")
    done = run_cli(f"--warehouse=duckdb://{editable_demo}", f"--date={YESTERDAY.isoformat()}")
    assert done.returncode == 3
    assert done.stdout.startswith(f"gate could not measure {YESTERDAY.isoformat()}: query 'gate_gamebook'")


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-02-30", "argument --date: '2026-02-30' is not a date; write YYYY-MM-DD"),
        ("2099-01-01", "--date 2099-01-01 is in the future"),
    ],
)
def test_a_bad_or_future_date_is_a_usage_error(demo_path: Path, date: str, expected: str) -> None:
    done = run_cli(f"--warehouse=duckdb://{demo_path}", f"--date={date}")
    assert done.returncode == 64
    assert expected in done.stderr


def test_pytest_m_gate_names_the_failing_rule(demo_factory: DemoFactory) -> None:
    demo = demo_factory(faults=("stale_raw_data",))
    done = run_pytest("-m", "gate", "-k", "phase2_gate", f"--warehouse=duckdb://{demo}", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED checks/gate/test_phase2_gate.py::test_gate_rule_holds[missing_games]" in done.stdout
    assert "FAILED checks/gate/test_phase2_gate.py::test_gate_rule_holds[rows_per_game]" in done.stdout
    assert "scheduled games with no box scores = " in done.stdout
