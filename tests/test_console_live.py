"""The console as a class uses it: a real `aula console` process fed over a pipe, with pauses.

Input is read in a thread, so timers run while nobody types (issue 14.4): a question closes
by itself and its countdown is refreshed; `/as NAME` lets one console play a quiz with several
people (14.5); ✏️ Editar on /roles keeps the messages when Enter is pressed (14.6).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

WAIT_S = 90  # generous: the process starts slowly on a loaded machine; nothing here is timed


class Console:
    """`aula console` in a subprocess; what it prints is collected as it comes."""

    def __init__(self, tmp_path, *args: str) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "console", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        self.output = ""
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in iter(lambda: self.process.stdout.readline(), b""):
            with self.changed:
                self.output += raw.decode("utf-8", "replace")
                self.changed.notify_all()

    def type(self, *lines: str) -> None:
        for line in lines:
            self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, after: int = 0) -> int:
        """Wait until `text` is printed past position `after`; returns where it ends."""
        deadline = time.monotonic() + WAIT_S
        with self.changed:
            while (at := self.output.find(text, after)) < 0:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"{text!r} never came; output:\n{self.output[-3000:]}")
                self.changed.wait(min(left, 0.5))
        return at + len(text)

    def close(self) -> str:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)
        return self.output


@pytest.fixture
def console(tmp_path):
    consoles: list[Console] = []

    def start(*args: str) -> Console:
        consoles.append(Console(tmp_path, *args))
        return consoles[-1]

    yield start
    for one in consoles:
        one.close()
        if one.process.returncode not in (0, None):
            raise AssertionError(one.process.stderr.read().decode())


def test_a_question_closes_by_itself_and_counts_down_while_nobody_types(console):
    """Issue 14.4: `/quiz start banco:seccion-2 tiempo:12`, then nothing typed: the countdown is
    refreshed, the question closes at its time and its results are posted, before any other line."""
    profe = console("--as", "profe", "--instructor")
    profe.type("/quiz start banco:seccion-2 tiempo:12")
    opened = profe.wait_for("Cierra en 12 s")
    refreshed = profe.wait_for("(✎ 1)", opened)  # the countdown, edited in place
    profe.wait_for("Cierra en ", refreshed)
    closed = profe.wait_for("🔒 Cerrada", refreshed)
    profe.wait_for("== Clasificación ==", closed)  # the results follow the closed question
    assert "Pregunta 1 de 17" in profe.output[refreshed:closed]
    profe.type("/quiz results")
    profe.wait_for("cerrada", closed)
    output = profe.close()
    assert profe.process.returncode == 0
    assert "abierta" not in output[closed:]


def test_three_people_play_a_quiz_in_one_console_with_as(console):
    """Issue 14.5: the README's way to try a quiz with three people, in one console."""
    room = console("--as", "profe", "--instructor")
    room.type(
        "/quiz start banco:seccion-2 tiempo:300",
        "/as ana",
        "2",  # B: right
        "/as beto",
        "1",  # A: wrong
        "/as",  # no name: refused, beto still types
        "/quiz next",  # a student cannot
        "/as profe",
        "/quiz next",
        "/as ana",
        "3",  # question 2: C
        "/as profe",
        "/quiz stop",
        "/quiz results",
    )
    end = room.wait_for("2 participantes")
    room.close()
    out = room.output[:end]
    assert "Ahora escribe ana (estudiante)." in out and "Ahora escribe beto (estudiante)." in out
    assert "Ahora escribe profe (instructor/a)." in out
    assert out.count("Respuesta registrada") == 3
    assert "Escribe /as y un nombre" in out  # the refused switch
    assert "Solo los instructores" in out  # beto, a student, could not move the quiz on
    assert "Pregunta 2 de 17" in out and "Resultados finales" in out


def test_editar_on_roles_keeps_the_messages_when_enter_is_pressed(console):
    """Issue 14.6: the form opened with empty fields, and Enter erased the conversation."""
    student = console()
    student.type("/roles sistema:Eres breve. usuario:Hola, ¿qué tal?")
    first = student.wait_for("[1] ✏️ Editar")
    student.type("1", *[""] * 10)  # Editar, then Enter on every field
    student.wait_for("Ahora: Eres breve. (Enter lo deja así)", first)
    again = student.wait_for("|Hola, ¿qué tal?|<|eot_id|>", first)
    assert "|Eres breve.|<|eot_id|>" in student.output[first:again]
    student.type("1", "Sé muy breve.", "", *[""] * 8)  # a changed system message, the rest kept
    student.wait_for("|Sé muy breve.|<|eot_id|>", again)
    end = student.wait_for("|Hola, ¿qué tal?|<|eot_id|>", again)
    assert end > again
