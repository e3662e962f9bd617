"""The webhook sender against a local fake Slack: retries what may pass, never what will not.

Waits are recorded by an injected ``sleep``, so rate limits and back-off cost no real time; only
the timeout tests wait (a fraction of a second). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from resilience.settings import Channel
from resilience.slack.blockkit import to_block_kit
from resilience.slack.model import AlertKind, AlertMessage, AlertSection
from resilience.slack.sender import (
    REDACTED,
    SlackConfigError,
    SlackDeliveryError,
    SlackWebhookSender,
    redact,
)
from tests.slack_server import FakeSlack, ScriptedResponse

CHANNEL = "#canary-alerts"
ENV = "SLACK_WEBHOOK_URL_CANARY_ALERTS"
HOOK = "canary"
PAYLOAD = {"text": "Canary run 2026-01-15 on demo: 1 failed, 0 broken, 0 warned, 8 passed"}
CHANNELS = {
    "canary-alerts": Channel("#canary-alerts", ENV),
    "deployment-alerts": Channel("#deployment-alerts", "SLACK_WEBHOOK_URL_DEPLOYMENT_ALERTS"),
    "daily-orchestration": Channel("#daily-orchestration", "SLACK_WEBHOOK_URL"),
}

MakeSender = Callable[..., SlackWebhookSender]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def make_sender(slack: FakeSlack, waits: list[float]) -> Iterator[MakeSender]:
    """A sender for #canary-alerts (webhook from SLACK_WEBHOOK_URL_CANARY_ALERTS) on the fake."""
    senders: list[SlackWebhookSender] = []

    def make(**kwargs: Any) -> SlackWebhookSender:
        environ = {ENV: slack.url(HOOK)}
        sender = SlackWebhookSender.from_env(CHANNELS, environ, sleep=waits.append, **kwargs)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


def assert_hidden(text: str, slack: FakeSlack, hook: str = HOOK) -> None:
    url = slack.url(hook)
    assert url not in text
    assert url.split(str(slack.port), 1)[1] not in text  # the secret path alone


def test_a_200_delivers_the_message_once(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    make_sender().send(CHANNEL, PAYLOAD)
    assert slack.received(HOOK) == [PAYLOAD]
    assert slack.attempts(HOOK) == 1
    assert waits == []


def test_the_channel_may_be_named_without_its_hash(slack: FakeSlack, make_sender: MakeSender) -> None:
    make_sender().send("canary-alerts", PAYLOAD)
    assert slack.received(HOOK) == [PAYLOAD]


def test_a_429_waits_for_retry_after_then_delivers_exactly_once(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("rate_limited", 1)])
    make_sender().send(CHANNEL, PAYLOAD)
    assert waits == [pytest.approx(1.0)]
    assert slack.received(HOOK) == [PAYLOAD]
    assert slack.attempts(HOOK) == 2


def test_a_retry_after_beyond_the_cap_gives_up_at_once_with_a_transient_error(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("rate_limited", 120)])
    with pytest.raises(SlackDeliveryError) as caught:
        make_sender(max_retry_after=60).send(CHANNEL, PAYLOAD)
    error = caught.value
    assert not isinstance(error, SlackConfigError)
    assert (error.permanent, error.status, error.reason) == (False, 429, "rate_limited")
    assert "queue" in str(error)
    assert slack.attempts(HOOK) == 1
    assert waits == []


def test_rate_limits_on_every_try_end_in_a_transient_error(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("rate_limited", 2)] * 10)
    with pytest.raises(SlackDeliveryError) as caught:
        make_sender(attempts=3).send(CHANNEL, PAYLOAD)
    assert caught.value.permanent is False
    assert slack.attempts(HOOK) == 3
    assert waits == [2.0, 2.0]


def test_server_errors_twice_then_ok_deliver_once_after_backoff(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("server_error", 500), ("server_error", 503)])
    make_sender(backoff=1.0).send(CHANNEL, PAYLOAD)
    assert waits == [1.0, 2.0]
    assert slack.received(HOOK) == [PAYLOAD]
    assert slack.attempts(HOOK) == 3


def test_a_server_error_on_every_try_raises_a_transient_error_after_exactly_attempts_tries(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("server_error", 500)] * 10)
    with pytest.raises(SlackDeliveryError) as caught:
        make_sender(attempts=4, backoff=0.5).send(CHANNEL, PAYLOAD)
    error = caught.value
    assert not isinstance(error, SlackConfigError)
    assert (error.permanent, error.status, error.reason) == (False, 500, "internal_error")
    assert "after 4 of 4 tries" in str(error)
    assert slack.attempts(HOOK) == 4
    assert waits == [0.5, 1.0, 2.0]
    assert slack.received(HOOK) == []


