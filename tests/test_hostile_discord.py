"""The hostile-input corpus through every command on Discord, on simcord (tests/discord_support.py):
typed options, modals, uploads and autocomplete; /compare on the loopback LLM server.

One bot and one simulated server serve the whole module, as one bot serves a class. The
server has a member and a mentionable role whose ids the corpus's mentions name, and the
bot may mention everyone: a mention that slipped through would really ping (the first
test proves the detector fires). Checked per send: the bot raised and logged nothing, the
answer is the one the command owes the input (its specific refusal or a real answer), every
message sent or edited allows no mentions and pinged nobody, every code fence is the
adapter's own, no markdown of the user's is live, and a plain /help still answers. Text
longer than an option or field allows is refused by Discord itself (simcord enforces the
declared max_length); the longest text it accepts is sent instead.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
import pytest_asyncio
import simcord
from simcord import OptionError, SetupError

from adapters.discord import create_bot, respond
from bot.app import Aula
from bot.quiz.banks import BankError, parse_bank
from bot.requests import Place, Request, User
from bot.settings import Settings, load_settings
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.hostile_inputs import (
    CORPUS,
    DISCORD_CHANNEL_ID,
    DISCORD_ROLE_ID,
    DISCORD_USER_ID,
    Hostile,
    deadline_refusal,
    fence_problems,
    outside_code,
    refusal_for,
    refusal_pattern,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LANG = "en"  # simcord's users speak en-US
PRIVATE_BUTTONS_S = 15 * 60  # discord.py keeps the buttons of a private message this long
# Discord markdown that, live outside code, would restyle the layout: (corpus text, live form).
LIVE_MARKDOWN = (
    re.compile(r"(?<!\\)\*\*negrita(?<!\\)\*\*"),
    re.compile(r"(?<!\\)\|\|spoiler(?<!\\)\|\|"),
    re.compile(r"(?<!\\)~~tachado(?<!\\)~~"),
    re.compile(r"(?<!\\)\[(clic|@everyone)\]\(https://evil"),
    re.compile(r"^#{1,3} (Título|Sub|fuera del bloque)", re.MULTILINE),
    re.compile(r"^> cita", re.MULTILINE),
)


@dataclass(frozen=True)
class Target:
    id: str
    command: str  # as typed in Discord: "quiz start"
    option: str  # the text option the input goes in
    teacher: bool = False
    others: dict[str, Any] = field(default_factory=dict)  # other options sent with it


TEXT_TARGETS = (
    Target("tokens", "tokens", "texto"),
    Target("roles-user", "roles", "usuario"),
    Target("roles-system", "roles", "sistema"),
    Target("compare", "compare", "prompt"),
    Target("quiz-start", "quiz start", "banco", teacher=True),
    Target("quiz-assign-bank", "quiz assign", "banco", teacher=True),
    Target("quiz-assign-due", "quiz assign", "vence", teacher=True, others={"banco": "seccion-2"}),
)


@dataclass
class DiscordClass:
    env: simcord.Env
    bot: Any
    settings: Settings
    guild: Any
    channel: Any
    student: Any
    teacher: Any
    victim: Any
    role: Any
    limits: dict[tuple[str, str], int]  # (command, option) -> max_length Discord enforces
    checked: dict[tuple[int, int], tuple] = field(default_factory=dict)  # message -> version seen

    def localized(self, text: str) -> str:
        """The corpus's placeholder ids made real: mentions name this server's member, role, channel."""
        return (
            text.replace(DISCORD_USER_ID, str(self.victim.id))
            .replace(DISCORD_ROLE_ID, str(self.role.id))
            .replace(DISCORD_CHANNEL_ID, str(self.channel.id))
        )


def option_limits(env: simcord.Env) -> dict[tuple[str, str], int]:
    """Every string option's max_length, as the bot declared it to Discord."""
    synced = [r.json for r in env.http_requests if r.method == "PUT" and r.path.endswith("/commands")][-1]
    limits = {}
    for command in synced:
        for option in command.get("options", []):
            if option["type"] == 1:  # a subcommand
                for sub_option in option.get("options", []):
                    if sub_option["type"] == 3:
                        limits[(f"{command['name']} {option['name']}", sub_option["name"])] = sub_option["max_length"]
            elif option["type"] == 3:
                limits[(command["name"], option["name"])] = option["max_length"]
    return limits


