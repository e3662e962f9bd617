"""Format an :class:`AlertMessage` as a Slack incoming-webhook payload, or as text for a terminal.

Slack's limits are hard: a message over them is refused (HTTP 400) and nobody hears about the
failure it was meant to report. So the formatter, not Slack, decides what to leave out: at most
50 blocks, at most 3,000 characters of text per section, at most 40,000 characters of JSON in
all. Checks are ordered broken, failed, warned, resolved; when they do not all fit, the ones at
the end are dropped and the last block says how many and where the full report is.

Every string that comes from data is escaped for Slack mrkdwn (``&``, ``<``, ``>``), so a message
such as ``rows < 40`` cannot turn into a link or a mention.
"""

from __future__ import annotations

import json
import re
from typing import Any

from resilience.slack.model import AlertKind, AlertMessage, AlertSection

__all__ = [
    "MAX_BLOCKS",
    "MAX_PAYLOAD_CHARS",
    "MAX_SECTION_TEXT",
    "escape",
    "ordered_sections",
    "payload_size",
    "slack_length",
    "summary_line",
    "to_block_kit",
    "to_plain_text",
    "truncate",
]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_PAYLOAD_CHARS = 40_000
ELLIPSIS = "…"

# Caps for the parts of a section that are not the finding itself, so one long title, metric list
# or change note cannot crowd out the message an on-call engineer reads first.
_MAX_HEAD = 300
_MAX_METRIC_LINE = 160
_MAX_METRIC_LINES = 8
_MAX_NOTE = 300
_MAX_LINK_URL = 1000
_MIN_MESSAGE = 200
_MAX_FALLBACK = 1000
_MAX_CONTEXT = 2000

