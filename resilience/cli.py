"""The ``resilience`` command: build the demo warehouse, and run the canaries without pytest.

Exit statuses: 0 ok, 1 a check failed or warned where that matters, 64 a usage error (bad argument
or settings value, named in the message).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resilience.context import RunContext
    from resilience.settings import Settings
    from resilience.warehouse import Warehouse

EXIT_USAGE = 64


class UsageError(Exception):
    """A bad argument or setting; the message names the value and where it came from."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; write YYYY-MM-DD") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be 1 or more")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resilience", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="the embedded demo warehouse")
    demo_commands = demo.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    build = demo_commands.add_parser("build", help="write a DuckDB demo warehouse with the production tables")
    build.add_argument("--out", type=Path, help="file to write (default: the settings' demo_warehouse)")
    build.add_argument("--date", type=_date, help="the business date the demo ends on (its 'today')")
    build.add_argument("--seed", type=int, default=7, help="random seed; same seed, same data (default 7)")
    build.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a named fault (repeatable); see `resilience demo faults`",
    )
    build.add_argument("--seasons", type=_positive, default=1, help="seasons of history (default 1)")
    demo_commands.add_parser("faults", help="list the named faults and the canaries each must trip")

    canary = commands.add_parser(
        "canary", help="run the canaries once, without pytest, and print the results"
    )
    canary.add_argument("--as-of", help="business date treated as today (YYYY-MM-DD)")
    canary.add_argument("--warehouse", help="duckdb:///ABS/PATH.duckdb or bigquery://PROJECT")
    canary.add_argument("--json", action="store_true", help="print one JSON object per canary")
    gate = commands.add_parser(
        "gate",
        help="the phase 2 -> 3 quality gate for one game date",
        description="Exit status: 0 PROCEED, 1 PROCEED_WITH_WARNING, 2 FAIL, 3 INCONCLUSIVE, 64 usage error.",
    )
    gate.add_argument(
        "--date", type=_date, help="game date to judge (default: the day before the as-of date)"
    )
    gate.add_argument("--warehouse", help="duckdb:///ABS/PATH.duckdb or bigquery://PROJECT")
    gate.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return parser


@dataclass(frozen=True)
class _Opened:
    context: RunContext
    warehouse: Warehouse
    as_of: dt.date


def _open_target(warehouse: str | None, as_of: str | None = None) -> _Opened:
    """Resolve the run context and open its warehouse; usage errors name the value and its source."""
    from resilience.context import ContextError, ensure_demo_warehouse, resolve_as_of, resolve_context
    from resilience.warehouse import WarehouseConfigError, open_warehouse

    try:
        context = resolve_context(warehouse=warehouse, as_of=as_of)
    except ContextError as error:
        raise UsageError(str(error)) from None
    demo_date = ensure_demo_warehouse(context) if context.target.kind == "duckdb" else None
    day, _ = resolve_as_of(context, demo_date)
    try:
        opened = open_warehouse(context.target, context.settings.bigquery)
    except WarehouseConfigError as error:
        raise UsageError(f"{error} (target from {context.target_source})") from None
    return _Opened(context, opened, day)


def _gate(args: argparse.Namespace) -> int:
    from resilience.context import business_today
    from resilience.gate.phase2 import evaluate_phase2_gate
    from resilience.outcomes import format_number

    opened = _open_target(args.warehouse)
    context, warehouse = opened.context, opened.warehouse
    try:
        game_date = args.date or opened.as_of - dt.timedelta(days=1)
        today = business_today(context.settings.timezone)
        if game_date > today:
            raise UsageError(
                f"--date {game_date.isoformat()} is in the future (today is {today.isoformat()} in "
                f"{context.settings.timezone}); the gate judges games already played"
            )
        result = evaluate_phase2_gate(warehouse, game_date, context.settings)
    finally:
        warehouse.close()
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True))
    else:
        print(result.message)
        for rule in result.rules:
            value = "n/a" if rule.value is None else format_number(rule.value)
            cost = f"-{format_number(rule.deduction)}" if rule.deduction else "ok"
            note = f"  ({rule.note})" if rule.note else ""
            print(f"  {cost:>5}  {rule.title}: {value} (limit {format_number(rule.limit)}){note}")
    return result.status.exit_code


