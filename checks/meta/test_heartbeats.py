"""The suite's own health (dead-man's switch): every scheduled suite completes runs, and they work.

Reads the state store (``RESILIENCE_STATE``, default ``.resilience/state.sqlite``), not the warehouse.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping

import pytest

from plugins.checks_plugin import STATE, announce_check, attach_result, expect_healthy
from resilience.alerts.deadman import suite_health
from resilience.alerts.record_run import state_url
from resilience.results import CheckResult
from resilience.state.base import StateStoreError, open_state_store

pytestmark = [pytest.mark.meta, pytest.mark.critical]


@pytest.fixture(scope="module")
def heartbeats(request: pytest.FixtureRequest) -> Iterator[Mapping[str, CheckResult]]:
    settings = request.config.stash[STATE].context.settings
    url, source = state_url(settings, os.environ)
    try:
        store = open_state_store(url, source)
    except (StateStoreError, ValueError) as error:
        pytest.fail(f"check broken: cannot read heartbeats: {error}", pytrace=False)
    try:
        yield suite_health(store, settings, dt.datetime.now(dt.UTC))
    finally:
        store.close()


def _suites(config: pytest.Config) -> list[str]:
    return sorted(config.stash[STATE].context.settings.suites)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "suite" in metafunc.fixturenames:
        metafunc.parametrize("suite", _suites(metafunc.config))


def test_scheduled_suite_is_alive(
    request: pytest.FixtureRequest, heartbeats: Mapping[str, CheckResult], suite: str
) -> None:
    announce_check(request, f"meta.heartbeat.{suite}", 0, f"the {suite} suite is alive and working")
    as_of = dt.datetime.now(dt.UTC).date()
    expect_healthy(attach_result(request, heartbeats[suite], as_of=as_of, target="state store"))
