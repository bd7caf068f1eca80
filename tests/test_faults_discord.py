"""The Discord gateway drops and comes back: slash commands and buttons work afterwards.

simcord 3.2 offers a gateway drop and reconnect only for sharded clients (FakeShard.disconnect
and .reconnect); Aula's bot is a plain commands.Bot, so the same steps are driven here:
the connection closes (simcord's gateway then delivers nothing, as Discord sends nothing to
a dropped session) and discord.py is told "disconnect"; the session then comes back either
by RESUME (discord.py dispatches "resumed", nothing else changes) or by a fresh IDENTIFY,
which simcord replays exactly as its own shard reconnect does (READY, then every guild's
GUILD_CREATE, which makes discord.py clear and rebuild its cache).

simcord's users speak en-US, so replies here are in English.
"""

from __future__ import annotations

import pytest
from simcord.gateway import ShardRouter

from adapters.discord import create_bot
from bot.app import Aula
from tests.quiz_support import FakeClock, quiz_settings

ANSWER_IDS = [f"quiz:answer:1:0:{letter}" for letter in "ABCD"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def simcord_bot(tmp_path, clock):
    settings = quiz_settings(str(tmp_path / "aula.sqlite3"))
    bot = create_bot(settings, aula=Aula(settings, clock=clock))
    yield bot
    await bot.aula.close()


@pytest.fixture
async def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher = guild.add_member(simcord_env.create_user("profe"), roles=[guild.create_role("Instructor")])
    students = [guild.add_member(simcord_env.create_user(f"est{i}")) for i in range(3)]
    return channel, teacher, students


async def drop(env) -> None:
    """The gateway connection is lost: simcord stops delivering events; discord.py hears of it."""
    await env.bot.ws.close(code=1006)
    env.bot.dispatch("disconnect")
    await env.settle()


async def come_back(env, how: str) -> None:
    env.bot.ws.open = True
    if how == "resume":
        env.bot.dispatch("resumed")
    else:  # a new session: simcord's own shard-reconnect replay, on the bot's connection state
        router = ShardRouter(env.backend, env.bot._connection, env.bot.dispatch, 1, (0,))
        with env._bot_scope():
            router.identify(0, replay_guilds=True)
    await env.settle()


def text_of(message) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.title or "", embed.description or ""]
        parts += [f"{field.name}\n{field.value}" for field in embed.fields]
    return "\n".join(parts)


async def recorded(bot) -> list[tuple[str, int]]:
    rows = await bot.aula.db.fetchall("SELECT user_id, choice FROM quiz_answers ORDER BY answered_at")
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("how", ["resume", "identify"])
async def test_commands_and_buttons_work_after_the_gateway_drops_and_reconnects(simcord_env, classroom, how):
    channel, teacher, (ana, beto, carla) = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    first = await ana.click(question, custom_id=ANSWER_IDS[1])
    assert "Answer recorded: B" in first.response.content

    await drop(simcord_env)
    lost = await beto.click(question, custom_id=ANSWER_IDS[0])  # Discord delivers nothing meanwhile
    assert lost.response is None and not lost.followups
    assert await recorded(simcord_env.bot) == [(str(ana.id), 1)]

    bot = simcord_env.bot
    cached_guild = bot.get_channel(channel.id).guild
    readies = []

    async def on_ready() -> None:
        readies.append(1)

    bot.add_listener(on_ready)
    await come_back(simcord_env, how)
    assert bot.is_ready() and bot.get_channel(channel.id) is not None
    if how == "identify":  # a new session really was set up: READY again, the cache rebuilt
        assert readies == [1] and bot.get_channel(channel.id).guild is not cached_guild
    else:  # a resumed session keeps everything
        assert readies == [] and bot.get_channel(channel.id).guild is cached_guild
    again = await beto.click(question, custom_id=ANSWER_IDS[0])  # the same button, clicked again
    assert again.ephemeral and "Answer recorded: A" in again.response.content
    clicked = await carla.click(question, custom_id=ANSWER_IDS[1])
    assert "Answer recorded: B" in clicked.response.content
    assert await recorded(simcord_env.bot) == [(str(ana.id), 1), (str(beto.id), 0), (str(carla.id), 1)]

    help_reply = await carla.slash(channel, "help")
    assert "/quiz" in text_of(help_reply.response)
    advanced = await teacher.slash(channel, "quiz next")
    assert advanced.ephemeral and "Question 2 of" in advanced.response.content
    assert "Question 2 of" in text_of(channel.last_message)
