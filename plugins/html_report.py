"""Columns in pytest-html's report for weekly review: the check's outcome, metrics against
thresholds, and the SQL that ran. Everything from data is HTML-escaped; registered only when
pytest-html is active, so runs without it carry no dead hooks.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pytest

from plugins.results import RESULT_PROPERTY
from resilience.outcomes import format_number
from resilience.slack.sender import redact


def result_of(report: pytest.TestReport) -> Mapping[str, Any] | None:
    for key, value in report.user_properties:
        if key == RESULT_PROPERTY and isinstance(value, dict):
            return value
    return None


def metrics_cell(payload: Mapping[str, Any] | None) -> str:
    if payload is None:
        return "<td></td>"
    outcome = html.escape(str(payload["outcome"]).upper())
    lines = [f"<b>{outcome}</b> {html.escape(redact(str(payload['message'])))}"]
    for name, metric in (payload.get("metrics") or {}).items():
        bounds = ", ".join(
            f"{key} {format_number(value)}" for key, value in (metric.get("thresholds") or {}).items()
        )
        title = html.escape(str(metric.get("title") or name))
        value = html.escape(format_number(metric.get("value")))
        lines.append(
            f"{title}: {value} ({html.escape(bounds)}) {html.escape(str(metric.get('outcome', '')))}"
        )
    return f'<td class="col-check">{"<br>".join(lines)}</td>'


def sql_cell(payload: Mapping[str, Any] | None) -> str:
    if not payload or not payload.get("sql"):
        return "<td></td>"
    queries = "".join(f"<pre>{html.escape(str(sql))}</pre>" for sql in payload["sql"])
    return f"<td><details><summary>{len(payload['sql'])} query(ies)</summary>{queries}</details></td>"


class HtmlColumns:
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="check">Check result</th>')
        cells.insert(3, "<th>SQL</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        payload = result_of(report)
        cells.insert(2, metrics_cell(payload))
        cells.insert(3, sql_cell(payload))


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("html") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(HtmlColumns(), "resilience-html-columns")
