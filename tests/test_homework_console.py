"""Homework in the console classroom: the instructor assigns, a student answers the prompts,
the bot is started again after the deadline and publishes, the instructor reviews and exports."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys

from adapters.console import run_console
from bot.app import Aula
from tests.homework_support import DAY, homework_settings
from tests.quiz_support import FakeClock


async def session(settings, clock, lines: list[str], user: str, instructor: bool = False) -> str:
    out = io.StringIO()
    stdin = io.BytesIO(("\n".join(lines) + "\n").encode())
    await run_console(
        Aula(settings, clock=clock),
        user_name=user,
        instructor=instructor,
        stdin=stdin,
        stdout=out,
        colour=False,
    )
    return out.getvalue()


async def test_assign_answer_in_prompts_publish_after_a_restart_review_and_export(tmp_path):
    settings = homework_settings(tmp_path)
    clock = FakeClock()
    assigned = await session(
        settings, clock, ["/quiz assign banco:seccion-2 vence:en 2 días anonimo:no"], "profe", instructor=True
    )
    assert "Tarea 1 publicada" in assigned and "📝 Tarea 1: Sección 2" in assigned
    assert (
        "#T1 P1 · ¿Por qué crees que es importante entender los tokens?" not in assigned
    )  # threads get no post yet

    answered = await session(
        settings,
        clock,
        [
            "/quiz answer",
            "Porque el modelo ve tokens,\\nno palabras.",  # question 1, two lines
            "",  # question 2: later
            "**Base**: creativo @everyone",
            "",
            "/quiz answer",  # the two left
            "",
            "",  # nothing at all: refused, nothing lost
            "/quiz my-answers",
        ],
        "ana",
    )
    assert "1. ¿Por qué crees que es importante entender los tokens?" in answered  # the prompt
    assert "Guardé 2 respuestas de la tarea 1 (preguntas 1, 3)" in answered
    assert "No escribiste ninguna respuesta" in answered
    assert "Porque el modelo ve tokens,\nno palabras." in answered and "(sin responder)" in answered

    clock.advance(2 * DAY + 60)
    reviewed = await session(
        settings, clock, ["/quiz review", "/quiz export tarea:1"], "profe", instructor=True
    )
    # Started after the deadline: the start-up published the answers in their threads.
    assert "#T1 P1 · ¿Por qué crees que es importante entender los tokens?" in reviewed
    assert "#T1 P3 · ¿Qué ventajas y desventajas ves en cada tipo de modelo (base e instruido)?" in reviewed
    assert "**Base**: creativo @everyone" in reviewed
    assert "Venció la tarea 1" in reviewed
    assert re.search(r"\bana +2/4 +incompleta +2 ", reviewed)
    exported = tmp_path / "console-files" / "tarea-1-seccion-2.csv"
    assert exported.is_file() and stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert "Porque el modelo ve tokens," in exported.read_text(encoding="utf-8-sig")


def test_a_past_deadline_is_refused_in_the_real_console(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA__HOMEWORK__TICK_SECONDS": "0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--as", "profe", "--instructor", "--strict"],
        input=b"/quiz assign banco:seccion-2 vence:1/1/2020 10:00\n/quiz assign banco:seccion-2 vence:pronto\n",
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "«1/1/2020 10:00» ya pasó" in out and "No entiendo la fecha «pronto»" in out
    assert "Tarea 1" not in out
