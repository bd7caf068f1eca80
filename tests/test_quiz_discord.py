"""/quiz through the Discord adapter on simcord: an instructor runs it, students click the
persistent buttons, the bot is rebuilt mid-question, a timer expires while it is down.

simcord's users speak en-US, so replies here are in English.
"""

from __future__ import annotations

import asyncio

import pytest
from simcord import SetupError, interactions
from simcord.backend import serializers
from simcord.results import InteractionResult

from adapters.discord import create_bot
from adapters.starts import SLOTS, start_slots
from bot.app import Aula
from bot.replies import Paragraph, Reply
from tests.export_support import xlsx_rows
from tests.quiz_support import FakeClock, hold_every_start_slot, quiz_settings

ANSWER_IDS = [f"quiz:answer:1:0:{letter}" for letter in "ABCD"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path):
    return quiz_settings(str(tmp_path / "aula.sqlite3"))


@pytest.fixture
async def simcord_bot(settings, clock):
    bot = create_bot(settings, aula=Aula(settings, clock=clock))
    yield bot
    await bot.aula.close()


@pytest.fixture
async def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher_role = guild.create_role("Instructor")
    teacher = guild.add_member(simcord_env.create_user("profe", global_name="Profe"), roles=[teacher_role])
    students = [
        guild.add_member(simcord_env.create_user(f"est{i:02}", global_name=f"Estudiante {i:02}"))
        for i in range(30)
    ]
    return channel, teacher, students


def text_of(message) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.title or "", embed.description or ""]
        parts += [f"{f.name}\n{f.value}" for f in embed.fields]
    return "\n".join(parts)


def buttons_of(message) -> list[dict]:
    """custom_id, label and disabled of each button, from a discord.Message or a raw payload."""
    buttons = []
    for row in message.components:
        for item in row["components"] if isinstance(row, dict) else row.children:
            if not isinstance(item, dict):
                item = {"custom_id": item.custom_id, "label": item.label, "disabled": item.disabled}
            buttons.append(item)
    return buttons


def latest_version(channel, message):
    """The message as the channel shows it now (after the bot's edits)."""
    return next(m for m in channel.history() if m.id == message.id)


async def click_at_once(env, clicks) -> list[InteractionResult]:
    """Several clicks that reach the bot together, then one settle: a burst from the gateway.

    simcord's own `click` settles after every interaction, which serializes them; this
    builds the same INTERACTION_CREATE payloads (simcord's interactions.base_payload) and
    emits them all before the bot runs any of them.
    """
    env._begin_operation("click_at_once")
    try:
        records = []
        for member, message, custom_id in clicks:
            stored = env.backend.get_message(message.channel.id, message.id)
            assert any(c.get("custom_id") == custom_id and not c.get("disabled") for c in buttons_of(message))
            record, payload = interactions.base_payload(
                env.backend,
                type=3,  # MESSAGE_COMPONENT
                channel_id=stored.channel_id,
                guild_id=member.guild.id,
                user_id=member.id,
                data={"custom_id": custom_id, "component_type": 2},
            )
            payload["message"] = dict(serializers.message_payload(env.backend, stored))
            record.source_message_id = stored.id
            env._notify_dispatch_observers(record)
            records.append((record, payload))
        for _, payload in records:
            env.backend.emit("INTERACTION_CREATE", payload)
        await env._settle_internal(dispatch="INTERACTION_CREATE")
        return [InteractionResult(env, record) for record, _ in records]
    finally:
        env._end_operation()


async def recorded(bot) -> list[tuple]:
    rows = await bot.aula.db.fetchall("SELECT user_id, choice FROM quiz_answers ORDER BY user_id")
    return [tuple(r) for r in rows]


async def test_an_instructor_starts_a_quiz_and_thirty_students_click_at_once(simcord_env, classroom):
    channel, teacher, students = classroom
    started = await teacher.slash(channel, "quiz start", banco="seccion-2")
    assert started.ephemeral and "Quiz «Section 2" in started.response.content

    question = channel.last_message
    assert "Question 1 of 17" in text_of(question) and "What is a token?" in text_of(question)
    assert [b["custom_id"] for b in buttons_of(question)] == ANSWER_IDS

    clicks = [(s, question, ANSWER_IDS[i % 4]) for i, s in enumerate(students)]
    results = await click_at_once(simcord_env, clicks)
    # Four start at once and answer directly; the others must queue, so they are deferred at
    # once, without a "thinking…" message, and the confirmation follows privately.
    direct, deferred = results[:SLOTS], results[SLOTS:]
    assert all(r.ephemeral and "Answer recorded" in r.response.content for r in direct)
    assert all(r.deferred and r.response.id == question.id for r in deferred)
    assert all(
        len(r.followups) == 1 and r.followups[0].ephemeral and "Answer recorded" in r.followups[0].content
        for r in deferred
    )
    rows = await recorded(simcord_env.bot)
    assert len(rows) == 30 and {user for user, _ in rows} == {str(s.id) for s in students}
    assert sum(1 for _, choice in rows if choice == 1) == 8  # students 1, 5, ... 29 chose B


