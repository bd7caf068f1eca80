"""The homework scheduler itself on simcord: the core's clock follows simcord's simulated time,
so advancing it lets the background loop (not the test) send the reminder and publish at the
deadline, as the running bot would."""

from __future__ import annotations

import pytest

from adapters.discord import create_bot
from bot.app import Aula
from tests.homework_support import DAY, homework_settings
from tests.quiz_support import START
from tests.test_quiz_discord import text_of


class SimulatedClock:
    """START until simcord is attached, then START plus the simulated time elapsed since."""

    def __init__(self) -> None:
        self.env = None
        self.base = 0.0

    def attach(self, env) -> None:
        self.env, self.base = env, env.now().timestamp()

    def __call__(self) -> float:
        return START if self.env is None else START + self.env.now().timestamp() - self.base


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
async def simcord_bot(tmp_path, clock):
    settings = homework_settings(tmp_path, tick_seconds=3600)  # the real loop, hourly
    bot = create_bot(settings, aula=Aula(settings, clock=clock))
    yield bot
    await bot.aula.close()


async def test_the_loop_sends_the_reminder_and_publishes_as_simulated_time_passes(simcord_env, clock):
    clock.attach(simcord_env)
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher = guild.add_member(simcord_env.create_user("profe"), roles=[guild.create_role("Instructor")])
    beto_user = simcord_env.create_user("beto")
    ana, beto = guild.add_member(simcord_env.create_user("ana")), guild.add_member(beto_user)
    await beto.slash(channel, "quiz my-answers")  # on the class roster
    await teacher.slash(channel, "quiz assign", banco="seccion-2", vence="in 2 days")
    await ana.submit_modal(await ana.slash(channel, "quiz answer"), {"p0": "published by the loop"})

    await simcord_env.advance_time(DAY - 3600)  # an hour before the reminder time
    assert beto_user.dm_channel.last_message is None
    await simcord_env.advance_time(2 * 3600)
    assert "4 questions left" in text_of(beto_user.dm_channel.last_message)

    threads = [t for t in channel.threads if t.name.startswith("H1 Q1")]
    assert [m for t in threads for m in t.history()] == []  # not before the deadline
    await simcord_env.advance_time(DAY + 3600)
    posts = [text_of(m) for t in threads for m in t.history()]
    assert len(posts) == 1 and "published by the loop" in posts[0]
    assert "is due" in text_of(channel.last_message)
