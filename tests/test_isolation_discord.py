"""Every Discord server is its own class (issue 13, item 1), through simcord with two guilds.

Guild B's instructor imports banks; guild A must neither see nor play them, B cannot
replace the banks shipped with Aula, and a click carrying another guild's quiz id (a
modified client can send any custom_id) neither answers that quiz nor reads its standings.
Each test asserts the attacker's (B) and the victim's (A) view.
"""

from __future__ import annotations

import tracemalloc

import pytest
from simcord import interactions
from simcord.backend import serializers
from simcord.results import InteractionResult

from adapters.discord import create_bot
from bot.app import Aula
from tests.quiz_support import FakeClock, quiz_settings
from tests.test_quiz_discord import buttons_of, text_of

# B's exam: a link of B's choosing in its question.
B_EXAM = (
    'questions:\n  - question: {es: "¿Examen de B? https://b.example/x", en: "B exam? https://b.example/x"}\n'
    "    options: [sí, no]\n    answer: A\n"
)
A_EXAM = 'questions:\n  - question: {es: "¿Examen de A?", en: "A exam?"}\n    options: [uno, dos, tres]\n    answer: C\n'
# B tries to replace the course's bank.
B_SECTION = 'questions:\n  - question: {es: "¿Sección falsa?", en: "Fake section?"}\n    options: [x, y]\n    answer: A\n'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def simcord_bot(tmp_path, clock):
    settings = quiz_settings(str(tmp_path / "aula.sqlite3"))
    bot = create_bot(settings, aula=Aula(settings, clock=clock))
    yield bot
    await bot.aula.close()


def classroom(env, name: str):
    guild = env.create_guild(name=name)
    channel = guild.create_text_channel("clase")
    role = guild.create_role("Instructor")
    teacher = guild.add_member(env.create_user(f"profe-{name}", global_name=f"Profe {name}"), roles=[role])
    student = guild.add_member(env.create_user(f"est-{name}", global_name=f"Estudiante {name}"))
    return channel, teacher, student


@pytest.fixture
def classes(simcord_env):
    return classroom(simcord_env, "a"), classroom(simcord_env, "b")


async def forged_click(env, member, message, custom_id: str) -> InteractionResult:
    """A click on `message` carrying any custom_id, as a modified client can send it."""
    env._begin_operation("forged_click")
    try:
        stored = env.backend.get_message(message.channel.id, message.id)
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
        env.backend.emit("INTERACTION_CREATE", payload)
        await env._settle_internal(dispatch="INTERACTION_CREATE")
        return InteractionResult(env, record)
    finally:
        env._end_operation()


async def test_a_bank_imported_in_one_server_is_invisible_in_another(simcord_env, classes):
    (a_channel, a_teacher, _), (b_channel, b_teacher, _) = classes
    imported = await b_teacher.slash(b_channel, "quiz import", archivo=("examen.yaml", B_EXAM.encode()))
    assert "Bank «examen» imported" in imported.response.content

    # The victim: no such bank, not in the list of available ones, not suggested.
    refused = await a_teacher.slash(a_channel, "quiz start", banco="examen")
    assert refused.ephemeral and "I can't find the bank «examen»" in refused.response.content
    assert "examen" not in refused.response.content.split("Available banks:")[1]
    assert a_channel.last_message is None
    assert await a_teacher.autocomplete(a_channel, "quiz start", "banco", "exa") == []
    assert [c["value"] for c in await a_teacher.autocomplete(a_channel, "quiz start", "banco", "")] == [
        "seccion-2"
    ]

    # The attacker's class sees its own bank, and plays it.
    suggested = await b_teacher.autocomplete(b_channel, "quiz start", "banco", "")
    assert [c["value"] for c in suggested] == ["examen", "seccion-2"]
    await b_teacher.slash(b_channel, "quiz start", banco="examen")
    assert "B exam?" in text_of(b_channel.last_message)

    # A imports a bank of the same name: each class plays its own.
    await a_teacher.slash(a_channel, "quiz import", archivo=("examen.yaml", A_EXAM.encode()))
    await a_teacher.slash(a_channel, "quiz start", banco="examen")
    shown = text_of(a_channel.last_message)
    assert "A exam?" in shown and "b.example" not in shown
    assert [b["label"] for b in buttons_of(a_channel.last_message)] == ["A · uno", "B · dos", "C · tres"]
    rows = await simcord_env.bot.aula.db.fetchall(
        "SELECT workspace_id, name FROM quiz_class_banks ORDER BY workspace_id"
    )
    assert sorted((r["workspace_id"], r["name"]) for r in rows) == sorted(
        [(str(a_channel.guild.id), "examen"), (str(b_channel.guild.id), "examen")]
    )


