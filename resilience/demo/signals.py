"""Phase 6: the daily prediction signal, computed from the predictions by production's rules.

Computed in SQL after the predictions are loaded (and after any fault that changes them), so
the signal always agrees with the rows it summarizes. Categories are decided on the rounded
percentages stored in the row, so anyone re-deriving a signal from the row gets the same answer.
"""

from __future__ import annotations

import duckdb

MIN_LINED_PREDICTIONS = 10

_SIGNALS_SQL = f"""
INSERT INTO nba_predictions.daily_prediction_signals
WITH picks AS (
    SELECT game_date, system_id, confidence_score, recommendation,
           ABS(predicted_points - current_points_line) AS edge
    FROM nba_predictions.player_prop_predictions
    WHERE is_active AND current_points_line IS NOT NULL
), daily AS (
    SELECT game_date, system_id,
           COUNT(*) AS total_picks,
           COUNT(*) FILTER (WHERE edge >= 5) AS high_edge_picks,
           COUNT(*) FILTER (WHERE confidence_score >= 0.92 AND edge >= 3) AS premium_picks,
           CAST(ROUND(100.0 * COUNT(*) FILTER (WHERE recommendation = 'OVER') / COUNT(*), 1) AS DOUBLE)
               AS pct_over,
           CAST(ROUND(100.0 * COUNT(*) FILTER (WHERE recommendation = 'UNDER') / COUNT(*), 1) AS DOUBLE)
               AS pct_under,
           CAST(ROUND(100.0 * AVG(confidence_score), 1) AS DOUBLE) AS avg_confidence,
           CAST(ROUND(AVG(edge), 2) AS DOUBLE) AS avg_edge
    FROM picks
    GROUP BY game_date, system_id
    HAVING COUNT(*) >= {MIN_LINED_PREDICTIONS}
)
SELECT game_date, system_id, total_picks, high_edge_picks, premium_picks, pct_over, pct_under,
       avg_confidence, avg_edge,
       CASE WHEN pct_over < 25 THEN 'UNDER_HEAVY' WHEN pct_over > 40 THEN 'OVER_HEAVY' ELSE 'BALANCED' END,
       CASE WHEN high_edge_picks < 3 THEN 'LOW' WHEN high_edge_picks > 8 THEN 'HIGH' ELSE 'NORMAL' END,
       CASE WHEN pct_over < 25 THEN 'RED'
            WHEN high_edge_picks < 3 OR pct_over > 45 THEN 'YELLOW'
            ELSE 'GREEN' END,
       CASE WHEN pct_over < 25
                THEN printf('Heavy UNDER skew: only %.1f%% of %d picks are OVER', pct_over, total_picks)
            WHEN high_edge_picks < 3
                THEN printf('Only %d high-edge picks (edge >= 5) among %d', high_edge_picks, total_picks)
            WHEN pct_over > 45
                THEN printf('OVER-heavy slate: %.1f%% of %d picks are OVER', pct_over, total_picks)
            ELSE printf('Balanced slate: %.1f%% OVER, %d high-edge picks', pct_over, high_edge_picks) END,
       -- The signal job runs at 11:05 am Eastern on the game date.
       (game_date + TIME '11:05:00') AT TIME ZONE 'America/New_York'
FROM daily
ORDER BY game_date, system_id
"""


def publish_signals(connection: duckdb.DuckDBPyConnection) -> None:
    """Write one signal row per game date and model with enough lined predictions."""
    connection.execute(_SIGNALS_SQL)
