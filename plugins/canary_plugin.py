"""The pytest plugin behind ``pytest -m canary``: settings, warehouse, one batched measurement, outcomes.

Hooks stay thin; the work is in :mod:`resilience.canary.engine` and :mod:`plugins.results`. A canary
test is marked ``@pytest.mark.canary("<canary id>")`` and asks for the ``canary`` fixture:

* ERROR ("check broken": a query failed, a metric came back NULL, the warehouse is unreachable or the
  measurement timed out) surfaces as a pytest ERROR at setup;
* FAILED ("data bad") fails the test with the metric, its value and its threshold;
* WARN passes, shown as ``WARN``; SKIPPED (sample under its minimum) is a pytest skip with the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plugins.results import (
    CHECK_PROPERTY,
    RESULT_PROPERTY,
    CheckRecord,
    record_from_report,
    write_json_lines,
)
from resilience.canary.catalog import CANARIES_BY_ID
from resilience.canary.engine import CanaryRun, run_canaries
from resilience.canary.model import CanaryResult
from resilience.canary.payload import result_payload
from resilience.context import ContextError, RunContext, ensure_demo_warehouse, resolve_as_of, resolve_context
from resilience.outcomes import Outcome
from resilience.warehouse import WarehouseConfigError, open_warehouse

MARKERS = (
    "canary(canary_id): a pipeline canary; the argument names its definition in resilience.canary.catalog",
    "phase1: phase 1, scrapers",
    "phase2: phase 2, raw processing",
    "phase3: phase 3, analytics",
    "phase4: phase 4, precompute",
    "phase5: phase 5, predictions",
    "phase6: phase 6, publishing",
)


@dataclass
class PluginState:
    context: RunContext
    json_path: Path | None
    selected: list[str] = field(default_factory=list)
    records: dict[str, CheckRecord] = field(default_factory=dict)
    as_of: dt.date | None = None
    as_of_source: str = ""


STATE = pytest.StashKey[PluginState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resilience", "resilience suite")
    group.addoption(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="business date the checks treat as today "
        "(default: RESILIENCE_AS_OF, else the demo warehouse's date, else today in US Eastern)",
    )
    group.addoption(
        "--warehouse",
        metavar="URL",
        help="duckdb:///ABS/PATH.duckdb or bigquery://PROJECT "
        "(default: RESILIENCE_WAREHOUSE, else the demo warehouse)",
    )
    group.addoption(
        "--resilience-config",
        metavar="PATH",
        help="settings file (default: RESILIENCE_CONFIG, else resilience.toml)",
    )
    group.addoption("--resilience-json", metavar="PATH", help="write one JSON object per check to PATH")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        context = resolve_context(
            config=config.getoption("resilience_config"),
            warehouse=config.getoption("warehouse"),
            as_of=config.getoption("as_of"),
        )
    except ContextError as error:
        raise pytest.UsageError(str(error)) from None
    json_option = config.getoption("resilience_json")
    state = PluginState(context, Path(json_option).resolve() if json_option else None)
    config.stash[STATE] = state
    config.pluginmanager.register(CheckReporter(state, _is_worker(config)), "resilience-check-reporter")


def _canary_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("canary")
    if marker is None:
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


@pytest.fixture(scope="session")
def canary_run(request: pytest.FixtureRequest) -> CanaryRun:
    """Every selected canary, measured in one batch the first time any canary asks."""
    state = request.config.stash[STATE]
    context = state.context
    try:
        demo_date = ensure_demo_warehouse(context) if context.target.kind == "duckdb" else None
        state.as_of, state.as_of_source = resolve_as_of(context, demo_date)
        warehouse = open_warehouse(context.target, context.settings.bigquery)
    except WarehouseConfigError as error:
        pytest.fail(f"check broken: {error} (target from {context.target_source})", pytrace=False)
    try:
        specs = [CANARIES_BY_ID[canary_id] for canary_id in state.selected]
        return run_canaries(warehouse, context.settings, state.as_of, specs)
    finally:
        warehouse.close()


@pytest.fixture
def canary(request: pytest.FixtureRequest) -> CanaryResult:
    """The judged result of the canary named by this test's ``canary`` marker."""
    canary_id = _canary_id(request.node)
    if canary_id is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the canary fixture without @pytest.mark.canary")
    spec = CANARIES_BY_ID[canary_id]
    request.node.user_properties.append(
        (CHECK_PROPERTY, {"id": canary_id, "phase": spec.phase, "title": spec.title})
    )
    run: CanaryRun = request.getfixturevalue("canary_run")
    result = run.results[canary_id]
    request.node.user_properties.append(
        (RESULT_PROPERTY, result_payload(result, as_of=run.as_of, target=run.target))
    )
    if result.outcome is Outcome.ERROR:
        pytest.fail(f"{canary_id}: {result.message}", pytrace=False)
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(f"{canary_id}: {result.message}")
    return result


