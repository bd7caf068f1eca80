"""SIGKILL mid-quiz and mid-homework: a real process on a real SQLite file is killed without
warning, a new one starts on the same file, and nothing a student was told was saved is missing.

The classroom runs in tests/fault_driver.py (the real core; one JSON line per confirmation,
printed when an adapter would show it). A burst of clicks or homework submissions is in
flight when the process dies: every answer it confirmed must be in the file, as confirmed.
The open question keeps taking answers and closes on its stored timer, or at start-up when
that time passed while the bot was down; a homework deadline is published the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.actions import QUIZ_ANSWER
from bot.i18n import t

ROOT = Path(__file__).resolve().parent.parent
EVENT_TIMEOUT_S = 15.0
QUESTION_SECONDS = 30  # the built-in bank's time per question
RIGHT = "B"  # the right answer to its first question
UNSAVED = {lang: t(lang, "error.database") for lang in ("es", "en")}  # the "couldn't save" message


class Classroom:
    """One bot process and what it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict] = []
        self._ids = itertools.count(1)
        self.requests: dict[int, dict] = {}

    @classmethod
    async def open(
        cls, database: Path | str, logs: Path, clock_offset_s: float = 0, settings: dict[str, str] | None = None
    ) -> Classroom:
        """A fault_driver process on `database` (a path or URL), ready; `settings` adds AULA_* variables."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AULA_DATABASE": str(database),
            "AULA_LOG_LEVEL": "WARNING",
            "AULA__QUIZ__TICK_SECONDS": "0.05",
            "AULA__HOMEWORK__TICK_SECONDS": "0.05",
            "FAULT_CLOCK_OFFSET_S": str(clock_offset_s),
            **(settings or {}),
        }
        with logs.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.fault_driver",
                cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        room = cls(process)
        await room.wait_for(lambda e: e["event"] == "ready")
        return room

    async def send(self, **request: object) -> int:
        number = next(self._ids)
        self.requests[number] = request
        self.process.stdin.write((json.dumps({"id": number, **request}) + "\n").encode())
        await self.process.stdin.drain()
        return number

    async def advance(self, seconds: float) -> None:
        await self.send_raw({"advance": seconds})

    async def send_raw(self, line: dict) -> None:
        self.process.stdin.write((json.dumps(line) + "\n").encode())
        await self.process.stdin.drain()

    async def wait_for(self, condition, seen: int = 0) -> dict:
        """The first event (from index `seen` on) that meets condition, reading more as needed."""
        index = seen
        while True:
            while index < len(self.events):
                if condition(self.events[index]):
                    return self.events[index]
                index += 1
            line = await asyncio.wait_for(self.process.stdout.readline(), EVENT_TIMEOUT_S)
            if not line:
                raise AssertionError(f"the bot exited; it printed {self.events}")
            self.events.append(json.loads(line))

    async def reply_to(self, number: int) -> dict:
        return await self.wait_for(lambda e: e["event"] == "reply" and e["id"] == number)

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no flush of anything but what was already written."""
        self.process.send_signal(signal.SIGKILL)
        rest = await self.process.stdout.read()  # lines printed before it died were shown to students
        self.events.extend(json.loads(line) for line in rest.decode().splitlines() if line.strip())
        await self.process.wait()
        assert self.process.returncode == -signal.SIGKILL

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.stdin.close()
            await asyncio.wait_for(self.process.wait(), EVENT_TIMEOUT_S)

    def confirmed_answers(self) -> dict[str, str]:
        """Student -> the letter the bot told them it recorded."""
        confirmed = {}
        for event in self.events:
            if event["event"] == "reply" and "Respuesta registrada" in event["text"]:
                request = self.requests[event["id"]]
                confirmed[request["user"]] = request["action"].rsplit(":", 1)[1]
        return confirmed


@pytest.fixture
def database(tmp_path) -> Path:
    return tmp_path / "aula.sqlite3"


