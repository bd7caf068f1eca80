"""/next through the Discord adapter on simcord, against the loopback server's log-probabilities."""

from __future__ import annotations

import math

import pytest

import bot.next.command as next_command
from adapters.discord import create_bot
from bot.app import Aula
from bot.i18n import probability as percent_text
from bot.settings import load_settings
from tests.discord_support import assert_within_limits, messages_of
from tests.fake_llm import API_KEY, BASE_MODEL, FakeLlmServer, next_tokens

PROMPT = "El capital de Francia es"


@pytest.fixture
async def fake_llm():
    async with FakeLlmServer() as server:
        yield server


@pytest.fixture
def settings(tmp_path, fake_llm):
    environ = {"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "AULA_LLM_BASE_URL": fake_llm.base_url,
               "AULA_LLM_API_KEY": API_KEY}  # fmt: skip
    return load_settings(environ=environ, dotenv_path=None)


@pytest.fixture
async def simcord_bot(settings):
    bot = create_bot(settings, aula=Aula(settings, commands=[next_command.command]))
    yield bot
    await bot.aula.close()


def classroom(simcord_env, *names: str):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    return channel, [guild.add_member(simcord_env.create_user(name)) for name in names]


def text_of(result) -> str:
    messages = messages_of(result)
    return "\n".join([m.content for m in messages] + [e.description or "" for m in messages for e in m.embeds])


def percent(logprob: float) -> str:
    return percent_text("en", math.exp(logprob))


async def test_the_distribution_a_picture_and_step_buttons(simcord_env, simcord_bot, fake_llm):
    channel, [ana, luis] = classroom(simcord_env, "ana", "luis")
    result = await ana.slash(channel, "next", texto=PROMPT)
    await simcord_env.settle()
    assert not result.ephemeral
    for message in messages_of(result):
        assert_within_limits(message)
    text = text_of(result)
    assert BASE_MODEL in text
    for _, _, logprob in next_tokens(PROMPT)[:10]:
        assert percent(logprob) in text
    assert any(a.filename == "next.png" for m in messages_of(result) for a in m.attachments)
    message = messages_of(result)[-1]

    step = await ana.click(message, label="Most likely")
    await simcord_env.settle()
    first = next_tokens(PROMPT)[0]
    assert fake_llm.calls[-1][1]["prompt"] == PROMPT + first[1].decode()
    assert f"1. ·la · {percent(first[2])} · the most likely" in text_of(step).replace("`", "")

    # someone else's run: refused privately, with a fork button that gives them their own copy
    refused = await luis.click(message, label="Most likely")
    assert refused.ephemeral and "only whoever started it" in refused.response.content
    forked = await luis.click(refused.response, label="Continue on my own")
    assert forked.ephemeral


async def test_old_buttons_work_after_a_restart(simcord_env, simcord_bot, settings, fake_llm):
    channel, [ana] = classroom(simcord_env, "ana")
    result = await ana.slash(channel, "next", texto=PROMPT)
    await simcord_env.settle()
    message = messages_of(result)[-1]
    old = simcord_env.bot
    new = create_bot(settings, aula=Aula(settings, commands=[next_command.command]))
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        step = await ana.click(message, label="Most likely")
        await simcord_env.settle()
        assert not step.ephemeral and "1. ·la" in text_of(step).replace("`", "")
    finally:
        await new.aula.close()