async def classroom(env: simcord.Env, bot, settings: Settings) -> DiscordClass:
    guild = env.create_guild()
    channel = guild.create_text_channel("clase")
    role = guild.create_role("delegados", mentionable=True)
    room = DiscordClass(
        env=env,
        bot=bot,
        settings=settings,
        guild=guild,
        channel=channel,
        student=guild.add_member(env.create_user("ana")),
        teacher=guild.add_member(env.create_user("profe"), roles=[guild.create_role("Instructor")]),
        victim=guild.add_member(env.create_user("victima"), roles=[role]),
        role=role,
        limits=option_limits(env),
    )
    with env.time_context():
        assigned = await room.teacher.slash(channel, "quiz assign", banco="seccion-2", publicar="al-enviar")
    assert "Homework 1" in assigned.response.content
    return room


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def discord_class(tmp_path_factory):
    database = tmp_path_factory.mktemp("hostile-discord") / "aula.sqlite3"
    async with FakeLlmServer() as llm:
        settings = load_settings(
            environ={
                "AULA_DATABASE": str(database),
                "AULA__QUIZ__TICK_SECONDS": "0",
                "AULA__HOMEWORK__TICK_SECONDS": "0",
                "AULA_LLM_BASE_URL": llm.base_url,
                "AULA_LLM_API_KEY": API_KEY,
                # A whole class, one student: no cooldown, queue or budget between the sends.
                "AULA__LLM__USER_COOLDOWN_S": "0",
                "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
                "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000",
            },
            dotenv_path=None,
        )
        bot = create_bot(settings, aula=Aula(settings))
        env = simcord.Env(bot)  # as simcord's own fixture runs it: start here, shut down below
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(respond, "EDIT_INTERVAL_S", 0.0)  # streamed edits at once: no waiting a second
            # simcord settles every action (waits until the bot is idle), polling every 50 ms of real
            # time; polled every 5 ms the same settling takes a sixth of the time over ~1,500 sends.
            patch.setitem(simcord.Env._settle_internal.__kwdefaults__, "idle", 0.005)
            await env.start()
            try:
                room = await classroom(env, bot, settings)
                yield room
            finally:
                await env.shutdown()
        await bot.aula.close()


# --- sending and what came of it ----------------------------------------------------------------


@dataclass
class Sent:
    result: Any  # simcord's InteractionResult
    requests: list  # the bot's REST calls meanwhile
    messages: list  # backend messages created or changed meanwhile (any channel, any thread)


def all_messages(room: DiscordClass):
    for by_id in room.env.backend.messages.values():
        yield from by_id.values()


async def send(room: DiscordClass, action) -> Sent:
    env = room.env
    start, cursor = len(env.http_requests), env.error_cursor
    with env.time_context():
        result = await action()
    assert env.errors_since(cursor) == (), "the bot raised"
    changed = []
    for message in all_messages(room):
        version = (message.content, id(message.embeds), message.edited_timestamp)  # an edit replaces them
        if room.checked.get((message.channel_id, message.id)) != version:
            room.checked[(message.channel_id, message.id)] = version
            changed.append(message)
    return Sent(result, env.http_requests[start:], changed)


async def refused_by_discord(action) -> None:
    """Discord's client refuses what exceeds a declared limit, before the bot sees anything."""
    with pytest.raises((OptionError, SetupError), match="at most|exceeds max_length"):
        await action()


def message_texts(message) -> list[str]:
    texts = [message.content]
    for embed in message.embeds:
        texts += [embed.get("title") or "", embed.get("description") or ""]
        texts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    return [text for text in texts if text]