@pytest.fixture
async def classrooms(tmp_path):
    opened: list[Classroom] = []

    async def open_one(database: Path, clock_offset_s: float = 0) -> Classroom:
        room = await Classroom.open(database, tmp_path / "bot.log", clock_offset_s)
        opened.append(room)
        return room

    yield open_one
    for room in opened:
        if room.process.returncode is None:
            room.process.kill()
            await room.process.wait()


def stored(database: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql, params).fetchall()


async def quiz_killed_mid_burst(classrooms, database: Path) -> tuple[int, dict[str, str]]:
    """Start a quiz, send 40 clicks at once, SIGKILL after the tenth confirmation.
    Returns the session and the answers confirmed to students."""
    room = await classrooms(database)
    start = await room.send(user="profe", instructor=True, command="quiz", subcommand="start",
                            args={"banco": "seccion-2"})  # fmt: skip
    assert "iniciado" in (await room.reply_to(start))["text"]
    question = await room.wait_for(lambda e: e["event"] == "post" and e["buttons"])
    session = QUIZ_ANSWER.parse(question["buttons"][0])["session"]

    letters = "ABCD"
    for number in range(40):
        await room.send(user=f"s{number:02d}", action=f"quiz:answer:{session}:0:{letters[number % 4]}")
    confirmations = 0
    while confirmations < 10:
        event = await room.wait_for(lambda e: e["event"] == "reply", seen=len(room.events))
        confirmations += "Respuesta registrada" in event["text"]
    await room.kill()

    confirmed = room.confirmed_answers()
    assert len(confirmed) >= 10
    return session, confirmed


def stored_timer(database: Path, session: int) -> tuple[float, float | None]:
    """(closes_at, closed_at) of the quiz's first question, as the file has it."""
    rows = stored(
        database, "SELECT closes_at, closed_at FROM quiz_questions WHERE session_id = ?", (session,)
    )
    assert len(rows) == 1, "the open question is not in the file"
    return rows[0]


def assert_all_kept(database: Path, session: int, confirmed: dict[str, str]) -> None:
    saved = dict(
        stored(database, "SELECT user_id, choice FROM quiz_answers WHERE session_id = ?", (session,))
    )
    for user, letter in confirmed.items():
        assert user in saved, f"{user} was told their answer was recorded, but it is gone"
        assert "ABCD"[saved[user]] == letter


async def test_sigkill_mid_quiz_loses_no_confirmed_answer_and_the_timer_carries_on(classrooms, database):
    session, confirmed = await quiz_killed_mid_burst(classrooms, database)

    room = await classrooms(database)  # a new process on the same file
    assert_all_kept(database, session, confirmed)
    closes_at, closed_at = stored_timer(database, session)
    assert closed_at is None
    # The question is still open in the new process: a newcomer's answer counts, and an
    # answer confirmed before the kill is known (the rule is "never change").
    late = await room.send(user="late", action=f"quiz:answer:{session}:0:{RIGHT}")
    assert "Respuesta registrada: B" in (await room.reply_to(late))["text"]
    early, letter = next(iter(confirmed.items()))
    other = "A" if letter != "A" else "C"
    again = await room.send(user=early, action=f"quiz:answer:{session}:0:{other}")
    assert f"Ya respondiste {letter}" in (await room.reply_to(again))["text"]

    # Its stored timer closes it.
    assert stored_timer(database, session)[1] is None
    await room.advance(QUESTION_SECONDS + 1)
    closed = await room.wait_for(lambda e: e["event"] == "edit" and "Cerrada" in e["text"])
    answered = len(stored(database, "SELECT 1 FROM quiz_answers WHERE session_id = ?", (session,)))
    assert answered >= len(confirmed) + 1 and f"respuestas: {answered}" in closed["text"]
    await room.wait_for(lambda e: e["event"] == "post" and "Clasificación" in e["text"])
    assert (
        stored_timer(database, session)[1] == closes_at
    )  # the time stored before the kill, not when noticed
    unscored = stored(
        database, "SELECT 1 FROM quiz_answers WHERE session_id = ? AND correct IS NULL", (session,)
    )
    assert unscored == []
    points = dict(
        stored(database, "SELECT user_id, points FROM quiz_answers WHERE session_id = ?", (session,))
    )
    assert all((points[user] > 0) == (letter == RIGHT) for user, letter in confirmed.items())
    await room.close()