async def test_a_double_click_records_one_answer(simcord_env, classroom):
    channel, teacher, (ana, *_) = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    first, second = await click_at_once(simcord_env, [(ana, question, ANSWER_IDS[1])] * 2)
    assert await recorded(simcord_env.bot) == [(str(ana.id), 1)]
    texts = [first.response.content, second.response.content]
    assert sum("Answer recorded: B" in t for t in texts) == 1
    assert sum("You already had B" in t for t in texts) == 1


async def test_a_student_cannot_start_a_quiz(simcord_env, classroom):
    channel, _, (ana, *_) = classroom
    refused = await ana.slash(channel, "quiz start", banco="seccion-2")
    assert refused.ephemeral and "Only instructors can use this" in refused.response.content
    assert channel.last_message is None or "Question 1" not in text_of(channel.last_message)
    assert await simcord_env.bot.aula.db.fetchall("SELECT * FROM quiz_sessions") == []


async def test_bank_names_autocomplete_in_discord(simcord_env, classroom):
    channel, teacher, _ = classroom
    choices = await teacher.autocomplete(channel, "quiz start", "banco", "secc")
    assert [c["value"] for c in choices] == ["seccion-2"]


async def test_at_the_close_buttons_are_disabled_and_the_chart_and_leaderboard_are_posted(
    simcord_env, classroom, clock
):
    channel, teacher, students = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    await click_at_once(simcord_env, [(s, question, ANSWER_IDS[1]) for s in students[:3]])
    await simcord_env.settle()
    clock.advance(31)
    await simcord_env.bot.aula.services.quiz.tick()
    await simcord_env.settle()

    closed = latest_version(channel, question)
    assert all(b.get("disabled") for b in buttons_of(closed))
    assert "100%" in text_of(closed)
    with pytest.raises(SetupError, match="disabled"):
        await students[4].click(closed, custom_id=ANSWER_IDS[0])
    results = channel.last_message
    assert [a.filename for a in results.attachments] == ["quiz-1-q1.png"]
    assert "Leaderboard" in text_of(results) and "Estudiante 00" in text_of(results)
    mine = await students[2].click(results, label="My rank")
    # the three clicked in the same instant (the fake clock): the same points, so the same place
    assert mine.ephemeral and "You are number 1 of 3, with 1,000 points" in mine.response.content


async def test_the_bot_is_rebuilt_mid_question_and_clicks_are_still_recorded(
    simcord_env, classroom, settings, clock
):
    channel, teacher, students = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    await students[0].click(question, custom_id=ANSWER_IDS[0])

    old = simcord_env.bot
    new = create_bot(settings, aula=Aula(settings, clock=clock))  # a new bot on the same database
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        clicked = await students[1].click(question, custom_id=ANSWER_IDS[1])
        assert clicked.ephemeral and "Answer recorded: B" in clicked.response.content
        again = await students[0].click(question, custom_id=ANSWER_IDS[2])
        assert "You already answered A" in again.response.content
        assert await recorded(new) == sorted([(str(students[0].id), 0), (str(students[1].id), 1)])
    finally:
        await new.aula.close()


async def test_a_timer_that_expired_while_the_bot_was_down_closes_at_start_up(
    simcord_env, classroom, settings, clock
):
    channel, teacher, students = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    await students[0].click(question, custom_id=ANSWER_IDS[1])

    old = simcord_env.bot
    clock.advance(3600)  # down for an hour
    new = create_bot(settings, aula=Aula(settings, clock=clock))
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        state = await new.aula.services.quiz.repo.question(1, 0)
        assert state.closed_at == state.closes_at  # closed by the start-up, at its own closing time
        await new.aula.services.quiz.tick()  # the first tick once Discord is connected posts it
        await simcord_env.settle()
        closed = latest_version(channel, question)
        assert all(b.get("disabled") for b in buttons_of(closed))
        assert "Estudiante 00" in text_of(channel.last_message)
    finally:
        await new.aula.close()


async def test_an_instructor_imports_a_bank_as_an_attachment_and_plays_it(simcord_env, classroom):
    channel, teacher, (ana, *_) = classroom
    bank = 'questions:\n  - question: {es: "¿Sí?", en: "Yes?"}\n    options: [sí, no]\n    answer: A\n'
    broken = await teacher.slash(
        channel, "quiz import", archivo=("clase 3.yaml", b"questions:\n  - options: [a]\n")
    )
    assert broken.ephemeral and "clase 3.yaml, question 1, field «question»" in broken.response.content
    imported = await teacher.slash(channel, "quiz import", archivo=("clase 3.yaml", bank.encode()))
    assert imported.ephemeral and "Bank «clase-3» imported" in imported.response.content

    refused = await ana.slash(channel, "quiz import", archivo=("mio.yaml", bank.encode()))
    assert "Only instructors" in refused.response.content
    await teacher.slash(channel, "quiz start", banco="clase-3")
    question = channel.last_message
    assert "Yes?" in text_of(question)
    assert [b["label"] for b in buttons_of(question)] == ["A · sí", "B · no"]


