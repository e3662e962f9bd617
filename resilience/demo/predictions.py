"""Phase 4 and 5 rows: the ML feature store, model predictions and their grading.

Every model reads the player's true expectation with its own noise (the champion
``catboost_v9`` the least); the line reads it with different noise, so the model's lean against
the line is right a little more than half the time, as in production.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from resilience.demo.boxscores import PlayedGame, PlayerGame, TeamGame
from resilience.demo.calendar import GameKind, eastern_to_utc
from resilience.demo.market import GameMarket, PropLine

FEATURE_COUNT = 37
FEATURE_VERSION = "v2_37features"
CHAMPION = "catboost_v9"
PASS_EDGE = 1.0  # a lean smaller than this is not worth a pick
SKILL = 0.12
CONF_BASE = 0.64
CONF_SLOPE = 0.07


@dataclass(frozen=True)
class Model:
    system_id: str
    noise: float  # standard deviation of its reading of the true expectation
    bias: float
    # Share of the night's deviation from expectation the model anticipates (late news, matchups) and
    # the line does not: what makes its big edges win more often than its small ones.
    skill: float


MODELS: tuple[Model, ...] = (
    Model(CHAMPION, 2.2, 0.0, SKILL),
    Model("catboost_v8", 2.4, -0.2, 0.25),
    Model("lightgbm_v2", 2.6, 0.3, 0.2),
    Model("xgboost_v1", 2.8, -0.4, 0.15),
)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model's active prediction for one player, kept for grading the next morning."""

    system_id: str
    player_game: PlayerGame
    game_id: str
    predicted: float
    confidence: float
    recommendation: str
    line: float | None


class PlayerHistory:
    """Recent games per player, for the rolling features of the feature store."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[tuple[date, int, float]]] = {}
        self._season: dict[str, tuple[int, int]] = {}
        self._versus: dict[tuple[str, str], tuple[int, int]] = {}

    def new_season(self) -> None:
        self._season.clear()

    def record(self, played: PlayedGame) -> None:
        for team in played.teams:
            for player_game in team.players:
                if not player_game.played:
                    continue
                key = player_game.player.player_lookup
                self._recent.setdefault(key, deque(maxlen=10)).append(
                    (played.game.game_date, player_game.points, player_game.seconds / 60.0)
                )
                games, points = self._season.get(key, (0, 0))
                self._season[key] = (games + 1, points + player_game.points)
                games, points = self._versus.get((key, team.opponent), (0, 0))
                self._versus[(key, team.opponent)] = (games + 1, points + player_game.points)

    def features(
        self, player_game: PlayerGame, team: TeamGame, day: date, prop: PropLine | None, rng: random.Random
    ) -> tuple[list[float], int]:
        """The 37 feature values and how many required ones had to fall back to defaults."""
        key = player_game.player.player_lookup
        recent = list(self._recent.get(key, ()))
        expected = player_game.expected_points
        defaults = 0
        if not recent:
            # Before a player's first game in the build, production would read last season's games;
            # the demo stands in his expectation for them. A quarter are treated as newcomers whose
            # required features fall back to defaults.
            defaults = 1 if rng.random() < 0.25 else 0
            recent = [(day - timedelta(days=2), round(expected), player_game.expected_minutes)]
        points = [p for _, p, _ in recent]
        minutes = [m for _, _, m in recent]
        last5, last10 = points[-5:], points
        avg5, avg10 = sum(last5) / len(last5), sum(last10) / len(last10)
        season_games, season_points = self._season.get(key, (0, 0))
        season_avg = season_points / season_games if season_games else avg10
        versus_games, versus_points = self._versus.get((key, team.opponent), (0, 0))
        rest_days = min(7, (day - recent[-1][0]).days)
        in_last_week = sum(1 for d, _, _ in recent if (day - d).days <= 7)
        minutes_avg = sum(minutes) / len(minutes)
        # statistics.pstdev works in exact fractions: far too slow for a quarter-million calls.
        spread = math.sqrt(sum((p - avg10) ** 2 for p in last10) / len(last10)) if len(last10) > 1 else 4.0
        line = prop.line if prop else 0.0
        opening = prop.opening_line if prop else 0.0
        values = [
            avg5, avg10, season_avg, spread, float(in_last_week),
            max(0.0, 100.0 - 9.0 * in_last_week + rng.gauss(0.0, 4.0)),
            rng.gauss(0.0, 2.0), rng.gauss(0.0, 1.5), rng.gauss(0.0, 1.0),
            float(rest_days), 1.0 if rest_days == 1 else 0.0, rng.random() * 0.3,
            avg5 - avg10, sum(minutes[-5:]) / len(minutes[-5:]) - minutes_avg,
            rng.uniform(0.2, 0.55), rng.uniform(0.05, 0.25), rng.uniform(0.1, 0.45), rng.uniform(0.08, 0.25),
            rng.gauss(99.5, 2.0), rng.gauss(114.0, 3.0), rng.uniform(0.25, 0.75),
            rng.gauss(114.0, 3.0), rng.gauss(99.5, 2.0), 1.0 if team.is_home else 0.0,
            max(0.0, player_game.expected_minutes + rng.gauss(0.0, 2.0)),
            line, opening, line - opening, 1.0 if prop else 0.0,
            versus_points / versus_games if versus_games else season_avg, float(versus_games),
            minutes_avg, avg10 / minutes_avg if minutes_avg else 0.0, 0.0,
            (points[-1] - points[0]) / max(1, len(points) - 1),
            (avg5 - season_avg) / spread if spread else 0.0,
            1.0 if avg5 > season_avg + 5 else 0.0,
        ]  # fmt: skip
        return values, defaults


def _pick_exactly(rng: random.Random, rows: Sequence[object], share: float) -> set[int]:
    """Indexes of a fixed share of a day's rows, so daily rates never drift by chance."""
    return set(rng.sample(range(len(rows)), round(len(rows) * share)))