def bodies_with_text(payload: Any):
    """Every JSON object in a request that carries message content or embeds."""
    if isinstance(payload, dict):
        if "content" in payload or "embeds" in payload:
            yield payload
        for value in payload.values():
            yield from bodies_with_text(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from bodies_with_text(value)


def check_shown_safely(sent: Sent) -> None:
    for request in sent.requests:
        for body in bodies_with_text(request.json):
            assert body.get("allowed_mentions") == {"parse": []}, (request.method, request.path)
    for message in sent.messages:
        assert not (message.mention_everyone or message.ping_user_ids or message.ping_role_ids), message.content[:300]
        for text in message_texts(message):
            assert fence_problems(text) == [], text[:500]
            live = outside_code(text)
            for pattern in LIVE_MARKDOWN:
                assert not pattern.search(live), (pattern.pattern, text[:500])


def unescaped(text: str) -> str:
    """A Discord message as plain text: markdown escapes and the mention breakers removed."""
    return re.sub(r"\\(?=[^\w\s])", "", text).replace("@\u200b", "@")


def answer_texts(sent: Sent) -> list[str]:
    result = sent.result
    return [m.content for m in [result.response, *result.followups] if m is not None]


def check_answer(sent: Sent, refusal: str | None) -> None:
    texts = answer_texts(sent)
    assert texts, "no answer at all"
    errors = [text for text in texts if text.startswith("⚠️")]
    if refusal is None:
        assert errors == [], errors[0][:300]
        return
    assert sent.result.ephemeral and len(texts) == 1, texts
    assert refusal_pattern(refusal, LANG).fullmatch(unescaped(texts[0])), (refusal, texts[0][:500])


async def check_help_still_answers(room: DiscordClass) -> None:
    sent = await send(room, lambda: room.student.slash(room.channel, "help"))
    assert sent.result.ephemeral and sent.result.response.content.startswith("## Aula")
    # The next student comes a quarter of an hour later, as far as Discord can tell: discord.py
    # gives the buttons of a private message 15 minutes, and simcord's clock only moves when told.
    with room.env.time_context():
        await room.env.advance_time(PRIVATE_BUTTONS_S + 1)


def logged_errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def expected_refusal(room: DiscordClass, target: Target, value: str) -> str | None:
    if target.id == "quiz-assign-due":
        return deadline_refusal(value, room.bot.aula.clock(), room.settings.homework.timezone)
    if target.id == "tokens" and value == "":
        return "tokens.error.empty"  # Discord sends no empty option: the command gets none
    return refusal_for(target.id, value, room.settings)


# --- the detector works ----------------------------------------------------------------------------


async def test_a_mention_the_bot_allowed_would_ping_here(discord_class: DiscordClass):
    """The no-ping checks below can fail: in this server, a bot message that allowed mentions pings."""
    room = discord_class
    channel = room.bot.get_channel(room.channel.id)
    with room.env.time_context():
        message = await channel.send(
            f"@everyone <@&{room.role.id}> <@{room.victim.id}>", allowed_mentions=discord.AllowedMentions.all()
        )
    stored = room.env.backend.messages[room.channel.id][message.id]
    assert stored.mention_everyone and stored.ping_role_ids == [room.role.id]
    assert stored.ping_user_ids == [room.victim.id]
    await send(room, lambda: _noop())  # mark it seen, so the matrix does not blame a command for it


async def _noop() -> None:
    return None


# --- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
@pytest.mark.parametrize("target", TEXT_TARGETS, ids=[t.id for t in TEXT_TARGETS])
async def test_text_option(discord_class: DiscordClass, target: Target, entry: Hostile, caplog):
    room = discord_class
    actor = room.teacher if target.teacher else room.student
    text = room.localized(entry.text)
    limit = room.limits[(target.command, target.option)]

    def slash(value: str):
        return lambda: actor.slash(room.channel, target.command, **{target.option: value}, **target.others)

    if len(text) > limit:
        await refused_by_discord(slash(text))
        text = text[:limit]
    sent = await send(room, slash(text))
    check_shown_safely(sent)
    check_answer(sent, expected_refusal(room, target, text))
    await check_help_still_answers(room)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_roles_form(discord_class: DiscordClass, entry: Hostile, caplog):
    room = discord_class
    shown = await send(room, lambda: room.student.slash(room.channel, "roles", formulario=True))
    inputs = {c["custom_id"]: c for row in shown.result.modal["components"] for c in row["components"]}
    text = room.localized(entry.text)
    values = {field: text for field in ("m1", "m2", "m3")}
    if len(text) > inputs["m2"]["max_length"] or not text:  # Discord keeps the field within its limit
        await refused_by_discord(lambda: room.student.submit_modal(shown.result, values)) if text else None
        values = {field: text[: inputs[field]["max_length"]] for field in values}
    if values["m2"]:  # an empty required field: Discord does not let the form be sent
        sent = await send(room, lambda: room.student.submit_modal(shown.result, values))
        check_shown_safely(sent)
        check_answer(sent, refusal_for("roles-form", values["m2"], room.settings))
    await check_help_still_answers(room)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_homework_form(discord_class: DiscordClass, entry: Hostile, caplog):
    """A first answer from a new student each time, named with the input too (a display name is
    pasted text, shown with every published answer; Discord allows 32 characters)."""
    room = discord_class
    name = room.localized(entry.text)[:32]
    user = room.env.create_user(f"hw{CORPUS.index(entry):03d}", global_name=name if name.strip() else None)
    student = room.guild.add_member(user)
    shown = await send(room, lambda: student.slash(room.channel, "quiz answer"))
    inputs = [c for row in shown.result.modal["components"] for c in row["components"]]
    text = room.localized(entry.text)
    values = {i["custom_id"]: text[: i["max_length"]] for i in inputs}
    if any(len(text) > i["max_length"] for i in inputs):
        await refused_by_discord(lambda: student.submit_modal(shown.result, {k: text for k in values}))
    sent = await send(room, lambda: student.submit_modal(shown.result, values))
    check_shown_safely(sent)
    refusal = refusal_for("homework-form", min(values.values(), key=len), room.settings)
    check_answer(sent, refusal)
    if refusal is None:  # published in the questions' threads at once, and shown back to its author
        mine = await send(room, lambda: student.slash(room.channel, "quiz my-answers"))
        check_shown_safely(mine)
        check_answer(mine, None)
    await check_help_still_answers(room)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("suffix", [".yaml", ".csv"])
@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_quiz_import_file(discord_class: DiscordClass, entry: Hostile, suffix: str, caplog):
    """The input as an uploaded bank: refused with its problems listed, or imported if it is one."""
    room = discord_class
    filename = entry.id + suffix
    data = room.localized(entry.text).encode("utf-8", "surrogatepass")
    try:
        parse_bank(data, filename)
        refusal = None
    except BankError:
        refusal = "quiz.bank_invalid"
    sent = await send(room, lambda: room.teacher.slash(room.channel, "quiz import", archivo=(filename, data)))
    check_shown_safely(sent)
    check_answer(sent, refusal)
    await check_help_still_answers(room)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_bank_autocomplete(discord_class: DiscordClass, entry: Hostile, caplog):
    """What an instructor types in banco: is suggested against as it is typed."""
    room = discord_class
    typed = room.localized(entry.text)[: room.limits[("quiz start", "banco")]]
    with room.env.time_context():
        choices = await room.teacher.autocomplete(room.channel, "quiz start", "banco", typed)
    here = Request("quiz", User("profe", "profe"), Place("discord", str(room.channel.guild.id), str(room.channel.id)))
    names = await room.bot.aula.commands["quiz"].autocomplete(here, room.bot.aula, "banco", typed)
    assert [c["value"] for c in choices] == names[:25]
    await check_help_still_answers(room)
    assert logged_errors(caplog) == []
