"""Prediction-quality regression of the champion model (production-facts.md section 6).

Seven rules over the ``days`` graded dates ending yesterday, each its own check
(``prediction_quality.<rule>``), from two queries: one on the grading table grouped by date, carrying
every count and sum the rules need, and one on the predictions table for grading completeness.
A rule whose sample is under its minimum is SKIPPED with the reason, never passed.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from resilience.outcomes import Outcome, judge
from resilience.quality.config import QUALITY_RULES
from resilience.quality.queries import (
    PERCENT,
    NotMeasured,
    QualityCheck,
    QualityQuery,
    QueryRun,
    Unit,
    broken,
    check_result,
    describe,
    not_evaluated,
    run_query,
    span_text,
    summarize,
    window_dates,
)
from resilience.results import CheckResult, RuleResult
from resilience.settings import Settings
from resilience.warehouse.base import Warehouse

PHASE = 5
POINTS = Unit(suffix=" points")
QUALITY_CHECKS: Mapping[str, QualityCheck] = {
    rule: QualityCheck(f"prediction_quality.{rule}", PHASE, f"Champion {title}")
    for rule, (title, *_) in QUALITY_RULES.items()
}

ACCURACY_COLUMNS = (
    "bets",
    "hits",
    "premium_bets",
    "premium_hits",
    "high_edge_bets",
    "high_edge_hits",
    "graded_rows",
    "absolute_error_sum",
    "lined_rows",
    "closer_rows",
    "graded_predictions",
)
PREDICTION_COLUMNS = ("active_predictions",)


def accuracy_sql(settings: Settings) -> str:
    """Per graded date of the champion: bets and hits by kind, error sums, and rows closer than the line.

    A bet is a graded OVER/UNDER pick (prediction_correct set, not voided). Edges are computed in
    NUMERIC, so an edge of exactly 3.0 is never 2.9999999 and counts as premium.
    """
    premium = "confidence_score >= @premium_min_confidence AND edge >= @premium_min_edge"
    high_edge = "edge >= @high_edge_min_edge"
    return f"""WITH graded AS (
  SELECT game_date,
    CONCAT(player_lookup, '|', game_id) AS prediction_key,
    recommendation IN ('OVER', 'UNDER') AND prediction_correct IS NOT NULL
      AND NOT COALESCE(is_voided, FALSE) AS is_bet,
    COALESCE(prediction_correct, FALSE) AS is_hit,
    confidence_score,
    ABS(predicted_points - line_value) AS edge,
    NOT COALESCE(is_voided, FALSE) AND absolute_error IS NOT NULL AS is_graded,
    CAST(absolute_error AS FLOAT64) AS absolute_error,
    NOT COALESCE(is_voided, FALSE) AND line_source = 'ACTUAL_PROP' AND line_value IS NOT NULL
      AND actual_points IS NOT NULL AS is_lined,
    ABS(predicted_points - actual_points) < ABS(line_value - actual_points) AS beat_line
  FROM `{settings.tables["grading"]}`
  WHERE game_date BETWEEN @window_start AND @window_end AND system_id = @champion_model
)
SELECT game_date AS measured_date,
  COUNTIF(is_bet) AS bets,
  COUNTIF(is_bet AND is_hit) AS hits,
  COUNTIF(is_bet AND {premium}) AS premium_bets,
  COUNTIF(is_bet AND is_hit AND {premium}) AS premium_hits,
  COUNTIF(is_bet AND {high_edge}) AS high_edge_bets,
  COUNTIF(is_bet AND is_hit AND {high_edge}) AS high_edge_hits,
  COUNTIF(is_graded) AS graded_rows,
  SUM(IF(is_graded, absolute_error, 0)) AS absolute_error_sum,
  COUNTIF(is_lined) AS lined_rows,
  COUNTIF(is_lined AND beat_line) AS closer_rows,
  COUNT(DISTINCT prediction_key) AS graded_predictions
FROM graded
GROUP BY measured_date"""


def predictions_sql(settings: Settings) -> str:
    """Active champion predictions per date (one per player and game; superseded rows are inactive)."""
    return f"""SELECT game_date AS measured_date,
  COUNT(DISTINCT IF(is_active, CONCAT(player_lookup, '|', game_id), NULL)) AS active_predictions
FROM `{settings.tables["predictions"]}`
WHERE game_date BETWEEN @window_start AND @window_end AND system_id = @champion_model
GROUP BY measured_date"""


def planned_sql(settings: Settings) -> tuple[str, ...]:
    """Every SQL text these checks issue (for the partition-filter guard)."""
    return accuracy_sql(settings), predictions_sql(settings)


@dataclass(frozen=True)
class Measurement:
    """A rule's sample (what its minimum counts), and its value once there is a sample to judge."""

    sample: float
    noun: str
    dates: tuple[dt.date, ...]
    value: float | None = None
    detail: str = ""
    unit: Unit = PERCENT


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _hit_rate(run: QueryRun, dates: tuple[dt.date, ...], prefix: str, noun: str) -> Measurement:
    bets = run.count(f"{prefix}bets", dates)
    hits = run.count(f"{prefix}hits", dates)
    detail = f"{int(hits)} of {int(bets)} {noun} hit"
    return Measurement(bets, noun, dates, _share(hits, bets), detail)


