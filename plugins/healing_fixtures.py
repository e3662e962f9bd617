"""Healing from a check: the ``stalled_batch_cleanup`` fixture and the batch store the canary reads.

A check that finds stalled prediction batches heals them through the fixture, measures again, and
is healthy only if the re-check passes; each heal's event carries the check's fingerprint, so the
trail shows which alert it answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from healing.cleanup import CleanupReport, run_cleanup
from healing.wiring import HealingParts, healing_parts
from plugins.checks_plugin import STATE

Cleanup = Callable[[str | None], CleanupReport]


@pytest.fixture
def healing(request: pytest.FixtureRequest) -> Iterator[HealingParts]:
    """Batch store, tracker and stores for this run's settings and state store; closed afterwards."""
    with healing_parts(request.config.stash[STATE].context) as parts:
        yield parts


@pytest.fixture
def stalled_batch_cleanup(healing: HealingParts, request: pytest.FixtureRequest) -> Cleanup:
    """``stalled_batch_cleanup(check_fingerprint)`` completes stalled batches now and returns the report."""
    settings = request.config.stash[STATE].context.settings

    def clean(check_fingerprint: str | None) -> CleanupReport:
        return run_cleanup(
            healing.batches,
            healing.tracker.record,
            settings,
            dt.datetime.now(dt.UTC),
            check_fingerprint=check_fingerprint,
        )

    return clean
