"""The ``[gate.phase2]`` settings: rules, deductions and cut-offs of the phase 2 -> 3 quality gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from resilience.settings_reader import TomlTable

DEDUCTIONS = (
    "null_player_name",
    "null_team_abbr",
    "null_points",
    "null_minutes",
    "missing_games",
    "too_few_rows",
    "stale_max_age",
    "stale_mean_age",
)


@dataclass(frozen=True)
class Phase2GateSettings:
    min_rows_per_game: int
    max_null_rate: float
    max_age_hours: float
    max_mean_age_hours: float
    warning_score: float
    deductions: Mapping[str, float]


def parse_phase2_gate(table: TomlTable) -> Phase2GateSettings:
    rows = table.take("min_rows_per_game", int)
    if rows < 1:
        raise table.error("min_rows_per_game", rows, "a whole number >= 1")
    null_rate = table.take("max_null_rate", (int, float))
    if not 0 <= null_rate < 1:
        raise table.error("max_null_rate", null_rate, "a share from 0 up to (not including) 1")
    max_age = table.take("max_age_hours", (int, float))
    mean_age = table.take("max_mean_age_hours", (int, float))
    for name, value in (("max_age_hours", max_age), ("max_mean_age_hours", mean_age)):
        if value <= 0:
            raise table.error(name, value, "a number of hours > 0")
    if mean_age > max_age:
        raise table.error("max_mean_age_hours", mean_age, f"at most max_age_hours ({max_age}): min > max")
    warning = table.take("warning_score", (int, float))
    if not 0 < warning < 1:
        raise table.error("warning_score", warning, "a score between 0 and 1 (1.0 always proceeds)")
    deductions_table = table.sub("deductions")
    deductions: dict[str, float] = {}
    for name in DEDUCTIONS:
        value = deductions_table.take(name, (int, float))
        if not 0 < value <= 1:
            raise deductions_table.error(name, value, "a deduction above 0 and at most 1")
        deductions[name] = float(value)
    deductions_table.done()
    table.done()
    return Phase2GateSettings(
        rows, float(null_rate), float(max_age), float(mean_age), float(warning), deductions
    )
