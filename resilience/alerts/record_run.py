"""Everything that happens once a run's checks are judged: alerts, state, heartbeats, history.

Called by the pytest plugin on the controller only (never on an xdist worker), and usable by any
other runner (the healing job). Each step reports its own trouble and the others still happen:
a Slack outage must not lose the history, a warehouse outage must not lose the alerts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resilience.alerts.dispatch import HISTORY_PREFIX, DeliveryReport, deliver
from resilience.alerts.lifecycle import decide, observation_from
from resilience.alerts.routing import RoutedCheck, build_messages, channels_for, suites_of
from resilience.history import WritableWarehouse, history_rows, write_history
from resilience.outcomes import Outcome, worst
from resilience.settings import Settings
from resilience.slack.blockkit import to_plain_text
from resilience.slack.sender import SlackWebhookSender, redact
from resilience.state.base import StateStore
from resilience.state.model import AlertState, Heartbeat, OutboxItem

ENV_STATE = "RESILIENCE_STATE"


@dataclass
class RunRecord:
    """What recording the run did, as lines for the terminal summary."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: list[str] = field(default_factory=list)
    delivery: DeliveryReport | None = None

    @property
    def delivery_failed(self) -> bool:
        return bool(self.delivery and self.delivery.failed) or any(
            p.startswith("alerts:") for p in self.problems
        )


def state_url(settings: Settings, environ: Mapping[str, str]) -> tuple[str, str]:
    """The state store to use and where that choice came from."""
    if environ.get(ENV_STATE):
        return environ[ENV_STATE], ENV_STATE
    return f"sqlite://{settings.alerts.state_path}", "alerts.state in the settings"


def _decide_all(
    payloads: Sequence[Mapping[str, Any]], store: StateStore | None, settings: Settings, now: dt.datetime
) -> tuple[list[RoutedCheck], list[AlertState]]:
    observations = [observation_from(p) for p in payloads]
    previous = store.load_alert_states([o.fingerprint for o in observations]) if store else {}
    routed, states = [], []
    for payload, seen in zip(payloads, observations, strict=True):
        decision = decide(previous.get(seen.fingerprint), seen, now, settings.alerts)
        states.append(decision.state)
        routed.append(RoutedCheck(payload, decision, channels_for(payload, settings.alerts)))
    return routed, states


def _heartbeats(
    payloads: Sequence[Mapping[str, Any]], run_id: str, started: dt.datetime, now: dt.datetime
) -> list[Heartbeat]:
    beats = []
    for suite, members in sorted(suites_of(payloads).items()):
        outcomes = [Outcome(str(p["outcome"])) for p in members]
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.value] = counts.get(outcome.value, 0) + 1
        beats.append(Heartbeat(suite, run_id, started, now, worst(outcomes).value, counts))
    return beats


def _record_history(
    payloads: Sequence[Mapping[str, Any]],
    *,
    warehouse: WritableWarehouse | None,
    store: StateStore | None,
    settings: Settings,
    run_id: str,
    now: dt.datetime,
    fallback_as_of: dt.date | None,
    record: RunRecord,
) -> None:
    table = settings.tables["check_results"]
    rows = history_rows(payloads, run_id=run_id, recorded_at=now, fallback_as_of=fallback_as_of)
    held = (
        [i for i in store.outbox_pending(limit=500) if i.channel.startswith(HISTORY_PREFIX)] if store else []
    )
    try:
        if warehouse is None:
            raise RuntimeError("no writable warehouse")
        # Rows held earlier, by this run's writer or another (the healing tracker), each into its own
        # table; an idempotency key, where the writer gave one, makes a repeated replay harmless.
        for item in held:
            held_table = item.channel[len(HISTORY_PREFIX) :]
            write_history(warehouse, held_table, list(item.payload["rows"]), key=item.payload.get("key"))
            if store:
                store.outbox_delivered(item.id)
        write_history(warehouse, table, rows)
        record.lines.append(
            f"history: {len(rows)} result(s) appended to {table}"
            + (f" (+{len(held)} held write(s) from earlier replayed)" if held else "")
        )
    except Exception as error:  # whatever refused the rows (driver, network, schema), they must be kept
        reason = redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
        if store is None:
            record.problems.append(f"history: {len(rows)} result(s) NOT recorded: {reason}")
            return
        store.outbox_add(
            OutboxItem(f"{run_id}:{HISTORY_PREFIX}{table}", f"{HISTORY_PREFIX}{table}", {"rows": rows}, now)
        )
        record.problems.append(
            f"history: {table} refused the results ({reason}); kept in the state store for the next run"
        )


def record_run(
    payloads: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    store: StateStore | None,
    warehouse: WritableWarehouse | None,
    run_id: str,
    started: dt.datetime,
    now: dt.datetime,
    fallback_as_of: dt.date | None,
    report_hint: str,
    environ: Mapping[str, str] | None = None,
    sender: SlackWebhookSender | None = None,
) -> RunRecord:
    """Decide, route and deliver the run's alerts; save lifecycle state, heartbeats and the history."""
    env = os.environ if environ is None else environ
    record = RunRecord()
    if store is None:
        record.problems.append("alerts: no state store, so every failing check alerts as new this run")
    routed, states = _decide_all(payloads, store, settings, now)
    channel_names = {key: channel.name for key, channel in settings.channels.items()}
    messages = build_messages(
        routed,
        run_id=run_id,
        channel_names=channel_names,
        runbook_url=settings.runbook_url,
        report_hint=report_hint,
    )
    active = sender or SlackWebhookSender.from_env(settings.channels, env)
    if not active.configured_channels:
        names = ", ".join(sorted(c.webhook_env for c in settings.channels.values()))
        record.lines.append(
            f"alerts: dry run, no Slack webhook configured (set {names}); "
            f"{len(messages)} message(s) shown below"
        )
        record.dry_run = [to_plain_text(message) for message in messages]
    elif store is None:
        record.problems.append("alerts: not sent: without the state store there is no outbox to keep them")
        record.dry_run = [to_plain_text(message) for message in messages]
    else:
        # A routed channel without a webhook fails in the sender with a configuration error that names
        # its variable; the message stays in the outbox and is never rerouted to another channel.
        record.delivery = deliver(messages, store=store, sender=active, run_id=run_id, now=now)
        record.problems.extend(f"alerts: {line}" for line in record.delivery.problems)
        shown = len(record.delivery.sent) + len(record.delivery.replayed)
        record.lines.append(
            f"alerts: {shown} message(s) delivered"
            + (f" ({len(record.delivery.replayed)} from earlier runs)" if record.delivery.replayed else "")
            + (f", {len(record.delivery.queued)} queued for the next run" if record.delivery.queued else "")
        )
    if store is not None:
        store.save_alert_states(states)
        for heartbeat in _heartbeats(payloads, run_id, started, now):
            store.record_heartbeat(heartbeat)
    _record_history(
        payloads,
        warehouse=warehouse,
        store=store,
        settings=settings,
        run_id=run_id,
        now=now,
        fallback_as_of=fallback_as_of,
        record=record,
    )
    return record
