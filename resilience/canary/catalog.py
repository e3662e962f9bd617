"""Every pipeline canary (production-facts.md section 6): its metrics, rules, dates and expectations.

Thresholds, windows, table names and model ids are not here: they come from ``resilience.toml``.
Table names below are the logical keys of its ``[tables]`` section; ``@name`` parameters come from
``[metric_params]`` and ``[models]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience.canary import rules
from resilience.canary.model import CanarySpec, Metric, MetricKind, SampleGuard, Span

VALUE = MetricKind.VALUE
REGULAR_OR_PLAYOFF = "(is_regular_season OR is_playoffs)"

# Schedule. Regular-season and playoff games only: All-Star and exhibition rows are not pipeline work.
SCHEDULED_GAMES = Metric("schedule", "scheduled_games", f"COUNTIF{REGULAR_OR_PLAYOFF}")
FINAL_GAMES = Metric("schedule", "final_games", f"COUNTIF({REGULAR_OR_PLAYOFF} AND game_status = 3)")
ALL_STAR_GAMES = Metric("schedule", "all_star_games", "COUNTIF(is_all_star)")

# Phase 2: the gamebook box scores.
GAMEBOOK_ROWS = Metric("gamebook", "rows", "COUNT(*)")
GAMEBOOK_GAMES = Metric("gamebook", "games", "COUNT(DISTINCT game_id)")
GAMEBOOK_NULL_NAME = Metric("gamebook", "null_player_name", "COUNTIF(player_name IS NULL)")
GAMEBOOK_NULL_TEAM = Metric("gamebook", "null_team_abbr", "COUNTIF(team_abbr IS NULL)")

# Phase 3: player_game_summary. "Active" is is_dnp = FALSE, as production counted it.
ANALYTICS_ROWS = Metric("analytics", "rows", "COUNT(*)")
ANALYTICS_GAMES = Metric("analytics", "games", "COUNT(DISTINCT game_id)")
ANALYTICS_NULL_MINUTES = Metric(
    "analytics", "null_minutes_active", "COUNTIF(is_dnp = FALSE AND minutes_played IS NULL)"
)
ANALYTICS_NULL_POINTS = Metric(
    "analytics", "null_points_active", "COUNTIF(is_dnp = FALSE AND points IS NULL)"
)
ANALYTICS_MEAN_MINUTES = Metric(
    "analytics",
    "mean_minutes_active",
    "AVG(IF(is_dnp = FALSE, CAST(minutes_played AS FLOAT64), NULL))",
    VALUE,
)
ANALYTICS_MEAN_POINTS = Metric(
    "analytics", "mean_points_active", "AVG(IF(is_dnp = FALSE, points, NULL))", VALUE
)
# Extra rows beyond one per (player_lookup, game_id), the table's intended grain.
ANALYTICS_DUPLICATES = Metric(
    "analytics", "duplicate_rows", "COUNT(*) - COUNT(DISTINCT CONCAT(player_lookup, '|', game_id))"
)

# Phase 4: the feature store.
FEATURE_ROWS = Metric("features", "rows", "COUNT(*)")
FEATURE_PLAYERS = Metric("features", "players", "COUNT(DISTINCT player_lookup)")
FEATURE_MEAN_QUALITY = Metric(
    "features", "mean_quality", "AVG(CAST(feature_quality_score AS FLOAT64))", VALUE, highest=100.0
)
FEATURE_LOW_QUALITY = Metric(
    "features", "low_quality_rows", "COUNTIF(feature_quality_score < @low_quality_score)"
)
FEATURE_READY = Metric("features", "quality_ready_rows", "COUNTIF(is_quality_ready)")
FEATURE_RED = Metric("features", "red_rows", "COUNTIF(quality_alert_level = 'red')")
FEATURE_MATCHUP = Metric("features", "mean_matchup_quality", "AVG(matchup_quality_pct)", VALUE, highest=100.0)
FEATURE_CACHE_MISS = Metric("features", "cache_miss_rows", "COUNTIF(cache_miss_fallback_used)")

# Phase 5: predictions, active rows only (superseded rows have is_active = FALSE).
PREDICTION_ROWS = Metric("predictions", "active_rows", "COUNTIF(is_active)")
PREDICTION_PLAYERS = Metric(
    "predictions", "active_players", "COUNT(DISTINCT IF(is_active, player_lookup, NULL))"
)
PREDICTION_NULL_POINTS = Metric(
    "predictions", "null_predicted_points", "COUNTIF(is_active AND predicted_points IS NULL)"
)
PREDICTION_LINED = Metric(
    "predictions", "lined_rows", "COUNTIF(is_active AND current_points_line IS NOT NULL)"
)
PREDICTION_CONFIDENCE = Metric(
    "predictions",
    "mean_confidence",
    "AVG(IF(is_active, CAST(confidence_score AS FLOAT64), NULL))",
    VALUE,
    highest=1.0,
)
_CHAMPION_LINED = "is_active AND system_id = @champion_model AND current_points_line IS NOT NULL"
CHAMPION_LINED = Metric("predictions", "champion_lined_rows", f"COUNTIF({_CHAMPION_LINED})")
CHAMPION_MEAN_EDGE = Metric(
    "predictions",
    "champion_mean_edge",
    f"AVG(IF({_CHAMPION_LINED}, ABS(CAST(predicted_points - current_points_line AS FLOAT64)), NULL))",
    VALUE,
)

# Phase 6: the daily signal of the champion model.
SIGNAL_ROWS = Metric("signals", "champion_rows", "COUNTIF(system_id = @champion_model)")
SIGNAL_NULL = Metric(
    "signals", "champion_null_signal", "COUNTIF(system_id = @champion_model AND daily_signal IS NULL)"
)
SIGNAL_NULL_PCT_OVER = Metric(
    "signals", "champion_null_pct_over", "COUNTIF(system_id = @champion_model AND pct_over IS NULL)"
)

TODAY = Span(end_offset=0)
YESTERDAY = Span(end_offset=1)

CANARIES: tuple[CanarySpec, ...] = (
    CanarySpec(
        "phase1_scrapers",
        1,
        "Scrapers delivered box scores",
        Span(end_offset=0, length_param="lookback_days"),
        (
            rules.days_with_rows("dates_with_data", "dates with gamebook rows", GAMEBOOK_ROWS),
            rules.total("games", "distinct games in gamebook", GAMEBOOK_GAMES),
        ),
        expects=FINAL_GAMES,
        params=("lookback_days",),
    ),
    CanarySpec(
        "phase2_raw",
        2,
        "Raw box scores for yesterday are complete",
        YESTERDAY,
        (
            rules.total("games", "distinct games", GAMEBOOK_GAMES),
            rules.total("rows", "gamebook rows", GAMEBOOK_ROWS),
            rules.total("null_player_name", "rows with NULL player_name", GAMEBOOK_NULL_NAME),
            rules.total("null_team_abbr", "rows with NULL team_abbr", GAMEBOOK_NULL_TEAM),
            rules.shortfall(
                "missing_games", "final games missing from the gamebook", FINAL_GAMES, GAMEBOOK_GAMES
            ),
        ),
        expects=FINAL_GAMES,
    ),
    CanarySpec(
        "phase3_analytics",
        3,
        "Analytics for yesterday are complete and plausible",
        YESTERDAY,
        (
            rules.total("rows", "player_game_summary rows", ANALYTICS_ROWS),
            rules.total("null_minutes_active", "active rows with NULL minutes", ANALYTICS_NULL_MINUTES),
            rules.total("null_points_active", "active rows with NULL points", ANALYTICS_NULL_POINTS),
            rules.total("mean_minutes_active", "mean minutes of active players", ANALYTICS_MEAN_MINUTES),
            rules.total("mean_points_active", "mean points of active players", ANALYTICS_MEAN_POINTS),
        ),
        expects=FINAL_GAMES,
    ),
    CanarySpec(
        "phase4_precompute",
        4,
        "Feature store for yesterday is populated and of good quality",
        YESTERDAY,
        (
            rules.total("players", "distinct players with features", FEATURE_PLAYERS),
            rules.total("mean_quality", "mean feature quality score", FEATURE_MEAN_QUALITY),
            rules.total("low_quality_rows", "rows under the quality floor", FEATURE_LOW_QUALITY),
            rules.share("quality_ready_share", "share of quality-ready rows", FEATURE_READY, FEATURE_ROWS),
            rules.total("red_rows", "rows at alert level red", FEATURE_RED),
            rules.total("mean_matchup_quality", "mean matchup quality %", FEATURE_MATCHUP),
            rules.share(
                "cache_miss_share", "share of cache-miss fallbacks", FEATURE_CACHE_MISS, FEATURE_ROWS
            ),
        ),
        expects=SCHEDULED_GAMES,
    ),
    CanarySpec(
        "phase5_predictions",
        5,
        "Predictions for today exist and look sane",
        TODAY,
        (
            rules.total("rows", "active predictions", PREDICTION_ROWS),
            rules.total("players", "players with an active prediction", PREDICTION_PLAYERS),
            rules.total(
                "null_predicted_points", "active rows with NULL predicted_points", PREDICTION_NULL_POINTS
            ),
            rules.total("lined_rows", "active predictions with a line", PREDICTION_LINED),
            rules.total("mean_confidence", "mean confidence", PREDICTION_CONFIDENCE),
        ),
        expects=SCHEDULED_GAMES,
    ),
    CanarySpec(
        "phase6_publishing",
        6,
        "The champion's daily signal for today is published",
        TODAY,
        (
            rules.total("rows", "signal rows for the champion", SIGNAL_ROWS),
            rules.total("null_daily_signal", "rows with NULL daily_signal", SIGNAL_NULL),
            rules.total("null_pct_over", "rows with NULL pct_over", SIGNAL_NULL_PCT_OVER),
        ),
        expects=SCHEDULED_GAMES,
    ),
    CanarySpec(
        "schedule_gap",
        3,
        "No final game day is missing from analytics entirely",
        Span(end_offset=1, length_param="lookback_days"),
        (
            rules.dates_with_gap(
                "gap_dates", "dates with finals but no analytics", FINAL_GAMES, ANALYTICS_GAMES, partial=False
            ),
        ),
        expects=FINAL_GAMES,
        params=("lookback_days",),
    ),
    CanarySpec(
        "analytics_coverage",
        3,
        "Analytics cover every final game of the lookback window",
        Span(end_offset=1, length_param="lookback_days"),
        (
            rules.dates_with_gap(
                "partial_dates",
                "dates with only some games in analytics",
                FINAL_GAMES,
                ANALYTICS_GAMES,
                partial=True,
            ),
        ),
        expects=FINAL_GAMES,
        params=("lookback_days",),
    ),
    CanarySpec(
        "analytics_duplicates",
        3,
        "player_game_summary keeps one row per player and game",
        Span(end_offset=1, length_param="lookback_days"),
        (
            rules.total(
                "duplicate_rows", "rows beyond one per (player_lookup, game_id)", ANALYTICS_DUPLICATES
            ),
        ),
        params=("lookback_days",),
    ),
    CanarySpec(
        "prediction_gap",
        5,
        "Games today have predictions",
        TODAY,
        (rules.total("active_predictions", "active predictions for today's games", PREDICTION_ROWS),),
        expects=SCHEDULED_GAMES,
    ),
    CanarySpec(
        "edge_collapse",
        5,
        "The champion's edge over the line has not collapsed",
        TODAY,
        (rules.total("mean_edge", "mean |predicted - line| of the champion", CHAMPION_MEAN_EDGE),),
        expects=SCHEDULED_GAMES,
        sample=SampleGuard(CHAMPION_LINED, "min_sample", "lined champion predictions"),
        params=("min_sample",),
    ),
)

CANARIES_BY_ID: Mapping[str, CanarySpec] = {spec.id: spec for spec in CANARIES}
CALENDAR_METRICS = (SCHEDULED_GAMES, FINAL_GAMES, ALL_STAR_GAMES)