def test_the_sender_adds_no_hidden_transport_retries(slack: FakeSlack, make_sender: MakeSender) -> None:
    slack.script(HOOK, [("server_error", 503)])
    with pytest.raises(SlackDeliveryError):
        make_sender(attempts=1).send(CHANNEL, PAYLOAD)
    assert slack.attempts(HOOK) == 1


PERMANENT: list[tuple[ScriptedResponse, int, str]] = [
    ("invalid_payload", 400, "formatter"),
    ("invalid_token", 403, "create a new incoming webhook"),
    ("action_prohibited", 403, "Slack admin"),
    ("no_service", 404, "create a new incoming webhook"),
    ("channel_not_found", 404, "no longer exists"),
    ("channel_is_archived", 410, "unarchive"),
]


@pytest.mark.parametrize(("answer", "status", "advice"), PERMANENT)
def test_a_permanent_answer_raises_a_config_error_after_one_try_naming_channel_and_variable(
    slack: FakeSlack,
    make_sender: MakeSender,
    waits: list[float],
    answer: ScriptedResponse,
    status: int,
    advice: str,
) -> None:
    slack.script(HOOK, [answer])
    with pytest.raises(SlackConfigError) as caught:
        make_sender().send(CHANNEL, PAYLOAD)
    error = caught.value
    assert (error.permanent, error.status, error.reason, error.channel) == (True, status, answer, CHANNEL)
    message = str(error)
    assert CHANNEL in message
    assert ENV in message
    assert advice in message
    assert "\n" not in message
    assert_hidden(message, slack)
    assert slack.attempts(HOOK) == 1
    assert waits == []


def test_a_message_slack_finds_malformed_is_a_config_error_not_retried(
    slack: FakeSlack, make_sender: MakeSender
) -> None:
    with pytest.raises(SlackConfigError) as caught:
        make_sender().send(CHANNEL, {"blocks": [{"type": "divider"}] * 51})
    assert (caught.value.status, caught.value.reason) == (400, "invalid_blocks")
    assert slack.attempts(HOOK) == 1


def test_a_webhook_slack_does_not_know_answers_no_service(slack: FakeSlack, waits: list[float]) -> None:
    url = slack.url(HOOK).replace(HOOK, "deleted-webhook")
    sender = SlackWebhookSender({CHANNEL: url}, sleep=waits.append)
    with pytest.raises(SlackConfigError) as caught:
        sender.send(CHANNEL, PAYLOAD)
    assert (caught.value.status, caught.value.reason) == (404, "no_service")
    assert url not in str(caught.value)


def test_a_hang_longer_than_the_timeout_is_retried_then_raises_a_transient_error(
    slack: FakeSlack, make_sender: MakeSender, waits: list[float]
) -> None:
    slack.script(HOOK, [("hang", 5), ("hang", 5)])
    with pytest.raises(SlackDeliveryError) as caught:
        make_sender(timeout=0.2, attempts=2).send(CHANNEL, PAYLOAD)
    error = caught.value
    assert (error.permanent, error.status) == (False, None)
    assert "timed out" in str(error)
    assert_hidden(str(error), slack)
    assert slack.attempts(HOOK) == 2
    assert waits == [1.0]


def test_a_slow_answer_within_the_timeout_is_delivered(slack: FakeSlack, make_sender: MakeSender) -> None:
    slack.script(HOOK, [("hang", 0.1)])
    make_sender(timeout=5).send(CHANNEL, PAYLOAD)
    assert slack.received(HOOK) == [PAYLOAD]


