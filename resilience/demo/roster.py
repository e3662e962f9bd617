"""League rosters: about 17 generated players per team, stable for the whole build.

Names are invented (drawn from common first and last names), with a few suffixes, apostrophes,
hyphens and accents so that ``player_lookup`` normalization has real work to do.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from resilience.demo.calendar import TEAMS

_FIRST_NAMES = (
    "Aaron", "Andre", "Anthony", "Bam", "Ben", "Brandon", "Cam", "Caleb", "Chris", "Cole", "Collin",
    "Darius", "De'Andre", "Dejounte", "Derrick", "Devin", "Donovan", "Dyson", "Evan", "Franz", "Gary",
    "Grant", "Isaiah", "Jalen", "Jamal", "Jaren", "Jarrett", "Jaylen", "Jordan", "Josh", "Julius",
    "Keegan", "Kelly", "Kevin", "Kyle", "Lauri", "Luka", "Malik", "Marcus", "Mikal", "Miles", "Myles",
    "Nic", "Nikola", "Norman", "O'Shae", "Obi", "Paolo", "Quentin", "RJ", "Rui", "Scottie", "Shai",
    "Stephon", "Terance", "Tre", "Trey", "Tyrese", "Walker", "Zach", "Ziaire", "Zion", "Amen", "Ausar",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Allen", "Anderson", "Bailey", "Barnes", "Bell", "Brooks", "Brown", "Bryant", "Carter",
    "Clark", "Coleman", "Collins", "Cooper", "Davis", "Dawson", "Edwards", "Ellis", "Evans", "Fletcher",
    "Foster", "Garland", "Gibson", "Graham", "Grant", "Green", "Griffin", "Hall", "Harris", "Hayes",
    "Henderson", "Hill", "Holmes", "Howard", "Hughes", "Jackson", "Jenkins", "Johnson", "Jones", "Kelly",
    "King", "Lewis", "Marshall", "Martin", "Mitchell", "Moore", "Morris", "Murray", "Nelson", "Parker",
    "Perry", "Porter", "Powell", "Reed", "Richardson", "Roberts", "Robinson", "Ross", "Russell", "Sanders",
    "Scott", "Simmons", "Smith", "Stewart", "Sullivan", "Taylor", "Thomas", "Thompson", "Turner", "Walker",
    "Wallace", "Ward", "Washington", "Watson", "White", "Williams", "Wilson", "Wright", "Young",
    "Gilgeous-Walker", "Petrović", "Müller", "Núñez", "O'Neale", "Okafor", "Diallo", "Şengün", "Vučević",
)  # fmt: skip
_SUFFIXES = ("Jr.", "II", "III", "Sr.")

# Minutes a coach would give each roster slot on a healthy night; slots 15+ are two-way players.
_SLOT_MINUTES = (
    34.0, 33.0, 31.0, 30.0, 28.0, 24.0, 22.0, 19.0, 17.0, 12.0, 9.0, 7.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0,
)  # fmt: skip
_POSITIONS = ("G", "G", "F", "F", "C", "G", "F", "C", "G", "F", "C", "G", "F", "C", "G", "F", "C", "G")
_TEAM_POINTS = 114.0  # league scoring average the rosters are calibrated to
_ACTIVE_MINUTES = 240.0


@dataclass(frozen=True, slots=True)
class Player:
    """One rostered player and the per-minute rates that drive his box scores."""

    player_lookup: str
    name: str
    last_name: str
    team: str
    slot: int
    nba_player_id: int
    position: str
    base_minutes: float
    points_per_minute: float
    rebounds_per_minute: float
    assists_per_minute: float
    three_point_share: float  # share of his points from threes
    two_way: bool


def player_lookup(name: str) -> str:
    """Production's normalization: accents folded, lowercase, letters and digits only."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _invent_name(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    while True:
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        name = f"{first} {last}"
        if rng.random() < 0.05:
            name = f"{name} {rng.choice(_SUFFIXES)}"
        if player_lookup(name) not in taken:
            taken.add(player_lookup(name))
            return name, last


def _team_roster(team: str, rng: random.Random, taken: set[str], ids: set[int]) -> tuple[Player, ...]:
    size = 18 if rng.random() < 0.3 else 17
    offense = rng.uniform(0.95, 1.05)
    drafted = []
    for slot in range(size):
        name, last = _invent_name(rng, taken)
        position = _POSITIONS[slot]
        # Stars score more per minute than role players; the spread keeps lines varied.
        low, high = (0.55, 0.85) if slot < 3 else (0.35, 0.6) if slot < 9 else (0.25, 0.5)
        scoring = rng.uniform(low, high)
        rebounding = {"G": 0.13, "F": 0.2, "C": 0.3}[position] * rng.uniform(0.8, 1.2)
        passing = {"G": 0.17, "F": 0.08, "C": 0.06}[position] * rng.uniform(0.7, 1.3)
        nba_id = rng.randint(1626000, 1642999)
        while nba_id in ids:
            nba_id = rng.randint(1626000, 1642999)
        ids.add(nba_id)
        drafted.append((name, last, slot, nba_id, position, scoring, rebounding, passing))
    # Scale scoring so a healthy rotation (top 12 by minutes, spread over 240) averages the target.
    rotation_minutes = sum(_SLOT_MINUTES[:12])
    healthy_points = sum(
        _SLOT_MINUTES[d[2]] * _ACTIVE_MINUTES / rotation_minutes * d[5] for d in drafted[:12]
    )
    scale = _TEAM_POINTS * offense / healthy_points
    return tuple(
        Player(
            player_lookup=player_lookup(name),
            name=name,
            last_name=last,
            team=team,
            slot=slot,
            nba_player_id=nba_id,
            position=position,
            base_minutes=_SLOT_MINUTES[slot] * rng.uniform(0.92, 1.08),
            points_per_minute=scoring * scale,
            rebounds_per_minute=rebounding,
            assists_per_minute=passing,
            three_point_share={"G": 0.4, "F": 0.3, "C": 0.12}[position] * rng.uniform(0.6, 1.3),
            two_way=slot >= 15,
        )
        for name, last, slot, nba_id, position, scoring, rebounding, passing in drafted
    )


def build_rosters(seed: int) -> Mapping[str, tuple[Player, ...]]:
    """Every team's roster for a build; the same seed always gives the same league."""
    rng = random.Random(f"rosters-{seed}")
    taken: set[str] = set()
    ids: set[int] = set()
    return {team: _team_roster(team, rng, taken, ids) for team in TEAMS}
