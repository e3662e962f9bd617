"""The NBA season calendar the demo warehouse is built on.

A season is generated from its year alone (never from the demo seed), so the schedule of
2025-26 is the same in every build: faults and checks can rely on which dates are game days.
Season Y opens on the third Tuesday of October of Y; All-Star Sunday is the third Sunday of
February and the regular season ends on the second Sunday of April of Y+1 (2025-26: Oct 21,
Feb 15, Apr 12). Thanksgiving, Christmas Eve and the All-Star break (Friday to Wednesday around
All-Star Sunday) have no regular-season games; every other regular-season day has 2 to 15.
The play-in and playoffs follow (ids prefixed 004); as in the real NBA, late playoff rounds and
the Finals have days with a single game.
"""

from __future__ import annotations

import enum
import functools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TEAMS: tuple[str, ...] = (
    "ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GSW",
    "HOU", "IND", "LAC", "LAL", "MEM", "MIA", "MIL", "MIN", "NOP", "NYK",
    "OKC", "ORL", "PHI", "PHX", "POR", "SAC", "SAS", "TOR", "UTA", "WAS",
)  # fmt: skip
EAST: frozenset[str] = frozenset(
    {"ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DET", "IND", "MIA", "MIL", "NYK", "ORL", "PHI", "TOR", "WAS"}
)
ALL_STAR_TEAMS: tuple[str, str, str] = ("STR", "STP", "WLD")  # 2026 format: two US teams and a World team
EASTERN = ZoneInfo("America/New_York")
REGULAR_SEASON_GAMES = 82

# Share of an average day's games by weekday (Monday first): national TV nights are busy, Thursday is light.
_WEEKDAY_WEIGHT = (1.0, 0.85, 1.35, 0.6, 1.25, 1.05, 0.9)
_EVENING_TIPOFFS = (
    (19, 0), (19, 0), (19, 30), (19, 30), (20, 0), (20, 0), (20, 30), (21, 0), (22, 0), (22, 30),
)  # fmt: skip
_WEEKEND_TIPOFFS = ((13, 0), (15, 30), (17, 0), (18, 0))
# Games 1-7 of a series: True when the higher seed is at home (2-2-1-1-1).
_HIGHER_SEED_HOME = (True, True, False, False, True, False, True)
_FINALS_DAY_OFFSETS = (0, 3, 5, 8, 10, 13, 16)


class GameKind(enum.Enum):
    """The kind of game, valued by the prefix of its NBA official id."""

    PRESEASON = "001"
    REGULAR = "002"
    ALL_STAR = "003"
    PLAYOFF = "004"  # the play-in tournament is filed with the playoffs


@dataclass(frozen=True, slots=True)
class ScheduledGame:
    """One row of the schedule. ``home_wins`` is decided up front so box scores and series agree."""

    game_id: str
    game_date: date
    tipoff_utc: datetime
    home: str
    away: str
    kind: GameKind
    season_year: int
    home_wins: bool
    box_score_id: str  # the YYYYMMDD_AWAY_HOME id used by box scores, analytics and predictions

    @property
    def has_box_score(self) -> bool:
        """Regular-season and playoff games: the ones the pipeline scrapes and the checks count."""
        return self.kind in (GameKind.REGULAR, GameKind.PLAYOFF)


@dataclass(frozen=True)
class Season:
    """One season's key dates and full schedule (preseason to the Finals)."""

    year: int
    opening_night: date
    all_star_sunday: date
    regular_season_end: date
    no_game_days: frozenset[date]
    games: tuple[ScheduledGame, ...]
    _by_date: dict[date, tuple[ScheduledGame, ...]] = field(repr=False, compare=False)

    def games_on(self, day: date) -> tuple[ScheduledGame, ...]:
        return self._by_date.get(day, ())

    def box_score_games_on(self, day: date) -> tuple[ScheduledGame, ...]:
        return tuple(game for game in self.games_on(day) if game.has_box_score)

    def game_days(self) -> Iterator[date]:
        """Dates with at least one regular-season or playoff game, in order."""
        return (day for day in sorted(self._by_date) if self.box_score_games_on(day))


