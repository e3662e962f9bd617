"""The fault registry: named ways to break the demo warehouse, each with the canaries it trips.

A fault is applied by SQL to the loaded warehouse, so the clean generator stays fault-free and
a fault changes only what its description says. Rows to break are sampled with
``random.Random(f"{seed}-{fault}")`` from a sorted population, so a fault is as deterministic as
the rest of the build. "Yesterday" is ``as_of - 1 day``; all dates are Eastern business dates.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import duckdb

from resilience.demo.predictions import CHAMPION, PASS_EDGE

GAMEBOOK = "nba_raw.nbac_gamebook_player_stats"
ANALYTICS = "nba_analytics.player_game_summary"
FEATURES = "nba_predictions.ml_feature_store_v2"
PREDICTIONS = "nba_predictions.player_prop_predictions"
SIGNALS = "nba_predictions.daily_prediction_signals"


@dataclass(frozen=True)
class Fault:
    """A named breakage, the canary check ids it must make FAIL, and the phase 2 gate deductions it
    causes for yesterday (names of ``[gate.phase2.deductions]``; empty = the gate proceeds)."""

    name: str
    description: str
    trips: frozenset[str]
    gate: frozenset[str] = frozenset()


class Stage(enum.Enum):
    """Faults on predictions run before the daily signal is computed; faults on the signal after."""

    BEFORE_SIGNALS = "before_signals"
    AFTER_SIGNALS = "after_signals"


@dataclass(frozen=True)
class FaultScene:
    """What a fault needs to break a freshly built warehouse."""

    connection: duckdb.DuckDBPyConnection
    as_of: date
    seed: int
    name: str

    def day(self, offset: int) -> date:
        return self.as_of + timedelta(days=offset)

    @property
    def rng(self) -> random.Random:
        return random.Random(f"{self.seed}-{self.name}")

    def rows(self, sql: str, *parameters: object) -> list[tuple[object, ...]]:
        return self.connection.execute(sql, list(parameters)).fetchall()


@dataclass(frozen=True)
class _Breakage:
    needs: tuple[tuple[int, int], ...]  # (day offset from as_of, minimum regular/playoff games that day)
    stage: Stage
    apply: Callable[[FaultScene], None]


def _null_player_names(scene: FaultScene) -> None:
    # Unresolved names in production were mostly inactive players listed by last name only.
    yesterday = scene.day(-1)
    candidates = scene.rows(
        f"SELECT game_id, player_lookup FROM {GAMEBOOK} WHERE game_date = ? AND player_status <> 'active' "
        "ORDER BY game_id, player_lookup",
        yesterday,
    )
    # 8% of the night's rows: over the phase 2 gate's 5% NULL-rate limit, so the gate deducts too.
    total = len(scene.rows(f"SELECT 1 FROM {GAMEBOOK} WHERE game_date = ?", yesterday))
    chosen = scene.rng.sample(candidates, min(max(1, round(0.08 * total)), len(candidates)))
    scene.connection.executemany(
        f"UPDATE {GAMEBOOK} SET player_name = NULL WHERE game_date = ? AND game_id = ? AND player_lookup = ?",
        [[yesterday, game_id, lookup] for game_id, lookup in chosen],
    )


def _drop_games(scene: FaultScene, tables: Sequence[str], day: date, game_ids: Sequence[object]) -> None:
    for table in tables:
        scene.connection.execute(
            f"DELETE FROM {table} WHERE game_date = ? AND list_contains(?, game_id)", [day, list(game_ids)]
        )


def _missing_games(scene: FaultScene) -> None:
    yesterday = scene.day(-1)
    games = [
        row[0]
        for row in scene.rows(
            f"SELECT DISTINCT game_id FROM {GAMEBOOK} WHERE game_date = ? ORDER BY 1", yesterday
        )
    ]
    _drop_games(scene, (GAMEBOOK, ANALYTICS), yesterday, scene.rng.sample(games, 2))


def _empty_analytics_day(scene: FaultScene) -> None:
    scene.connection.execute(f"DELETE FROM {ANALYTICS} WHERE game_date = ?", [scene.day(-1)])


def _partial_coverage_day(scene: FaultScene) -> None:
    day = scene.day(-4)
    games = [
        row[0]
        for row in scene.rows(f"SELECT DISTINCT game_id FROM {ANALYTICS} WHERE game_date = ? ORDER BY 1", day)
    ]
    # Half the games (rounded down) go missing: at least one is lost and at least one is kept.
    _drop_games(scene, (ANALYTICS,), day, scene.rng.sample(games, len(games) // 2))


def _low_feature_quality(scene: FaultScene) -> None:
    yesterday = scene.day(-1)
    rng = scene.rng
    keys = scene.rows(
        f"SELECT game_id, player_lookup FROM {FEATURES} WHERE game_date = ? ORDER BY 1, 2", yesterday
    )
    scene.connection.execute(
        "CREATE TEMP TABLE degraded (game_id VARCHAR, player_lookup VARCHAR, quality DECIMAL(5,2), "
        "level VARCHAR)"
    )
    scene.connection.executemany(
        "INSERT INTO degraded VALUES (?, ?, ?, ?)",
        [
            [game_id, lookup, round(rng.uniform(40.0, 65.0), 2), "red" if rng.random() < 0.85 else "yellow"]
            for game_id, lookup in keys
        ],
    )
    scene.connection.execute(
        f"""UPDATE {FEATURES} AS f SET feature_quality_score = d.quality, quality_alert_level = d.level,
                   is_quality_ready = false
            FROM degraded AS d
            WHERE f.game_date = ? AND f.game_id = d.game_id AND f.player_lookup = d.player_lookup""",
        [yesterday],
    )
    scene.connection.execute("DROP TABLE degraded")


def _no_predictions_today(scene: FaultScene) -> None:
    scene.connection.execute(f"DELETE FROM {PREDICTIONS} WHERE game_date = ?", [scene.as_of])


def _missing_signal(scene: FaultScene) -> None:
    scene.connection.execute(f"DELETE FROM {SIGNALS} WHERE game_date = ?", [scene.as_of])


def _stale_raw_data(scene: FaultScene) -> None:
    scene.connection.execute(
        f"DELETE FROM {GAMEBOOK} WHERE game_date BETWEEN ? AND ?", [scene.day(-2), scene.day(-1)]
    )


def _duplicate_analytics_rows(scene: FaultScene) -> None:
    day = scene.day(-5)
    keys = scene.rows(
        f"SELECT game_id, player_lookup FROM {ANALYTICS} WHERE game_date = ? ORDER BY 1, 2", day
    )
    chosen = scene.rng.sample(keys, min(20, len(keys)))
    # A re-run appended instead of merging: same rows, written two hours later.
    scene.connection.executemany(
        f"""INSERT INTO {ANALYTICS}
            SELECT * REPLACE (processed_at + INTERVAL 2 HOUR AS processed_at) FROM {ANALYTICS}
            WHERE game_date = ? AND game_id = ? AND player_lookup = ?""",
        [[day, game_id, lookup] for game_id, lookup in chosen],
    )


def _edge_collapse(scene: FaultScene) -> None:
    rng = scene.rng
    lined = scene.rows(
        f"""SELECT prediction_id, CAST(current_points_line AS DOUBLE) FROM {PREDICTIONS}
            WHERE game_date = ? AND system_id = ? AND is_active AND current_points_line IS NOT NULL
            ORDER BY prediction_id""",
        scene.as_of,
        CHAMPION,
    )
    if len(lined) < 30:
        raise ValueError(
            f"fault 'edge_collapse' needs >= 30 lined {CHAMPION} predictions on {scene.as_of}; "
            f"found {len(lined)}"
        )
    updates = []
    for prediction_id, line in lined:
        assert isinstance(line, float)
        predicted = round(line + rng.uniform(-1.0, 1.0), 1)
        edge = predicted - line
        recommendation = "PASS" if abs(edge) < PASS_EDGE else "OVER" if edge > 0 else "UNDER"
        updates.append([predicted, recommendation, prediction_id])
    scene.connection.executemany(
        f"UPDATE {PREDICTIONS} SET predicted_points = ?, recommendation = ? WHERE prediction_id = ?", updates
    )


def _entry(
    name: str,
    description: str,
    trips: set[str],
    apply: Callable[[FaultScene], None],
    needs: tuple[tuple[int, int], ...],
    stage: Stage = Stage.BEFORE_SIGNALS,
    gate: frozenset[str] = frozenset(),
) -> tuple[Fault, _Breakage]:
    return Fault(name, description, frozenset(trips), gate), _Breakage(needs, stage, apply)


_YESTERDAY_HAS_GAMES = ((-1, 2),)
_TODAY_HAS_GAMES = ((0, 2),)

_REGISTRY: tuple[tuple[Fault, _Breakage], ...] = (
    _entry(
        "null_player_names",
        "8% of yesterday's gamebook rows (non-playing players) have player_name NULL; the phase 2 gate "
        "deducts 0.3 and proceeds with a warning.",
        {"phase2_raw"},
        _null_player_names,
        _YESTERDAY_HAS_GAMES,
        gate=frozenset({"null_player_name"}),
    ),
    _entry(
        "missing_games",
        "2 of yesterday's games are absent from the gamebook and from player_game_summary; "
        "the schedule still says final. The phase 2 gate deducts 0.3 and proceeds with a warning.",
        {"phase2_raw", "analytics_coverage"},
        _missing_games,
        ((-1, 4),),
        gate=frozenset({"missing_games"}),
    ),
    _entry(
        "empty_analytics_day",
        "player_game_summary has no rows for yesterday.",
        {"phase3_analytics", "schedule_gap"},
        _empty_analytics_day,
        _YESTERDAY_HAS_GAMES,
    ),
    _entry(
        "partial_coverage_day",
        "On as_of - 4 days player_game_summary holds only some of the day's games "
        "(half of them, rounded up, are kept).",
        {"analytics_coverage"},
        _partial_coverage_day,
        ((-4, 2),),
    ),
    _entry(
        "low_feature_quality",
        "Yesterday's feature store rows drop to feature_quality_score 40-65, mostly quality_alert_level "
        "red, none quality-ready; predictions are untouched.",
        {"phase4_precompute"},
        _low_feature_quality,
        _YESTERDAY_HAS_GAMES,
    ),
    _entry(
        "no_predictions_today",
        "No player_prop_predictions for as_of, hence no daily_prediction_signals for as_of.",
        {"phase5_predictions", "prediction_gap", "phase6_publishing"},
        _no_predictions_today,
        _TODAY_HAS_GAMES,
    ),
    _entry(
        "missing_signal",
        "No daily_prediction_signals rows for as_of (predictions are intact).",
        {"phase6_publishing"},
        _missing_signal,
        _TODAY_HAS_GAMES,
        Stage.AFTER_SIGNALS,
    ),
    _entry(
        "stale_raw_data",
        "The scrapers stopped: no gamebook rows for as_of - 2 and as_of - 1, so the newest gamebook "
        "processed_at is early on as_of - 2 (games of as_of - 3), over two days old; other tables untouched. "
        "The phase 2 gate deducts 0.3 (missing games) and 0.2 (too few rows) and fails.",
        {"phase1_scrapers", "phase2_raw"},
        _stale_raw_data,
        _YESTERDAY_HAS_GAMES,
        gate=frozenset({"missing_games", "too_few_rows"}),
    ),
    _entry(
        "duplicate_analytics_rows",
        "On as_of - 5 days, 20 player_game_summary rows appear twice (the copy has processed_at two hours "
        "later).",
        {"analytics_duplicates"},
        _duplicate_analytics_rows,
        ((-5, 2),),
    ),
    _entry(
        "edge_collapse",
        f"The champion {CHAMPION}'s lined predictions for as_of sit within +-1 point of the line (mean "
        "|predicted - line| about 0.5), so nearly all become PASS.",
        {"edge_collapse"},
        _edge_collapse,
        ((0, 3),),
    ),
)

FAULTS: Mapping[str, Fault] = MappingProxyType({fault.name: fault for fault, _ in _REGISTRY})
_BREAKAGES: Mapping[str, _Breakage] = MappingProxyType(
    {fault.name: breakage for fault, breakage in _REGISTRY}
)


def resolve_faults(names: Sequence[str]) -> tuple[str, ...]:
    """Validate fault names; returns them once each, in registry order (the order they apply in)."""
    if isinstance(names, str):
        names = [names]
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {', '.join(map(repr, unknown))}; known faults: {', '.join(FAULTS)}")
    return tuple(name for name in FAULTS if name in set(names))


def check_preconditions(names: Sequence[str], as_of: date, games_on: Callable[[date], int]) -> None:
    """Fail before building when a fault needs game days that this as_of does not have."""
    for name in names:
        for offset, minimum in _BREAKAGES[name].needs:
            day = as_of + timedelta(days=offset)
            found = games_on(day)
            if found < minimum:
                relative = "as_of" if offset == 0 else f"as_of - {-offset} days"
                raise ValueError(
                    f"fault {name!r} needs at least {minimum} regular-season or playoff games on {day} "
                    f"({relative}); the schedule has {found}. Pick an as_of in the regular season away "
                    "from no-game days, e.g. 2026-01-15."
                )


def apply_faults(
    connection: duckdb.DuckDBPyConnection, names: Sequence[str], as_of: date, seed: int, stage: Stage
) -> None:
    """Apply the chosen faults that belong to ``stage``, in registry order."""
    for name in names:
        breakage = _BREAKAGES[name]
        if breakage.stage is stage:
            breakage.apply(FaultScene(connection, as_of, seed, name))
