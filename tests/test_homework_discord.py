"""Homework through the Discord adapter on simcord: the assignment and its threads, the modal,
answers posted in threads (escaped, pinging nobody), the reminder DM after moving the clock
and its opt-out button, a member of another server refused, a restart before the deadline.

simcord's users speak en-US, so replies here are in English; the channel posts follow the
instructor's language (English too).
"""

from __future__ import annotations

import pytest

from adapters.discord import create_bot
from bot.app import Aula
from bot.quiz.banks import REPO_ROOT, load_bank_file
from tests.discord_support import messages_of
from tests.homework_support import DAY, homework_settings
from tests.quiz_support import FakeClock
from tests.test_quiz_discord import buttons_of, text_of


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path):
    return homework_settings(tmp_path)


@pytest.fixture
async def simcord_bot(settings, clock):
    bot = create_bot(settings, aula=Aula(settings, clock=clock))
    yield bot
    await bot.aula.close()


@pytest.fixture
async def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher = guild.add_member(
        simcord_env.create_user("profe", global_name="Profe"), roles=[guild.create_role("Instructor")]
    )
    users = [simcord_env.create_user(f"est{i}", global_name=f"Estudiante {i}") for i in range(3)]
    students = [guild.add_member(user) for user in users]
    return channel, teacher, students, users


def thread_messages(channel) -> dict[str, list[str]]:
    """Each thread's name -> the texts posted in it."""
    return {thread.name: [text_of(m) for m in thread.history()] for thread in channel.threads}


async def test_assign_opens_a_thread_per_question_and_an_answer_lands_escaped_in_its_thread(
    simcord_env, classroom
):
    channel, teacher, (ana, beto, _), _ = classroom
    assigned = await teacher.slash(
        channel, "quiz assign", banco="seccion-2", vence="in 3 days", publicar="al-enviar"
    )
    assert assigned.ephemeral and "Homework 1 posted in the channel: 4 questions" in assigned.response.content
    texts = [text_of(m) for m in channel.history()]
    assert sum("Question" in t and "of 4 · homework 1" in t for t in texts) == 4
    assert any("📝 Homework 1" in t and "/quiz answer tarea:1" in t for t in texts)
    assert len(channel.threads) == 4
    assert any(
        name.startswith("H1 Q1 · Why do you think it matters to understand tokens?")
        for name in thread_messages(channel)
    )

    shown = await ana.slash(channel, "quiz answer")
    assert shown.modal is not None and shown.modal["title"] == "Homework 1"
    inputs = [c for row in shown.modal["components"] for c in row["components"]]
    assert [i["custom_id"] for i in inputs] == ["p0", "p1", "p2", "p3"]
    assert all(len(i["label"]) <= 45 and i["max_length"] == 4000 and not i["required"] for i in inputs)
    # A long question is cut at a word, and the placeholder goes on from there (or says where it is).
    questions = [q.text["en"] for q in load_bank_file(REPO_ROOT / "config/quizzes/seccion-2.yaml").open_questions]
    for number, (field, question) in enumerate(zip(inputs, questions, strict=True), start=1):
        whole = f"{number}. {question}"
        if len(whole) <= 45:
            assert field["label"] == whole
            continue
        head = field["label"].removesuffix("…")
        assert field["label"].endswith("…") and whole.startswith(head) and whole[len(head)] == " "
        assert len(field["placeholder"]) <= 100 and field["placeholder"].startswith("…")
        rest = whole[len(head):].strip()
        goes_on = field["placeholder"][1:].removesuffix(" (in full in its thread)")
        assert rest == goes_on or (
            rest.startswith(goes_on.removesuffix("…")) and "(in full in its thread)" in field["placeholder"]
        )
    answer = "**bold** @everyone <@123>\n```\nfence\n```"
    saved = await ana.submit_modal(shown, {"p0": answer, "p1": "Base: autocomplete."})
    assert saved.ephemeral and "Saved 2 answers to homework 1" in saved.response.content
    await simcord_env.settle()

    threads = {name.split(" ·")[0]: posts for name, posts in thread_messages(channel).items()}
    [post] = threads["H1 Q1"]
    assert "Estudiante 0" in post
    assert "\\*\\*bold\\*\\*" in post and "@everyone" not in post  # escaped: no bold, no mass ping
    assert "```" not in post
    [message] = [m for t in channel.threads if t.name.startswith("H1 Q1") for m in t.history()]
    assert not message.mention_everyone and not message.mentions
    assert "Base: autocomplete." in threads["H1 Q2"][0]

    refused = await beto.submit_modal(await beto.slash(channel, "quiz answer"), {})
    assert refused.ephemeral and "You didn't write any answer" in refused.response.content


