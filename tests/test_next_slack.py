"""/next through the Slack adapter: signed requests through Bolt, the fake Web API, the loopback LLM."""

from __future__ import annotations

import asyncio
import math

import pytest
from slack_sdk.web.async_client import AsyncWebClient

import bot.next.command as next_command
from adapters.slack import create_app
from bot.app import Aula
from bot.i18n import probability as percent
from bot.i18n import t
from bot.settings import load_settings
from tests.fake_llm import API_KEY, FakeLlmServer, next_tokens
from tests.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    click_body,
    command_body,
    signed_request,
    submission_body,
)
from tests.test_compare_slack import block_texts

STUDENT, OTHER = "U0STUDENT", "U0OTHER"
PROMPT = "El capital de Francia es"


@pytest.fixture
async def slack_next(tmp_path):
    async with FakeLlmServer() as llm, FakeSlack() as slack:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "SLACK_BOT_TOKEN": BOT_TOKEN,
                     "SLACK_SIGNING_SECRET": SIGNING_SECRET, "AULA_LLM_BASE_URL": llm.base_url,
                     "AULA_LLM_API_KEY": API_KEY},
            dotenv_path=None,
        )  # fmt: skip
        slack.users[STUDENT] = {"locale": "es-ES"}
        slack.users[OTHER] = {"locale": "es-ES"}
        aula = Aula(settings, commands=[next_command.command])
        await aula.start()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        app = create_app(settings, aula=aula, client=client, edit_interval_s=0.05)
        yield app, slack, llm, aula
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=5)
        await aula.close()


def posts_with(slack, text: str) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if text in block_texts(c.payload.get("blocks") or [])]


def action_ids(call) -> list[str]:
    return [e["action_id"] for b in call.payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_a_signed_next_then_a_step_button(slack_next):
    app, slack, llm, aula = slack_next
    body = command_body("/next", f"texto:{PROMPT}", user_id=STUDENT, response_url=slack.response_url())
    assert (await app.async_dispatch(signed_request(body))).status == 200
    [post] = await slack.wait_for(lambda: posts_with(slack, "Siguiente token"))
    shown = block_texts(post.payload["blocks"])
    for _, _, logprob in next_tokens(PROMPT)[:10]:
        assert f"{percent('es', math.exp(logprob))}" in shown
    greedy = next(i for i in action_ids(post) if i.startswith("aula:next:greedy:"))

    refused = click_body(greedy, user_id=OTHER, response_url=slack.response_url(OTHER))
    assert (await app.async_dispatch(signed_request(refused))).status == 200
    private = await slack.wait_for(lambda: slack.calls_to("response_url") or slack.calls_to("chat.postEphemeral"))
    assert "solo quien la empezó" in str(private[-1].payload)

    click = click_body(greedy, user_id=STUDENT, response_url=slack.response_url(STUDENT))
    assert (await app.async_dispatch(signed_request(click))).status == 200
    await slack.wait_for(lambda: posts_with(slack, "el más probable"))
    assert llm.calls[-1][1]["prompt"] == PROMPT + next_tokens(PROMPT)[0][1].decode()


async def test_the_class_game_over_signed_requests(tmp_path):
    teacher = "U0TEACH"
    async with FakeLlmServer() as llm, FakeSlack() as slack:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "game.sqlite3"), "SLACK_BOT_TOKEN": BOT_TOKEN,
                     "SLACK_SIGNING_SECRET": SIGNING_SECRET, "AULA_LLM_BASE_URL": llm.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__NEXT__TICK_SECONDS": "0",
                     "AULA__SLACK__INSTRUCTOR_USER_IDS": f'["{teacher}"]'},
            dotenv_path=None,
        )  # fmt: skip
        for user in (teacher, STUDENT, OTHER):
            slack.users[user] = {"locale": "es-ES"}
        aula = Aula(settings, commands=[next_command.command])
        await aula.start()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        app = create_app(settings, aula=aula, client=client, edit_interval_s=0.05)
        try:
            body = command_body("/next", f"texto:{PROMPT} juego:sí", user_id=teacher, response_url=slack.response_url())
            assert (await app.async_dispatch(signed_request(body))).status == 200
            [post] = await slack.wait_for(lambda: posts_with(slack, "¿qué token sigue?"))
            guesses = [i for i in action_ids(post) if i.startswith("aula:next:guess:")]
            assert len(guesses) == 8
            for user, action in ((STUDENT, guesses[0]), (OTHER, guesses[1]), (STUDENT, guesses[2])):
                click = click_body(action, user_id=user, response_url=slack.response_url(user))
                assert (await app.async_dispatch(signed_request(click))).status == 200
            await slack.wait_for(lambda: "Ya respondiste" in str(slack.calls))
            # a typed guess: "Escribir otra palabra" opens a modal; its signed submission is the guess
            third = "U0THIRD"
            slack.users[third] = {"locale": "es-ES"}
            write = next(i for i in action_ids(post) if i.startswith("aula:next:write:"))
            click = click_body(write, user_id=third, response_url=slack.response_url(third))
            assert (await app.async_dispatch(signed_request(click))).status == 200
            [opened] = await slack.wait_for(lambda: slack.calls_to("views.open"))
            view = opened.payload["view"]
            [block] = [b for b in view["blocks"] if b["type"] == "input"]
            submitted = submission_body(view, {block["block_id"]: "  LA "}, user_id=third)
            assert (await app.async_dispatch(signed_request(submitted))).status == 200
            recorded = t("es", "next.game.recorded", guess="LA", number=1)
            await slack.wait_for(lambda: recorded in str(slack.calls))
            close = next(i for i in action_ids(post) if i.startswith("aula:next:close:"))
            click = click_body(close, user_id=teacher, response_url=slack.response_url(teacher))
            assert (await app.async_dispatch(signed_request(click))).status == 200
            await slack.wait_for(lambda: "Cerrando la ronda" in str(slack.calls))
            await aula.services.next_game.tick()
            [results] = await slack.wait_for(lambda: posts_with(slack, "Resultados del juego"))
            assert t("es", "next.game.count", count=3) in block_texts(results.payload["blocks"])
            [(guess, probability)] = [(r["guess"], r["probability"]) for r in
                                      await aula.db.fetchall("SELECT * FROM next_guesses WHERE user_id = ?", (third,))]  # fmt: skip
            assert guess == "LA" and probability == math.exp(next_tokens(PROMPT)[0][2])  # " la", the model's first
        finally:
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=5)
            await aula.close()
