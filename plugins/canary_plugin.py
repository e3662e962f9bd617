"""Canaries: ``@pytest.mark.canary("<canary id>")`` tests, measured together in one batch per session.

The selected canaries (after ``-m``/``-k``) are planned into one aggregate query per table the first
time any of them asks (:mod:`resilience.canary.engine`); each test then reads its own result:

* ERROR ("check broken": a query failed, a metric came back NULL, the warehouse is unreachable or the
  measurement timed out) surfaces as a pytest ERROR at setup;
* FAILED ("data bad") fails the test with the metric, its value and its threshold;
* WARN passes, shown as ``WARN``; SKIPPED (sample under its minimum) is a pytest skip with the reason.
"""

from __future__ import annotations

import pytest

from plugins.checks_plugin import STATE, CheckTarget, announce_check, attach_result
from resilience.canary.catalog import CANARIES_BY_ID
from resilience.canary.engine import CanaryRun, run_canaries
from resilience.results import CheckResult

MARKERS = (
    "canary(canary_id): a pipeline canary; the argument names its SQL definition in resilience.canary "
    "(bare: a canary with its own measurement)",
    "phase1: phase 1, scrapers",
    "phase2: phase 2, raw processing",
    "phase3: phase 3, analytics",
    "phase4: phase 4, precompute",
    "phase5: phase 5, predictions",
    "phase6: phase 6, publishing",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def _canary_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("canary")
    if marker is None or not marker.args:
        # A bare @pytest.mark.canary is a canary measured by its own fixtures (prediction batches),
        # not by the SQL batch.
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: mark it @pytest.mark.canary('<canary id>')")
    canary_id: str = marker.args[0]
    if canary_id not in CANARIES_BY_ID:
        raise pytest.UsageError(
            f"{item.nodeid}: unknown canary {canary_id!r}; known: {', '.join(sorted(CANARIES_BY_ID))}"
        )
    return canary_id


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # trylast: after -m / -k deselection, so the batch measures only the canaries that will run.
    ids = [canary_id for item in items if (canary_id := _canary_id(item))]
    config.stash[STATE].selected = list(dict.fromkeys(ids))


@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    # `pytest -m canary -k schedule_gap` selects by the canary's id, whatever its test is called.
    canary_id = _canary_id(item)
    if canary_id is not None:
        item.extra_keyword_matches.add(canary_id)


@pytest.fixture(scope="session")
def canary_run(request: pytest.FixtureRequest, check_target: CheckTarget) -> CanaryRun:
    """Every selected canary, measured in one batch the first time any canary asks."""
    specs = [CANARIES_BY_ID[canary_id] for canary_id in request.config.stash[STATE].selected]
    return run_canaries(check_target.warehouse, check_target.settings, check_target.as_of, specs)


@pytest.fixture
def canary(request: pytest.FixtureRequest) -> CheckResult:
    """The judged result of the canary named by this test's ``canary`` marker."""
    canary_id = _canary_id(request.node)
    if canary_id is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the canary fixture without @pytest.mark.canary")
    spec = CANARIES_BY_ID[canary_id]
    announce_check(request, canary_id, spec.phase, spec.title)
    run: CanaryRun = request.getfixturevalue("canary_run")
    return attach_result(request, run.results[canary_id], as_of=run.as_of, target=run.target)
