"""The ``healing`` command: ``healing cleanup`` (every 15 minutes) and ``healing analyze``.

Exit statuses: 0 ok, 1 a heal failed, 3 the analysis could not query, 64 a usage error naming the value.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import cast

from healing.analyze_cli import add_analyze_parser, run_analyze_command
from healing.cleanup import CleanupReport
from healing.cleanup_cli import add_cleanup_parser, run_cleanup_command
from healing.job import report_job
from healing.wiring import healing_parts
from resilience.context import ContextError, ensure_demo_warehouse, resolve_context
from resilience.state.base import StateStoreError
from resilience.warehouse import WarehouseConfigError, open_warehouse

EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="healing", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--warehouse",
        help="duckdb:///ABS/PATH.duckdb or bigquery://PROJECT (default: "
        "RESILIENCE_WAREHOUSE, else the demo warehouse)",
    )
    # _Parser for the subcommands too, so their usage errors exit 64 like the top level's.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, parser_class=_Parser),
    )
    add_cleanup_parser(commands)
    add_analyze_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        context = resolve_context(warehouse=args.warehouse)
    except ContextError as error:
        print(f"healing: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if context.target.kind == "duckdb":
        ensure_demo_warehouse(context)  # the default demo is built on first use, as for every command
    now = dt.datetime.now(dt.UTC)
    if args.command == "analyze":
        try:
            warehouse = open_warehouse(context.target, context.settings.bigquery)
        except WarehouseConfigError as error:
            print(f"healing: error: {error} (target from {context.target_source})", file=sys.stderr)
            return EXIT_USAGE
        try:
            return run_analyze_command(args, warehouse=warehouse, settings=context.settings, now=now)
        finally:
            warehouse.close()
    try:
        with healing_parts(context) as parts:
            for problem in parts.problems:
                print(f"healing: {problem}", file=sys.stderr)
            flushed = parts.tracker.flush()
            if flushed.written:
                print(f"healing: {len(flushed.written)} held healing event(s) written to the warehouse")
            if flushed.held:
                print(
                    f"healing: {len(flushed.held)} healing event(s) still held, the warehouse refused them: "
                    f"{flushed.error}",
                    file=sys.stderr,
                )

            def report(cleanup: CleanupReport) -> None:
                if not cleanup.dry_run:
                    parts.alert_records.append(
                        report_job(
                            cleanup,
                            settings=context.settings,
                            state=parts.state,
                            warehouse=parts.warehouse,
                            batch_target=parts.batches.location,
                            now=now,
                        )
                    )

            status = run_cleanup_command(
                args,
                settings=context.settings,
                store=parts.batches,
                record=parts.tracker.record,
                now=now,
                on_report=report,
            )
            for record in parts.alert_records:
                for line in [*record.lines, *record.problems, *record.dry_run]:
                    print(line)
            return status
    except (StateStoreError, ValueError) as error:
        print(f"healing: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
