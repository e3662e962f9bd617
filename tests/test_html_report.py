"""The HTML report's check columns escape everything that comes from data."""

from plugins.html_report import metrics_cell, sql_cell

HOSTILE = {
    "outcome": "failed",
    "message": "data bad: team <script>alert(1)</script> & co",
    "metrics": {
        "rows": {"title": "rows <b>", "value": 12, "thresholds": {"fail_below": 40}, "outcome": "failed"}
    },
    "sql": ["SELECT '<img src=x onerror=alert(1)>' FROM `t`"],
}


def test_messages_and_metric_titles_are_escaped() -> None:
    cell = metrics_cell(HOSTILE)
    assert "<script>" not in cell
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in cell
    assert "rows &lt;b&gt;: 12 (fail_below 40) failed" in cell


def test_the_sql_is_shown_escaped() -> None:
    cell = sql_cell(HOSTILE)
    assert "<img" not in cell
    assert "&lt;img src=x onerror=alert(1)&gt;" in cell


def test_a_test_without_a_check_result_gets_empty_cells() -> None:
    assert metrics_cell(None) == "<td></td>"
    assert sql_cell(None) == "<td></td>"
