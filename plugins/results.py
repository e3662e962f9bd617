"""Plain functions between a canary result and what pytest carries, prints and writes.

Under pytest-xdist a worker's result reaches the controller only through ``report.user_properties``,
so results travel as JSON-able dicts and the controller rebuilds its view from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.outcomes import Outcome

#: The user_properties key a canary's result travels under.
RESULT_PROPERTY = "resilience_result"
#: Set before measuring, so a check that hangs or crashes is still known by id.
CHECK_PROPERTY = "resilience_check"


@dataclass(frozen=True)
class CheckRecord:
    """One check as the controller saw it: its payload, and the pytest outcome of its report."""

    nodeid: str
    payload: Mapping[str, Any]

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.payload["outcome"])


def record_from_report(
    nodeid: str,
    when: str,
    report_outcome: str,
    properties: Iterable[tuple[str, Any]],
    longrepr: str,
    seconds: float,
) -> CheckRecord | None:
    """The check behind a test report, or None for a report that is not a check's last word.

    A check whose measurement was interrupted (pytest-timeout, a crash in a fixture) has no result
    payload; it is recorded as ERROR with pytest's own first line, never dropped and never passed.
    """
    props = dict(properties)
    check = props.get(CHECK_PROPERTY)
    if check is None:
        return None
    result = props.get(RESULT_PROPERTY)
    if result is not None:
        # The identity (suite, routing labels) was set before measuring; the result adds the rest.
        result = {**check, **result}
    if result is not None and (when == "call" or report_outcome != "passed"):
        if report_outcome == "failed" and when == "call" and result["outcome"] not in ("failed", "error"):
            # The check judged the data fine but the test itself broke afterwards.
            return CheckRecord(
                nodeid, {**result, "outcome": Outcome.ERROR.value, "message": _first(longrepr)}
            )
        return CheckRecord(nodeid, result)
    if report_outcome == "failed" or (when == "setup" and report_outcome == "skipped" and result is None):
        message = _first(longrepr) or "the check did not finish"
        return CheckRecord(
            nodeid,
            {
                **check,
                "outcome": Outcome.ERROR.value,
                "message": f"check broken: {message}",
                "metrics": {},
                "query_ids": [],
                "duration_seconds": round(seconds, 6),
            },
        )
    return None


def _first(longrepr: str) -> str:
    lines = [line.strip() for line in longrepr.splitlines() if line.strip()]
    # pytest-timeout's text starts with a banner of "+" characters; the reason is the line after it.
    for line in lines:
        if not set(line) <= {"+", " "}:
            return line[:300]
    return ""


def write_json_lines(path: Path, records: Iterable[CheckRecord]) -> int:
    """Write one JSON object per check; atomic so a reader never sees half a file. Returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    with temporary.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({**record.payload, "nodeid": record.nodeid}, sort_keys=True) + "\n")
            count += 1
    temporary.replace(path)
    return count
