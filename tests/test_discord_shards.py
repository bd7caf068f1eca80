"""Discord shards (issue 20): `discord.shard_count` / `discord.shard_ids` split the servers
between processes (discord.py's AutoShardedBot). A process answers the servers on its shards,
and posts nobody asked for (a question's results, a deadline, a reminder: whichever process
runs the timer) reach a server on another process's shard too, by channel id over REST.
Simulated with simcord, whose gateway gives each shard only its own servers."""

from __future__ import annotations

import discord
import pytest

from adapters.discord.client import ShardedAulaBot
from bot.replies import Paragraph, Reply
from bot.requests import Place
from bot.settings import SettingsError, load_settings
from tests.conftest import QUIET_LOOPS
from tests.discord_support import probe_bot


def shard_settings(tmp_path, **env: str):
    return load_settings(environ=QUIET_LOOPS | {"AULA_DATABASE": str(tmp_path / "aula.sqlite3")} | env, dotenv_path=None)


@pytest.fixture
async def simcord_bot(tmp_path):
    """Process 0 of two: shard 0 of 2."""
    bot = probe_bot(shard_settings(tmp_path, AULA__DISCORD__SHARD_COUNT="2", AULA__DISCORD__SHARD_IDS="[0]"))
    yield bot
    await bot.aula.close()


@pytest.fixture
async def two_servers(simcord_env):
    mine = simcord_env.create_guild("clase A", shard_id=0)
    other = simcord_env.create_guild("clase B", shard_id=1)
    return (
        (mine, mine.create_text_channel("clase"), mine.add_member(simcord_env.create_user("ana", global_name="Ana"))),
        (other, other.create_text_channel("clase"), other.add_member(simcord_env.create_user("beto", global_name="Beto"))),
    )


async def test_the_process_runs_its_shards_and_answers_its_servers(simcord_env, simcord_bot, two_servers):
    (mine, channel, ana), (other, _, _) = two_servers
    assert isinstance(simcord_bot, discord.AutoShardedClient)
    assert simcord_bot.shard_count == 2 and list(simcord_bot.shards) == [0]
    assert simcord_bot.get_guild(mine.id) is not None
    assert simcord_bot.get_guild(other.id) is None  # on the other process's shard: not in this cache
    result = await ana.slash(channel, "probe", texto="hola")
    assert f"where={channel.id}/-" in result.response.content


async def test_posts_reach_a_server_on_another_processs_shard(simcord_env, simcord_bot, two_servers):
    """What a timer posts (results, deadlines, reminders) when the question was asked on the
    other process, which died or lost the race for the timer: send, edit, a thread, a DM."""
    _, ((other, channel, beto)) = two_servers
    messenger = simcord_bot.aula.messengers["discord"]
    place = Place("discord", str(other.id), str(channel.id))
    message_id = await messenger.send(place, Reply.public(Paragraph.of("Resultados de la pregunta 1")))
    await simcord_env.settle()
    assert str(channel.last_message.id) == message_id
    assert channel.last_message.content == "Resultados de la pregunta 1"

    await messenger.edit(place, message_id, Reply.public(Paragraph.of("Pregunta 1 (cerrada)")))
    await simcord_env.settle()
    assert channel.history()[0].content == "Pregunta 1 (cerrada)"

    thread_place = await messenger.start_thread(place, message_id, "Respuestas de la tarea 1")
    await messenger.send(thread_place, Reply.public(Paragraph.of("plazo cerrado")))
    await simcord_env.settle()
    (thread,) = channel.threads
    assert thread_place.thread_id == str(thread.id) and thread.last_message.content == "plazo cerrado"

    await messenger.send_direct(place, str(beto.id), Reply.private(Paragraph.of("recordatorio")))
    await simcord_env.settle()
    assert beto.user.dm_channel.last_message.content == "recordatorio"
    assert simcord_bot.get_guild(other.id) is None  # all of it without the server in the cache


def test_the_sharded_bot_is_built_from_the_settings(tmp_path):
    from adapters.discord import create_bot

    plain = create_bot(shard_settings(tmp_path))
    every = create_bot(shard_settings(tmp_path, AULA__DISCORD__SHARD_COUNT="3"))
    some = create_bot(shard_settings(tmp_path, AULA__DISCORD__SHARD_COUNT="3", AULA__DISCORD__SHARD_IDS="[1, 2]"))
    assert not isinstance(plain, discord.AutoShardedClient)
    assert isinstance(every, ShardedAulaBot) and every.shard_count == 3 and every.shard_ids is None
    assert some.shard_count == 3 and some.shard_ids == [1, 2]
    # One process syncs the slash commands: the one running shard 0 (or the only one).
    assert plain.settings.discord.syncs_commands() and every.settings.discord.syncs_commands()
    assert not some.settings.discord.syncs_commands()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AULA__DISCORD__SHARD_IDS": "[0]"}, r"discord\.shard_ids needs discord\.shard_count"),
        ({"AULA__DISCORD__SHARD_COUNT": "2", "AULA__DISCORD__SHARD_IDS": "[0, 2]"},
         r"discord\.shard_ids \[2\] outside 0\.\.1 \(discord\.shard_count is 2\)"),
        ({"AULA__DISCORD__SHARD_COUNT": "2", "AULA__DISCORD__SHARD_IDS": "[-1]"}, r"\[-1\] outside 0\.\.1"),
        ({"AULA__DISCORD__SHARD_COUNT": "2", "AULA__DISCORD__SHARD_IDS": "[1, 1]"}, r"names shard\(s\) \[1\] twice"),
        ({"AULA__DISCORD__SHARD_COUNT": "2", "AULA__DISCORD__SHARD_IDS": "[]"}, r"discord\.shard_ids is empty"),
        ({"AULA__DISCORD__SHARD_COUNT": "0"}, r"discord\.shard_count"),
        ({"AULA__DISCORD__SHARD_COUNT": "2", "AULA__DISCORD__SHARD_IDS": "[uno]"}, r"discord\.shard_ids"),
    ],
)
def test_bad_shard_settings_are_named(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message):
        shard_settings(tmp_path, **env)


async def test_a_post_off_the_shards_costs_one_request(simcord_env, simcord_bot, two_servers):
    """Sending to a channel this process has not cached is the one REST call that posts it: no
    lookup of the channel first (what fetch_channel cost every timer's post)."""
    _, (other, channel, _) = two_servers
    messenger = simcord_bot.aula.messengers["discord"]
    before = len(simcord_env.backend.transcript)
    await messenger.send(Place("discord", str(other.id), str(channel.id)), Reply.public(Paragraph.of("hola")))
    await simcord_env.settle()
    requests = [name for _, name, _ in simcord_env.backend.transcript[before:] if name.startswith(("GET ", "POST "))]
    assert requests == [f"POST /channels/{channel.id}/messages"]
