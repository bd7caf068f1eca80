"""How the Discord adapter answers, through a simulated Discord (simcord): limits, escaping,
errors, deadlines, streaming, buttons (also after a restart) and forms."""

from __future__ import annotations

import re

import discord
import pytest

from adapters.discord.render import FULL_TEXT_FILENAME
from bot.i18n import t
from bot.replies import plain_text
from tests.discord_support import (
    HUGE_LINES,
    LONG_LINES,
    assert_within_limits,
    long_reply,
    messages_of,
    probe_bot,
)


@pytest.fixture
async def simcord_bot(discord_settings):
    bot = probe_bot(discord_settings)
    yield bot
    await bot.aula.close()


@pytest.fixture
async def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    student = guild.add_member(simcord_env.create_user("ana", global_name="Ana"))
    return guild, channel, student


def visible_text(messages) -> str:
    return "\n".join(
        [m.content for m in messages] + [e.description or "" for m in messages for e in m.embeds]
    )


async def test_a_long_reply_is_split_within_limits_and_loses_nothing(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "long")

    messages = messages_of(result)
    assert len(messages) > 1
    for message in messages:
        assert_within_limits(message)
    text = visible_text(messages)
    for marker in [f"línea-{i:04d}" for i in range(LONG_LINES)] + [
        f"código-{i:04d}" for i in range(LONG_LINES // 2)
    ]:
        assert marker in text
    for i in range(LONG_LINES // 3):
        assert re.search(rf"fila-{i:04d} +\| {i * i}\b", text)
    # the code block was cut on line boundaries, each piece fenced again
    assert all(
        m.content.count("```python") == m.content.count("```") // 2
        for m in messages
        if "código-" in m.content
    )


async def test_a_huge_reply_becomes_one_message_with_the_full_text_attached(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "long", enorme=True)

    (message,) = messages_of(result)
    assert_within_limits(message)
    assert t("en", "discord.full_text_attached") in message.content
    (attachment,) = message.attachments
    assert attachment.filename == FULL_TEXT_FILENAME
    assert (await attachment.read()).decode("utf-8") == plain_text(long_reply(HUGE_LINES))


async def test_user_text_never_pings_formats_or_escapes_its_code_block(simcord_env, world):
    guild, channel, student = world
    text = f"@everyone @here <@{student.id}> **negrita** `tick` ```fuera``` # título"
    result = await student.slash(channel, "echo", texto=text)

    message = result.response.message
    assert not message.mention_everyone
    content = message.content
    blocks = re.findall(r"```\n(.*?)\n```", content, flags=re.S)
    outside_code = re.sub(r"```.*?```|`[^`]*`", "", content, flags=re.S)
    # outside code, mentions are broken up and markdown is shown literally
    assert "@everyone" not in outside_code and "@here" not in outside_code
    assert not re.search(r"<@!?\d+>", outside_code)
    assert "\\*\\*negrita\\*\\*" in outside_code
    # inside code blocks the text is literal, and its ``` cannot close the fence early
    assert any("@everyone" in block and "fuera" in block for block in blocks)
    assert all("```" not in block for block in blocks)
    # and no send ever asked Discord to ping anyone
    sends = [
        r.json
        for r in simcord_env.http_requests
        if isinstance(r.json, dict) and r.method in ("POST", "PATCH")
    ]
    bodies = [s.get("data", s) for s in sends if "content" in s.get("data", s)]
    assert bodies and all(body["allowed_mentions"]["parse"] == [] for body in bodies)


async def test_a_crashing_command_gets_a_private_error_and_the_bot_keeps_answering(simcord_env, world):
    _, channel, student = world
    failed = await student.slash(channel, "boom")
    assert failed.ephemeral
    assert t("en", "error.internal") in failed.response.content

    after = await student.slash(channel, "help")
    assert t("en", "help.title") in after.response.content


async def test_a_failing_send_reaches_the_central_handler_and_the_user_is_told(simcord_env, world):
    _, channel, student = world
    simcord_env.inject_error("POST", "/interactions/*/callback", status=400, code=50035, message="broken")

    result = await student.slash(channel, "probe", texto="x")

    assert result.ephemeral
    assert result.response.content == t("en", "discord.error")
    (error,) = simcord_env.errors
    assert isinstance(error.__cause__ or error, discord.HTTPException)
    assert "probe[" in (await student.slash(channel, "probe", texto="y")).response.content


@pytest.mark.simcord(settle_timeout=1.0)
async def test_a_slow_handler_is_deferred_before_the_deadline_then_followed_up(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "slow", segundos=5)
    assert result.deferred and not result.ephemeral  # "thinking…" at once, well inside Discord's 3 seconds
    assert result.response.content == ""

    await simcord_env.advance_time(5.5)
    assert result.response.content == "lento listo para Ana"
    assert not result.response.ephemeral


@pytest.mark.simcord(settle_timeout=1.0)
async def test_a_slow_private_answer_stays_private_and_the_next_deferral_knows_it(simcord_env, world):
    _, channel, student = world
    first = await student.slash(channel, "slow", segundos=5, privado=True)
    await simcord_env.advance_time(6)
    # deferred publicly (nothing known yet): the channel only sees a note
    assert not first.ephemeral
    assert first.response.content == t("en", "discord.answered_privately")
    (private,) = first.followups
    assert private.ephemeral and private.content == "lento listo para Ana"

    second = await student.slash(channel, "slow", segundos=5, privado=True)
    await simcord_env.advance_time(6)
    assert second.ephemeral and second.response.content == "lento listo para Ana"


@pytest.mark.simcord(settle_timeout=0.5)
async def test_streamed_versions_edit_the_message_at_most_once_a_second_and_the_last_lands(
    simcord_env, world
):
    _, channel, student = world
    result = await student.slash(channel, "stream", versiones=10)
    assert result.response.content == "versión 0"

    def edits() -> int:
        return sum(
            1 for r in simcord_env.http_requests if r.method == "PATCH" and r.path.endswith("@original")
        )

    assert edits() == 0  # nine more versions arrived at once: they wait for the interval
    await simcord_env.advance_time(1.0)
    assert edits() == 1
    assert result.response.content == "versión 9"


@pytest.mark.simcord(settle_timeout=0.2)
async def test_a_steady_stream_is_edited_once_per_interval(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "stream", versiones=8, pausa=0.25)
    counts = []
    for _ in range(10):
        await simcord_env.advance_time(0.5)
        counts.append(sum(1 for r in simcord_env.http_requests if r.method == "PATCH"))
    # over 5 simulated seconds, one edit per second at most, and the final version shown
    assert all(later - earlier <= 1 for earlier, later in zip([0, *counts], counts, strict=False))
    assert counts[-1] <= 3 and result.response.content == "versión 7"


async def test_a_form_opens_as_a_modal_and_its_submission_reaches_the_core(simcord_env, world):
    _, channel, student = world
    shown = await student.slash(channel, "forms")

    modal = shown.modal
    assert modal is not None and modal["title"] == "Tu respuesta"
    inputs = {c["custom_id"]: c for c in _text_inputs(modal)}
    assert inputs["texto"]["style"] == discord.TextStyle.paragraph.value
    assert inputs["texto"]["max_length"] == 500
    assert inputs["nombre"]["style"] == discord.TextStyle.short.value

    submitted = await student.submit_modal(shown, {"nombre": "Ana", "texto": "línea 1\nlínea 2"})
    assert submitted.ephemeral
    assert submitted.response.content == "recibido de Ana: línea 1\nlínea 2"


@pytest.mark.simcord(settle_timeout=1.0)
async def test_a_form_that_comes_too_late_for_a_modal_is_opened_by_a_button(simcord_env, world):
    _, channel, student = world
    result = await student.slash(channel, "slow", segundos=4, formulario=True)
    await simcord_env.advance_time(5)
    # deferred publicly: the channel sees a note, the button to the form is private
    assert result.response.content == t("en", "discord.answered_privately")
    (message,) = result.followups
    assert message.ephemeral and message.content == t("en", "discord.form_prompt")

    shown = await student.click(message, label=t("en", "discord.open_form"))
    assert shown.modal["title"] == "Tu respuesta"
    submitted = await student.submit_modal(shown, {"nombre": "Ana", "texto": "tarde"})
    assert submitted.response.content == "recibido de Ana: tarde"


async def test_buttons_carry_stable_ids_and_clicks_reach_the_core(simcord_env, world):
    guild, channel, student = world
    shown = await student.slash(channel, "buttons")
    ids = [c["custom_id"] for row in shown.response.components for c in row["components"]]
    assert ids == ["buttons:pick:7", "buttons:pick:8", "buttons:off"]

    other = guild.add_member(simcord_env.create_user("beto", global_name="Beto"))
    clicked = await other.click(shown.response, label="Siete")
    assert clicked.ephemeral
    assert clicked.response.content == "clic buttons:pick:7 de Beto"


async def test_buttons_still_work_after_the_bot_restarts(simcord_env, world, discord_settings):
    _, channel, student = world
    shown = await student.slash(channel, "buttons")

    old = simcord_env.bot
    new = probe_bot(discord_settings)
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        clicked = await student.click(shown.response, label="Ocho")
        assert clicked.response.content == "clic buttons:pick:8 de Ana"
    finally:
        await new.aula.close()


async def test_the_messenger_posts_edits_and_writes_directly(simcord_env, world, simcord_bot):
    guild, channel, student = world
    from bot.replies import Button, Paragraph, Reply
    from bot.requests import Place

    messenger = simcord_bot.aula.messengers["discord"]
    place = Place("discord", str(guild.id), str(channel.id))
    message_id = await messenger.send(
        place, Reply.public(Paragraph.of("¿@everyone listo?"), buttons=(Button("buttons:pick:1", "Sí"),))
    )
    await simcord_env.settle()
    posted = channel.last_message
    assert str(posted.id) == message_id and not posted.mention_everyone
    clicked = await student.click(posted, label="Sí")
    assert clicked.response.content == "clic buttons:pick:1 de Ana"

    await messenger.edit(place, message_id, long_reply(LONG_LINES))
    await simcord_env.settle()
    edited = channel.history()[0]
    assert_within_limits(edited)
    assert edited.components == [] and edited.attachments[0].filename == FULL_TEXT_FILENAME

    await messenger.send_direct(place, str(student.id), Reply.private(Paragraph.of("recordatorio")))
    await simcord_env.settle()
    assert student.user.dm_channel.last_message.content == "recordatorio"


def _text_inputs(modal: dict) -> list[dict]:
    out = []
    for component in modal["components"]:
        out.extend(component.get("components") or [component.get("component") or {}])
    return [c for c in out if c.get("type") == 4]
