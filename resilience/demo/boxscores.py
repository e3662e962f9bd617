"""Game simulation: who plays, for how long, and what each player scores.

Each player's pre-game scoring expectation (``expected_points``) is kept next to his actual
line: betting lines and model predictions are both noisy readings of that expectation, which
is what gives the demo a realistic edge (models beat the line a bit more than half the time).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from resilience.demo.calendar import ScheduledGame
from resilience.demo.roster import Player

ACTIVE = "active"
DNP = "dnp"
INACTIVE = "inactive"

_COACH_DECISION = "DNP - Coach's Decision"
_TWO_WAY = "Inactive - G League - Two-Way"
_INJURIES = (
    "Inactive - Injury/Illness - Left Ankle; Sprain",
    "Inactive - Injury/Illness - Right Knee; Soreness",
    "Inactive - Injury/Illness - Left Hamstring; Strain",
    "Inactive - Injury/Illness - Lower Back; Spasms",
    "Inactive - Injury/Illness - Illness",
    "Inactive - Injury/Illness - Right Calf; Strain",
    "Inactive - Rest",
)
_INJURY_CHANCE = 0.012  # per player per game
_TWO_WAY_INACTIVE_CHANCE = 0.7
_OVERTIME_CHANCE = 0.06


@dataclass(frozen=True, slots=True)
class PlayerGame:
    """One player's night: status, the pre-game expectation and the box score."""

    player: Player
    status: str
    dnp_reason: str | None
    expected_minutes: float
    expected_points: float
    seconds: int = 0
    points: int = 0
    field_goals_made: int = 0
    field_goals_attempted: int = 0
    three_pointers_made: int = 0
    three_pointers_attempted: int = 0
    free_throws_made: int = 0
    free_throws_attempted: int = 0
    rebounds: int = 0
    assists: int = 0
    steals: int = 0
    blocks: int = 0
    turnovers: int = 0
    personal_fouls: int = 0

    @property
    def played(self) -> bool:
        return self.status == ACTIVE

    @property
    def minutes_text(self) -> str:
        return f"{self.seconds // 60}:{self.seconds % 60:02d}"


@dataclass(frozen=True, slots=True)
class TeamGame:
    team: str
    opponent: str
    is_home: bool
    score: int
    players: tuple[PlayerGame, ...]


@dataclass(frozen=True, slots=True)
class PlayedGame:
    """A simulated game; its box scores are published only for dates before the demo's today."""

    game: ScheduledGame
    away: TeamGame
    home: TeamGame

    @property
    def teams(self) -> tuple[TeamGame, TeamGame]:
        return (self.away, self.home)


def _count(rng: random.Random, mean: float) -> int:
    """A small non-negative count around ``mean`` (rebounds, assists, ...)."""
    return max(0, int(mean + rng.gauss(0.0, math.sqrt(mean) + 0.3) + 0.5))


def _spread(rng: random.Random, count: int, weights: list[float]) -> list[int]:
    """Hand ``count`` scoring events to players in proportion to ``weights``."""
    tallies = [0] * len(weights)
    if count <= 0 or not weights:
        return tallies
    for index in rng.choices(range(len(weights)), weights=weights, k=count):
        tallies[index] += 1
    return tallies