async def test_the_instructor_gets_the_csv_files_privately(simcord_env, classroom):
    channel, teacher, (ana, *_) = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    await ana.click(channel.last_message, custom_id=ANSWER_IDS[1])
    await teacher.slash(channel, "quiz stop")
    exported = await teacher.slash(channel, "quiz export")
    assert exported.ephemeral
    files = {a.filename: a for a in exported.response.attachments}
    assert set(files) == {
        "quiz-1-seccion-2-students.csv", "quiz-1-seccion-2-questions.csv",
        "quiz-1-seccion-2-students.xlsx", "quiz-1-seccion-2-questions.xlsx",
    }  # fmt: skip
    students = (await files["quiz-1-seccion-2-students.csv"].read()).decode("utf-8-sig")
    assert f"Estudiante 00,{ana.id},,1000,1,1,B" in students
    [row] = xlsx_rows(await files["quiz-1-seccion-2-students.xlsx"].read())
    assert (row["user_id"], row["points"], row["q1"]) == (str(ana.id), 1000, "B")
    refused = await ana.slash(channel, "quiz export")
    assert refused.ephemeral and not refused.response.attachments


async def test_a_click_queued_behind_a_burst_is_scored_from_its_arrival(simcord_env, classroom, clock):
    """The adapter stamps the click as it arrives; the twelve seconds it then waits for a
    start slot (a class's burst ahead of it) cost no speed bonus and no deadline."""
    channel, teacher, (ana, *_) = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2", tiempo=10)
    question = channel.last_message
    arrived = clock.now
    burst_done = asyncio.Event()
    ahead = hold_every_start_slot(simcord_env.bot.aula, [burst_done] * SLOTS)
    await asyncio.sleep(0)
    assert start_slots(simcord_env.bot.aula.services).full

    callbacks_before_release = []

    async def burst_ends_later():
        await asyncio.sleep(0.05)
        callbacks_before_release.extend(
            r.json for r in simcord_env.http_requests if r.path.endswith("/callback")
        )
        clock.advance(12)  # past the question's 10 s timer, which has not run yet
        burst_done.set()

    ending = asyncio.create_task(burst_ends_later())
    clicked = await ana.click(question, custom_id=ANSWER_IDS[0])
    await ending
    await asyncio.gather(*ahead)
    await simcord_env.settle()
    # Deferred at once (it had to queue), without a "thinking…" note in the channel.
    assert clicked.deferred and clicked.response.id == question.id  # no message of its own
    # It had to queue, so it was deferred at once, without waiting for a quick reply.
    assert callbacks_before_release[-1] == {"type": 6}  # DEFERRED_UPDATE_MESSAGE
    (confirmation,) = clicked.followups
    assert confirmation.ephemeral and "Answer recorded" in confirmation.content
    row = await simcord_env.bot.aula.db.fetchone("SELECT answered_at FROM quiz_answers")
    assert row["answered_at"] == arrived


async def test_a_quiz_click_goes_ahead_of_commands_waiting_for_a_slot(simcord_env, classroom):
    channel, teacher, (ana, *_) = classroom
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    question = channel.last_message
    slots = start_slots(simcord_env.bot.aula.services)
    one_frees, others_free = asyncio.Event(), asyncio.Event()
    holders = hold_every_start_slot(simcord_env.bot.aula, [one_frees] + [others_free] * (SLOTS - 1))
    answers_when_the_command_started: list[int] = []

    async def a_tokens_command():
        row = await simcord_env.bot.aula.db.fetchone("SELECT COUNT(*) AS n FROM quiz_answers")
        answers_when_the_command_started.append(row["n"])
        yield Reply.public(Paragraph.of("tokens"))

    waiting_command = asyncio.ensure_future(anext(slots.first_of(a_tokens_command())))
    await asyncio.sleep(0)

    async def one_slot_frees_later():
        await asyncio.sleep(0.05)
        one_frees.set()

    freeing = asyncio.create_task(one_slot_frees_later())
    clicked = await ana.click(question, custom_id=ANSWER_IDS[0])
    await freeing
    (confirmation,) = clicked.followups
    assert "Answer recorded" in confirmation.content
    others_free.set()
    await asyncio.gather(waiting_command, *holders)
    # The command queued first, but the click had the first free slot.
    assert answers_when_the_command_started == [1]