async def test_the_reminder_dm_after_moving_the_clock_and_its_opt_out_button(simcord_env, classroom, clock):
    channel, teacher, (ana, beto, caro), (_, beto_user, caro_user) = classroom
    for student in (ana, beto, caro):
        await student.slash(
            channel, "quiz my-answers"
        )  # before any homework: a clear refusal, and on the roster
    await teacher.slash(channel, "quiz assign", banco="seccion-2", vence="in 3 days", recordatorio=24)
    shown = await ana.slash(channel, "quiz answer")
    await ana.submit_modal(shown, {"p0": "a", "p1": "b", "p2": "c", "p3": "d"})

    clock.advance(2 * DAY + 60)  # past the reminder time, 24 hours before the deadline
    await simcord_env.bot.aula.services.homework.tick()
    await simcord_env.settle()
    reminder = beto_user.dm_channel.last_message
    assert (
        reminder is not None
        and "Homework 1" in text_of(reminder)
        and "4 questions left" in text_of(reminder)
    )
    assert [b["custom_id"] for b in buttons_of(reminder)] == ["quiz:hw-open:1", "quiz:hw-mute:1"]
    assert caro_user.dm_channel.last_message is not None

    muted = await beto_user.click(reminder, custom_id="quiz:hw-mute:1")  # clicked in the DM
    assert muted.ephemeral and "no more homework reminders" in messages_of(muted)[0].content
    form = await caro_user.click(caro_user.dm_channel.last_message, custom_id="quiz:hw-open:1")
    assert form.modal is not None
    done = await caro_user.submit_modal(form, {"p2": "from the DM"})
    assert "Saved 1 answer to homework 1 (question 3)" in done.response.content

    await teacher.slash(channel, "quiz assign", banco="seccion-2", vence="in 5 days")
    clock.advance(4 * DAY)
    await simcord_env.bot.aula.services.homework.tick()
    await simcord_env.settle()
    assert "Homework 2" in text_of(caro_user.dm_channel.last_message)
    assert "Homework 2" not in text_of(beto_user.dm_channel.last_message)  # beto opted out


async def test_a_member_of_another_server_is_refused(simcord_env, classroom):
    channel, teacher, _, _ = classroom
    await teacher.slash(channel, "quiz assign", banco="seccion-2")
    other = simcord_env.create_guild()
    elsewhere = other.create_text_channel("otra")
    stranger = other.add_member(simcord_env.create_user("ajeno"))
    refused = await stranger.slash(elsewhere, "quiz answer", tarea=1)
    assert refused.ephemeral and "belongs to another class" in refused.response.content
    assert await simcord_env.bot.aula.db.fetchall("SELECT * FROM homework_answers") == []


async def test_a_restart_between_submission_and_deadline_still_publishes_at_the_deadline(
    simcord_env, classroom, settings, clock
):
    channel, teacher, (ana, *_), _ = classroom
    await teacher.slash(channel, "quiz assign", banco="seccion-2", vence="in 2 days", anonimo=True)
    shown = await ana.slash(channel, "quiz answer")
    await ana.submit_modal(shown, {"p3": "fine-tuning for my legal documents"})
    assert all(posts == [] for posts in thread_messages(channel).values())

    old = simcord_env.bot
    new = create_bot(settings, aula=Aula(settings, clock=clock))
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        clock.advance(2 * DAY + 60)
        await new.aula.services.homework.tick()
        await simcord_env.settle()
        [posts] = [p for name, p in thread_messages(channel).items() if name.startswith("H1 Q4")]
        assert len(posts) == 1 and "fine-tuning for my legal documents" in posts[0]
        assert "(anonymous)" in posts[0] and "Estudiante 0" not in posts[0]
        assert "Homework 1" in text_of(channel.last_message) and "is due" in text_of(channel.last_message)
    finally:
        await new.aula.close()
