"""`aula quiz`: validate, import, list and export from the terminal."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import stat

import pytest

from adapters.cli import main
from bot.quiz.banks import REPO_ROOT
from tests.export_support import xlsx_rows
from tests.quiz_support import (
    FakeClock,
    RecordingMessenger,
    click,
    one_reply,
    quiz_command,
    quiz_settings,
    started_aula,
)

GOOD = "questions:\n  - question: ¿Sí?\n    options: [sí, no]\n    answer: A\n"


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AULA_DATABASE", str(tmp_path / "aula.sqlite3"))
    monkeypatch.setenv("AULA_LOCALE", "es")


def test_validate_reports_each_problem_and_exits_1(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("answer: A", "answer: Q"))
    assert main(["quiz", "validate", "good.yaml"]) == 0
    assert "good.yaml: válido, banco «good»: 1 pregunta de opción múltiple, 0 abiertas." in capsys.readouterr().out
    assert main(["quiz", "validate", "good.yaml", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: 1 error\n" in err and "bad.yaml, pregunta 1, campo «answer»" in err


def test_import_then_list_shows_the_bank(tmp_path, capsys):
    (tmp_path / "Mi Quiz.yaml").write_text(GOOD)
    assert main(["quiz", "import", "Mi Quiz.yaml"]) == 0
    assert "Banco «mi-quiz» importado" in capsys.readouterr().out
    assert main(["quiz", "list"]) == 0
    out = capsys.readouterr().out
    assert "mi-quiz: 1 pregunta de opción múltiple, 0 abiertas (import:console:local:Mi Quiz.yaml)" in out
    assert "seccion-2: 17 preguntas de opción múltiple, 4 abiertas" in out


def test_an_invalid_file_is_not_imported(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("questions: nope")
    assert main(["quiz", "import", "bad.yaml"]) == 1
    main(["quiz", "list"])
    assert "bad" not in capsys.readouterr().out.replace("bad.yaml", "")


async def play_one_question(database: str) -> None:
    aula = await started_aula(quiz_settings(database), FakeClock(), RecordingMessenger())
    await one_reply(aula, quiz_command("start", banco="seccion-2"))
    await one_reply(aula, click("ana", "quiz:answer:1:0:B"))
    await one_reply(aula, quiz_command("stop"))
    await aula.close()


def test_export_a_session_as_csv_files(tmp_path, capsys):
    asyncio.run(play_one_question(str(tmp_path / "aula.sqlite3")))

    assert main(["quiz", "export", "1", "--csv", "--out", "out"]) == 0
    students = (tmp_path / "out" / "quiz-1-seccion-2-students.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(students)))
    assert rows[1][:7] == ["1", "Nombre ana", "ana", "", "1000", "1", "1"]
    questions = (tmp_path / "out" / "quiz-1-seccion-2-questions.csv").read_text(encoding="utf-8-sig")
    assert "¿Qué es un token?" in questions
    assert main(["quiz", "export", "7", "--csv"]) == 1
    assert "No hay ningún quiz número 7" in capsys.readouterr().err
    assert main(["quiz", "export", "1"]) == 2


def test_export_files_are_owner_only_and_also_xlsx(tmp_path, capsys):
    """Exports hold students' names and answers: 0600 like the database, whatever the umask,
    even over an older file that was world-readable."""
    asyncio.run(play_one_question(str(tmp_path / "aula.sqlite3")))
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / "quiz-1-seccion-2-students.csv"
    stale.write_text("old")
    stale.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        assert main(["quiz", "export", "1", "--csv", "--xlsx", "--out", "out"]) == 0
    finally:
        os.umask(old_umask)
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == [
        "quiz-1-seccion-2-questions.csv", "quiz-1-seccion-2-questions.xlsx",
        "quiz-1-seccion-2-students.csv", "quiz-1-seccion-2-students.xlsx",
    ]  # fmt: skip
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o600}
    [row] = xlsx_rows((tmp_path / "out" / "quiz-1-seccion-2-students.xlsx").read_bytes())
    assert (row["name"], row["points"]) == ("Nombre ana", 1000)


def test_validate_refuses_an_alias_bomb_within_a_memory_cap(tmp_path):
    """`aula quiz validate` on the 'billion laughs' bank, in a process capped at 1 GB of address
    space: before the fix it ran out of memory; now it names the problem and exits 1."""
    import resource
    import subprocess
    import sys

    from tests.test_quiz_banks import alias_bomb

    (tmp_path / "bomba.yaml").write_text(alias_bomb("time"))

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "quiz", "validate", "bomba.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=cap,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "AULA_LOCALE": "es"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "bomba.yaml, línea 1: usa anclas o alias de YAML" in done.stderr
    assert "lol" not in done.stderr and "MemoryError" not in done.stderr


DUPLICATES = [
    # (what the bank holds, the field named, the words of the problem)
    ("    options: [París, Roma, ' parís ']\n    answer: A\n", "options[C]", "la opción «parís» repite la opción A"),
    ("    options: [Sí, No, NO]\n    answer: A\n", "options[C]", "la opción «NO» repite la opción B"),
    ("    options: [{es: uno, en: one}, {es: dos, en: One}]\n    answer: A\n", "options[B]", "repite la opción A"),
    ("    options: [a, b, c]\n    answer: [A, A]\n", "answer", "la respuesta «A» está repetida"),
    ("    options: [a, b, c]\n    answer: A, B, b\n", "answer", "la respuesta «b» está repetida"),
]


@pytest.mark.parametrize(("body", "field", "words"), DUPLICATES)
def test_validate_refuses_duplicates_naming_file_question_and_field(tmp_path, capsys, body, field, words):
    """Two options a student cannot tell apart (trimmed, any case, in either language), or an
    answer listed twice, are errors, not a bank that validates."""
    (tmp_path / "dup.yaml").write_text("questions:\n  - question: uno\n    options: [x, y]\n    answer: A\n"
                                       "  - question: ¿Capital?\n" + body)
    assert main(["quiz", "validate", "dup.yaml"]) == 1
    err = capsys.readouterr().err
    assert f"dup.yaml, pregunta 2, campo «{field}»" in err and words in err
