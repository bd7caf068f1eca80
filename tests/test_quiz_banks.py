"""Question banks: the built-in one, the schema's precise errors, Kahoot CSV sheets, folders."""

from __future__ import annotations

import tracemalloc

import pytest

from bot.quiz.banks import (
    BANK_SUFFIXES,
    MAX_OPTIONS,
    MIN_OPTIONS,
    REPO_ROOT,
    BankError,
    bank_dirs,
    bank_files,
    bank_name,
    load_bank_file,
    parse_bank,
)

SECTION_2 = REPO_ROOT / "config" / "quizzes" / "seccion-2.yaml"


def problems(data: str, filename: str = "b.yaml", locale: str = "es") -> list[str]:
    with pytest.raises(BankError) as caught:
        parse_bank(data.encode(), filename)
    return caught.value.describe(locale, limit=100)


def test_the_section_2_bank_has_at_least_twelve_bilingual_questions():
    bank = load_bank_file(SECTION_2)
    assert bank.name == "seccion-2"
    assert len(bank.choice_questions) >= 12
    for question in bank.choice_questions:
        assert question.text.get("es") and question.text.get("en"), question.id
        assert all(o.get("es") and o.get("en") for o in question.options), question.id
        assert 2 <= len(question.options) <= 4 and question.correct
    ids = [q.id for q in bank.questions]
    assert len(ids) == len(set(ids))
    # It covers the section's three topics.
    topics = {q.id.split("-")[0] for q in bank.choice_questions}
    assert {"token", "rol", "base", "instruct"} <= topics


def test_open_questions_are_loaded_for_homework_and_kept_apart():
    bank = load_bank_file(SECTION_2)
    assert bank.open_questions and all(q.type == "open" and not q.options for q in bank.open_questions)
    assert not {q.id for q in bank.open_questions} & {q.id for q in bank.choice_questions}


def test_a_minimal_bank_with_plain_strings():
    bank = parse_bank(b"questions:\n  - question: Hola\n    options: [a, b]\n    answer: b\n", "Mi Banco.yml")
    assert bank.name == "mi-banco"
    [question] = bank.questions
    assert question.type == "choice" and question.correct == (1,) and question.id == "q1"
    assert question.text == {"es": "Hola"}


def test_several_right_answers_and_numbers_for_letters():
    bank = parse_bank(b"questions:\n  - question: x\n    options: [a, b, c]\n    answer: [A, 3]\n", "b.yaml")
    assert bank.questions[0].correct == (0, 2)


def test_errors_name_the_file_the_question_and_the_field():
    found = problems(
        """
questions:
  - question: ok
    options: [a, b]
    answer: A
  - question: {es: Hola, fr: Salut}
    options: [a]
    answer: C
    tiempo: 20
  - question: ok
    options: [a, b]
    answer: B
    time: 2
"""
    )
    assert "b.yaml, pregunta 2, campo «question»: idiomas desconocidos: fr (usa es y en)" in found
    assert "b.yaml, pregunta 2, campo «options»: hacen falta de 2 a 4 opciones (hay 1)" in found
    assert "b.yaml, pregunta 2, campo «tiempo»: clave desconocida" in "\n".join(found)
    assert "b.yaml, pregunta 3, campo «time»: 2 está fuera de rango (5 a 3600)" in found
    assert not any("pregunta 1" in line for line in found)


def test_errors_in_english():
    found = problems("questions:\n  - question: x\n    options: [a, b]\n    answer: E\n", locale="en")
    assert found == [
        "b.yaml, question 1, field «answer»: answer «E» is not valid: use a letter from A, B (or several, comma-separated)"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("questions: []", "b.yaml, campo «questions»: no hay preguntas"),
        ("- just a list", "b.yaml: el archivo debe ser un mapa"),
        ("questions:\n  - type: poll\n", "b.yaml, pregunta 1, campo «type»: tipo «poll» desconocido"),
        (
            "questions:\n  - question: x\n    options: [a, b]\n",
            "b.yaml, pregunta 1, campo «answer»: falta o está vacío",
        ),
        (
            "questions:\n  - question: x\n    options: [a, '']\n    answer: A\n",
            "campo «options[B]»: falta o está vacío",
        ),
        (
            "questions:\n  - id: x\n    type: open\n    question: a\n  - id: x\n    type: open\n    question: b\n",
            "pregunta 2, campo «id»: el id «x» ya lo usa otra pregunta",
        ),
        ("titel: x\nquestions: []\n", "b.yaml, campo «titel»: clave desconocida"),
        (
            "questions:\n  - question: x\n    options: [a, b]\n    answer: A\n    points: mucho\n",
            "campo «points»: debe ser un número entero",
        ),
    ],
)
def test_each_schema_rule(data, expected):
    assert expected in "\n".join(problems(data))


def test_yaml_syntax_errors_give_the_line():
    found = problems("questions:\n  - question: x\n    options: [a, b\n    answer: A\n")
    assert found[0].startswith("b.yaml, línea ") and "no es YAML válido" in found[0]


