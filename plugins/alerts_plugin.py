"""Alerting: at the end of a run the controller turns the check records into Slack alerts, state,
heartbeats and history (:func:`resilience.alerts.record_run.record_run`). Workers only attach results.

With no webhook configured at all, alerts are printed in the terminal summary (dry run). A delivery
failure shows in the summary and fails the run only with ``--alert-delivery-required``.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import pytest

from plugins.checks_plugin import STATE, CheckReporter, PluginState
from resilience.alerts.record_run import RunRecord, record_run, state_url
from resilience.history import WritableWarehouse
from resilience.slack.sender import redact
from resilience.state.base import StateStore, StateStoreError, open_state_store
from resilience.warehouse import WarehouseConfigError, open_warehouse

MARKERS = (
    "critical: a FAILED or ERROR result also alerts the critical channel",
    "alert_channel(name): send this check's alerts to channel `name` instead of its suite's",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resilience")
    group.addoption(
        "--alert-delivery-required",
        action="store_true",
        help="fail the run (exit 1) when an alert or the results history could not be delivered",
    )
    group.addoption(
        "--no-alerts",
        action="store_true",
        help="record nothing: no alerts, no state, no heartbeat, no history (local experiments)",
    )


@pytest.hookimpl(trylast=True)  # after plugins.checks_plugin has put the run's state in the stash
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if hasattr(config, "workerinput") or config.getoption("no_alerts"):
        return
    config.pluginmanager.register(
        AlertingPlugin(config.stash[STATE], config.getoption("alert_delivery_required")),
        "resilience-alerting",
    )


def _open_store(state: PluginState, record: RunRecord) -> StateStore | None:
    url, source = state_url(state.context.settings, os.environ)
    try:
        return open_state_store(url, source)
    except (StateStoreError, ValueError) as error:
        record.problems.append(f"alerts: state store unavailable: {redact(str(error))}")
        return None


def _open_history_warehouse(state: PluginState, record: RunRecord) -> WritableWarehouse | None:
    try:
        warehouse = open_warehouse(state.context.target, state.context.settings.bigquery, read_only=False)
    except WarehouseConfigError as error:
        record.problems.append(f"history: warehouse unavailable: {error}")
        return None
    return warehouse  # type: ignore[return-value]  # both backends implement ensure_table/insert_rows


class AlertingPlugin:
    def __init__(self, state: PluginState, required: bool) -> None:
        self.state = state
        self.required = required
        self.started = dt.datetime.now(dt.UTC)
        self.run_id = f"{self.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.record: RunRecord | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        records = list(self.state.records.values())
        if not records:
            return
        record = RunRecord()
        store = _open_store(self.state, record)
        warehouse = _open_history_warehouse(self.state, record)
        payloads = [{**r.payload, "nodeid": r.nodeid} for r in records]
        try:
            result = record_run(
                payloads,
                settings=self.state.context.settings,
                store=store,
                warehouse=warehouse,
                run_id=self.run_id,
                started=self.started,
                now=dt.datetime.now(dt.UTC),
                fallback_as_of=self.state.as_of,
                report_hint=self._report_hint(session),
            )
        finally:
            for closable in (store, warehouse):
                if closable is not None:
                    closable.close()
        result.problems[:0] = record.problems
        self.record = result
        if self.required and (result.delivery_failed or result.problems) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @staticmethod
    def _report_hint(session: pytest.Session) -> str:
        html = session.config.getoption("htmlpath", None)
        return str(html) if html else "the HTML report (pytest --html)"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.record is None:
            return
        terminalreporter.section("alerts")
        for line in self.record.lines:
            terminalreporter.write_line(line)
        for problem in self.record.problems:
            terminalreporter.write_line(f"PROBLEM {problem}", red=True, bold=True)
        for text in self.record.dry_run:
            terminalreporter.write_line(text)


__all__ = ["AlertingPlugin", "CheckReporter"]
