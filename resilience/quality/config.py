"""The ``[betting_lines]`` and ``[prediction_quality]`` settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from resilience.outcomes import Threshold
from resilience.settings_reader import TomlTable, threshold_from


@dataclass(frozen=True)
class BettingLineSettings:
    game_dates: int
    search_days: int
    market_type: str
    max_bettingpros_age_hours: float
    coverage: Threshold
    missing_line_features: Threshold


@dataclass(frozen=True)
class QualityRule:
    """A prediction-quality rule: its threshold and the sample it needs before it judges anything."""

    threshold: Threshold
    min_sample: int
    #: Extra whole-number parameters of the rule (``days``, ``min_bets_per_day``).
    params: Mapping[str, int]


@dataclass(frozen=True)
class PredictionQualitySettings:
    days: int
    premium_min_confidence: float
    premium_min_edge: float
    high_edge_min_edge: float
    rules: Mapping[str, QualityRule]


#: rule name -> (title, lowest, highest, extra whole-number params)
QUALITY_RULES: Mapping[str, tuple[str, float, float | None, tuple[str, ...]]] = {
    "premium_hit_rate": ("premium hit rate", 0.0, 1.0, ()),
    "high_edge_hit_rate": ("high-edge hit rate", 0.0, 1.0, ()),
    "mae": ("mean absolute error", 0.0, None, ()),
    "premium_hit_rate_spread": ("daily premium hit-rate spread", 0.0, 100.0, ("min_bets_per_day",)),
    "grading_completeness": ("share of predictions graded", 0.0, 1.0, ("days",)),
    "leakage_guard": ("overall hit rate", 0.0, 1.0, ()),
    "closer_than_line": ("share closer to the result than the line", 0.0, 1.0, ()),
}


def _whole(table: TomlTable, name: str, minimum: int = 1) -> int:
    value: int = table.take(name, int)
    if value < minimum:
        raise table.error(name, value, f"a whole number >= {minimum}")
    return value


def _positive(table: TomlTable, name: str, highest: float | None = None) -> float:
    value = table.take(name, (int, float))
    if value <= 0 or (highest is not None and value > highest):
        limit = f" and at most {highest}" if highest is not None else ""
        raise table.error(name, value, f"a number > 0{limit}")
    return float(value)


def parse_betting_lines(table: TomlTable) -> BettingLineSettings:
    game_dates = _whole(table, "game_dates")
    search_days = _whole(table, "search_days")
    if search_days < game_dates:
        raise table.error("search_days", search_days, f"at least game_dates ({game_dates})")
    market = table.take("market_type", str)
    age = _positive(table, "max_bettingpros_age_hours")
    coverage = threshold_from(table.sub("coverage"), "betting-line coverage", 0.0, 1.0)
    missing = threshold_from(table.sub("missing_line_features"), "players with a line but no line features")
    table.done()
    return BettingLineSettings(game_dates, search_days, market, age, coverage, missing)


def parse_prediction_quality(table: TomlTable) -> PredictionQualitySettings:
    days = _whole(table, "days")
    confidence = _positive(table, "premium_min_confidence", 1.0)
    premium_edge = _positive(table, "premium_min_edge")
    high_edge = _positive(table, "high_edge_min_edge")
    rules_table = table.sub("rules")
    rules: dict[str, QualityRule] = {}
    for name, (title, lowest, highest, extra) in QUALITY_RULES.items():
        rule_table = rules_table.sub(name)
        min_sample = _whole(rule_table, "min_sample")
        params = {param: _whole(rule_table, param) for param in extra}
        rules[name] = QualityRule(threshold_from(rule_table, title, lowest, highest), min_sample, params)
    rules_table.done()
    table.done()
    return PredictionQualitySettings(days, confidence, premium_edge, high_edge, rules)
