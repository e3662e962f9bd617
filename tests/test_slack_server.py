"""The fake Slack itself answers as Slack's incoming-webhook API documents, and shuts down cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.slack_server import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def post(url: str, **kwargs: object) -> requests.Response:
    return requests.post(url, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_it_listens_on_loopback_only(slack: FakeSlack) -> None:
    assert slack.url("a").startswith(f"http://127.0.0.1:{slack.port}/services/T000/B000/a")


def test_a_valid_message_is_answered_ok_and_recorded_in_order(slack: FakeSlack) -> None:
    for number in range(3):
        response = post(slack.url("a"), json={"text": f"message {number}"})
        assert (response.status_code, response.text) == (200, "ok")
    assert slack.received("a") == [{"text": f"message {number}"} for number in range(3)]
    assert slack.attempts("a") == 3


def test_a_form_encoded_payload_is_accepted_like_slack_does(slack: FakeSlack) -> None:
    response = post(slack.url("a"), data={"payload": '{"text": "hi"}'})
    assert response.status_code == 200
    assert slack.received("a") == [{"text": "hi"}]


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b"not json", "invalid_payload"),
        (b"[1, 2]", "invalid_payload"),
        (b'{"username": "bot"}', "no_text"),
        (b'{"blocks": [{"type": "divider"}' + b', {"type": "divider"}' * 50 + b"]}", "invalid_blocks"),
        (
            b'{"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "' + b"x" * 3001 + b'"}}]}',
            "invalid_blocks",
        ),
        (b'{"text": "' + b"x" * 40_001 + b'"}', "invalid_payload"),
        (b'{"blocks": "divider"}', "invalid_blocks_format"),
    ],
)
def test_a_malformed_message_is_refused_with_400_and_not_recorded(
    slack: FakeSlack, body: bytes, answer: str
) -> None:
    response = post(slack.url("a"), data=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (400, answer)
    assert slack.received("a") == []


def test_an_unknown_hook_answers_404_no_service(slack: FakeSlack) -> None:
    url = slack.url("a").replace("/a", "/never-created")
    response = post(url, json={"text": "hi"})
    assert (response.status_code, response.text) == (404, "no_service")
    assert slack.attempts("never-created") == 1


def test_scripted_answers_come_in_order_then_the_default(slack: FakeSlack) -> None:
    slack.script(
        "a",
        [
            ("rate_limited", 7),
            ("server_error", 503),
            "channel_not_found",
            "channel_is_archived",
            "invalid_token",
        ],
    )
    answers = [post(slack.url("a"), json={"text": "hi"}) for _ in range(6)]
    assert [(r.status_code, r.text) for r in answers] == [
        (429, "rate_limited"),
        (503, "internal_error"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
        (403, "invalid_token"),
        (200, "ok"),
    ]
    assert answers[0].headers["Retry-After"] == "7"
    assert slack.received("a") == [{"text": "hi"}]


def test_a_script_it_cannot_play_is_refused_at_once(slack: FakeSlack) -> None:
    for bad in ("fine", ("server_error", 418), ("hang", -1), ("hang", 3600)):
        with pytest.raises(ValueError, match="cannot script"):
            slack.script("a", [bad])


def test_a_hang_delays_the_answer(slack: FakeSlack) -> None:
    slack.script("a", [("hang", 0.3)])
    started = time.monotonic()
    assert post(slack.url("a"), json={"text": "hi"}).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_leaving_the_block_ends_a_pending_hang_quickly() -> None:
    outcome: list[str] = []
    with FakeSlack() as slack:
        slack.script("a", [("hang", 25)])
        url = slack.url("a")

        def call() -> None:
            try:
                post(url, json={"text": "hi"})
                outcome.append("answered")
            except requests.RequestException:
                outcome.append("dropped")

        client = threading.Thread(target=call)
        client.start()
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    client.join(timeout=5)
    assert outcome == ["dropped"]
    assert slack.received("a") == []