def test_not_utf8_and_wrong_extension():
    with pytest.raises(BankError) as caught:
        parse_bank("questions: é".encode("latin-1"), "b.yaml")
    assert "UTF-8" in caught.value.describe("es")[0]
    assert "tipo de archivo no admitido" in problems("x", filename="b.txt")[0]


KAHOOT_SHEET = """\
,Quiz template,,,,,,
,Add questions and answers below,,,,,,
,Question - max 120 characters,Answer 1 - max 75 characters,Answer 2 - max 75 characters,Answer 3 - max 75 characters,Answer 4 - max 75 characters,"Time limit (sec) – 5, 10, 20, 30, 60, 90, 120, or 240 secs",Correct answer(s) - choose at least one
1,¿Qué es un token?,Una letra,La unidad básica del modelo,Una frase,,20,2
2,¿Qué rol define el comportamiento?,system,user,assistant,,30,1
3,¿Cuáles son roles?,system,user,pizza,assistant,60,"1,2,4"
"""


def test_a_kahoot_sheet_with_its_title_rows_and_leading_number_column():
    bank = parse_bank(KAHOOT_SHEET.encode("utf-8-sig"), "kahoot.csv")
    assert [q.text["es"] for q in bank.questions] == [
        "¿Qué es un token?",
        "¿Qué rol define el comportamiento?",
        "¿Cuáles son roles?",
    ]
    first, second, third = bank.questions
    assert [o["es"] for o in first.options] == ["Una letra", "La unidad básica del modelo", "Una frase"]
    assert first.correct == (1,) and first.time == 20
    assert second.correct == (0,) and len(second.options) == 3
    assert third.correct == (0, 1, 3) and third.time == 60


def test_a_sheet_without_header_uses_kahoots_column_order_and_semicolons():
    bank = parse_bank("¿Sí?;sí;no;;;10;1\n¿No?;sí;no;;;20;B\n".encode(), "aula.csv")
    assert [q.correct for q in bank.questions] == [(0,), (1,)]
    assert [q.time for q in bank.questions] == [10, 20]


def test_csv_errors_name_the_line_and_the_question():
    sheet = (
        "Question,Answer 1,Answer 2,Answer 3,Answer 4,Time limit,Correct\nBien,a,b,,,10,1\nMal,a,,c,,10,5\n"
    )
    found = problems(sheet, filename="clase.csv")
    assert "clase.csv, línea 3, pregunta 2, campo «options[B]»: falta o está vacío" in found
    assert any(line.startswith("clase.csv, línea 3, pregunta 2, campo «answer»") for line in found)


def test_bank_names_are_slugs():
    assert bank_name("Quiz Tokens (v2).CSV") == "quiz-tokens-v2"
    assert bank_name("sección-3.yaml") == "sección-3"


def test_the_repository_banks_are_found_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bank_files("config/quizzes")["seccion-2"].resolve() == SECTION_2.resolve()
    # A local folder of the same name comes first and may add banks.
    local = tmp_path / "config" / "quizzes"
    local.mkdir(parents=True)
    (local / "propio.yaml").write_text("questions:\n  - question: x\n    options: [a, b]\n    answer: A\n")
    assert bank_dirs("config/quizzes")[0] == local.relative_to(tmp_path)
    assert {"propio", "seccion-2"} <= set(bank_files("config/quizzes"))


def test_spanish_no_and_english_yes_stay_text_not_booleans():
    bank = parse_bank(
        b"questions:\n  - question: Seguro?\n    options: [s\xc3\xad, no, yes, off]\n    answer: B\n",
        "b.yaml",
    )
    assert [o["es"] for o in bank.questions[0].options] == ["sí", "no", "yes", "off"]


