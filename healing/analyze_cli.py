"""``healing analyze``: the heals of a time window, by type, reason and day, with what to fix.

Exit statuses: 0 answered (also when there were no heals, or the table was never created), 3 check
broken (a query failed: nothing was analyzed), 64 usage error (the message names the option and value).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healing.analyze import analyze, describe_window, export_csv, render, to_json
from resilience.warehouse import QueryError

if TYPE_CHECKING:
    from resilience.settings import Settings
    from resilience.warehouse import Warehouse

EXIT_OK = 0
EXIT_BROKEN = 3
EXIT_USAGE = 64
DEFAULT_DAYS = 7
PROG = "healing analyze"
_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d")


class AnalyzeUsageError(Exception):
    """A bad option value; the message names the option and the value."""


def add_analyze_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``analyze`` to the ``healing`` command's subparsers and return it.

    ``--warehouse`` is left to the caller, which opens the warehouse for every subcommand.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "analyze",
        help="totals, success rates, top reasons, heals per day and recommendations for a time window",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--start",
        metavar='"YYYY-MM-DD HH:MM"',
        help=f"window start in the business time zone (default: {DEFAULT_DAYS} days before --end)",
    )
    parser.add_argument(
        "--end",
        metavar='"YYYY-MM-DD HH:MM"',
        help="window end, excluded, in the business time zone; a date alone means the end of that day "
        "(default: now)",
    )
    parser.add_argument("--type", dest="healing_type", metavar="T", help="only heals of this healing_type")
    parser.add_argument(
        "--export", metavar="FILE.csv", help="also write every event of the window to a CSV file"
    )
    parser.add_argument("--json", action="store_true", help="print the analysis as one JSON object")
    return parser


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime


def parse_time(option: str, value: str, timezone: str, *, end_of_day: bool = False) -> dt.datetime:
    """``YYYY-MM-DD HH:MM`` or ``YYYY-MM-DD`` in ``timezone``, as a UTC instant.

    A date alone is that day's midnight, or with ``end_of_day`` the next midnight (so that
    ``--end 2026-01-31`` includes the 31st).
    """
    for text_format in _FORMATS:
        try:
            naive = dt.datetime.strptime(value.strip(), text_format)
        except ValueError:
            continue
        if text_format == "%Y-%m-%d" and end_of_day:
            naive += dt.timedelta(days=1)
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(timezone)).astimezone(dt.UTC)
    raise AnalyzeUsageError(
        f'{option} {value!r} is not a time; write "YYYY-MM-DD HH:MM" or YYYY-MM-DD ({timezone})'
    )


def resolve_window(start: str | None, end: str | None, timezone: str, now: dt.datetime) -> Window:
    """The window the options ask for: --end defaults to now, --start to 7 days before --end."""
    end_at = parse_time("--end", end, timezone, end_of_day=True) if end else now.astimezone(dt.UTC)
    start_at = parse_time("--start", start, timezone) if start else end_at - dt.timedelta(days=DEFAULT_DAYS)
    if end_at <= start_at:
        # Only an explicit --start can reach past the end: the default start is 7 days before it.
        end_text = repr(end) if end else f"(now, {_local(end_at, timezone)})"
        raise AnalyzeUsageError(f"--end {end_text} is not after --start {start!r}: the window holds no time")
    return Window(start_at, end_at)


def check_export_path(value: str) -> Path:
    """The CSV file to write: a ``.csv`` name in a folder that exists and can be written."""
    path = Path(value).expanduser()
    if path.suffix.lower() != ".csv":
        raise AnalyzeUsageError(f"--export {value!r} is not a .csv file name; write e.g. --export heals.csv")
    folder = path.parent.resolve()
    if not folder.is_dir():
        raise AnalyzeUsageError(f"--export {value!r}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AnalyzeUsageError(f"--export {value!r}: folder {folder} is not writable")
    if path.is_dir():
        raise AnalyzeUsageError(f"--export {value!r} is a folder, not a file")
    return path


def _local(value: dt.datetime, timezone: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def run_analyze_command(
    args: argparse.Namespace, *, warehouse: Warehouse, settings: Settings, now: dt.datetime
) -> int:
    """Run ``healing analyze`` with the parsed ``args`` on an opened warehouse; return the exit status."""
    timezone = settings.timezone
    table = settings.tables["healing_events"]
    try:
        window = resolve_window(args.start, args.end, timezone, now)
        export_path = check_export_path(args.export) if args.export else None
    except AnalyzeUsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE

    try:
        analysis = analyze(warehouse, table, window.start, window.end, args.healing_type, timezone=timezone)
    except QueryError as error:
        print(
            f"{PROG}: check broken, nothing was analyzed: {error}. Check that {warehouse.target} is "
            f"reachable and that {table} has the columns of schemas/{table}.json, then run it again.",
            file=sys.stderr,
        )
        return EXIT_BROKEN
    exported: int | None = None
    if export_path is not None:
        try:
            exported = export_csv(warehouse, table, window.start, window.end, args.healing_type, export_path)
        except (QueryError, OSError) as error:
            print(f"{PROG}: check broken, --export {args.export!r} was not written: {error}", file=sys.stderr)
            return EXIT_BROKEN

    if args.json:
        document = to_json(analysis)
        if exported is not None:
            document["export"] = {"path": str(export_path), "events": exported}
        print(json.dumps(document, sort_keys=True))
        return EXIT_OK
    print(render(analysis))
    if exported is not None:
        print(f"\nwrote {exported:,} events to {export_path} ({describe_window(analysis)})")
    return EXIT_OK