def expect_healthy(result: CanaryResult) -> None:
    """The body of every canary test: fail with the canary's message when the data is bad."""
    if result.outcome is Outcome.FAILED:
        pytest.fail(f"{result.canary_id}: {result.message}", pytrace=False)
    if result.outcome is Outcome.ERROR:  # the fixture errors first; kept so this never passes an error
        pytest.fail(f"{result.canary_id}: {result.message}", pytrace=False)


def _payload(report: pytest.TestReport) -> dict[str, Any] | None:
    for key, value in report.user_properties:
        if key == RESULT_PROPERTY and isinstance(value, dict):
            return value
    return None


def crash_reason(report: pytest.TestReport) -> str:
    """pytest's one-line reason for a failure (``Failed: Timeout >5.0s``), not the traceback's first line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return message
    return str(report.longrepr) if report.longrepr else ""


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class CheckReporter:
    """Collects every check's record from the test reports; on the controller, writes and summarizes.

    Registered as an object (as pytest's junitxml is) because ``pytest_runtest_logreport`` gets only
    the report, and the state it fills must not be a module global.
    """

    def __init__(self, state: PluginState, is_worker: bool) -> None:
        self.state = state
        self.is_worker = is_worker

    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, str | tuple[str, dict[str, bool]]] | None:
        if report.when != "call" or not report.passed:
            return None
        payload = _payload(report)
        if payload is None:
            return None
        if payload["outcome"] == Outcome.WARN.value:
            return "warned", "W", ("WARN", {"yellow": True})
        if str(payload["message"]).startswith("nothing expected"):
            return "passed", ".", ("PASSED (nothing expected)", {"green": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = record_from_report(
            report.nodeid,
            report.when,
            report.outcome,
            report.user_properties,
            crash_reason(report),
            report.duration,
        )
        if record is None:
            return
        previous = self.state.records.get(record.nodeid)
        if previous is None or record.outcome.severity >= previous.outcome.severity:
            self.state.records[record.nodeid] = record

    def pytest_sessionfinish(self) -> None:
        if self.is_worker or self.state.json_path is None:
            return
        write_json_lines(self.state.json_path, self.state.records.values())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.state.records:
            return
        records = list(self.state.records.values())
        counts: dict[str, int] = {}
        for record in records:
            counts[record.outcome.value] = counts.get(record.outcome.value, 0) + 1
        first = records[0].payload
        terminalreporter.section("resilience checks")
        target = first.get("target", self.state.context.target.describe())
        terminalreporter.write_line(f"target {target}, as of {first.get('as_of', '?')}")
        terminalreporter.write_line(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
        for record in sorted(records, key=lambda r: -r.outcome.severity):
            if record.outcome is not Outcome.PASSED:
                terminalreporter.write_line(
                    f"{record.outcome.value.upper():7} {record.payload['id']}: {record.payload['message']}"
                )
        if self.state.json_path:
            terminalreporter.write_line(f"results: {self.state.json_path}")
