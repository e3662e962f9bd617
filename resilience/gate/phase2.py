"""The phase 2 -> 3 quality gate: may analytics run on this game date's raw box scores?

Production had this gate but nothing called it. This one is a plain function an orchestrator calls::

    from resilience.gate.phase2 import evaluate_phase2_gate
    result = evaluate_phase2_gate(warehouse, game_date)
    if not result.can_proceed: ...

It fails closed: a query error, a missing table or a metric it could not measure is INCONCLUSIVE,
never PROCEED. Rules and deductions are production's (production-facts.md section 6), values from
``[gate.phase2]`` in the settings.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from resilience.context import evaluation_time
from resilience.outcomes import format_number
from resilience.settings import Settings, load_settings
from resilience.warehouse.base import QueryError, QueryResult, Warehouse


class GateStatus(enum.Enum):
    PROCEED = "PROCEED"
    PROCEED_WITH_WARNING = "PROCEED_WITH_WARNING"
    FAIL = "FAIL"
    #: The gate could not measure (query error, missing table): the orchestrator must not proceed.
    INCONCLUSIVE = "INCONCLUSIVE"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def can_proceed(self) -> bool:
        return self in (GateStatus.PROCEED, GateStatus.PROCEED_WITH_WARNING)


_EXIT_CODES = {
    GateStatus.PROCEED: 0,
    GateStatus.PROCEED_WITH_WARNING: 1,
    GateStatus.FAIL: 2,
    GateStatus.INCONCLUSIVE: 3,
}


@dataclass(frozen=True)
class GateRule:
    """One rule's measurement: its value, its limit, and the deduction it cost (0 when it held)."""

    name: str
    title: str
    value: float | None
    limit: float
    deduction: float
    #: Why the rule was not judged (no rows to take a rate of, no timestamps), if it was not.
    note: str = ""

    @property
    def violated(self) -> bool:
        return self.deduction > 0


@dataclass(frozen=True)
class GateResult:
    """The gate's answer. ``can_proceed`` is False for FAIL and INCONCLUSIVE."""

    game_date: dt.date
    status: GateStatus
    quality_score: float
    message: str
    expected_games: int | None
    actual_games: int | None
    rules: tuple[GateRule, ...] = ()
    quality_issues: tuple[str, ...] = ()
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    evaluated_at: dt.datetime | None = None
    query_ids: tuple[str, ...] = ()
    target: str = ""

    @property
    def can_proceed(self) -> bool:
        return self.status.can_proceed

    def to_json(self) -> dict[str, Any]:
        return {
            "game_date": self.game_date.isoformat(),
            "status": self.status.value,
            "can_proceed": self.can_proceed,
            "quality_score": self.quality_score,
            "message": self.message,
            "expected_games": self.expected_games,
            "actual_games": self.actual_games,
            "quality_issues": list(self.quality_issues),
            "metrics": dict(self.metrics),
            "rules": [
                {
                    "name": r.name,
                    "title": r.title,
                    "value": r.value,
                    "limit": r.limit,
                    "deduction": r.deduction,
                    **({"note": r.note} if r.note else {}),
                }
                for r in self.rules
            ],
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
            "query_ids": list(self.query_ids),
            "target": self.target,
        }


SCHEDULE_SQL = """SELECT COUNTIF(is_regular_season OR is_playoffs) AS expected_games
FROM `{schedule}`
WHERE game_date = @game_date"""

GAMEBOOK_SQL = """SELECT
  COUNT(*) AS rows_total,
  COUNT(DISTINCT game_id) AS actual_games,
  COUNTIF(player_name IS NULL) AS null_player_name,
  COUNTIF(team_abbr IS NULL) AS null_team_abbr,
  COUNTIF(player_status = 'active') AS active_rows,
  COUNTIF(player_status = 'active' AND points IS NULL) AS null_points,
  COUNTIF(player_status = 'active' AND minutes IS NULL) AS null_minutes,
  COUNT(processed_at) AS timestamped_rows,
  TIMESTAMP_DIFF(@evaluated_at, MIN(processed_at), SECOND) / 3600 AS max_age_hours,
  AVG(TIMESTAMP_DIFF(@evaluated_at, processed_at, SECOND)) / 3600 AS mean_age_hours
FROM `{gamebook}`
WHERE game_date = @game_date"""


def gate_queries(settings: Settings) -> dict[str, str]:
    """The gate's SQL by label, with the settings' table names (also walked by the partition-filter test)."""
    return {
        "gate_schedule": SCHEDULE_SQL.format(schedule=settings.tables["schedule"]),
        "gate_gamebook": GAMEBOOK_SQL.format(gamebook=settings.tables["gamebook"]),
    }


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"gate metric {value!r} is not a number")


def _single_row(result: QueryResult, label: str) -> Mapping[str, Any]:
    if len(result.rows) != 1:
        raise TypeError(f"query {label!r} returned {len(result.rows)} rows, expected exactly 1")
    return result.rows[0]


