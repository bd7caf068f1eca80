"""The Slack Socket Mode connection drops: slack_sdk reconnects by itself, and commands sent
over the new connection are acknowledged and answered.

`aula run`'s own `serve()` runs against the fake Slack (tests/fake_slack.py), which ends the
WebSocket from its side, either with a close frame (what Slack does when it moves a
connection) or by cutting the TCP connection (a network failure). slack_sdk notices a cut
connection on its next check, every `ping_interval` (Bolt's default: 10 s); the tests pass
a shorter interval to the same handler so that case takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import functools
import itertools

import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

import adapters.slack
from adapters.slack import create_app, serve
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, command_fields

RECONNECT_TIMEOUT_S = 15.0
PING_INTERVAL_S = 0.2
_envelopes = itertools.count(1)


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        fake.users["U0ANA"] = {"locale": "es-ES"}
        fake.users["U0BOB"] = {"locale": "en-US"}
        yield fake


@pytest.fixture
async def served(tmp_path, slack, monkeypatch):
    """`serve()` in Socket Mode on the fake Slack, with every real command."""
    handler = functools.partial(adapters.slack.AsyncSocketModeHandler, ping_interval=PING_INTERVAL_S)
    monkeypatch.setattr(adapters.slack, "AsyncSocketModeHandler", handler)
    settings = load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        },
        dotenv_path=None,
    )
    settings.secrets.slack_app_token = SecretStr("xapp-test")
    aula = Aula(settings)
    await aula.start()
    app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    server = asyncio.create_task(serve(app, settings))
    await slack.wait_for(lambda: slack.sockets, RECONNECT_TIMEOUT_S)
    yield app
    server.cancel()
    await asyncio.gather(server, return_exceptions=True)
    await aula.close()


ANSWERS = ("response_url", "chat.postMessage", "chat.postEphemeral")


async def command_over_socket(slack: FakeSlack, command: str, text: str, user: str) -> dict:
    """Send a slash command envelope over the socket; it must be acknowledged, and answered
    (the first message Slack gets after it). Commands go one at a time in these tests."""
    envelope_id = f"env-{next(_envelopes)}"
    seen = len(slack.calls)
    await slack.envelopes.put(
        {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": command_fields(
                command, text, user_id=user, response_url=slack.response_url(envelope_id)
            ),
        }
    )
    acks = lambda: [c for c in slack.calls_to("socket_ack") if c.payload.get("envelope_id") == envelope_id]  # noqa: E731
    await slack.wait_for(acks)
    answers = lambda: [c.payload for c in slack.calls[seen:] if c.method in ANSWERS]  # noqa: E731
    return (await slack.wait_for(answers))[0]


def words(answer: dict) -> str:
    blocks = answer.get("blocks") or []
    return answer.get("text", "") + " ".join(str(block) for block in blocks)


async def reconnected(slack: FakeSlack, before: set) -> None:
    """A new connection is up (a new apps.connections.open and a WebSocket the old set lacks)."""
    await slack.wait_for(lambda: set(slack.sockets) - before, RECONNECT_TIMEOUT_S)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "connection-cut"])
async def test_commands_work_after_the_socket_drops_and_reconnects(served, slack, abrupt):
    first = await command_over_socket(slack, "/tokens", "texto:Hola mundo", "U0ANA")
    assert "token" in words(first).lower()

    before = set(slack.sockets)
    opened = len(slack.calls_to("apps.connections.open"))
    await slack.drop_sockets(abrupt=abrupt)
    await reconnected(slack, before)
    assert len(slack.calls_to("apps.connections.open")) == opened + 1  # slack_sdk asked for a new URL
    assert not set(slack.sockets) & before

    after = await command_over_socket(slack, "/aula", "", "U0BOB")
    assert "/quiz" in words(after) and "/compare" in words(after)
    again = await command_over_socket(slack, "/tokens", "texto:Adiós", "U0ANA")
    assert "token" in words(again).lower()
