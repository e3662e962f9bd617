"""A local stand-in for Slack's incoming webhooks, for testing delivery without a network.

:class:`FakeSlack` serves ``http://127.0.0.1:<port>/services/T000/B000/<hook>`` from a thread and
answers as Slack documents: ``200 ok`` for a valid message, ``400 invalid_payload`` / ``no_text`` /
``invalid_blocks`` for a malformed one, ``404 no_service`` for a webhook that does not exist. Tests
script other answers per hook (rate limits, server errors, removed webhooks, archived channels,
hangs) and read back what was accepted and how many requests arrived::

    with FakeSlack() as slack:
        slack.script("canary", [("rate_limited", 1), "ok"])
        sender = SlackWebhookSender({"#canary-alerts": slack.url("canary")}, sleep=waits.append)
        ...
        assert slack.attempts("canary") == 2

Everything is bounded: request bodies are capped, a connection that sends nothing times out, a
scripted hang ends early when the server shuts down, and leaving the ``with`` block joins every
handler thread.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeSlack", "ScriptedResponse"]

#: "ok" | "no_service" | "channel_not_found" | "channel_is_archived" | "invalid_token"
#: | ("rate_limited", retry_after_seconds) | ("server_error", 500 or 503) | ("hang", seconds)
ScriptedResponse = str | tuple[str, float]

HOOK_PREFIX = "/services/T000/B000/"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_CHARS = 40_000
MAX_BODY_BYTES = 1_000_000
MAX_HANG_SECONDS = 30.0
CONNECTION_TIMEOUT_SECONDS = 5.0

# Slack's documented status and body for each error answer.
_FIXED_ANSWERS: dict[str, tuple[int, str]] = {
    "no_service": (404, "no_service"),
    "channel_not_found": (404, "channel_not_found"),
    "channel_is_archived": (410, "channel_is_archived"),
    "invalid_token": (403, "invalid_token"),
    "action_prohibited": (403, "action_prohibited"),
    "invalid_payload": (400, "invalid_payload"),
}


def _check_response(response: ScriptedResponse) -> ScriptedResponse:
    if isinstance(response, str):
        if response == "ok" or response in _FIXED_ANSWERS:
            return response
    elif len(response) == 2:
        kind, number = response
        if kind == "rate_limited" and number >= 0:
            return response
        if kind == "server_error" and int(number) in (500, 502, 503, 504):
            return (kind, int(number))
        if kind == "hang" and 0 <= number <= MAX_HANG_SECONDS:
            return response
    raise ValueError(f"FakeSlack cannot script {response!r}")


def validate_message(body: bytes, content_type: str) -> tuple[int, str, dict[str, Any] | None]:
    """Judge a request body as Slack does: (status, body text, the parsed message if accepted)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            # Slack also takes the JSON in a form field named "payload".
            text = urllib.parse.parse_qs(text).get("payload", [""])[0]
        message = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 400, "invalid_payload", None
    if not isinstance(message, dict):
        return 400, "invalid_payload", None
    if not message.get("text") and not message.get("blocks"):
        return 400, "no_text", None
    # Slack caps a message's text at 40,000 characters; this fake holds the whole JSON to that,
    # which is the stricter reading and the one the formatter promises.
    if len(text) > MAX_MESSAGE_CHARS:
        return 400, "invalid_payload", None
    blocks = message.get("blocks", [])
    if not isinstance(blocks, list) or not all(
        isinstance(block, dict) and "type" in block for block in blocks
    ):
        return 400, "invalid_blocks_format", None
    if len(blocks) > MAX_BLOCKS:
        return 400, "invalid_blocks", None
    for block in blocks:
        if block["type"] == "section" and len(_text_of(block.get("text"))) > MAX_SECTION_TEXT:
            return 400, "invalid_blocks", None
        if block["type"] == "header" and len(_text_of(block.get("text"))) > 150:
            return 400, "invalid_blocks", None
    return 200, "ok", message


