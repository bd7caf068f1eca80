"""The Slack adapter keeps one HTTP session for its Web API calls (slack_sdk would open one per
call: a connection and, against slack.com, a TLS handshake each), and closes it with the core."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

import bot.help.command as help_command
from adapters.slack import create_app
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, command_body, signed_request


async def test_web_api_calls_share_one_session_that_closes_with_the_core(tmp_path):
    settings = load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        },
        dotenv_path=None,
    )
    async with FakeSlack() as slack:
        aula = Aula(settings, commands=[help_command.command])
        await aula.start()
        app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
        sessions = []
        for user in ("U1", "U2"):  # each new user costs a users.info call
            body = command_body("/aula", "", user_id=user, response_url=slack.response_url(user))
            assert (await app.async_dispatch(signed_request(body))).status == 200
            await slack.wait_for(
                lambda user=user: [c for c in slack.calls_to("users.info") if c.payload["user"] == user]
            )
            sessions.append(app.client.session)
        assert sessions[0] is not None and sessions[0] is sessions[1] and not sessions[0].closed
        await slack.wait_for(lambda: len(slack.calls_to("response_url")) == 2)
        await aula.close()
        assert sessions[0].closed
