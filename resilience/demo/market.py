"""Player points props: which players get a line, at what number, and the two scraped feeds.

Only the top 7 or 8 of each rotation get a points line, which gives production's normal prop
coverage of 35-50% of rostered players. Lines end in .5 (no pushes) and sit about 2 points
(one standard deviation) from the player's true expectation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from resilience.demo.boxscores import PlayedGame, PlayerGame
from resilience.demo.roster import Player

BETTINGPROS_BOOKS = ("BetMGM", "Caesars", "DraftKings", "FanDuel")
ODDS_API_BOOKS = ("draftkings", "fanduel")
_LINED_PER_TEAM = (7, 8)
_LINE_NOISE = 2.0
_LOWEST_POINTS_LINE = 3.5  # books do not post points props below this
_ODDS_PAIRS = ((-110, -110), (-115, -105), (-105, -115), (-120, 100), (100, -120), (-112, -108))


@dataclass(frozen=True, slots=True)
class PropLine:
    """A player's points line for one game (the consensus the pipeline carries downstream)."""

    player: Player
    team: str
    line: float
    opening_line: float
    book_lines: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ReboundsLine:
    """A rebounds prop: lives in the same raw table, so queries must filter market_type."""

    player: Player
    team: str
    line: float


@dataclass(frozen=True, slots=True)
class GameMarket:
    game: PlayedGame
    points: dict[str, PropLine]
    rebounds: tuple[ReboundsLine, ...]


def _half_point(value: float, lowest: float) -> float:
    return max(lowest, math.floor(value) + 0.5)


def open_market(played: PlayedGame, rng: random.Random) -> GameMarket:
    """Set the lines for one game from the players' pre-game expectations."""
    points: dict[str, PropLine] = {}
    unlined_bigs: list[tuple[PlayerGame, str]] = []
    for team in played.teams:
        rotation = sorted(
            (p for p in team.players if p.played), key=lambda p: p.expected_minutes, reverse=True
        )
        lined = rng.choice(_LINED_PER_TEAM)
        for player_game in rotation[:lined]:
            line = _half_point(player_game.expected_points + rng.gauss(0.0, _LINE_NOISE), _LOWEST_POINTS_LINE)
            books = BETTINGPROS_BOOKS if rng.random() < 0.6 else BETTINGPROS_BOOKS[:3]
            points[player_game.player.player_lookup] = PropLine(
                player=player_game.player,
                team=team.team,
                line=line,
                opening_line=max(_LOWEST_POINTS_LINE, line + rng.choice((-1.0, 0.0, 0.0, 0.0, 1.0))),
                book_lines=tuple(
                    (book, max(_LOWEST_POINTS_LINE, line + rng.choice((0.0, 0.0, 0.0, 0.0, -1.0, 1.0))))
                    for book in books
                ),
            )
        unlined_bigs += [
            (p, team.team)
            for p in rotation[lined:]
            if p.player.position in ("F", "C") and p.expected_minutes >= 10
        ]
    rebounds: tuple[ReboundsLine, ...] = ()
    if unlined_bigs:
        big, team_abbr = rng.choice(unlined_bigs)
        expected = big.expected_minutes * big.player.rebounds_per_minute
        rebounds = (ReboundsLine(big.player, team_abbr, _half_point(expected + rng.gauss(0.0, 1.0), 1.5)),)
    return GameMarket(played, points, rebounds)


def bettingpros_rows(
    market: GameMarket, processed_at: str, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    """Rows of ``nba_raw.bettingpros_player_points_props``: player x book x side x market."""
    game = market.game.game
    for prop in market.points.values():
        for book, line in prop.book_lines:
            over, under = rng.choice(_ODDS_PAIRS)
            for side, odds in (("over", over), ("under", under)):
                yield (game.game_date, game.game_id, prop.player.name, prop.player.player_lookup,
                       prop.team, book, "points", side, line, odds, processed_at)  # fmt: skip
    for rebound in market.rebounds:
        for book in BETTINGPROS_BOOKS[2:]:
            for side in ("over", "under"):
                yield (game.game_date, game.game_id, rebound.player.name, rebound.player.player_lookup,
                       rebound.team, book, "rebounds", side, rebound.line, -110, processed_at)  # fmt: skip


def odds_api_rows(
    market: GameMarket, morning: datetime, with_closing: bool, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    """Rows of ``nba_raw.odds_api_player_points_props``: a morning snapshot and, once the game
    has started, the closing snapshot 35 minutes before tip-off."""
    game = market.game.game
    snapshots = [(morning, 0.0)]
    if with_closing:
        snapshots.append((game.tipoff_utc - timedelta(minutes=35), 1.0))
    for prop in market.points.values():
        if rng.random() >= 0.9:  # the Odds API misses some players that BettingPros carries
            continue
        for snapshot, drift in snapshots:
            minutes_before = int((game.tipoff_utc - snapshot).total_seconds() // 60)
            for book in ODDS_API_BOOKS:
                line = max(_LOWEST_POINTS_LINE, prop.line + drift * rng.choice((0.0, 0.0, 0.0, -1.0, 1.0)))
                yield (game.game_date, game.game_id, str(snapshot), minutes_before, book,
                       prop.player.name, prop.player.player_lookup, line)  # fmt: skip