def season_year_for(day: date) -> int:
    """The season a date belongs to: July to June, named by its first year (2025 for 2025-26)."""
    return day.year if day.month >= 7 else day.year - 1


def eastern_to_utc(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time on an Eastern business date, as an aware UTC datetime."""
    local = datetime.combine(day, time(hour, minute, second), tzinfo=EASTERN)
    return local.astimezone(UTC)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def opening_night(year: int) -> date:
    return _nth_weekday(year, 10, 1, 3)


def all_star_sunday(year: int) -> date:
    return _nth_weekday(year + 1, 2, 6, 3)


def regular_season_end(year: int) -> date:
    return _nth_weekday(year + 1, 4, 6, 2)


def no_game_days(year: int) -> frozenset[date]:
    """Regular-season dates without regular-season games."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    sunday = all_star_sunday(year)
    all_star_break = {sunday + timedelta(days=offset) for offset in range(-2, 4)}
    return frozenset({thanksgiving, date(year, 12, 24)} | all_star_break)


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def _home_win_probability(ratings: dict[str, float], home: str, away: str) -> float:
    return 1.0 / (1.0 + math.exp(-(0.35 * (ratings[home] - ratings[away]) + 0.25)))


@dataclass(frozen=True, slots=True)
class _Draft:
    """A game before its official id is known (playoff ids are known at once: round/series/game)."""

    day: date
    tipoff: tuple[int, int]  # Eastern hour, minute
    home: str
    away: str
    kind: GameKind
    home_wins: bool
    game_id: str | None = None


def _tipoffs(day: date, count: int, rng: random.Random) -> list[tuple[int, int]]:
    slots = list(_EVENING_TIPOFFS) * 2
    if day.weekday() >= 5:
        slots += list(_WEEKEND_TIPOFFS)
    return sorted(rng.sample(slots, count))


def _preseason(year: int, rng: random.Random) -> list[_Draft]:
    opener = opening_night(year)
    drafts = []
    for day in _days(opener - timedelta(days=19), opener - timedelta(days=4)):
        count = rng.randint(2, 6)
        teams = rng.sample(TEAMS, 2 * count)
        for home, away, tipoff in zip(teams[::2], teams[1::2], _tipoffs(day, count, rng), strict=True):
            drafts.append(_Draft(day, tipoff, home, away, GameKind.PRESEASON, rng.random() < 0.55))
    return drafts


def _regular_season(year: int, ratings: dict[str, float], rng: random.Random) -> list[_Draft]:
    off_days = no_game_days(year)
    days = [d for d in _days(opening_night(year), regular_season_end(year)) if d not in off_days]
    remaining = dict.fromkeys(TEAMS, REGULAR_SEASON_GAMES)
    home_games = dict.fromkeys(TEAMS, 0)
    played_on: dict[str, set[date]] = {team: set() for team in TEAMS}
    drafts = []
    for index, day in enumerate(days):
        days_left = len(days) - index
        target = sum(remaining.values()) / 2 / days_left * _WEEKDAY_WEIGHT[day.weekday()]
        count = max(2, min(15, round(target + rng.uniform(-1.5, 1.5))))
        yesterday, day_before = day - timedelta(days=1), day - timedelta(days=2)
        # Three games on three nights no longer happens in the NBA.
        rested = [t for t in TEAMS if not (yesterday in played_on[t] and day_before in played_on[t])]
        urgency = {
            team: 2.0 * remaining[team] / days_left
            - (1.0 if yesterday in played_on[team] else 0.0)
            + 0.5 * rng.random()
            for team in rested
        }
        ranked = sorted(rested, key=lambda team: urgency[team], reverse=True)
        # Teams that finished their 82 only fill in when too few others are left for two games.
        owing = [t for t in ranked if remaining[t] > 0]
        pool = owing if len(owing) >= 4 else owing + [t for t in ranked if remaining[t] <= 0]
        count = min(count, len(pool) // 2)
        playing = pool[: 2 * count]
        rng.shuffle(playing)
        for first, second, tipoff in zip(playing[::2], playing[1::2], _tipoffs(day, count, rng), strict=True):
            if home_games[first] == home_games[second]:
                home, away = (first, second) if rng.random() < 0.5 else (second, first)
            else:
                home, away = (first, second) if home_games[first] < home_games[second] else (second, first)
            home_games[home] += 1
            for team in (home, away):
                remaining[team] -= 1
                played_on[team].add(day)
            home_wins = rng.random() < _home_win_probability(ratings, home, away)
            drafts.append(_Draft(day, tipoff, home, away, GameKind.REGULAR, home_wins))
    return drafts


def _all_star(year: int) -> list[_Draft]:
    sunday = all_star_sunday(year)
    first, second, world = ALL_STAR_TEAMS
    matchups = ((first, world), (second, world), (first, second))
    return [
        _Draft(sunday, tipoff, home, away, GameKind.ALL_STAR, True)
        for tipoff, (home, away) in zip(((20, 0), (20, 45), (21, 30)), matchups, strict=True)
    ]


class _Postseason:
    """Play-in and four best-of-seven rounds, simulated from regular-season standings.

    Playoff ids follow the NBA's scheme: 004 + season + 00 + round + series + game
    (round 0 is the play-in).
    """

    def __init__(self, year: int, ratings: dict[str, float], rng: random.Random) -> None:
        self.yy = f"{year % 100:02d}"
        self.ratings = ratings
        self.rng = rng
        self.drafts: list[_Draft] = []

    def game(self, day: date, tipoff: tuple[int, int], home: str, away: str, game_id: str) -> bool:
        home_wins = self.rng.random() < _home_win_probability(self.ratings, home, away)
        self.drafts.append(_Draft(day, tipoff, home, away, GameKind.PLAYOFF, home_wins, game_id))
        return home_wins

    def play_in(self, day: date, higher: str, lower: str, index: int) -> tuple[str, str]:
        """One play-in game at the higher seed; returns (winner, loser)."""
        if self.game(day, (19, 30), higher, lower, f"004{self.yy}000{index}1"):
            return higher, lower
        return lower, higher

    def series(
        self, higher: str, lower: str, days: list[date], round_no: int, index: int
    ) -> tuple[str, date]:
        """A best-of-seven on the given days; returns the winner and the last game's date."""
        wins = {higher: 0, lower: 0}
        last = days[0]
        for number, day in enumerate(days, start=1):
            home, away = (higher, lower) if _HIGHER_SEED_HOME[number - 1] else (lower, higher)
            tipoff = (20, 0) if number % 2 else (19, 30)
            home_wins = self.game(day, tipoff, home, away, f"004{self.yy}00{round_no}{index}{number}")
            wins[home if home_wins else away] += 1
            last = day
            if max(wins.values()) == 4:
                break
        return max(wins, key=lambda team: wins[team]), last


def _every_other_day(first: date) -> list[date]:
    return [first + timedelta(days=2 * k) for k in range(7)]


def _postseason(
    year: int, ratings: dict[str, float], regular: list[_Draft], rng: random.Random
) -> list[_Draft]:
    wins = dict.fromkeys(TEAMS, 0)
    for game in regular:
        wins[game.home if game.home_wins else game.away] += 1
    post = _Postseason(year, ratings, rng)
    end = regular_season_end(year)
    seeds: dict[str, int] = {}
    brackets: list[list[str]] = []
    for conference_index, conference in enumerate((sorted(EAST), sorted(set(TEAMS) - EAST))):
        ranked = sorted(conference, key=lambda t: (wins[t], ratings[t]), reverse=True)
        seven, eight, nine, ten = ranked[6:10]
        base = 3 * conference_index
        seventh, loser_78 = post.play_in(end + timedelta(days=2), seven, eight, base)
        winner_910, _ = post.play_in(end + timedelta(days=3), nine, ten, base + 1)
        eighth, _ = post.play_in(end + timedelta(days=5), loser_78, winner_910, base + 2)
        bracket = [*ranked[:6], seventh, eighth]
        seeds.update({team: seed for seed, team in enumerate(bracket, start=1)})
        brackets.append(bracket)

    def by_seed(a: str, b: str) -> tuple[str, str]:
        return (a, b) if seeds[a] < seeds[b] else (b, a)

    # Round 1 and 2 run in two waves on alternating days so every playoff day has games.
    start = end + timedelta(days=6)
    waves: list[list[tuple[str, str]]] = [[], []]
    for s in brackets:
        waves[0] += [(s[0], s[7]), (s[3], s[4])]
        waves[1] += [(s[2], s[5]), (s[1], s[6])]
    round_end = start
    survivors: list[list[str]] = [[], []]
    for wave, pairs in enumerate(waves):
        for offset, (higher, lower) in enumerate(pairs):
            days = _every_other_day(start + timedelta(days=wave))
            winner, last = post.series(higher, lower, days, 1, 4 * wave + offset)
            survivors[wave].append(winner)
            round_end = max(round_end, last)
    # survivors[wave] = [East pair A, East pair B, West pair A, West pair B]
    start = round_end + timedelta(days=2)
    conference_finalists: dict[int, list[str]] = {0: [], 1: []}
    for wave in (0, 1):
        for conference_index in (0, 1):
            pair = survivors[wave][2 * conference_index : 2 * conference_index + 2]
            higher, lower = by_seed(pair[0], pair[1])
            days = _every_other_day(start + timedelta(days=wave))
            winner, last = post.series(higher, lower, days, 2, 2 * wave + conference_index)
            conference_finalists[conference_index].append(winner)
            round_end = max(round_end, last)
    start = round_end + timedelta(days=2)
    champions = []
    for conference_index in (0, 1):
        higher, lower = by_seed(*conference_finalists[conference_index])
        winner, last = post.series(higher, lower, _every_other_day(start), 3, conference_index)
        champions.append(winner)
        round_end = max(round_end, last)
    start = round_end + timedelta(days=3)
    east, west = champions
    higher, lower = (
        (east, west) if (wins[east], ratings[east]) >= (wins[west], ratings[west]) else (west, east)
    )
    post.series(higher, lower, [start + timedelta(days=k) for k in _FINALS_DAY_OFFSETS], 4, 0)
    return post.drafts


@functools.lru_cache(maxsize=32)
def build_season(year: int) -> Season:
    """The full schedule of season ``year`` (2025 for 2025-26), the same in every build."""
    rng = random.Random(f"nba-schedule-{year}")
    ratings = {team: rng.gauss(0.0, 1.0) for team in TEAMS}
    regular = _regular_season(year, ratings, rng)
    drafts = _preseason(year, rng) + regular + _all_star(year) + _postseason(year, ratings, regular, rng)
    drafts.sort(key=lambda d: (d.day, d.tipoff, d.home))
    yy = f"{year % 100:02d}"
    sequence = dict.fromkeys(GameKind, 0)
    games = []
    for draft in drafts:
        game_id = draft.game_id
        if game_id is None:
            sequence[draft.kind] += 1
            game_id = f"{draft.kind.value}{yy}{sequence[draft.kind]:05d}"
        games.append(
            ScheduledGame(
                game_id=game_id,
                game_date=draft.day,
                tipoff_utc=eastern_to_utc(draft.day, *draft.tipoff),
                home=draft.home,
                away=draft.away,
                kind=draft.kind,
                season_year=year,
                home_wins=draft.home_wins,
                box_score_id=f"{draft.day:%Y%m%d}_{draft.away}_{draft.home}",
            )
        )
    by_date: dict[date, list[ScheduledGame]] = {}
    for game in games:
        by_date.setdefault(game.game_date, []).append(game)
    return Season(
        year=year,
        opening_night=opening_night(year),
        all_star_sunday=all_star_sunday(year),
        regular_season_end=regular_season_end(year),
        no_game_days=no_game_days(year),
        games=tuple(games),
        _by_date={day: tuple(day_games) for day, day_games in by_date.items()},
    )