async def test_a_question_that_expired_while_the_bot_was_dead_closes_at_start_up(classrooms, database):
    session, confirmed = await quiz_killed_mid_burst(classrooms, database)

    room = await classrooms(database, clock_offset_s=QUESTION_SECONDS + 60)  # back long after its time
    # Start-up itself closed it and posted the results (before the bot said it was ready).
    results = await room.wait_for(lambda e: e["event"] == "post" and "Clasificación" in e["text"])
    assert room.events.index(results) < room.events.index(
        next(e for e in room.events if e["event"] == "ready")
    )
    assert_all_kept(database, session, confirmed)
    closes_at, closed_at = stored_timer(database, session)
    assert closed_at == closes_at
    late = await room.send(user="late", action=f"quiz:answer:{session}:0:{RIGHT}")
    assert "ya cerró" in (await room.reply_to(late))["text"]
    # The instructor carries on with the next question.
    advance = await room.send(user="profe", instructor=True, command="quiz", subcommand="next")
    assert "Pregunta 2 de" in (await room.reply_to(advance))["text"]
    await room.close()


# --- homework ------------------------------------------------------------------------------

DUE_IN_S = 2 * 3600  # "vence: en 2 horas"


async def homework_killed_mid_burst(classrooms, database: Path) -> tuple[int, str, dict[str, str]]:
    """Assign the built-in bank's open questions, send 30 submissions at once through the form
    the bot hands out, SIGKILL after the eighth "saved". Returns the assignment, the form id
    and each confirmed student's text."""
    room = await classrooms(database)
    assign = await room.send(user="profe", instructor=True, command="quiz", subcommand="assign",
                             args={"banco": "seccion-2", "vence": "en 2 horas"})  # fmt: skip
    assert "publicada en el canal" in (await room.reply_to(assign))["text"]
    [(assignment,)] = stored(database, "SELECT id FROM homework_assignments")
    form = (await room.reply_to(await room.send(user="s00", action=f"quiz:hw-open:{assignment}")))["form"]
    assert form.startswith(f"quiz:hw-submit:{assignment}:0")

    for number in range(30):
        await room.send(
            user=f"s{number:02d}", action=form, values={"p0": f"Respuesta de s{number:02d}: tokens"}
        )
    saved = 0
    while saved < 8:
        event = await room.wait_for(lambda e: e["event"] == "reply", seen=len(room.events))
        saved += "✅ Guardé 1 respuesta" in event["text"]
    await room.kill()

    confirmed = {
        room.requests[e["id"]]["user"]: room.requests[e["id"]]["values"]["p0"]
        for e in room.events
        if e["event"] == "reply" and "✅ Guardé" in e["text"]
    }
    assert len(confirmed) >= 8
    return assignment, form, confirmed


def assert_submissions_kept(database: Path, assignment: int, confirmed: dict[str, str]) -> None:
    saved = dict(stored(database, "SELECT user_id, text FROM homework_answers WHERE assignment_id = ? AND position = 0",
                        (assignment,)))  # fmt: skip
    for user, text in confirmed.items():
        assert saved.get(user) == text, f"{user} was told their answer was saved, but it is gone"