class League:
    """Injuries carried from game to game; plays scheduled games in date order."""

    def __init__(self, rosters: Mapping[str, tuple[Player, ...]], rng: random.Random) -> None:
        self.rosters = rosters
        self.rng = rng
        self._games_out: dict[str, int] = {}
        self._injury: dict[str, str] = {}

    def new_season(self) -> None:
        self._games_out.clear()
        self._injury.clear()

    def _pregame(self, team: str) -> tuple[list[tuple[Player, float]], list[PlayerGame]]:
        """Split the roster into (players who will play, expected minutes) and the rest."""
        rng = self.rng
        sitting: list[PlayerGame] = []
        available: list[tuple[float, Player]] = []
        for player in self.rosters[team]:
            key = player.player_lookup
            out = self._games_out.get(key, 0)
            if out > 0:
                self._games_out[key] = out - 1
                sitting.append(PlayerGame(player, INACTIVE, self._injury[key], 0.0, 0.0))
            elif player.two_way and rng.random() < _TWO_WAY_INACTIVE_CHANCE:
                sitting.append(PlayerGame(player, INACTIVE, _TWO_WAY, 0.0, 0.0))
            elif rng.random() < _INJURY_CHANCE:
                self._games_out[key] = int(rng.expovariate(0.25))
                self._injury[key] = rng.choice(_INJURIES)
                sitting.append(PlayerGame(player, INACTIVE, self._injury[key], 0.0, 0.0))
            else:
                available.append((player.base_minutes * rng.uniform(0.85, 1.15), player))
        available.sort(key=lambda pair: pair[0], reverse=True)
        playing = min(len(available), rng.choice((11, 12, 12, 12, 13)))
        sitting += [PlayerGame(p, DNP, _COACH_DECISION, 0.0, 0.0) for _, p in available[playing:]]
        rotation = available[:playing]
        total = sum(minutes for minutes, _ in rotation)
        return [(player, minutes * 240.0 / total) for minutes, player in rotation], sitting

    def _box_scores(
        self, rotation: list[tuple[Player, float]], points: int, overtime: bool
    ) -> list[PlayerGame]:
        rng = self.rng
        total_seconds = (265 if overtime else 240) * 60
        raw = [minutes * min(1.6, max(0.3, rng.gauss(1.0, 0.15))) for _, minutes in rotation]
        scale = total_seconds / sum(raw)
        seconds = [max(60, int(value * scale)) for value in raw]
        seconds[0] += total_seconds - sum(seconds)  # the rounding remainder goes to the top player
        usage = [s * player.points_per_minute for s, (player, _) in zip(seconds, rotation, strict=True)]
        free_throw_points = round(points * rng.uniform(0.14, 0.2))
        field_points = points - free_throw_points
        threes = round(field_points * 0.38 / 3)
        if (field_points - 3 * threes) % 2:
            threes -= 1
        twos = (field_points - 3 * threes) // 2
        made_twos = _spread(
            rng, twos, [u * (1.0 - p.three_point_share) for u, (p, _) in zip(usage, rotation, strict=True)]
        )
        made_threes = _spread(
            rng, threes, [u * p.three_point_share for u, (p, _) in zip(usage, rotation, strict=True)]
        )
        made_free_throws = _spread(rng, free_throw_points, usage)
        lines = []
        for index, (player, expected_minutes) in enumerate(rotation):
            minutes = seconds[index] / 60.0
            two, three, free = made_twos[index], made_threes[index], made_free_throws[index]
            three_attempts = (
                three + round(three * rng.uniform(1.1, 1.9)) + (rng.random() < player.three_point_share)
            )
            lines.append(
                PlayerGame(
                    player=player,
                    status=ACTIVE,
                    dnp_reason=None,
                    expected_minutes=expected_minutes,
                    expected_points=expected_minutes * player.points_per_minute,
                    seconds=seconds[index],
                    points=2 * two + 3 * three + free,
                    field_goals_made=two + three,
                    field_goals_attempted=two + round(two * rng.uniform(0.7, 1.2)) + three_attempts,
                    three_pointers_made=three,
                    three_pointers_attempted=three_attempts,
                    free_throws_made=free,
                    free_throws_attempted=free + round(free * rng.uniform(0.1, 0.4)),
                    rebounds=_count(rng, minutes * player.rebounds_per_minute),
                    assists=_count(rng, minutes * player.assists_per_minute),
                    steals=_count(rng, minutes * 0.03),
                    blocks=_count(rng, minutes * (0.04 if player.position == "C" else 0.012)),
                    turnovers=_count(rng, minutes * 0.045),
                    personal_fouls=min(6, _count(rng, minutes * 0.07)),
                )
            )
        return lines

    def play(self, game: ScheduledGame) -> PlayedGame:
        """Simulate one game; the schedule's winner always wins."""
        rng = self.rng
        away_rotation, away_sitting = self._pregame(game.away)
        home_rotation, home_sitting = self._pregame(game.home)
        overtime = rng.random() < _OVERTIME_CHANCE
        boost = 1.1 if overtime else 1.0

        def team_points(rotation: list[tuple[Player, float]]) -> int:
            expected = sum(minutes * player.points_per_minute for player, minutes in rotation)
            return max(70, round(expected * boost * rng.gauss(1.0, 0.085)))

        away_points, home_points = team_points(away_rotation), team_points(home_rotation)
        if away_points == home_points:
            home_points += 1
        if (home_points > away_points) != game.home_wins:
            away_points, home_points = home_points, away_points
        away = TeamGame(
            game.away, game.home, False, away_points,
            tuple(self._box_scores(away_rotation, away_points, overtime) + away_sitting),
        )  # fmt: skip
        home = TeamGame(
            game.home, game.away, True, home_points,
            tuple(self._box_scores(home_rotation, home_points, overtime) + home_sitting),
        )  # fmt: skip
        return PlayedGame(game, away, home)


def gamebook_row(
    game: ScheduledGame, team: TeamGame, p: PlayerGame, source: str, at: str
) -> tuple[object, ...]:
    """A row of ``nba_raw.nbac_gamebook_player_stats``; box-score columns are NULL for non-players."""
    player = p.player
    box: tuple[object, ...] = (None,) * 15
    if p.played:
        box = (p.minutes_text, round(p.seconds / 60.0, 2), p.points,
               p.field_goals_made, p.field_goals_attempted, p.three_pointers_made, p.three_pointers_attempted,
               p.free_throws_made, p.free_throws_attempted,
               p.rebounds, p.assists, p.steals, p.blocks, p.turnovers, p.personal_fouls)  # fmt: skip
    # Gamebook PDFs list inactive players by last name only.
    original = player.last_name if p.status == INACTIVE else player.name
    return (game.box_score_id, game.game_date, game.season_year, player.name, original, player.player_lookup,
            player.nba_player_id, team.team, p.status, p.dnp_reason, *box, source, at)  # fmt: skip


def analytics_row(
    game: ScheduledGame, team: TeamGame, p: PlayerGame, line: float | None, at: str
) -> tuple[object, ...]:
    """A row of ``nba_analytics.player_game_summary`` (``line`` is the consensus points prop)."""
    player = p.player
    box: tuple[object, ...] = (None,) * 4
    if p.played:
        box = (p.points, round(p.seconds / 60.0, 1), p.rebounds, p.assists)
    return (player.player_lookup, player.name, game.box_score_id, game.game_date, game.season_year, team.team,
            team.opponent, team.is_home, *box, not p.played, p.played, p.status, line, at)  # fmt: skip


def secondary_row(game: ScheduledGame, team: TeamGame, p: PlayerGame, at: str) -> tuple[object, ...]:
    """A row of ``nba_raw.nbac_player_boxscores`` (players who played only)."""
    player = p.player
    return (game.box_score_id, game.game_date, game.season_year, player.nba_player_id, player.name,
            player.player_lookup, team.team, p.minutes_text, p.points, p.rebounds, p.assists, at)  # fmt: skip
