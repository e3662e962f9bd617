"""The one place the healing parts are built from a run context: batch store, tracker and its stores.

Used by the `healing` command and by the pytest fixture, so both heal and record the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from healing.event_store import open_event_store
from healing.tracker import HealingTracker
from resilience.alerts.record_run import RunRecord, record_run, state_url
from resilience.batches.store import BatchStore, open_batch_store
from resilience.context import RunContext
from resilience.history import WritableWarehouse
from resilience.state.base import StateStore, open_state_store
from resilience.warehouse import WarehouseConfigError, open_warehouse


@dataclass
class HealingParts:
    batches: BatchStore
    tracker: HealingTracker
    state: StateStore
    warehouse: WritableWarehouse | None
    #: What the tracker's pattern alerts did, for the caller to print.
    alert_records: list[RunRecord]
    problems: list[str]


def _alerts(
    settings: Any, state: StateStore, warehouse: WritableWarehouse | None, sink: list[RunRecord]
) -> Any:
    started = dt.datetime.now(dt.UTC)

    def send(payloads: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.UTC)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-heal-{uuid.uuid4().hex[:6]}"
        sink.append(
            record_run(
                payloads,
                settings=settings,
                store=state,
                warehouse=warehouse,
                run_id=run_id,
                started=started,
                now=now,
                fallback_as_of=None,
                report_hint="healing analyze",
            )
        )

    return send


@contextlib.contextmanager
def healing_parts(context: RunContext, environ: Mapping[str, str] | None = None) -> Iterator[HealingParts]:
    """Open everything healing needs; close it all on exit. The warehouse may be unavailable: the
    tracker then keeps the warehouse rows in the outbox and says so."""
    env = os.environ if environ is None else environ
    settings = context.settings
    url, source = state_url(settings, env)
    problems: list[str] = []
    with contextlib.ExitStack() as stack:
        state = open_state_store(url, source)
        stack.callback(state.close)
        events = open_event_store(url, source, settings.healing.events_collection)
        stack.callback(events.close)
        batches = open_batch_store(url, source, settings.healing.batches_collection)
        stack.callback(batches.close)
        warehouse: WritableWarehouse | None
        try:
            warehouse = open_warehouse(context.target, settings.bigquery, read_only=False)  # type: ignore[assignment]
        except WarehouseConfigError as error:
            warehouse = None
            problems.append(f"warehouse unavailable, healing rows held in the outbox: {error}")
        if warehouse is not None:
            stack.callback(warehouse.close)
        records: list[RunRecord] = []
        tracker = HealingTracker(
            events,
            warehouse,
            state,
            settings,
            alerts=_alerts(settings, state, warehouse, records),
            target=context.target.describe(),
        )
        yield HealingParts(batches, tracker, state, warehouse, records, problems)