def alias_bomb(where: str) -> str:
    """A 'billion laughs' bank: nine levels of nine aliases, about 600 bytes, 9**9 leaves
    once expanded (issue 13: 181 s, 8.5 GB and a MemoryError before the fix)."""
    levels = ['&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    nested = "[" + ", ".join(levels) + "]"
    if where == "time":
        return f"time: {nested}\nquestions:\n  - question: q\n    options: [a, b]\n    answer: A\n"
    return f"questions:\n  - id: {nested}\n    question: q\n    options: [a, b]\n    answer: A\n"


@pytest.mark.parametrize("where", ["time", "id"])
def test_an_alias_bomb_is_refused_before_anything_is_built(where):
    text = alias_bomb(where)
    assert len(text.encode()) < 700
    tracemalloc.start()
    try:
        with pytest.raises(BankError) as refused:
            parse_bank(text.encode(), "bomba.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: the parser's events, never the expansion
    [line] = refused.value.describe("es")
    assert "anclas o alias de YAML" in line and "lol" not in line
    assert "bomba.yaml, línea " in line


def test_a_single_anchor_is_refused_too_and_plain_repetition_is_fine():
    anchored = "questions:\n  - question: &q hola\n    options: [*q, b]\n    answer: A\n"
    assert any("alias" in p for p in problems(anchored))
    plain = "questions:\n  - question: hola\n    options: [hola, b]\n    answer: A\n"
    assert parse_bank(plain, "b.yaml").questions[0].options[0] == {"es": "hola"}


def test_a_nested_value_where_a_number_goes_is_not_quoted_in_full():
    nested = "time: " + "[" * 50 + "1" + "]" * 50 + "\nquestions:\n  - question: q\n    options: [a, b]\n    answer: A\n"
    [line] = problems(nested)
    assert "«[…]»" in line and len(line) < 200


def test_too_many_nodes_are_refused(monkeypatch):
    monkeypatch.setattr("bot.quiz.banks.MAX_YAML_EVENTS", 50)
    many = "questions:\n" + "".join(f"  - question: q{i}\n    options: [a, b]\n    answer: A\n" for i in range(20))
    assert any("demasiados elementos (más de 50)" in p for p in problems(many))


SHIPPED = sorted((REPO_ROOT / "config" / "quizzes").iterdir())


def bilingual(text) -> bool:
    return isinstance(text, dict) and bool(text.get("es", "").strip()) and bool(text.get("en", "").strip())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_bank_shipped_in_config_quizzes_is_valid_and_bilingual(path):
    """Whatever a later commit adds under config/quizzes/ is held to the same rules as seccion-2."""
    assert path.suffix.lower() in BANK_SUFFIXES, f"{path.name}: not a bank file, yet shipped with the banks"
    bank = load_bank_file(path)  # raises BankError with the problems, file and question named
    assert bank.name == bank_name(path.name) == path.stem
    assert bank.questions and bilingual(bank.title)
    ids = [q.id for q in bank.questions]
    assert len(ids) == len(set(ids)), "question ids repeat"
    for question in bank.questions:
        assert bilingual(question.text), question.id
        assert question.explanation is None or bilingual(question.explanation), question.id
        if question.type == "choice":
            assert all(bilingual(o) for o in question.options), question.id
            assert MIN_OPTIONS <= len(question.options) <= MAX_OPTIONS and question.correct, question.id
            assert all(0 <= i < len(question.options) for i in question.correct), question.id
        else:
            assert question.type == "open" and not question.options, question.id


def test_shipped_bank_names_are_unique():
    names = [bank_name(p.name) for p in SHIPPED]
    assert len(names) == len(set(names))


# Every implicit type of YAML 1.1 (https://yaml.org/type/): what PyYAML's SafeLoader would
# make of the scalar, which a bank must keep as the text the author typed.
YAML_11_IMPLICIT = [
    "3.10",  # float 3.1: "A) 3.1" for Python 3.10
    "3.9", "1e3", "-1.5", ".5", "+12.5", ".inf", "-.Inf", ".NaN",  # floats
    "010", "0o17", "0x1F", "0b101", "1_000", "+12", "-0", "12",  # ints: octal, hex, binary, separators
    "1:30", "190:20:30",  # sexagesimal ints (90, 685230)
    "yes", "no", "Yes", "NO", "on", "Off", "y", "n", "true", "False",  # booleans
    "~", "null", "Null", "NULL",  # null
    "2026-03-29", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",  # timestamps
    "=", "<<",  # value and merge keys
]


@pytest.mark.parametrize("typed", YAML_11_IMPLICIT)
def test_every_text_field_keeps_what_the_author_typed(typed):
    text = (
        f"title: {typed}\n"
        "questions:\n"
        f"  - id: {typed}\n"
        f"    question: {typed}\n"
        f"    options: [{typed}, otra, {{es: {typed}x, en: {typed}y}}]\n"
        "    answer: A\n"
        f"    explanation: {typed}\n"
    )
    bank = parse_bank(text, "tipos.yaml")
    [question] = bank.questions
    assert bank.title == {"es": typed}
    assert question.id == typed and question.text == {"es": typed} and question.explanation == {"es": typed}
    assert question.options == ({"es": typed}, {"es": "otra"}, {"es": typed + "x", "en": typed + "y"})


def test_python_versions_are_shown_as_typed_to_the_class():
    bank = parse_bank("questions:\n  - question: ¿Cuál?\n    options: [3.10, 3.9, 3.11, 3.12]\n    answer: A\n", "py.yaml")
    assert [o["es"] for o in bank.questions[0].options] == ["3.10", "3.9", "3.11", "3.12"]


@pytest.mark.parametrize(("time", "points"), [("30", "1000"), ("010", "0"), ("3600", "500")])
def test_numbers_a_bank_needs_are_read_from_their_text(time, points):
    bank = parse_bank(f"time: {time}\npoints: {points}\nquestions:\n  - question: q\n    options: [a, b]\n    answer: 2\n", "n.yaml")
    assert (bank.time, bank.points, bank.questions[0].correct) == (int(time), int(points), (1,))


@pytest.mark.parametrize("time", ["30.5", "1:30", "0x1F", "yes"])
def test_a_time_that_is_not_a_whole_number_is_refused(time):
    with pytest.raises(BankError) as caught:
        parse_bank(f"time: {time}\nquestions:\n  - question: q\n    options: [a, b]\n    answer: A\n", "n.yaml")
    assert caught.value.problems[0].field == "time"