def test_a_refused_connection_is_retried_then_raises_a_transient_error(waits: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T000/B000/closed-port-hook"
    sender = SlackWebhookSender({CHANNEL: url}, attempts=3, sleep=waits.append)
    with pytest.raises(SlackDeliveryError) as caught:
        sender.send(CHANNEL, PAYLOAD)
    assert caught.value.permanent is False
    assert "could not connect" in str(caught.value)
    assert "/services/T000/B000/closed-port-hook" not in str(caught.value)
    assert waits == [1.0, 2.0]


def test_a_channel_without_a_webhook_is_a_config_error_naming_its_variable(slack: FakeSlack) -> None:
    sender = SlackWebhookSender.from_env(CHANNELS, {"SLACK_WEBHOOK_URL": slack.url("default")})
    with pytest.raises(SlackConfigError, match=f"#canary-alerts has no webhook: set {ENV}"):
        sender.send(CHANNEL, PAYLOAD)
    # Never rerouted: production sent such alerts to the default channel.
    assert slack.attempts("default") == 0


def test_a_channel_that_is_not_configured_at_all_is_a_config_error(make_sender: MakeSender) -> None:
    with pytest.raises(SlackConfigError, match=r"#nba-alerts has no webhook: it is not a configured channel"):
        make_sender().send("#nba-alerts", PAYLOAD)


def test_a_webhook_variable_that_is_not_a_url_is_a_config_error() -> None:
    sender = SlackWebhookSender.from_env(CHANNELS, {ENV: "hooks-slack-com-services-T1"})
    with pytest.raises(SlackConfigError, match=f"the value of {ENV} is not a usable URL"):
        sender.send(CHANNEL, PAYLOAD)


def test_from_env_tells_configured_channels_from_missing_ones() -> None:
    environ = {
        ENV: "https://hooks.slack.com/services/T1/B1/canary",
        "SLACK_WEBHOOK_URL_DEPLOYMENT_ALERTS": "",
        "SLACK_WEBHOOK_URL": "   ",
    }
    sender = SlackWebhookSender.from_env(CHANNELS, environ)
    assert sender.configured_channels == ("#canary-alerts",)
    assert sender.missing_channels == ("#daily-orchestration", "#deployment-alerts")
    assert sender.env_var("deployment-alerts") == "SLACK_WEBHOOK_URL_DEPLOYMENT_ALERTS"


def test_from_env_with_no_webhooks_at_all_reports_every_channel_missing() -> None:
    sender = SlackWebhookSender.from_env(CHANNELS, {})
    assert sender.configured_channels == ()
    assert len(sender.missing_channels) == len(CHANNELS)


def test_from_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "https://hooks.slack.com/services/T1/B1/from-process")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL_DEPLOYMENT_ALERTS", raising=False)
    assert SlackWebhookSender.from_env(CHANNELS).configured_channels == ("#canary-alerts",)


def test_an_injected_session_is_used_and_left_open(slack: FakeSlack, waits: list[float]) -> None:
    seen: list[int] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response.status_code))
    with SlackWebhookSender.from_env(CHANNELS, {ENV: slack.url(HOOK)}, session=session) as sender:
        sender.send(CHANNEL, PAYLOAD)
    assert seen == [200]
    session.post(slack.url(HOOK), json=PAYLOAD, timeout=5)  # still usable: the caller owns it
    session.close()


def test_a_block_kit_message_at_every_limit_is_accepted(slack: FakeSlack, make_sender: MakeSender) -> None:
    sections = tuple(
        AlertSection(f"check_{n}", "failed", AlertKind.NEW, f"Check {n}", "x < y & z" * 1_000)
        for n in range(80)
    )
    message = AlertMessage(CHANNEL, "canary", "run-1", "2026-01-15", "demo", {"failed": 80}, sections)
    payload = to_block_kit(message)
    make_sender().send(CHANNEL, payload)
    assert slack.received(HOOK) == [payload]


@pytest.mark.parametrize(
    "text",
    [
        "posting to https://hooks.slack.com/services/T0123ABC/B0456DEF/abcdEFGH1234 failed",
        "url=https://hooks.slack-gov.com/services/T1/B2/xyz)",
        "HTTPSConnectionPool(host='hooks.slack.com'): Max retries exceeded with url: "
        "/services/T0123ABC/B0456DEF/abcdEFGH1234",
    ],
)
def test_redact_hides_slack_webhook_urls_and_their_paths(text: str) -> None:
    hidden = redact(text)
    assert REDACTED in hidden
    assert "abcdEFGH1234" not in hidden and "xyz" not in hidden


def test_redact_hides_any_webhook_a_sender_was_given(slack: FakeSlack) -> None:
    url = slack.url("proxy-hook-1234")
    SlackWebhookSender({CHANNEL: url})
    assert redact(f"failed: {url} and again at {url}") == f"failed: {REDACTED} and again at {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "#canary-alerts: Slack answered 404 no_service; see https://api.slack.com/messaging/webhooks",
        "projects/nba-props-platform/locations/us-west2/services/prediction-worker/revisions/r-7",
    ],
)
def test_redact_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


FAILURES: list[list[ScriptedResponse]] = [
    ["no_service"],
    ["channel_is_archived"],
    ["invalid_token"],
    [("rate_limited", 600)],
    [("server_error", 503)] * 2,
    [("hang", 5)] * 2,
]


@pytest.mark.parametrize("script", FAILURES, ids=lambda script: str(script[0]))
def test_no_error_or_log_line_contains_the_webhook(
    slack: FakeSlack,
    make_sender: MakeSender,
    caplog: pytest.LogCaptureFixture,
    script: list[ScriptedResponse],
) -> None:
    slack.script(HOOK, script)
    caplog.set_level(logging.DEBUG, logger="resilience.slack.sender")
    with pytest.raises(SlackDeliveryError) as caught:
        make_sender(attempts=2, timeout=0.2).send(CHANNEL, PAYLOAD)
    error = caught.value
    for text in (str(error), repr(error), error.reason, caplog.text):
        assert_hidden(text, slack)
    # A chained requests exception would print the URL path in a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
