"""From a run's check records and lifecycle decisions to at most one Slack message per channel.

Routing: a check's channel is its ``alert_channel`` marker if it has one, else the channel of its
suite in ``[alerts.routing]``; a FAILED or ERROR check marked critical also goes to the ``critical``
route. A suite without a route is a configuration error (the settings refuse it), never a fallback.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resilience.alerts.config import CRITICAL_ROUTE, AlertSettings
from resilience.alerts.lifecycle import Decision
from resilience.outcomes import format_number
from resilience.slack.model import AlertKind, AlertMessage, AlertSection, MetricLine

SEVERITY = {"error": 0, "failed": 1, "warn": 2, "passed": 3, "skipped": 4}
COUNT_KEYS = {
    "failed": "failed",
    "error": "broken",
    "warn": "warned",
    "passed": "passed",
    "skipped": "skipped",
}


@dataclass(frozen=True)
class RoutedCheck:
    """One check of the run with where it goes and what the lifecycle decided."""

    payload: Mapping[str, Any]
    decision: Decision
    channels: tuple[str, ...]


def channels_for(payload: Mapping[str, Any], alerts: AlertSettings) -> tuple[str, ...]:
    """The channel keys (``canary-alerts``) a check's alert goes to."""
    override = payload.get("alert_channel")
    suite = str(payload.get("suite") or "")
    primary = str(override).lstrip("#") if override else alerts.routing.get(suite)
    if primary is None:
        raise KeyError(f"check {payload['id']}: suite {suite!r} has no route in alerts.routing")
    chosen = [primary]
    if payload.get("critical") and payload["outcome"] in ("failed", "error"):
        critical = alerts.routing[CRITICAL_ROUTE]
        if critical not in chosen:
            chosen.append(critical)
    return tuple(chosen)


def _metric_lines(payload: Mapping[str, Any]) -> tuple[MetricLine, ...]:
    lines = []
    for name, metric in (payload.get("metrics") or {}).items():
        if metric.get("outcome") == "passed" and payload["outcome"] != "passed":
            continue  # only the rules that alert; the report has the rest
        bounds = metric.get("thresholds") or {}
        threshold = ", ".join(
            f"{key.replace('_', ' ')} {format_number(value)}" for key, value in bounds.items()
        )
        lines.append(
            MetricLine(str(metric.get("title") or name), format_number(metric.get("value")), threshold)
        )
    return tuple(lines)


def section_for(check: RoutedCheck, runbook_url: str) -> AlertSection:
    payload = check.payload
    kind = check.decision.kind or AlertKind.NEW
    return AlertSection(
        check_id=str(payload["id"]),
        outcome=str(payload["outcome"]),
        kind=kind,
        title=str(payload.get("title") or payload["id"]),
        message=str(payload.get("message") or ""),
        metrics=_metric_lines(payload),
        change=check.decision.change,
        runbook_url=runbook_url,
        target=str(payload.get("target") or ""),
    )


def build_messages(
    checks: Sequence[RoutedCheck],
    *,
    run_id: str,
    channel_names: Mapping[str, str],
    runbook_url: Any,
    report_hint: str,
) -> list[AlertMessage]:
    """One message per channel that has something to say; counts cover every check of that channel."""
    by_channel: dict[str, list[RoutedCheck]] = defaultdict(list)
    for check in checks:
        for channel in check.channels:
            by_channel[channel].append(check)
    messages = []
    for channel, routed in sorted(by_channel.items()):
        sending = [c for c in routed if c.decision.send]
        if not sending:
            continue
        sending.sort(
            key=lambda c: (
                c.decision.kind is AlertKind.RESOLVED,
                SEVERITY.get(c.payload["outcome"], 9),
                str(c.payload["id"]),
            )
        )
        counts = Counter(COUNT_KEYS.get(str(c.payload["outcome"]), "other") for c in routed)
        first = routed[0].payload
        suites = sorted({str(c.payload.get("suite") or "") for c in routed})
        messages.append(
            AlertMessage(
                channel=channel_names.get(channel, f"#{channel}"),
                suite="+".join(suites),
                run_id=run_id,
                as_of=str(first.get("as_of") or ""),
                target=str(first.get("target") or ""),
                counts={key: counts.get(key, 0) for key in ("failed", "broken", "warned", "passed")},
                sections=tuple(section_for(c, runbook_url(str(c.payload["id"]))) for c in sending),
                report_hint=report_hint,
            )
        )
    return messages


def suites_of(payloads: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for payload in payloads:
        grouped[str(payload.get("suite") or "unknown")].append(payload)
    return dict(grouped)
