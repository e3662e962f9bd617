"""Demo prediction batches: a day's healthy batches and, on request, batches stalled as in production.

``resilience demo build --fault stalled_batches`` seeds these next to the demo warehouse. Players are
the demo league's (:func:`resilience.demo.roster.build_rosters` with the same seed), so a batch names
players the warehouse knows. Deterministic: the same arguments give the same batches.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

from resilience.batches.model import PredictionBatch
from resilience.batches.store import BatchStore
from resilience.demo.roster import build_rosters

__all__ = ["FAILURE_REASONS", "seed_batches"]

#: Why a worker gave up on a player, as the coordinator would record it.
FAILURE_REASONS = (
    "no features",
    "timeout",
    "feature quality below 70",
    "no points line",
    "model load error",
)


def seed_batches(
    store: BatchStore,
    as_of_now: dt.datetime,
    *,
    stalled: int,
    healthy: int,
    seed: int,
    timezone: str = "America/New_York",
) -> list[PredictionBatch]:
    """Write ``healthy`` batches (even positions complete, odd ones in progress and updated a minute
    before ``as_of_now``) and ``stalled`` batches that the clean-up rule catches at ``as_of_now`` with
    the default settings (92-99% complete, 1-4 failed players with reasons, no update for 20-60 min,
    created within the last 3 h). All are for the Eastern date of ``as_of_now``. Returns them as written.
    """
    if as_of_now.utcoffset() is None:
        raise ValueError(f"as_of_now must be timezone-aware, got naive {as_of_now.isoformat()}")
    if stalled < 0 or healthy < 0:
        raise ValueError(f"stalled and healthy must be >= 0, got {stalled} and {healthy}")
    now = as_of_now.astimezone(dt.UTC)
    game_date = as_of_now.astimezone(zoneinfo.ZoneInfo(timezone)).date().isoformat()
    players = sorted(player.player_lookup for roster in build_rosters(seed).values() for player in roster)
    rng = random.Random(f"{seed}-prediction-batches-{game_date}")
    used: set[str] = set()
    batches: list[PredictionBatch] = []

    def make(
        created: dt.datetime,
        updated: dt.datetime,
        *,
        expected: int,
        completed: int,
        failed: int,
        complete: bool,
        counter: bool,
    ) -> PredictionBatch:
        while (batch_id := f"batch_{game_date}_{int(created.timestamp())}") in used:
            created += dt.timedelta(seconds=1)
        used.add(batch_id)
        chosen = rng.sample(players, expected)
        done, gave_up = chosen[:completed], chosen[completed : completed + failed]
        by_player = {player: rng.randint(3, 5) for player in done}
        return PredictionBatch(
            batch_id=batch_id,
            game_date=game_date,
            expected_players=expected,
            created_at=created,
            updated_at=updated,
            start_time=created,
            completed_players=tuple(done),
            failed_players=tuple(gave_up),
            failure_reasons={player: rng.choice(FAILURE_REASONS[:3]) for player in gave_up},
            predictions_by_player=by_player,
            total_predictions=sum(by_player.values()),
            is_complete=complete,
            completion_time=updated if complete else None,
            completed_count=completed if counter else 0,
            correlation_id=f"demo-{rng.getrandbits(48):012x}",
        )

    for number in range(healthy):
        expected = rng.randint(120, 160)
        if number % 2 == 0:
            created = now - dt.timedelta(hours=rng.randint(3, 10), minutes=rng.randint(0, 59))
            finished = created + dt.timedelta(minutes=rng.randint(20, 45))
            failed = rng.randint(0, 2)
            batch = make(
                created,
                finished,
                expected=expected,
                completed=expected - failed,
                failed=failed,
                complete=True,
                counter=number % 4 == 0,
            )
        else:
            created = now - dt.timedelta(minutes=rng.randint(5, 40))
            done = int(expected * rng.uniform(0.3, 0.85))
            batch = make(
                created,
                now - dt.timedelta(minutes=1),
                expected=expected,
                completed=done,
                failed=rng.randint(0, 2),
                complete=False,
                counter=number % 4 == 1,
            )
        batches.append(batch)

    for number in range(stalled):
        expected = rng.randint(120, 160)
        failed = rng.randint(1, 4)
        never_reported = rng.randint(0, 2)
        updated = now - dt.timedelta(seconds=rng.randint(20 * 60, 60 * 60))
        created = updated - dt.timedelta(minutes=rng.randint(30, 90))
        batches.append(
            make(
                created,
                updated,
                expected=expected,
                completed=expected - failed - never_reported,
                failed=failed,
                complete=False,
                # Half in the coordinator's counter mode, half counted by array length.
                counter=number % 2 == 1,
            )
        )

    for batch in batches:
        store.put(batch)
    return batches