def _text_of(text_object: object) -> str:
    if isinstance(text_object, dict):
        return str(text_object.get("text", ""))
    return ""


class FakeSlack:
    """Slack's incoming-webhook API on 127.0.0.1, recording what it accepted. Use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._scripts: dict[str, collections.deque[ScriptedResponse]] = {}
        self._received: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self._attempts: collections.Counter[str] = collections.Counter()
        self._closing = threading.Event()
        self.server_errors: list[str] = []
        self._server: _SlackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeSlack:
        self._server = _SlackHTTPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()  # ends scripted hangs, so the handler threads can be joined
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not running: use it in a with block")
        return int(self._server.server_address[1])

    def url(self, hook_name: str) -> str:
        """The webhook URL of ``hook_name``; asking for it makes the hook exist (it answers "ok")."""
        with self._lock:
            self._known.add(hook_name)
        return f"http://127.0.0.1:{self.port}{HOOK_PREFIX}{hook_name}"

    def script(self, hook_name: str, responses: Iterable[ScriptedResponse]) -> None:
        """Answer the next requests to ``hook_name`` with ``responses`` in order, then the default."""
        checked = [_check_response(response) for response in responses]
        with self._lock:
            self._known.add(hook_name)
            self._scripts.setdefault(hook_name, collections.deque()).extend(checked)

    def received(self, hook_name: str) -> list[dict[str, Any]]:
        """The payloads ``hook_name`` accepted (answered 200), in order."""
        with self._lock:
            return list(self._received.get(hook_name, []))

    def attempts(self, hook_name: str) -> int:
        """How many requests reached ``hook_name``, whatever the answer."""
        with self._lock:
            return self._attempts[hook_name]

    # Called from handler threads.

    def _next_response(self, hook_name: str) -> ScriptedResponse:
        with self._lock:
            self._attempts[hook_name] += 1
            script = self._scripts.get(hook_name)
            if script:
                return script.popleft()
            return "ok" if hook_name in self._known else "no_service"

    def _accept(self, hook_name: str, message: dict[str, Any]) -> None:
        with self._lock:
            self._received[hook_name].append(message)


class _SlackHTTPServer(ThreadingHTTPServer):
    # Handler threads are joined in server_close(); every one of them ends within a bounded time.
    daemon_threads = False
    block_on_close = True

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.fake = fake

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout) makes our late answer fail; record instead of printing.
        self.fake.server_errors.append(repr(sys.exc_info()[1]))


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _SlackHTTPServer
    timeout = CONNECTION_TIMEOUT_SECONDS
    server_version = "FakeSlack/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        if not self.path.startswith(HOOK_PREFIX) or "/" in self.path[len(HOOK_PREFIX) :]:
            self._drain_body()
            self._answer(404, "no_service")
            return
        hook_name = self.path[len(HOOK_PREFIX) :]
        body = self._drain_body()
        response = fake._next_response(hook_name)
        if isinstance(response, str) and response in _FIXED_ANSWERS:
            self._answer(*_FIXED_ANSWERS[response])
            return
        if isinstance(response, tuple):
            kind, number = response
            if kind == "rate_limited":
                self._answer(429, "rate_limited", {"Retry-After": f"{number:g}"})
                return
            if kind == "server_error":
                self._answer(int(number), "internal_error")
                return
            # "hang": Slack is slow but does post the message, so a client that timed out and
            # retries may post it twice; that is the real behaviour this models.
            if fake._closing.wait(number):
                self.close_connection = True
                return
        if body is None:
            self._answer(413, "invalid_payload")
            return
        status, text, message = validate_message(body, self.headers.get("Content-Type", ""))
        if message is not None:
            fake._accept(hook_name, message)
        self._answer(status, text)

    def _drain_body(self) -> bytes | None:
        """The request body, or None when it is larger than Slack (or this fake) would read."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _answer(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