def score_rules(
    measured: Mapping[str, float | None], expected_games: int, settings: Settings
) -> list[GateRule]:
    """Production's rules on measured values; plain, so they are tested without a warehouse."""
    gate = settings.phase2_gate
    cut = gate.deductions
    rows = measured["rows_total"] or 0.0
    rules: list[GateRule] = []

    need = gate.min_rows_per_game * expected_games
    rules.append(
        GateRule(
            "rows_per_game",
            f"rows (at least {gate.min_rows_per_game} per scheduled game)",
            rows,
            need,
            cut["too_few_rows"] if rows < need else 0.0,
        )
    )
    actual = measured["actual_games"] or 0.0
    missing = max(0.0, expected_games - actual)
    rules.append(
        GateRule(
            "missing_games",
            "scheduled games with no box scores",
            missing,
            0,
            cut["missing_games"] if missing > 0 else 0.0,
        )
    )

    active = measured["active_rows"] or 0.0
    for name, population, title in (
        ("null_player_name", rows, "NULL player_name rate"),
        ("null_team_abbr", rows, "NULL team_abbr rate"),
        ("null_points", active, "NULL points rate among active players"),
        ("null_minutes", active, "NULL minutes rate among active players"),
    ):
        count = measured[name] or 0.0
        if not population:
            rules.append(GateRule(name, title, None, gate.max_null_rate, 0.0, "no rows to take a rate of"))
            continue
        rate = count / population
        rules.append(
            GateRule(name, title, rate, gate.max_null_rate, cut[name] if rate > gate.max_null_rate else 0.0)
        )

    # Freshness counts only when the rows carry timestamps; one deduction at most (max age first).
    max_age, mean_age = measured["max_age_hours"], measured["mean_age_hours"]
    if not measured["timestamped_rows"] or max_age is None or mean_age is None:
        note = "no processed_at timestamps"
        rules.append(
            GateRule(
                "max_age", "hours since the oldest row was processed", None, gate.max_age_hours, 0.0, note
            )
        )
        rules.append(
            GateRule(
                "mean_age", "mean hours since rows were processed", None, gate.max_mean_age_hours, 0.0, note
            )
        )
    else:
        stale = max_age > gate.max_age_hours
        rules.append(
            GateRule(
                "max_age",
                "hours since the oldest row was processed",
                max_age,
                gate.max_age_hours,
                cut["stale_max_age"] if stale else 0.0,
            )
        )
        ageing = not stale and mean_age > gate.max_mean_age_hours
        rules.append(
            GateRule(
                "mean_age",
                "mean hours since rows were processed",
                mean_age,
                gate.max_mean_age_hours,
                cut["stale_mean_age"] if ageing else 0.0,
                "not judged: max age already deducted" if stale else "",
            )
        )
    return rules


def status_for(score: float, settings: Settings) -> GateStatus:
    if score >= 1.0:
        return GateStatus.PROCEED
    if score >= settings.phase2_gate.warning_score:
        return GateStatus.PROCEED_WITH_WARNING
    return GateStatus.FAIL


def describe_gate_rule(rule: GateRule) -> str:
    value = "n/a" if rule.value is None else format_number(rule.value)
    limit = (
        f"at least {format_number(rule.limit)}"
        if rule.name == "rows_per_game"
        else (f"at most {format_number(rule.limit)}")
    )
    return f"{rule.title} = {value} ({limit}): -{format_number(rule.deduction)}"


def evaluate_phase2_gate(
    warehouse: Warehouse,
    game_date: dt.date,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> GateResult:
    """Judge ``game_date``'s raw box scores. Never raises for warehouse trouble: that is INCONCLUSIVE."""
    settings = settings or load_settings()
    evaluated_at = evaluation_time(game_date + dt.timedelta(days=1), settings.timezone, now)
    queries = gate_queries(settings)
    query_ids: list[str] = []
    try:
        schedule = warehouse.query(queries["gate_schedule"], {"game_date": game_date}, label="gate_schedule")
        query_ids.append(schedule.query_id)
        expected_value = _number(_single_row(schedule, "gate_schedule")["expected_games"])
        if expected_value is None:
            raise TypeError("expected_games came back NULL")
        expected = int(expected_value)
        if expected == 0:
            return GateResult(
                game_date,
                GateStatus.PROCEED,
                1.0,
                f"no games scheduled on {game_date.isoformat()}: nothing to gate",
                0,
                0,
                evaluated_at=evaluated_at,
                query_ids=tuple(query_ids),
                target=warehouse.target,
            )
        params = {"game_date": game_date, "evaluated_at": evaluated_at}
        gamebook = warehouse.query(queries["gate_gamebook"], params, label="gate_gamebook")
        query_ids.append(gamebook.query_id)
        row = _single_row(gamebook, "gate_gamebook")
        measured = {
            name: _number(row[name])
            for name in (
                "rows_total",
                "actual_games",
                "null_player_name",
                "null_team_abbr",
                "active_rows",
                "null_points",
                "null_minutes",
                "timestamped_rows",
                "max_age_hours",
                "mean_age_hours",
            )
        }
        for name in (
            "rows_total",
            "actual_games",
            "null_player_name",
            "null_team_abbr",
            "active_rows",
            "null_points",
            "null_minutes",
            "timestamped_rows",
        ):
            if measured[name] is None:
                raise TypeError(f"{name} came back NULL")
    except (QueryError, TypeError, KeyError) as error:
        return GateResult(
            game_date,
            GateStatus.INCONCLUSIVE,
            0.0,
            f"gate could not measure {game_date.isoformat()}: {error}",
            None,
            None,
            evaluated_at=evaluated_at,
            query_ids=tuple(query_ids),
            target=warehouse.target,
        )

    rules = score_rules(measured, expected, settings)
    # Rounded: 1 - 0.3 must be exactly 0.7 so the cut-off is not decided by float noise.
    score = round(max(0.0, 1.0 - sum(rule.deduction for rule in rules)), 4)
    status = status_for(score, settings)
    issues = tuple(describe_gate_rule(rule) for rule in rules if rule.violated)
    actual = int(measured["actual_games"] or 0)
    headline = (
        f"{status.value} for {game_date.isoformat()}: quality score {format_number(score)}, "
        f"{actual} of {expected} scheduled games"
    )
    message = headline + (f"; {'; '.join(issues)}" if issues else "")
    return GateResult(
        game_date,
        status,
        score,
        message,
        expected,
        actual,
        tuple(rules),
        issues,
        measured,
        evaluated_at,
        tuple(query_ids),
        warehouse.target,
    )
