"""/next's class game on simcord: 30 students click at once, the bot restarts mid-round, the close."""

from __future__ import annotations

import pytest

import bot.next.command as next_command
from adapters.discord import create_bot
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.quiz_support import FakeClock
from tests.test_quiz_discord import buttons_of, click_at_once, latest_version, text_of

PROMPT = "El capital de Francia es"


@pytest.fixture
async def fake_llm():
    async with FakeLlmServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path, fake_llm):
    environ = {"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "AULA_LLM_BASE_URL": fake_llm.base_url,
               "AULA_LLM_API_KEY": API_KEY, "AULA__NEXT__TICK_SECONDS": "0", "AULA__NEXT__GAME_SECONDS": "60"}  # fmt: skip
    return load_settings(environ=environ, dotenv_path=None)


@pytest.fixture
async def simcord_bot(settings, clock):
    bot = create_bot(settings, aula=Aula(settings, commands=[next_command.command], clock=clock))
    yield bot
    await bot.aula.close()


@pytest.fixture
def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher_role = guild.create_role("Instructor")
    teacher = guild.add_member(simcord_env.create_user("profe", global_name="Profe"), roles=[teacher_role])
    students = [guild.add_member(simcord_env.create_user(f"est{i:02}", global_name=f"Estudiante {i:02}"))
                for i in range(30)]  # fmt: skip
    return channel, teacher, students


def answered(result) -> bool:
    """A private "Answer saved": the response itself, or (a click deferred in a burst) its one followup."""
    if result.deferred:
        return len(result.followups) == 1 and result.followups[0].ephemeral and "Answer saved" in result.followups[0].content
    return result.ephemeral and "Answer saved" in result.response.content


async def test_thirty_students_guess_the_bot_restarts_and_the_round_closes(simcord_env, simcord_bot, classroom,
                                                                           settings, clock):  # fmt: skip
    channel, teacher, students = classroom
    started = await teacher.slash(channel, "next", texto=PROMPT, juego=True)
    assert started.ephemeral
    round_message = channel.last_message
    guesses = [b for b in buttons_of(round_message) if b["custom_id"].startswith("next:guess:")]
    assert len(guesses) == 8
    first_half = [(s, round_message, guesses[i % 8]["custom_id"]) for i, s in enumerate(students[:15])]
    results = await click_at_once(simcord_env, first_half)
    assert all(answered(r) for r in results)

    old = simcord_env.bot
    new = create_bot(settings, aula=Aula(settings, commands=[next_command.command], clock=clock))
    await simcord_env.restart_bot(new)
    await old.aula.close()
    try:
        second_half = [(s, round_message, guesses[i % 8]["custom_id"]) for i, s in enumerate(students[15:])]
        results = await click_at_once(simcord_env, second_half)
        assert all(answered(r) for r in results)
        again = await students[0].click(round_message, custom_id=guesses[3]["custom_id"])
        assert "You already answered" in again.response.content
        rows = await new.aula.db.fetchall("SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS people FROM next_guesses")
        assert (rows[0]["n"], rows[0]["people"]) == (30, 30)

        close = next(b["custom_id"] for b in buttons_of(round_message) if b["custom_id"].startswith("next:close:"))
        refused = await students[1].click(round_message, custom_id=close)
        assert refused.ephemeral and "instructor" in refused.response.content.lower()
        await teacher.click(round_message, custom_id=close)
        await new.aula.services.next_game.tick()
        await simcord_env.settle()
        assert all(b.get("disabled") for b in buttons_of(latest_version(channel, round_message)))
        shown = text_of(channel.last_message)
        assert "30 answers from the class" in shown and "Estudiante" in shown
        assert any(a.filename == "next-round-1.png" for a in channel.last_message.attachments)
    finally:
        await new.aula.close()


async def test_a_typed_guess_through_the_modal_is_scored_and_a_blank_one_refused(simcord_env, simcord_bot, classroom):
    """"Write another word" opens a Discord modal; what is typed is the guess, scored against the
    model's own probability for it (the server's " París"-less top k: " la" is the first)."""
    import math

    from bot.i18n import t
    from bot.next.game import POINTS
    from tests.fake_llm import next_tokens

    channel, teacher, [ana, beto, *_] = classroom
    await teacher.slash(channel, "next", texto=PROMPT, juego=True)
    round_message = channel.last_message
    write = next(b["custom_id"] for b in buttons_of(round_message) if b["custom_id"].startswith("next:write:"))
    shown = await ana.click(round_message, custom_id=write)
    assert shown.modal is not None
    [[field]] = [row["components"] for row in shown.modal["components"]]
    typed = await ana.submit_modal(shown, {field["custom_id"]: "  LA "})
    assert typed.ephemeral and t("en", "next.game.recorded", guess="LA", number=1) in typed.response.content
    blank = await beto.submit_modal(await beto.click(round_message, custom_id=write), {field["custom_id"]: "   "})
    assert blank.ephemeral and t("en", "next.game.empty_guess") in blank.response.content
    [row] = await simcord_bot.aula.db.fetchall("SELECT guess, probability FROM next_guesses")
    top = next_tokens(PROMPT)[0]
    assert top[1] == b" la" and (row["guess"], row["probability"]) == ("LA", math.exp(top[2]))
    assert round(POINTS * row["probability"]) == round(POINTS * math.exp(top[2]))
