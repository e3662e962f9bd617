"""``healing cleanup [--dry-run] [--max-batches N]``: complete stalled prediction batches now.

The ``healing`` console script (healing/cli.py) builds the batch store and the healing tracker and
calls :func:`run_cleanup_command`; this module only parses, runs and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import TextIO

from healing.cleanup import CleanupReport, HealingRecorder, run_cleanup
from resilience.batches.store import BatchStore
from resilience.settings import Settings
from resilience.state.base import StateStoreError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "add_cleanup_parser", "run_cleanup_command"]

EXIT_OK = 0
#: A batch could not be completed, or its completion could not be recorded, or the store failed.
EXIT_FAILED = 1
#: EX_USAGE: a bad option value.
EXIT_USAGE = 64


def add_cleanup_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``cleanup`` to the ``healing`` command's subparsers and return its parser."""
    parser = subparsers.add_parser(
        "cleanup",
        help="complete stalled prediction batches (run every 15 min)",
        description=(
            "Complete prediction batches that stalled short of done: created within "
            "[healing.cleanup] created_within_hours, not complete, at least min_completion done, and "
            "not updated for stalled_after_minutes. Each completion re-reads the batch in a "
            "transaction (a batch another healer changed first is skipped) and records one "
            "stalled_batch_completion healing event. Exit 0 when nothing failed, 1 when a batch "
            "could not be completed or recorded, 64 for a bad option."
        ),
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be completed; change and record nothing"
    )
    # Parsed here, not by argparse's type=int, so a bad value exits 64 with our message, not 2.
    parser.add_argument(
        "--max-batches",
        metavar="N",
        default=None,
        help="complete at most N batches, oldest first (default: [healing.cleanup] max_batches)",
    )
    return parser


def _max_batches(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"--max-batches: {value!r} is not a whole number; write N >= 1") from None
    if number < 1:
        raise ValueError(f"--max-batches must be >= 1, got {number}")
    return number


def run_cleanup_command(
    args: argparse.Namespace,
    *,
    settings: Settings,
    store: BatchStore,
    record: HealingRecorder,
    now: dt.datetime,
    out: TextIO | None = None,
    err: TextIO | None = None,
    on_report: Callable[[CleanupReport], object] | None = None,
) -> int:
    """Run ``healing cleanup``: print the table and the summary, return the exit status.

    ``on_report`` receives the report (the job alerts and records its heartbeat with it)."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        max_batches = _max_batches(getattr(args, "max_batches", None))
    except ValueError as error:
        print(f"healing cleanup: {error}", file=stderr)
        return EXIT_USAGE
    try:
        report = run_cleanup(
            store,
            record,
            settings,
            now,
            dry_run=bool(getattr(args, "dry_run", False)),
            max_batches=max_batches,
        )
    except StateStoreError as error:
        print(f"healing cleanup: could not list the stalled batches: {error}", file=stderr)
        return EXIT_FAILED
    print(report.to_table(), file=stdout)
    print(file=stdout)
    print(report.summary(), file=stdout)
    if on_report is not None:
        on_report(report)
    return EXIT_OK if report.ok else EXIT_FAILED