def feature_rows(
    day: date,
    markets: Sequence[GameMarket],
    history: PlayerHistory,
    early_season: bool,
    created_at: str,
    rng: random.Random,
) -> list[tuple[object, ...]]:
    """One date's ``ml_feature_store_v2`` rows: players expected to play in that day's games."""
    drafts = []
    for market in markets:
        for team in market.game.teams:
            for player_game in team.players:
                if not player_game.played:
                    continue
                prop = market.points.get(player_game.player.player_lookup)
                values, defaults = history.features(player_game, team, day, prop, rng)
                if defaults == 0 and rng.random() < 0.08:
                    defaults = rng.randint(1, 2)
                quality = min(99.0, max(70.5, rng.gauss(80.0 if early_season else 86.0, 5.0)))
                drafts.append((player_game, market.game.game.box_score_id, values, defaults, quality))
    low_quality = _pick_exactly(rng, drafts, 0.02)
    red = set(sorted(low_quality)[: round(len(drafts) * 0.01)])
    cache_misses = _pick_exactly(rng, drafts, 0.015)
    rows: list[tuple[object, ...]] = []
    for index, (player_game, game_id, values, defaults, quality) in enumerate(drafts):
        if index in low_quality:
            quality = rng.uniform(58.0, 69.9)
        level = "red" if index in red else "yellow" if quality < 80.0 or defaults else "green"
        ready = quality >= 70.0 and level != "red" and defaults == 0
        features = "[" + ", ".join([f"{value:.3f}" for value in values]) + "]"
        rows.append(
            (player_game.player.player_lookup, day, game_id, features, FEATURE_COUNT, FEATURE_VERSION,
             f"{quality:.2f}", early_season, ready, level, round(rng.uniform(50.0, 90.0), 1),
             index in cache_misses, defaults, created_at)
        )  # fmt: skip
    return rows


def _commit_sha(seed: int, system_id: str, day: date) -> str:
    """Deploys land every ~12 days; the sha is stable within a deploy window."""
    window = day.toordinal() // 12
    return hashlib.sha1(f"{seed}-{system_id}-{window}".encode()).hexdigest()[:7]


def _predict(
    model: Model, player_game: PlayerGame, prop: PropLine | None, rng: random.Random
) -> tuple[float, float, str]:
    surprise = player_game.points - player_game.expected_points
    reading = player_game.expected_points + model.bias + model.skill * surprise + rng.gauss(0.0, model.noise)
    predicted = round(max(0.0, reading), 1)
    if prop is None:
        return predicted, round(min(0.9, max(0.3, rng.gauss(0.56, 0.06))), 3), "NO_LINE"
    edge = predicted - prop.line
    confidence = round(min(0.97, max(0.3, CONF_BASE + CONF_SLOPE * abs(edge) + rng.gauss(0.0, 0.06))), 3)
    if abs(edge) < PASS_EDGE:
        return predicted, confidence, "PASS"
    return predicted, confidence, "OVER" if edge > 0 else "UNDER"