_GROUP_ORDER = {"error": 0, "failed": 1, "warn": 2, "passed": 3}
_EMOJI = {
    "error": ":rotating_light:",
    "failed": ":red_circle:",
    "warn": ":warning:",
    "passed": ":white_check_mark:",
}
_LABEL = {"error": "CHECK BROKEN", "failed": "FAILED", "warn": "WARN", "passed": "RESOLVED"}
_KIND_LABEL = {
    AlertKind.NEW: "new",
    AlertKind.REPEAT: "repeat",
    AlertKind.CHANGED: "changed",
    AlertKind.RESOLVED: "resolved",
    AlertKind.FLAPPING: "flapping",
}
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_WEB_URL = re.compile(r"^https?://\S+$")


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_length(text: str) -> int:
    """Length as Slack's limits count it, conservatively: UTF-16 code units (an emoji counts 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def truncate(mrkdwn: str, limit: int) -> str:
    """Shorten escaped mrkdwn to at most ``limit`` (:func:`slack_length`), ending with an ellipsis.

    The cut never falls inside an escape (``&amp;``), a link or mention (``<...>``) or a code span,
    so what is left still renders as intended.
    """
    if slack_length(mrkdwn) <= limit:
        return mrkdwn
    room = limit - slack_length(ELLIPSIS)
    cut = used = 0
    for index, char in enumerate(mrkdwn):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > room:
            break
        cut = index + 1
    amp = mrkdwn.rfind("&", 0, cut)
    entity = _ENTITY.match(mrkdwn, amp) if amp >= 0 else None
    if entity and entity.end() > cut:
        cut = amp
    opening = mrkdwn.rfind("<", 0, cut)
    if opening >= 0 and mrkdwn.find(">", opening, cut) < 0:
        cut = opening
    if mrkdwn.count("`", 0, cut) % 2:
        cut = mrkdwn.rfind("`", 0, cut)
    return mrkdwn[:cut].rstrip() + ELLIPSIS


def ordered_sections(message: AlertMessage) -> list[AlertSection]:
    """Sections in the order people need them: broken, failed, warned, resolved (stable within a group)."""
    return sorted(message.sections, key=lambda section: _GROUP_ORDER[section.outcome])


def summary_line(message: AlertMessage) -> str:
    """``Canary run 2026-01-15 on prod: 2 failed, 1 broken, 0 warned, 8 passed`` (plain text)."""
    counts = message.counts
    run = " ".join(
        part for part in (message.suite[:1].upper() + message.suite[1:], "run", message.as_of) if part
    )
    where = f" on {message.target}" if message.target else ""
    return (
        f"{run}{where}: {counts['failed']} failed, {counts['broken']} broken, "
        f"{counts['warned']} warned, {counts['passed']} passed"
    )


def payload_size(payload: dict[str, Any]) -> int:
    """Characters of JSON as the sender puts them on the wire (``json.dumps`` defaults, ASCII-escaped)."""
    return len(json.dumps(payload))


def to_block_kit(message: AlertMessage) -> dict[str, Any]:
    """The incoming-webhook payload ``{"text": ..., "blocks": [...]}``, within every Slack limit."""
    fallback = truncate(escape(summary_line(message)), _MAX_FALLBACK)
    fixed: list[dict[str, Any]] = [_mrkdwn_section(f"*{fallback}*")]
    context = _context_text(message)
    if context:
        fixed.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})

    sections = ordered_sections(message)
    shown: list[dict[str, Any]] = []
    for index, section in enumerate(sections):
        block = _mrkdwn_section(_section_mrkdwn(section))
        left_out = len(sections) - index - 1
        candidate = [*fixed, *shown, block, *_overflow(message, left_out)]
        if len(candidate) > MAX_BLOCKS or payload_size(_payload(fallback, candidate)) > MAX_PAYLOAD_CHARS:
            break
        shown.append(block)
    # When the loop stopped early, this exact list (same overflow count) was measured one step before.
    return _payload(fallback, [*fixed, *shown, *_overflow(message, len(sections) - len(shown))])


def to_plain_text(message: AlertMessage) -> str:
    """The same content for a terminal (dry run): no markup, no escaping, nothing left out."""
    lines = [summary_line(message)]
    details = [f"Run {message.run_id}"] if message.run_id else []
    if message.report_hint:
        details.append(f"full report: {message.report_hint}")
    if details:
        lines.append(" · ".join(details))
    for section in ordered_sections(message):
        lines.append("")
        head = f"[{_LABEL[section.outcome]}] {_KIND_LABEL[section.kind]} · {section.check_id}"
        lines.append(f"{head} {section.title}".rstrip())
        if section.message:
            lines.append(f"    {section.message}")
        lines.extend(f"    - {line.name}: {line.value} ({line.threshold})" for line in section.metrics)
        if section.target:
            lines.append(f"    Target: {section.target}")
        if section.change:
            lines.append(f"    Change: {section.change}")
        if section.runbook_url:
            lines.append(f"    Runbook: {section.runbook_url}")
    return "\n".join(lines) + "\n"


def _payload(fallback: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": fallback, "blocks": blocks}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def _link(url: str, label: str) -> str:
    """``<url|label>`` for web URLs; anything else is shown as code, since Slack would not link it."""
    if _WEB_URL.match(url) and len(url) <= _MAX_LINK_URL:
        # A "|" would end the URL part of the link early; percent-encoding keeps the same address.
        return f"<{escape(url).replace('|', '%7C')}|{label}>"
    return truncate(_code(url), _MAX_NOTE)


def _code(text: str) -> str:
    """Data as an inline code span; a backtick inside would end the span early."""
    return "`" + escape(text.replace("`", "'")) + "`"


def _context_text(message: AlertMessage) -> str:
    parts = []
    if message.run_id:
        parts.append(f"Run {_code(message.run_id)}")
    if message.report_hint:
        parts.append(f"full report: {_link(message.report_hint, 'HTML report')}")
    return truncate(" · ".join(parts), _MAX_CONTEXT)


def _overflow(message: AlertMessage, left_out: int) -> list[dict[str, Any]]:
    if left_out <= 0:
        return []
    checks = "check" if left_out == 1 else "checks"
    where = (
        f": see {_link(message.report_hint, 'the full report')}"
        if message.report_hint
        else " (no report location was given for this run)"
    )
    return [_mrkdwn_section(f"...and {left_out} more {checks} not shown{where}")]


def _section_mrkdwn(section: AlertSection) -> str:
    kind = _KIND_LABEL[section.kind]
    if section.kind is AlertKind.FLAPPING:
        kind = f":repeat: {kind}"
    head = f"{_EMOJI[section.outcome]} *{_LABEL[section.outcome]}* · {kind} {_code(section.check_id)}"
    if section.title:
        head = f"{head} {escape(section.title)}"
    head = truncate(head, _MAX_HEAD)

    tail = [
        truncate(f"• {escape(line.name)}: {escape(line.value)} ({escape(line.threshold)})", _MAX_METRIC_LINE)
        for line in section.metrics[:_MAX_METRIC_LINES]
    ]
    if len(section.metrics) > _MAX_METRIC_LINES:
        tail.append(f"• ...and {len(section.metrics) - _MAX_METRIC_LINES} more metrics")
    if section.target:
        tail.append(truncate(f"_Target:_ {escape(section.target)}", _MAX_NOTE))
    if section.change:
        tail.append(truncate(f"_Change:_ {escape(section.change)}", _MAX_NOTE))
    if section.runbook_url:
        tail.append(f"_Runbook:_ {_link(section.runbook_url, 'runbook')}")

    # The finding gets whatever the other parts leave; the final truncate in _mrkdwn_section only
    # bites in pathological cases (hundreds of characters of title, metrics and URL at once).
    used = slack_length(head) + sum(slack_length(line) + 1 for line in tail) + 1
    finding = truncate(escape(section.message), max(MAX_SECTION_TEXT - used, _MIN_MESSAGE))
    return "\n".join([head, *([finding] if finding else []), *tail])