def _measure(
    rule: str, settings: Settings, accuracy: QueryRun, predictions: QueryRun | None, as_of: dt.date
) -> Measurement:
    config = settings.prediction_quality
    dates = window_dates(as_of - dt.timedelta(days=1), config.days)
    if rule == "premium_hit_rate":
        noun = (
            f"premium bets (confidence >= {config.premium_min_confidence:g}, "
            f"edge >= {config.premium_min_edge:g})"
        )
        return _hit_rate(accuracy, dates, "premium_", noun)
    if rule == "high_edge_hit_rate":
        return _hit_rate(accuracy, dates, "high_edge_", f"bets with edge >= {config.high_edge_min_edge:g}")
    if rule == "leakage_guard":
        return _hit_rate(accuracy, dates, "", "bets")
    if rule == "mae":
        rows = accuracy.count("graded_rows", dates)
        mae = _share(accuracy.count("absolute_error_sum", dates), rows)
        return Measurement(
            rows, "graded predictions", dates, mae, f"over {int(rows)} graded predictions", POINTS
        )
    if rule == "closer_than_line":
        rows = accuracy.count("lined_rows", dates)
        closer = accuracy.count("closer_rows", dates)
        detail = f"{int(closer)} of {int(rows)} graded predictions with a line were closer to the result"
        return Measurement(rows, "graded predictions with a line", dates, _share(closer, rows), detail)
    if rule == "premium_hit_rate_spread":
        per_day = int(config.rules[rule].params["min_bets_per_day"])
        rates = {}
        for day in dates:
            bets = accuracy.count("premium_bets", (day,))
            if bets >= per_day:
                rates[day] = accuracy.count("premium_hits", (day,)) / bets
        noun = f"days with at least {per_day} premium bets"
        if len(rates) < 2:
            return Measurement(len(rates), noun, dates)
        spread = statistics.stdev(rates.values()) * 100
        shown = ", ".join(f"{PERCENT.text(rate)} on {day.isoformat()}" for day, rate in rates.items())
        return Measurement(len(rates), noun, dates, spread, f"daily premium hit rates {shown}", POINTS)
    if rule == "grading_completeness":
        if predictions is None:
            raise NotMeasured("the predictions query did not run")
        dates = window_dates(as_of - dt.timedelta(days=1), int(config.rules[rule].params["days"]))
        active = predictions.count("active_predictions", dates)
        graded = accuracy.count("graded_predictions", dates)
        noun = f"active {settings.champion_model} predictions"
        detail = f"{int(graded)} of {int(active)} {noun} graded"
        return Measurement(active, noun, dates, _share(graded, active), detail)
    raise ValueError(f"no measurement for prediction-quality rule {rule!r}")


def _judge(
    rule: str, settings: Settings, measured: Measurement
) -> tuple[Outcome, str, tuple[RuleResult, ...]]:
    quality_rule = settings.prediction_quality.rules[rule]
    span = span_text(measured.dates)
    # A standard deviation needs two days whatever the settings say.
    minimum = (
        max(quality_rule.min_sample, 2) if rule == "premium_hit_rate_spread" else quality_rule.min_sample
    )
    if measured.sample < minimum:
        return Outcome.SKIPPED, not_evaluated(measured.sample, measured.noun, span, minimum), ()
    if measured.value is None:
        raise NotMeasured(f"{rule} could not be computed from {measured.sample:g} {measured.noun}")
    title = QUALITY_RULES[rule][0]
    threshold = quality_rule.threshold
    result = RuleResult(
        rule, title, measured.value, threshold, judge(measured.value, threshold), measured.detail
    )
    message = summarize(result.outcome, span, [(result, describe(result, measured.unit))])
    return result.outcome, message, (result,)


def evaluate_prediction_quality(
    warehouse: Warehouse, settings: Settings, as_of: dt.date
) -> Mapping[str, CheckResult]:
    """Judge every prediction-quality rule of the champion for business date ``as_of``. Never raises."""
    config = settings.prediction_quality
    yesterday = as_of - dt.timedelta(days=1)
    grading_days = int(config.rules["grading_completeness"].params["days"])
    accuracy = run_query(
        warehouse,
        QualityQuery(
            "prediction_quality_accuracy",
            accuracy_sql(settings),
            {
                "window_start": yesterday - dt.timedelta(days=max(config.days, grading_days) - 1),
                "window_end": yesterday,
                "champion_model": settings.champion_model,
                "premium_min_confidence": config.premium_min_confidence,
                "premium_min_edge": config.premium_min_edge,
                "high_edge_min_edge": config.high_edge_min_edge,
            },
            ACCURACY_COLUMNS,
        ),
    )
    predictions = run_query(
        warehouse,
        QualityQuery(
            "prediction_quality_predictions",
            predictions_sql(settings),
            {
                "window_start": yesterday - dt.timedelta(days=grading_days - 1),
                "window_end": yesterday,
                "champion_model": settings.champion_model,
            },
            PREDICTION_COLUMNS,
        ),
    )
    results: dict[str, CheckResult] = {}
    for rule, check in QUALITY_CHECKS.items():
        uses_predictions = rule == "grading_completeness"
        runs: Sequence[QueryRun] = (accuracy, predictions) if uses_predictions else (accuracy,)
        days = int(config.rules[rule].params["days"]) if uses_predictions else config.days
        dates = window_dates(yesterday, days)
        failed = broken(check, dates, runs)
        if failed is not None:
            results[check.check_id] = failed
            continue
        try:
            measured = _measure(rule, settings, accuracy, predictions if uses_predictions else None, as_of)
            judged = _judge(rule, settings, measured)
        except NotMeasured as error:
            judged = Outcome.ERROR, f"check broken: {error}", ()
        results[check.check_id] = check_result(check, dates, runs, *judged)
    return results
