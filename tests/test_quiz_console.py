"""A quiz in the console classroom: the instructor starts it and answers by typing the option."""

from __future__ import annotations

import os
import stat
import subprocess
import sys


def run_console(tmp_path, lines: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--as", "profe", "--instructor", *args],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        env=env,
        cwd=tmp_path,  # away from the repository: the built-in bank must still be found
        timeout=60,
    )


def test_a_whole_quiz_in_the_console_answering_by_typing_the_letter(tmp_path):
    result = run_console(
        tmp_path,
        [
            "/quiz start banco:seccion-2 tiempo:30",
            "b",  # question 1: B is right
            "b",  # a second click: still one answer
            "/quiz next",
            "c",  # question 2: A is right
            "/quiz stop",
            "1",  # the final leaderboard's "my rank" button
            "/quiz export",
        ],
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Pregunta 1 de 17" in out and "[1] A · Siempre una palabra completa" in out
    assert "Respuesta registrada: B · La unidad básica" in out
    assert "Ya tenías registrada B" in out
    assert "Pregunta 2 de 17" in out and "Respuesta registrada: C · El modelo las ignora" in out
    assert "Resultados finales" in out
    assert "Vas en el puesto 1 de 1" in out and "(correctas: 1 de 2)" in out
    students = tmp_path / "console-files" / "quiz-1-seccion-2-students.csv"
    assert students.is_file() and stat.S_IMODE(students.stat().st_mode) == 0o600  # like the database
    assert stat.S_IMODE(students.parent.stat().st_mode) == 0o700
    assert (tmp_path / "console-files" / "quiz-1-seccion-2-students.xlsx").is_file()
    assert "profe" in students.read_text(encoding="utf-8-sig")


def test_a_student_in_the_console_cannot_start_a_quiz(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--strict"],
        input=b"/quiz start banco:seccion-2\n",
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Solo los instructores" in result.stdout.decode()
    assert "Pregunta 1" not in result.stdout.decode()