async def test_sigkill_mid_homework_keeps_confirmed_answers_and_the_deadline_still_publishes(
    classrooms, database
):
    assignment, form, confirmed = await homework_killed_mid_burst(classrooms, database)

    room = await classrooms(database)
    assert_submissions_kept(database, assignment, confirmed)
    late_comer = await room.send(user="nueva", action=form, values={"p0": "Llego después del reinicio"})
    assert "✅ Guardé 1 respuesta" in (await room.reply_to(late_comer))["text"]
    assert not any(e["event"] == "post" and "Venció" in e["text"] for e in room.events)  # not due yet

    await room.advance(DUE_IN_S + 60)
    deadline = await room.wait_for(lambda e: e["event"] == "post" and "Venció la tarea" in e["text"])
    answered = len(stored(database, "SELECT DISTINCT user_id FROM homework_answers WHERE assignment_id = ?",
                          (assignment,)))  # fmt: skip
    assert f"{answered} estudiantes respondieron" in deadline["text"]
    # Published at the deadline: every confirmed answer, and the one after the restart, in question 1's thread.
    for text in [*confirmed.values(), "Llego después del reinicio"]:
        await room.wait_for(lambda e, text=text: e["event"] == "post" and e["thread"] and text in e["text"])
    await room.close()


async def test_a_deadline_that_passed_while_the_bot_was_dead_is_published_at_start_up(classrooms, database):
    assignment, form, confirmed = await homework_killed_mid_burst(classrooms, database)

    room = await classrooms(database, clock_offset_s=DUE_IN_S + 600)
    ready = room.events.index(next(e for e in room.events if e["event"] == "ready"))
    deadline = next(e for e in room.events[:ready] if e["event"] == "post" and "Venció la tarea" in e["text"])
    assert "Todavía se aceptan entregas" in deadline["text"]
    assert_submissions_kept(database, assignment, confirmed)
    posted = [e["text"] for e in room.events[:ready] if e["event"] == "post" and e["thread"]]
    assert all(any(text in post for post in posted) for text in confirmed.values())
    # Late answers are still taken, flagged late.
    late = await room.send(user="tarde", action=form, values={"p0": "Entrego tarde"})
    assert "✅ Guardé 1 respuesta" in (await room.reply_to(late))["text"]
    assert stored(database, "SELECT late FROM homework_answers WHERE user_id = 'tarde'") == [(1,)]
    await room.close()


# --- the disk fills up under a running bot ----------------------------------------------------


async def test_disk_full_in_a_real_process_refuses_clearly_and_loses_nothing_confirmed(classrooms, database):
    room = await classrooms(database)
    start = await room.send(user="profe", instructor=True, command="quiz", subcommand="start",
                            args={"banco": "seccion-2"})  # fmt: skip
    await room.reply_to(start)
    for number in range(5):
        await room.send(user=f"s{number}", action=f"quiz:answer:1:0:{RIGHT}")

    await room.send_raw({"disk_full": True})
    await room.wait_for(lambda e: e["event"] == "disk_full" and e["full"])
    refused = {}
    for number in range(5, 15):
        lang = ("es", "en")[number % 2]
        refused[await room.send(user=f"s{number}", action=f"quiz:answer:1:0:{RIGHT}", locale=lang)] = lang
    for number, lang in refused.items():
        reply = await room.reply_to(number)
        assert reply["error"] and UNSAVED[lang] in reply["text"], reply
    help_reply = await room.reply_to(await room.send(user="s5", command="help"))
    assert not help_reply["error"]  # what needs no writing still answers

    await room.send_raw({"disk_full": False})
    again = await room.send(user="s5", action=f"quiz:answer:1:0:{RIGHT}")
    assert "Respuesta registrada" in (await room.reply_to(again))["text"]
    await room.kill()

    confirmed = room.confirmed_answers()
    assert set(confirmed) == {f"s{number}" for number in range(6)}
    room = await classrooms(database)
    saved = dict(stored(database, "SELECT user_id, choice FROM quiz_answers"))
    assert set(saved) == set(confirmed)  # every confirmed answer, and none that was refused
    await room.close()
