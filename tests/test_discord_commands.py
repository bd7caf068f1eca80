"""Slash commands built from specs, through a simulated Discord (simcord): options, kinds,\nautocomplete, subcommands, uploads, instructors, threads. Test-only commands: discord_support."""

from __future__ import annotations

import discord
import pytest
import simcord

from bot.i18n import t
from bot.settings import load_settings
from tests.discord_support import probe_bot


@pytest.fixture
async def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    student = guild.add_member(simcord_env.create_user("ana", global_name="Ana"))
    return guild, channel, student


CLASS_SERVER = 1234567890123456789


@pytest.fixture
async def simcord_bot(discord_settings):
    bot = probe_bot(discord_settings)
    yield bot
    await bot.aula.close()


async def test_typed_options_reach_the_core_by_their_spanish_names(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "probe", texto="hola", veces=3, escala=1.5, gritar=True, modo="b")
    content = result.response.content
    assert "escala=1.5" in content and "gritar=True" in content and "veces=3" in content
    assert "modo='b'" in content and "texto='hola'" in content
    assert not result.ephemeral


async def test_option_kinds_choices_and_autocomplete_are_declared_to_discord(simcord_env):
    synced = [
        r.json for r in simcord_env.http_requests if r.method == "PUT" and r.path.endswith("/commands")
    ][-1]
    probe = next(c for c in synced if c["name"] == "probe")
    options = {o["name"]: o for o in probe["options"]}
    assert options["texto"]["required"] is True and options["texto"]["autocomplete"] is True
    assert options["texto"]["name_localizations"]["en-US"] == "text"
    assert options["gritar"]["name_localizations"]["en-US"] == "shout"
    assert [options[n]["type"] for n in ("texto", "veces", "escala", "gritar")] == [3, 4, 10, 5]
    assert [c["value"] for c in options["modo"]["choices"]] == ["a", "b"]
    # 30 choices are more than Discord's picker takes: they are suggested as the user types.
    assert "choices" not in options["color"] and options["color"]["autocomplete"] is True
    curso = next(c for c in synced if c["name"] == "curso")
    assert {o["name"]: o["type"] for o in curso["options"]} == {"alta": 1, "baja": 1}  # subcommands


async def test_autocomplete_asks_the_core(simcord_env, world):
    _, channel, student = world
    choices = await student.autocomplete(channel, "probe", "texto", "ho")
    assert [c["value"] for c in choices] == ["ho-uno", "ho-dos", "ho-tres"]


async def test_long_choice_lists_are_filtered_as_typed_and_checked_on_submit(simcord_env, world):
    _, channel, student = world
    choices = await student.autocomplete(channel, "probe", "color", "c2")
    assert [c["value"] for c in choices] == [f"c{i}" for i in range(20, 30)]
    # Suggested choices are named in the user's language (simcord's users speak en-US); the value stays canonical.
    assert (choices[-1]["name"], choices[-1]["value"]) == ("last", "c29")
    refused = await student.slash(channel, "probe", texto="x", color="violeta")
    assert refused.ephemeral
    assert "violeta" in refused.response.content and "c00" in refused.response.content


async def test_subcommands_are_a_group(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "curso alta", nombre="Ana")
    assert "nombre='Ana'" in result.response.content


async def test_attachments_are_downloaded_into_the_request(simcord_env, world):
    _, channel, student = world
    data = bytes(range(256)) * 40
    result = await student.slash(channel, "probe_file", archivo=("datos.bin", data))
    import hashlib

    assert result.response.content == f"datos.bin {len(data)} {hashlib.sha256(data).hexdigest()[:12]}"


async def test_instructor_only_commands_refuse_students_and_accept_the_role_or_manage_server(
    simcord_env, world
):
    guild, channel, student = world
    teacher_role = guild.create_role("Instructor")
    teacher = guild.add_member(simcord_env.create_user("profe"), roles=[teacher_role])
    admin_role = guild.create_role("Staff", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(simcord_env.create_user("jefa"), roles=[admin_role])

    refused = await student.slash(channel, "secret")
    assert refused.ephemeral
    assert t("en", "error.instructor_only") in refused.response.content

    for member in (teacher, admin):
        accepted = await member.slash(channel, "secret")
        assert not accepted.ephemeral
        assert accepted.response.content.startswith("solo instructores")

    sub_refused = await student.slash(channel, "curso baja")
    assert t("en", "error.instructor_only") in sub_refused.response.content
    assert "instructor=True" in (await teacher.slash(channel, "curso baja")).response.content


async def test_a_thread_is_a_place_of_its_own(simcord_env, world, simcord_bot):
    _, channel, student = world
    messenger = simcord_bot.aula.messengers["discord"]
    from bot.replies import Paragraph, Reply
    from bot.requests import Place

    place = Place("discord", str(world[0].id), str(channel.id))
    message_id = await messenger.send(place, Reply.public(Paragraph.of("pregunta 1")))
    thread_place = await messenger.start_thread(place, message_id, "Discusión de la pregunta 1")
    await simcord_env.settle()
    (thread,) = channel.threads
    assert thread_place.thread_id == str(thread.id)

    result = await student.slash(thread, "probe", texto="x")
    assert f"where={channel.id}/{thread.id}" in result.response.content


async def test_commands_sync_to_the_configured_class_server_only(tmp_path):
    settings = load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "a.sqlite3"),
            "AULA__DISCORD__GUILD_IDS": f"[{CLASS_SERVER}]",
        },
        dotenv_path=None,
    )
    bot = probe_bot(settings)
    try:
        async with simcord.run(bot) as env:
            synced = [r.path for r in env.http_requests if r.method == "PUT"]
            assert len(synced) == 1 and synced[0].endswith(f"/guilds/{CLASS_SERVER}/commands")
            classroom = env.create_guild(id=CLASS_SERVER)
            elsewhere = env.create_guild()
            student = classroom.add_member(env.create_user("ana"))
            stranger = elsewhere.add_member(env.create_user("eva"))
            channel = classroom.create_text_channel("clase")
            assert "probe" in student.available_commands(channel)
            assert stranger.available_commands(elsewhere.create_text_channel("otra")) == ()
            result = await student.slash(channel, "probe", texto="hola")
            assert "texto='hola'" in result.response.content
    finally:
        await bot.aula.close()
