"""Deliver payloads to Slack incoming webhooks, and say exactly why when that is impossible.

Production fell back to a default webhook whenever a channel's variable was unset (alerts went to
the wrong people) and never handled 429. Here a channel without a webhook is a configuration
error, never rerouted; Slack's permanent answers (a removed webhook, an archived channel, a
malformed message) raise :class:`SlackConfigError` naming the channel, the environment variable
that holds its webhook and what to do; rate limits, server errors and timeouts are retried a
bounded number of times and then raise a transient :class:`SlackDeliveryError` the caller may queue.

A webhook URL is a secret (whoever holds it can post to the channel), so every message and log
line of this module goes through :func:`redact`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    # Only the type: importing settings at run time would pull in the whole check catalog.
    from resilience.settings import Channel

__all__ = ["SlackConfigError", "SlackDeliveryError", "SlackWebhookSender", "redact"]

log = logging.getLogger(__name__)

REDACTED = "<redacted webhook>"
_MAX_REASON = 200
# Slack's own hosts, and the path shape of a webhook: the path alone is the secret, and requests
# puts only the path (not the URL) into connection-error messages.
_SLACK_WEBHOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/[^\s'\"<>|)]*", re.IGNORECASE)
# Workspace ids start with T, webhook ids with B: other ".../services/a/b/c" paths (Cloud Run's)
# stay readable.
_WEBHOOK_PATH = re.compile(r"/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9_-]+")

# Webhook URLs given to any sender in this process, so redact() hides them even when they are not
# on hooks.slack.com (a proxy, or the local fake in tests). Only ever grows; a handful of strings.
_known_webhooks: set[str] = set()
_known_lock = threading.Lock()


def redact(text: str) -> str:
    """Replace every webhook URL (Slack's, or one given to a sender) and its secret path with a marker."""
    with _known_lock:
        known = sorted(_known_webhooks, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, REDACTED)
    text = _SLACK_WEBHOOK.sub(REDACTED, text)
    return _WEBHOOK_PATH.sub(REDACTED, text)


def _remember(urls: Iterable[str]) -> None:
    secrets = set()
    for url in urls:
        if not url:
            continue
        secrets.add(url)
        _, _, rest = url.partition("://")
        _, slash, path = rest.partition("/")
        # The path is what requests shows in its errors; a bare "/" or "/hook" is not worth hiding
        # and replacing it would mangle unrelated text.
        if slash and len(path) >= 8:
            secrets.add("/" + path)
    with _known_lock:
        _known_webhooks.update(secrets)


def _channel_key(channel: str) -> str:
    return channel if channel.startswith("#") else f"#{channel}"


class SlackDeliveryError(Exception):
    """A message did not reach its channel.

    ``permanent`` False means trying later may work (rate limit, Slack or network trouble): the
    caller may queue the message. ``reason`` is Slack's answer (its response body), redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        status: int | None,
        reason: str,
        permanent: bool,
    ) -> None:
        super().__init__(redact(message))
        self.channel = channel
        self.status = status
        self.reason = redact(reason)
        self.permanent = permanent


class SlackConfigError(SlackDeliveryError):
    """Slack will refuse this channel's messages until someone changes configuration: never retried."""

    def __init__(self, message: str, *, channel: str, status: int | None, reason: str) -> None:
        super().__init__(message, channel=channel, status=status, reason=reason, permanent=True)


# What to do about each permanent answer, by Slack's documented error string. {channel} and {env}
# are filled in; the advice must stay true, since a stale hint is worse than none.
_ADVICE = {
    "invalid_token": (
        "the webhook in {env} was revoked or its token is invalid: create a new incoming webhook "
        "for {channel} and put its URL in {env}"
    ),
    "action_prohibited": (
        "the workspace does not allow the webhook in {env} to post to {channel}: ask a Slack admin "
        "to lift the restriction, or create a webhook that may post there and set {env}"
    ),
    "posting_to_general_channel_denied": (
        "only admins may post to {channel}: route these alerts to another channel or ask an admin"
    ),
    "no_service": (
        "the webhook in {env} does not exist (removed, its app uninstalled, or the URL is mistyped): "
        "create a new incoming webhook for {channel} and set {env}"
    ),
    "no_team": "the workspace of the webhook in {env} no longer exists: create a webhook in the "
    "current workspace for {channel} and set {env}",
    "channel_not_found": (
        "the channel the webhook in {env} posts to no longer exists: create a webhook for {channel} "
        "and set {env}"
    ),
    "channel_is_archived": (
        "{channel} is archived, so the webhook in {env} cannot post: unarchive the channel, or route "
        "these alerts to a live channel in resilience.toml and set that channel's webhook variable"
    ),
    "team_disabled": "the workspace of the webhook in {env} is disabled: set {env} to a webhook of an "
    "active workspace",
}
_MALFORMED = (
    "Slack refused the message itself, not the webhook in {env}: this is a bug in the message "
    "formatter (resilience/slack/blockkit.py); resending it will not help, so fix the formatter and "
    "rerun"
)
_BY_STATUS = {
    400: _MALFORMED,
    403: "the webhook in {env} may not post to {channel}: check it in Slack and set {env} to a working one",
    404: "the webhook in {env} was not found: create a new incoming webhook for {channel} and set {env}",
    410: "the webhook in {env} or {channel} is gone: create a new incoming webhook and set {env}",
}
_OTHER = "Slack will not accept messages from the webhook in {env}: check it and set {env} to a working one"


def _advice(status: int, reason: str) -> str:
    if reason in _ADVICE:
        return _ADVICE[reason]
    return _BY_STATUS.get(status, _OTHER)


def _retry_after_seconds(header: str | None) -> float | None:
    """Retry-After as seconds (Slack sends a number; HTTP also allows a date). None if absent or bad."""
    if not header:
        return None
    try:
        return max(float(header.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


class SlackWebhookSender:
    """Sends payloads to one incoming webhook per channel.

    Retries are an explicit loop here, not urllib3's ``Retry`` on the session's adapter, because
    ``Retry`` cannot keep these rules: it sleeps with ``time.sleep`` (tests and the scheduler's time
    budget need an injected ``sleep``); a ``Retry-After`` above its ``retry_after_max`` is clamped
    and still waited out, where this sender must give up at once past ``max_retry_after`` so the
    caller can queue the message; and it reports exhaustion as ``MaxRetryError``, whose text carries
    the webhook's secret path. So the session this class builds mounts an ``HTTPAdapter`` with
    retries off, and an injected session should have them off too (its retries would multiply ours).

    ``attempts`` bounds every try of one :meth:`send`, whatever the reason for retrying.
    """

    def __init__(
        self,
        webhooks: Mapping[str, str],
        session: requests.Session | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 1.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        webhook_envs: Mapping[str, str] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        if timeout <= 0 or backoff < 0 or max_retry_after < 0:
            raise ValueError("timeout must be > 0, backoff and max_retry_after >= 0")
        self._webhooks = {_channel_key(name): url.strip() for name, url in webhooks.items()}
        self._envs = {_channel_key(name): env for name, env in (webhook_envs or {}).items()}
        _remember(self._webhooks.values())
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session()
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep

    @classmethod
    def from_env(
        cls,
        channels: Mapping[str, Channel],
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> SlackWebhookSender:
        """A sender for ``channels`` (as in ``Settings.channels``), each webhook read from its variable.

        An unset or empty variable leaves that channel in :attr:`missing_channels`; nothing is
        borrowed from another channel's variable.
        """
        source = os.environ if environ is None else environ
        webhooks = {
            channel.name: source.get(channel.webhook_env, "").strip() for channel in channels.values()
        }
        envs = {channel.name: channel.webhook_env for channel in channels.values()}
        return cls(webhooks, webhook_envs=envs, **kwargs)

    @property
    def configured_channels(self) -> tuple[str, ...]:
        """Channels that have a webhook, sorted."""
        return tuple(sorted(name for name, url in self._webhooks.items() if url))

    @property
    def missing_channels(self) -> tuple[str, ...]:
        """Known channels without a webhook, sorted. All of them missing means "dry run"; some, an error."""
        known = set(self._webhooks) | set(self._envs)
        return tuple(sorted(name for name in known if not self._webhooks.get(name)))

    def env_var(self, channel: str) -> str:
        """The environment variable that holds ``channel``'s webhook ('' when the sender was given URLs)."""
        return self._envs.get(_channel_key(channel), "")

    def close(self) -> None:
        """Close the HTTP session if this sender created it (an injected one belongs to the caller)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> SlackWebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, channel: str, payload: Mapping[str, Any]) -> None:
        """Post ``payload`` to ``channel``'s webhook; return once Slack accepted it (2xx).

        Raises :class:`SlackConfigError` (permanent, tried once) or :class:`SlackDeliveryError`
        (transient, after at most ``attempts`` tries or a ``Retry-After`` beyond ``max_retry_after``).
        """
        name = _channel_key(channel)
        url = self._webhook_for(name)
        body = json.dumps(dict(payload)).encode("ascii")
        last_failure: SlackDeliveryError | None = None
        for attempt in range(1, self.attempts + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                response = self._session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                # Raised "from None" below: the chained requests error would print the URL path.
                kind = "timed out" if isinstance(error, requests.Timeout) else "could not connect"
                answer = f"{kind}: {error}"
                last_failure = self._transient(name, None, answer, attempt)
            except requests.RequestException as error:
                raise self._config_error(
                    name, None, str(error), f"the value of {self._env_label(name)} is not a usable URL"
                ) from None
            else:
                status = response.status_code
                reason = response.text.strip()[:_MAX_REASON]
                response.close()
                if 200 <= status < 300:
                    if attempt > 1:
                        log.info("%s", redact(f"Slack accepted the message for {name} on try {attempt}"))
                    return
                if status == 429:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    if retry_after is not None and retry_after > self.max_retry_after:
                        raise SlackDeliveryError(
                            f"{name}: Slack rate-limited the webhook in {self._env_label(name)} and asked "
                            f"to wait {retry_after:g} s, more than max_retry_after "
                            f"({self.max_retry_after:g} s): not sent; queue it and send later",
                            channel=name,
                            status=status,
                            reason=reason,
                            permanent=False,
                        ) from None
                    if retry_after is not None:
                        wait = retry_after
                    answer = f"Slack answered {status} {reason or 'rate_limited'}"
                    last_failure = self._transient(name, status, reason or "rate_limited", attempt)
                elif status >= 500 or status == 408:
                    answer = f"Slack answered {status} {reason}".rstrip()
                    last_failure = self._transient(name, status, reason, attempt)
                else:
                    raise self._config_error(name, status, reason, _advice(status, reason)) from None
            if attempt < self.attempts:
                log.warning(
                    "%s",
                    redact(
                        f"{name}: try {attempt} of {self.attempts} failed ({answer}); retrying in {wait:g} s"
                    ),
                )
                self._sleep(wait)
        assert last_failure is not None
        raise last_failure

    def _webhook_for(self, name: str) -> str:
        url = self._webhooks.get(name, "")
        if url:
            return url
        env = self._envs.get(name)
        if env:
            raise SlackConfigError(
                f"{name} has no webhook: set {env} to the channel's incoming-webhook URL "
                "(alerts are never rerouted to another channel)",
                channel=name,
                status=None,
                reason="",
            )
        known = ", ".join(sorted(set(self._webhooks) | set(self._envs))) or "none"
        raise SlackConfigError(
            f"{name} has no webhook: it is not a configured channel (known: {known}); add it under "
            "[channels] in resilience.toml with its webhook_env and set that variable",
            channel=name,
            status=None,
            reason="",
        )

    def _env_label(self, name: str) -> str:
        # Senders built by from_env() always know the variable; one given URLs directly does not.
        return self._envs.get(name) or "the sender's webhook mapping"

    def _config_error(self, name: str, status: int | None, reason: str, advice: str) -> SlackConfigError:
        answer = f"{status} {reason}".strip() if status is not None else reason
        text = advice.format(channel=name, env=self._env_label(name))
        error = SlackConfigError(
            f"{name}: Slack answered {answer}: {text}",
            channel=name,
            status=status,
            reason=reason,
        )
        log.error("%s", error)
        return error

    def _transient(self, name: str, status: int | None, reason: str, attempt: int) -> SlackDeliveryError:
        answer = f"Slack answered {status} {reason}".rstrip() if status is not None else reason
        return SlackDeliveryError(
            f"{name}: not delivered after {attempt} of {self.attempts} tries ({answer}); "
            "a passing Slack or network problem: queue the message and send it later",
            channel=name,
            status=status,
            reason=reason,
            permanent=False,
        )

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        # Retries off at the transport: send() is the only retry layer (see the class docstring).
        adapter = HTTPAdapter(max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session