async def test_an_import_never_replaces_a_shipped_bank(simcord_env, classes):
    (a_channel, a_teacher, _), (b_channel, b_teacher, _) = classes
    refused = await b_teacher.slash(b_channel, "quiz import", archivo=("seccion-2.yaml", B_SECTION.encode()))
    assert refused.ephemeral and "ships with Aula" in refused.response.content
    assert await simcord_env.bot.aula.db.fetchall("SELECT * FROM quiz_class_banks") == []
    for channel, teacher in ((a_channel, a_teacher), (b_channel, b_teacher)):
        await teacher.slash(channel, "quiz start", banco="seccion-2")
        shown = text_of(channel.last_message)
        assert "What is a token?" in shown and "Fake section?" not in shown


async def test_a_click_from_another_server_neither_answers_nor_reads_a_quiz(simcord_env, classes):
    (a_channel, a_teacher, a_student), (b_channel, b_teacher, b_student) = classes
    await a_teacher.slash(a_channel, "quiz start", banco="seccion-2")
    a_question = a_channel.last_message
    await a_student.click(a_question, custom_id="quiz:answer:1:0:B")
    await b_teacher.slash(b_channel, "quiz start", banco="seccion-2")
    b_question = b_channel.last_message
    assert [b["custom_id"] for b in buttons_of(b_question)][0] == "quiz:answer:2:0:A"

    # B's student sends A's quiz ids from B's own question: no answer, no standings.
    for custom_id in ("quiz:answer:1:0:A", "quiz:rank:1"):
        result = await forged_click(simcord_env, b_student, b_question, custom_id)
        assert result.response is None or "Estudiante a" not in (result.response.content or "")
    rows = await simcord_env.bot.aula.db.fetchall("SELECT session_id, user_id, choice FROM quiz_answers")
    assert [tuple(r) for r in rows] == [(1, str(a_student.id), 1)]  # A's quiz: only A's student

    # In their own class, both still play.
    mine = await b_student.click(b_question, custom_id="quiz:answer:2:0:A")
    assert "Answer recorded: A" in mine.response.content


async def test_an_alias_bomb_import_is_refused_and_the_class_goes_on(simcord_env, classes):
    """Issue 13, item 6: 603 bytes of nested YAML aliases blocked the event loop for 181 s."""
    from tests.test_quiz_banks import alias_bomb

    (a_channel, a_teacher, a_student), (b_channel, b_teacher, _) = classes
    tracemalloc.start()
    try:
        refused = await b_teacher.slash(b_channel, "quiz import", archivo=("bomba.yaml", alias_bomb("id").encode()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # bytes, the whole bot included
    assert refused.ephemeral and "uses YAML anchors or aliases" in refused.response.content
    assert "lol" not in refused.response.content
    assert await simcord_env.bot.aula.db.fetchall("SELECT * FROM quiz_class_banks") == []
    # The other class, and this one, carry on.
    await a_teacher.slash(a_channel, "quiz start", banco="seccion-2")
    answered = await a_student.click(a_channel.last_message, custom_id="quiz:answer:1:0:B")
    assert "Answer recorded: B" in answered.response.content


async def test_a_dm_does_not_escape_the_class_limits(simcord_env, classes):
    """Issue 13.2: a DM was a "class" of its own, with its own /compare budget. Commands that
    spend a class's budget are refused in a DM; the others (here /tokens) work there."""
    dm_user = simcord_env.create_user("solo")
    refused = await dm_user.slash("compare", prompt="Hola")
    assert refused.ephemeral and "/compare doesn't work in direct messages" in refused.response.content
    refused = await dm_user.slash("next", texto="Hola")
    assert "/next doesn't work in direct messages" in refused.response.content
    tokens = await dm_user.slash("tokens", texto="Hola mundo")
    assert "direct messages" not in (tokens.response.content or "")
    assert await simcord_env.bot.aula.db.fetchall("SELECT * FROM compare_runs") == []
