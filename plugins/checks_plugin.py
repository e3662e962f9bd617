"""The core of the suite's pytest plugin: options, the run context, the target, and result reporting.

Every kind of check (canary, gate rule, quality rule) ends the same way: its fixture calls
:func:`attach_result`, which puts the result on the test report (so it reaches the xdist controller)
and turns ERROR into a pytest ERROR at setup and SKIPPED into a skip. The test body calls
:func:`expect_healthy`, which fails on FAILED. :class:`CheckReporter` collects the records; only the
controller writes ``--resilience-json`` and the summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
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
from resilience.canary.payload import result_payload
from resilience.context import ContextError, RunContext, ensure_demo_warehouse, resolve_as_of, resolve_context
from resilience.outcomes import Outcome
from resilience.results import CheckResult
from resilience.settings import Settings
from resilience.warehouse import Warehouse, WarehouseConfigError, open_warehouse


@dataclass
class PluginState:
    context: RunContext
    json_path: Path | None
    #: Canary ids selected for this session (after -m / -k), measured together in one batch.
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


@dataclass(frozen=True)
class CheckTarget:
    """The opened warehouse and the business date every check of the session reads."""

    warehouse: Warehouse
    settings: Settings
    as_of: dt.date
    as_of_source: str

    @property
    def target(self) -> str:
        return self.warehouse.target


@pytest.fixture(scope="session")
def check_target(request: pytest.FixtureRequest) -> Iterator[CheckTarget]:
    """Open the warehouse once per session (per xdist worker); build the default demo if missing."""
    state = request.config.stash[STATE]
    context = state.context
    try:
        demo_date = ensure_demo_warehouse(context) if context.target.kind == "duckdb" else None
        as_of, source = resolve_as_of(context, demo_date)
        warehouse = open_warehouse(context.target, context.settings.bigquery)
    except WarehouseConfigError as error:
        pytest.fail(f"check broken: {error} (target from {context.target_source})", pytrace=False)
    state.as_of, state.as_of_source = as_of, source
    try:
        yield CheckTarget(warehouse, context.settings, as_of, source)
    finally:
        warehouse.close()


#: Markers that name a check's suite, in order of precedence; the suite decides the alert channel.
SUITE_MARKERS = ("canary", "gate", "schema", "drift", "predeploy", "postdeploy", "meta", "smoke")


def check_labels(item: pytest.Item) -> dict[str, Any]:
    """Suite, critical flag and channel override of a check, from its markers."""
    suite = next((name for name in SUITE_MARKERS if item.get_closest_marker(name) is not None), "unknown")
    labels: dict[str, Any] = {"suite": suite, "critical": item.get_closest_marker("critical") is not None}
    channel = item.get_closest_marker("alert_channel")
    if channel is not None:
        if len(channel.args) != 1 or not isinstance(channel.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: mark it @pytest.mark.alert_channel('<channel>')")
        labels["alert_channel"] = channel.args[0]
    return labels


def announce_check(request: pytest.FixtureRequest, check_id: str, phase: int, title: str) -> None:
    """Name the check on the report before measuring, so a hang or crash is still recorded as ERROR."""
    identity = {"id": check_id, "phase": phase, "title": title, **check_labels(request.node)}
    request.node.user_properties.append((CHECK_PROPERTY, identity))


def attach_result(
    request: pytest.FixtureRequest, result: CheckResult, *, as_of: dt.date, target: str
) -> CheckResult:
    """Record ``result`` on this test's report; ERROR fails the setup, SKIPPED skips with the reason."""
    request.node.user_properties.append((RESULT_PROPERTY, result_payload(result, as_of=as_of, target=target)))
    if result.outcome is Outcome.ERROR:
        pytest.fail(f"{result.check_id}: {result.message}", pytrace=False)
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(f"{result.check_id}: {result.message}")
    return result


def expect_healthy(result: CheckResult) -> None:
    """The body of every check test: fail with the check's message when the data is bad."""
    if result.outcome in (Outcome.FAILED, Outcome.ERROR):
        pytest.fail(f"{result.check_id}: {result.message}", pytrace=False)


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