@dataclass(frozen=True)
class RunTimes:
    """When each prediction run of a date wrote its rows (as table text)."""

    overnight: datetime
    early: datetime
    same_day: datetime
    backfill: datetime | None  # set when the date's rows were written later by a backfill

    @classmethod
    def for_date(cls, day: date, backfilled_on: date | None) -> RunTimes:
        return cls(
            overnight=eastern_to_utc(day, 6, 30),
            early=eastern_to_utc(day, 8, 15),
            same_day=eastern_to_utc(day, 10, 45),
            backfill=None if backfilled_on is None else eastern_to_utc(backfilled_on, 14, 0),
        )


def prediction_rows(
    day: date,
    markets: Sequence[GameMarket],
    seed: int,
    runs: RunTimes,
    rng: random.Random,
    keep: list[Prediction],
) -> Iterator[tuple[object, ...]]:
    """``player_prop_predictions`` rows for one date; active predictions are appended to ``keep``."""
    for model in MODELS:
        sha = _commit_sha(seed, model.system_id, day)
        for market in markets:
            game_id = market.game.game.box_score_id
            for team in market.game.teams:
                for player_game in team.players:
                    if not player_game.played:
                        continue
                    prop = market.points.get(player_game.player.player_lookup)
                    predicted, confidence, recommendation = _predict(model, player_game, prop, rng)
                    line = prop.line if prop else None
                    source = "ACTUAL_PROP" if prop else "ESTIMATED_AVG"
                    lookup = player_game.player.player_lookup
                    head = (model.system_id, lookup, game_id, day)
                    roll = rng.random()
                    if runs.backfill is not None:
                        mode, created = "BACKFILL", runs.backfill
                    elif roll < 0.03:
                        # A morning run was superseded by a later same-day run (new injury news).
                        first, first_confidence, first_pick = _predict(model, player_game, prop, rng)
                        at = str(runs.overnight + timedelta(seconds=rng.randrange(600)))
                        yield (_prediction_id(rng), *head, first, first_confidence, first_pick, line, source,
                               False, at, sha, "OVERNIGHT")  # fmt: skip
                        mode, created = "SAME_DAY", runs.same_day
                    elif roll < 0.09:
                        mode, created = "SAME_DAY", runs.same_day
                    elif roll < 0.21:
                        mode, created = "EARLY", runs.early
                    else:
                        mode, created = "OVERNIGHT", runs.overnight
                    pick = Prediction(
                        model.system_id, player_game, game_id, predicted, confidence, recommendation, line
                    )
                    keep.append(pick)
                    at = str(created + timedelta(seconds=rng.randrange(600)))
                    yield (_prediction_id(rng), *head, predicted, confidence, recommendation, line, source,
                           True, at, sha, mode)  # fmt: skip


def _prediction_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def grading_rows(day: date, predictions: Sequence[Prediction]) -> Iterator[tuple[object, ...]]:
    """``prediction_accuracy`` rows, graded at 5:30 am Eastern the morning after the games."""
    graded_at = str(eastern_to_utc(day + timedelta(days=1), 5, 30))
    for p in predictions:
        actual = p.player_game.points
        gradable = p.recommendation in ("OVER", "UNDER")
        correct = (
            ((actual > p.line) == (p.recommendation == "OVER")) if gradable and p.line is not None else None
        )
        error = p.predicted - actual
        source = "ACTUAL_PROP" if p.line is not None else "NO_PROP_LINE"
        yield (p.player_game.player.player_lookup, p.game_id, day, p.system_id, p.predicted, p.confidence,
               p.recommendation, p.line, actual, round(abs(error), 1), round(error, 1), correct, source,
               False, graded_at)  # fmt: skip


def is_early_season(day: date, opening_night: date, kind: GameKind) -> bool:
    return kind is GameKind.REGULAR and (day - opening_night).days < 14
