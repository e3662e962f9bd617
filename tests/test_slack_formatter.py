"""The Block Kit formatter keeps every Slack limit, escapes data, and matches its golden files.

Golden files live in tests/golden/slack/. After an intended change to the output, regenerate them
with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_slack_formatter.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from resilience.slack.blockkit import (
    MAX_BLOCKS,
    MAX_PAYLOAD_CHARS,
    MAX_SECTION_TEXT,
    escape,
    payload_size,
    slack_length,
    summary_line,
    to_block_kit,
    to_plain_text,
    truncate,
)
from resilience.slack.model import AlertKind, AlertMessage, AlertSection, MetricLine
from tests.slack_server import validate_message

GOLDEN_DIR = Path(__file__).parent / "golden" / "slack"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")
OVERFLOW = re.compile(r"^\.\.\.and (\d+) more checks? not shown")
OUR_LINK = re.compile(r"<https?://[^|<>\s]+\|(?:runbook|the full report|HTML report)>")
ENTITY_OR_AMP = re.compile(r"&(?!amp;|lt;|gt;)")

OUTCOME_CYCLE = ("failed", "error", "warn", "failed", "warn")


def check(
    number: int,
    outcome: str = "failed",
    kind: AlertKind = AlertKind.NEW,
    message: str | None = None,
    **fields: Any,
) -> AlertSection:
    defaults: dict[str, Any] = {
        "title": f"Check number {number}",
        "metrics": (MetricLine("rows", str(number), "fail < 40"),),
        "change": "new",
        "runbook_url": f"https://runbooks.example.com/checks/check_{number:02d}",
        "target": "nba_analytics.player_game_summary",
    }
    defaults.update(fields)
    text = message if message is not None else f"check_{number:02d} measured {number} rows, expected 40"
    return AlertSection(f"check_{number:02d}", outcome, kind, message=text, **defaults)


def alert(
    sections: list[AlertSection], report_hint: str = "reports/canary.html", **fields: Any
) -> AlertMessage:
    counts = {
        "failed": sum(s.outcome == "failed" for s in sections),
        "broken": sum(s.outcome == "error" for s in sections),
        "warned": sum(s.outcome == "warn" for s in sections),
        "passed": 8,
    }
    values: dict[str, Any] = {
        "channel": "#canary-alerts",
        "suite": "canary",
        "run_id": "canary-2026-01-15T14:30:00Z",
        "as_of": "2026-01-15",
        "target": "demo",
        "counts": counts,
        "sections": tuple(sections),
        "report_hint": report_hint,
    }
    values.update(fields)
    return AlertMessage(**values)


def small_message() -> AlertMessage:
    return alert(
        [
            check(
                1,
                "failed",
                title="Phase 3 analytics",
                message="12 rows for 3 final games yesterday & 0 with minutes",
                metrics=(MetricLine("rows", "12", "fail < 40 per game"),),
                change="value 31 -> 12",
            ),
            check(
                2,
                "error",
                title="Phase 4 feature store",
                message="query failed: Unrecognized name: feature_quality_score at [3:12]",
                metrics=(),
                change="new",
            ),
            check(
                3,
                "warn",
                AlertKind.REPEAT,
                title="Betting line coverage",
                message="prop coverage 31% < 35% of rostered players",
                metrics=(MetricLine("coverage", "31%", "warn < 35%, fail < 20%"),),
                change="failing for 6 h, 12 runs",
            ),
        ]
    )


def overflow_message() -> AlertMessage:
    return alert(
        [check(n, OUTCOME_CYCLE[n % len(OUTCOME_CYCLE)]) for n in range(80)],
        report_hint="https://ci.example.com/runs/42/canary.html",
    )


def long_message() -> AlertMessage:
    finding = "rows < 40 & NULL player_name > 0 🏀 " * 300  # ~10,000 characters, escapes everywhere
    return alert([check(n, "failed", message=finding[:10_000]) for n in range(20)])


def resolved_and_flapping_message() -> AlertMessage:
    return alert(
        [
            check(
                1, "passed", AlertKind.RESOLVED, message="44 rows, expected 40", change="resolved after 6 h"
            ),
            check(2, "failed", AlertKind.FLAPPING, change="flapping: 5 changes in the last 8 runs"),
            check(3, "warn", AlertKind.CHANGED, change="changed: rows 31 -> 22"),
            check(
                4, "error", AlertKind.REPEAT, message="timed out after 120 s", change="still error for 2 h"
            ),
        ],
        report_hint="",
        suite="gate",
    )


GOLDEN = {
    "small": small_message,
    "overflow_80_checks": overflow_message,
    "long_messages": long_message,
    "resolved_and_flapping": resolved_and_flapping_message,
}


def block_texts(payload: dict[str, Any]) -> list[str]:
    texts = []
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", []))
    return texts


def check_sections(payload: dict[str, Any]) -> list[str]:
    """Texts of the blocks that show one check each (they start with the outcome's emoji)."""
    return [text for text in block_texts(payload) if text.startswith(":")]


def overflow_count(payload: dict[str, Any]) -> int:
    match = OVERFLOW.match(payload["blocks"][-1]["text"]["text"])
    return int(match.group(1)) if match else 0


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_payload_matches_its_golden_file(name: str) -> None:
    payload = to_block_kit(GOLDEN[name]())
    path = GOLDEN_DIR / f"{name}.json"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert payload == expected, f"output differs from {path.name}: if intended, rerun with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_golden_payload_is_one_slack_accepts(name: str) -> None:
    payload = to_block_kit(GOLDEN[name]())
    status, answer, _ = validate_message(json.dumps(payload).encode("ascii"), "application/json")
    assert (status, answer) == (200, "ok")
    assert len(payload["blocks"]) <= MAX_BLOCKS
    assert payload_size(payload) <= MAX_PAYLOAD_CHARS
    assert all(slack_length(text) <= MAX_SECTION_TEXT for text in block_texts(payload))


def test_the_first_block_summarizes_the_run() -> None:
    message = alert(
        [check(1)],
        counts={"failed": 2, "broken": 1, "warned": 0, "passed": 8},
    )
    assert summary_line(message) == "Canary run 2026-01-15 on demo: 2 failed, 1 broken, 0 warned, 8 passed"
    payload = to_block_kit(message)
    assert payload["text"] == summary_line(message)
    assert payload["blocks"][0]["text"]["text"] == f"*{summary_line(message)}*"


def test_the_summary_leaves_out_what_the_run_did_not_say() -> None:
    message = alert([], as_of="", target="", counts={"failed": 1})
    assert summary_line(message) == "Canary run: 1 failed, 0 broken, 0 warned, 0 passed"


def test_eighty_alerting_checks_fit_in_fifty_blocks_with_the_overflow_line_counting_the_rest() -> None:
    payload = to_block_kit(overflow_message())
    assert len(payload["blocks"]) == MAX_BLOCKS
    shown = len(check_sections(payload))
    hidden = overflow_count(payload)
    assert hidden > 0
    assert shown + hidden == 80
    assert payload["blocks"][-1]["text"]["text"] == (
        f"...and {hidden} more checks not shown: "
        "see <https://ci.example.com/runs/42/canary.html|the full report>"
    )


def test_checks_are_ordered_broken_failed_warned_resolved() -> None:
    payload = to_block_kit(resolved_and_flapping_message())
    labels = [text.split("*")[1] for text in check_sections(payload)]
    assert labels == ["CHECK BROKEN", "FAILED", "WARN", "RESOLVED"]


def test_the_checks_left_out_are_the_least_severe() -> None:
    sections = [check(n, "warn") for n in range(40)] + [check(n, "error") for n in range(40, 80)]
    payload = to_block_kit(alert(sections))
    shown = check_sections(payload)
    assert all("*CHECK BROKEN*" in text for text in shown[:40])
    assert len(shown) + overflow_count(payload) == 80


def test_a_ten_thousand_character_message_is_cut_to_the_section_limit_with_an_ellipsis() -> None:
    payload = to_block_kit(alert([check(1, message="x" * 10_000)]))
    (text,) = check_sections(payload)
    assert 2_500 < slack_length(text) <= MAX_SECTION_TEXT
    finding = text.split("\n")[1]
    assert finding.endswith("…")
    # The runbook link and change line survive: the finding gave up the room, not the next steps.
    assert "<https://runbooks.example.com/checks/check_01|runbook>" in text
    assert "_Change:_ new" in text


def test_long_messages_keep_the_whole_payload_under_forty_thousand_characters() -> None:
    message = alert([check(n, message="y" * 10_000) for n in range(60)])
    payload = to_block_kit(message)
    assert payload_size(payload) <= MAX_PAYLOAD_CHARS
    assert len(check_sections(payload)) + overflow_count(payload) == 60
    assert len(check_sections(payload)) < 15  # the size limit, not the block limit, decided


@pytest.mark.parametrize("offset", range(6))
def test_truncation_never_splits_an_escape(offset: int) -> None:
    raw = "a" * offset + "<&>" * 4_000
    text = truncate(escape(raw), MAX_SECTION_TEXT)
    assert slack_length(text) <= MAX_SECTION_TEXT
    assert text.endswith("…")
    assert not ENTITY_OR_AMP.search(text)
    assert re.fullmatch(r"a*(?:&lt;|&amp;|&gt;)*…", text)


def test_truncation_never_splits_a_link() -> None:
    text = "z" * 2_990 + "<https://example.com|runbook>"
    cut = truncate(text, MAX_SECTION_TEXT)
    assert cut == "z" * 2_990 + "…"


def test_emoji_count_double_toward_the_limit() -> None:
    payload = to_block_kit(alert([check(1, message="🏀" * 5_000)]))
    (text,) = check_sections(payload)
    assert slack_length(text) <= MAX_SECTION_TEXT
    assert text.split("\n")[1].endswith("🏀…")


HOSTILE = "<!channel> & <@U0123|someone> <https://evil.example|click> *bold* ```x"


def test_every_text_from_data_is_escaped() -> None:
    message = AlertMessage(
        channel="#canary-alerts",
        suite="canary",
        run_id=f"run {HOSTILE}",
        as_of="2026-01-15",
        target=f"prod {HOSTILE}",
        counts={"failed": 1},
        sections=(
            AlertSection(
                check_id=f"id {HOSTILE}",
                outcome="failed",
                kind=AlertKind.CHANGED,
                title=f"title {HOSTILE}",
                message=f"message {HOSTILE}",
                metrics=(MetricLine(f"name {HOSTILE}", f"value {HOSTILE}", f"threshold {HOSTILE}"),),
                change=f"change {HOSTILE}",
                runbook_url="https://runbooks.example.com/a?b=1&c=<2>",
                target=f"target {HOSTILE}",
            ),
        ),
        report_hint=f"reports/{HOSTILE}.html",
    )
    payload = to_block_kit(message)
    texts = [payload["text"], *block_texts(payload)]
    for text in texts:
        without_our_links = OUR_LINK.sub("", text)
        assert "<" not in without_our_links and ">" not in without_our_links, text
        assert not ENTITY_OR_AMP.search(text), text
    joined = "\n".join(texts)
    assert joined.count("&lt;!channel&gt;") >= 8
    assert "<https://runbooks.example.com/a?b=1&amp;c=&lt;2&gt;|runbook>" in joined


def test_a_pipe_in_a_runbook_url_cannot_end_the_link_early() -> None:
    payload = to_block_kit(alert([check(1, runbook_url="https://runbooks.example.com/a|b")]))
    assert "<https://runbooks.example.com/a%7Cb|runbook>" in check_sections(payload)[0]


def test_a_runbook_that_is_not_a_web_url_is_shown_as_code() -> None:
    payload = to_block_kit(alert([check(1, runbook_url="docs/runbooks/phase3.md")]))
    assert "_Runbook:_ `docs/runbooks/phase3.md`" in check_sections(payload)[0]


def test_without_a_report_location_the_overflow_line_says_so() -> None:
    payload = to_block_kit(alert([check(n) for n in range(80)], report_hint=""))
    assert payload["blocks"][-1]["text"]["text"] == (
        f"...and {overflow_count(payload)} more checks not shown (no report location was given for this run)"
    )


def test_a_message_with_no_alerting_checks_is_just_the_summary() -> None:
    payload = to_block_kit(alert([]))
    assert [block["type"] for block in payload["blocks"]] == ["section", "context"]


def test_plain_text_has_the_same_content_without_slack_markup() -> None:
    message = small_message()
    text = to_plain_text(message)
    assert text.splitlines()[0] == summary_line(message)
    assert "Run canary-2026-01-15T14:30:00Z · full report: reports/canary.html" in text
    assert "[CHECK BROKEN] new · check_02 Phase 4 feature store" in text
    assert "    - rows: 12 (fail < 40 per game)" in text
    assert "    Change: failing for 6 h, 12 runs" in text
    assert "    Runbook: https://runbooks.example.com/checks/check_01" in text
    for markup in ("*", "&amp;", "&lt;", ":red_circle:", "<https"):
        assert markup not in text
    order = [text.index(label) for label in ("[CHECK BROKEN]", "[FAILED]", "[WARN]")]
    assert order == sorted(order)


def test_plain_text_shows_every_check_and_raw_characters() -> None:
    text = to_plain_text(alert([check(n, message="rows < 40 & falling") for n in range(80)]))
    assert text.count("rows < 40 & falling") == 80
    assert "more checks not shown" not in text


def test_a_passed_check_can_only_be_reported_as_resolved() -> None:
    with pytest.raises(ValueError, match="only reported as resolved"):
        check(1, "passed", AlertKind.NEW)


def test_an_unknown_outcome_or_count_key_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome 'skipped'"):
        check(1, "skipped")
    with pytest.raises(ValueError, match="unknown count key"):
        alert([], counts={"errors": 1})


def test_missing_counts_read_as_zero_and_the_message_cannot_be_changed() -> None:
    message = alert([], counts={"failed": 3})
    assert dict(message.counts) == {"failed": 3, "broken": 0, "warned": 0, "passed": 0}
    with pytest.raises(TypeError):
        message.counts["failed"] = 0  # type: ignore[index]