def _demo_build(args: argparse.Namespace) -> int:
    from resilience.demo import DEFAULT_DEMO_DATE, FAULTS, build_demo
    from resilience.settings import SettingsError, load_settings

    known = {**FAULTS, **STATE_FAULTS}
    unknown = [name for name in args.fault if name not in known]
    if unknown:
        raise UsageError(f"--fault {unknown[0]!r} is not a known fault; known: {', '.join(sorted(known))}")
    try:
        settings = load_settings()
    except SettingsError as error:
        raise UsageError(str(error)) from None
    out = settings.demo_warehouse if args.out is None else args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    warehouse_faults = [name for name in args.fault if name in FAULTS]
    built = build_demo(
        out, args.date or DEFAULT_DEMO_DATE, seed=args.seed, faults=warehouse_faults, seasons=args.seasons
    )
    if "stalled_batches" in args.fault:
        print(_seed_stalled_batches(settings, args.seed))
    rows = sum(built.row_counts.values())
    faults = ", ".join(built.faults) or "none"
    print(
        f"built {built.path} for {built.as_of} (seed {built.seed}, faults: {faults}): "
        f"{rows:,} rows in {len(built.row_counts)} tables, {built.seconds:.1f} s"
    )
    return 0


#: Faults in live state (the batch store), not in the warehouse file: seeded relative to now.
STATE_FAULTS = {
    "stalled_batches": (
        "stalled_batches",
        "3 of today's prediction batches stall at 92-99% with failed players, not updated for 20-60 min, in "
        "the state store (RESILIENCE_STATE or [alerts] state); the batch canary heals them and re-checks.",
    ),
}


def _seed_stalled_batches(settings: Settings, seed: int) -> str:
    from resilience.alerts.record_run import state_url
    from resilience.batches.demo import seed_batches
    from resilience.batches.store import open_batch_store

    url, source = state_url(settings, os.environ)
    store = open_batch_store(url, source, settings.healing.batches_collection)
    try:
        batches = seed_batches(store, dt.datetime.now(dt.UTC), stalled=3, healthy=4, seed=seed)
    finally:
        store.close()
    return f"seeded {len(batches)} prediction batches (3 stalled) in {url}"


def _demo_faults() -> int:
    from resilience.demo import FAULTS

    for fault in FAULTS.values():
        print(f"{fault.name:26} trips {', '.join(sorted(fault.trips))}\n{'':26} {fault.description}")
    for name, (trips, description) in STATE_FAULTS.items():
        print(f"{name:26} trips {trips}\n{'':26} {description}")
    return 0


def _canary(args: argparse.Namespace) -> int:
    from resilience.canary.engine import run_canaries
    from resilience.canary.payload import result_payload
    from resilience.outcomes import Outcome

    opened = _open_target(args.warehouse, args.as_of)
    try:
        run = run_canaries(opened.warehouse, opened.context.settings, opened.as_of)
    finally:
        opened.warehouse.close()
    for result in run.results.values():
        if args.json:
            print(json.dumps(result_payload(result, as_of=run.as_of, target=run.target), sort_keys=True))
        else:
            print(f"{result.outcome.value.upper():7} {result.check_id:20} {result.message}")
    return 0 if run.outcome in (Outcome.PASSED, Outcome.WARN, Outcome.SKIPPED) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo" and args.demo_command == "build":
            return _demo_build(args)
        if args.command == "demo":
            return _demo_faults()
        if args.command == "gate":
            return _gate(args)
        return _canary(args)
    except UsageError as error:
        print(f"resilience: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
