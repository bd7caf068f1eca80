"""The hostile-input corpus through every command in the console classroom (`aula console` fed
by a pipe), and raw bytes no chat platform could carry: invalid UTF-8, NUL, escape sequences.

One core and one console per module serve every test; each input is piped as a student
pastes it (its newlines end lines), followed by a plain /help. Checked per input: every line
got one answer and nothing was logged as an error; a one-line input gets the answer its
command owes it (its specific refusal or a real answer); and the terminal output, with
colours on, holds no control character but newline, tab and the renderer's own colour codes,
so a pasted escape sequence, carriage return or backspace cannot repaint the terminal.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.console import ConsoleSession, run_console
from adapters.console.render import (
    BOLD,
    DIM,
    ITALIC,
    MASKED_STYLE,
    RESET,
    SEGMENT_BACKGROUNDS,
    SPECIAL_STYLE,
    UNDERLINE,
    ConsoleRenderer,
)
from bot.app import Aula
from bot.i18n import t
from bot.replies import Reply, plain_text
from bot.requests import User
from bot.settings import Settings, load_settings
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.hostile_inputs import (
    CORPUS,
    RAW_LINES,
    RAW_TEXT_LINES,
    Hostile,
    has_surrogates,
    line_refusal,
    refusal_for,
    refusal_pattern,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LANG = "es"
OWN_CODES = sorted({RESET, BOLD, ITALIC, DIM, UNDERLINE, *SEGMENT_BACKGROUNDS, SPECIAL_STYLE, MASKED_STYLE}, key=len, reverse=True)
ALLOWED_CONTROLS = {"\n", "\t"}


@dataclass(frozen=True)
class Target:
    id: str
    line: str  # the command line; {text} is the hostile input
    teacher: bool = False
    option: str = ""


TARGETS = (
    Target("help", "/help {text}"),
    Target("privacy", "/privacy {text}"),
    Target("tokens", "/tokens texto:{text}", option="texto"),
    Target("roles-user", "/roles usuario:{text}", option="usuario"),
    Target("roles-system", "/roles sistema:{text}", option="sistema"),
    Target("compare", "/compare prompt:{text}", option="prompt"),
    Target("quiz-start", "/quiz start banco:{text}", teacher=True, option="banco"),
    Target("quiz-import-text", "/quiz import {text}", teacher=True, option="archivo"),
    Target("quiz-assign-bank", "/quiz assign banco:{text}", teacher=True, option="banco"),
    Target("quiz-assign-due", "/quiz assign banco:seccion-2 vence:{text}", teacher=True, option="vence"),
)


@dataclass
class ConsoleClass:
    aula: Aula
    settings: Settings
    student: ConsoleSession
    teacher: ConsoleSession
    board: ConsoleSession  # where posts nobody asked for appear (quiz, homework threads)
    files: Path


def console(aula: Aula, user: User, files: Path) -> ConsoleSession:
    renderer = ConsoleRenderer(colour=True, files_dir=files)  # colours on: a terminal
    return ConsoleSession(aula, user, io.StringIO(), renderer, io.BytesIO(), interactive=False)


def person(user_id: str, name: str = "", instructor: bool = False) -> User:
    return User(id=user_id, name=name or user_id, is_instructor=instructor, locale=LANG)


def console_settings(database: Path, llm_url: str) -> Settings:
    return load_settings(
        environ={
            "AULA_DATABASE": str(database),
            "AULA__QUIZ__TICK_SECONDS": "0",
            "AULA__HOMEWORK__TICK_SECONDS": "0",
            "AULA_LLM_BASE_URL": llm_url,
            "AULA_LLM_API_KEY": API_KEY,
            # A whole class, one student: no cooldown, queue or budget between the sends.
            "AULA__LLM__USER_COOLDOWN_S": "0",
            "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
            "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000",
        },
        dotenv_path=None,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-console")
    async with FakeLlmServer() as llm:
        settings = console_settings(folder / "aula.sqlite3", llm.base_url)
        aula = Aula(settings)
        files = folder / "files"
        room = ConsoleClass(
            aula=aula,
            settings=settings,
            student=console(aula, person("estudiante"), files),
            teacher=console(aula, person("profe", instructor=True), files),
            board=console(aula, person("tablero"), files),
            files=files,
        )
        aula.messengers["console"] = room.board
        await aula.start()
        assigned = await piped(room, room.teacher, b"/quiz assign banco:seccion-2 publicar:al-enviar\n")
        assert not any(reply.error for reply in assigned.replies)
        yield room
        await aula.close()


# --- piping and what came of it -----------------------------------------------------------------


@dataclass
class Piped:
    output: str  # what the terminal received, with what the board received
    replies: list[Reply]  # every reply shown to the session, in order


async def piped(room: ConsoleClass, session: ConsoleSession, data: bytes) -> Piped:
    replies: list[Reply] = []
    show = session.show

    def recording(reply: Reply, header: str = "") -> None:
        replies.append(reply)
        show(reply, header)

    session.out, session.lines, room.board.out = io.StringIO(), io.BytesIO(data), io.StringIO()
    session.show = recording  # the instance's own show, so every shown reply is counted
    try:
        await session.run_lines()
    finally:
        del session.show
    return Piped(session.out.getvalue() + room.board.out.getvalue(), replies)


def check_terminal_safe(output: str) -> None:
    for code in OWN_CODES:
        output = output.replace(code, "")
    found = sorted({c for c in output if is_control(c) and c not in ALLOWED_CONTROLS})
    assert found == [], f"control characters reach the terminal: {found}"


def is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def check_no_internal_error(piped_: Piped, caplog) -> None:
    internal = t(LANG, "error.internal")
    assert not any(internal in plain_text(reply) for reply in piped_.replies)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def check_outcome(reply: Reply, refusal: str | None) -> None:
    if refusal is None:
        assert not reply.error, plain_text(reply)[:300]
    else:
        assert reply.error and refusal_pattern(refusal, LANG).fullmatch(plain_text(reply)), (
            refusal,
            plain_text(reply)[:300],
        )


def check_help_last(piped_: Piped) -> None:
    assert plain_text(piped_.replies[-1]).startswith(t(LANG, "help.title"))


def pasted(line: str) -> bytes:
    """A line as a pipe carries it: text that is not valid Unicode goes as its raw bytes."""
    return (line + "\n").encode("utf-8", "surrogatepass")


def answered_lines(data: bytes) -> int:
    """Lines the console answers: every line but the blank ones."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def expected_refusal(room: ConsoleClass, target: Target, line: str) -> str | None:
    """What the command owes one typed line, parsed as the console parses it."""
    if has_surrogates(line):
        return "error.bad_encoding"
    name, _, rest = line.strip()[1:].partition(" ")
    spec = room.aula.commands[name].spec
    return line_refusal(spec, rest, target.id, target.option, room.settings, room.aula.clock())


# --- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
async def test_command_line(console_class: ConsoleClass, target: Target, entry: Hostile, caplog):
    room = console_class
    session = room.teacher if target.teacher else room.student
    line = target.line.format(text=entry.text)
    data = pasted(line) + b"/help\n"
    result = await piped(room, session, data)
    check_terminal_safe(result.output)
    check_no_internal_error(result, caplog)
    assert len(result.replies) == answered_lines(data), [plain_text(r)[:80] for r in result.replies]
    if "\n" not in line:
        check_outcome(result.replies[0], expected_refusal(room, target, line))
    check_help_last(result)


def form_lines(text: str, fields: int) -> bytes:
    """One line per field, a newline typed as \\n: how the console takes a form from a pipe."""
    return b"".join(pasted(text.replace("\n", "\\n")) for _ in range(fields))


def field_value(text: str) -> str:
    """The value the console reads back from form_lines for a multi-line field."""
    return text.replace("\n", "\\n").rstrip("\r\n").replace("\\n", "\n")


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_roles_form(console_class: ConsoleClass, entry: Hostile, caplog):
    room = console_class
    data = pasted("/roles formulario:sí") + form_lines(entry.text, 3) + b"\n\n" + b"/help\n"
    result = await piped(room, room.student, data)
    check_terminal_safe(result.output)
    check_no_internal_error(result, caplog)
    if has_surrogates(entry.text):
        refusal = "error.bad_encoding"
    else:
        refusal = refusal_for("roles-form", field_value(entry.text), room.settings)
    check_outcome(result.replies[0], refusal)
    check_help_last(result)


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_homework_form(console_class: ConsoleClass, entry: Hostile, caplog):
    """A first answer from a new student each time, named with the input (names are shown)."""
    room = console_class
    name = entry.text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")[:32]
    student = console(room.aula, person(f"hw{CORPUS.index(entry):03d}", name=name), room.files)
    data = pasted("/quiz answer") + form_lines(entry.text, 4) + b"/help\n"
    result = await piped(room, student, data)
    check_terminal_safe(result.output)
    check_no_internal_error(result, caplog)
    if has_surrogates(entry.text):
        refusal = "error.bad_encoding"
    else:
        refusal = refusal_for("homework-form", field_value(entry.text).strip(), room.settings)
    check_outcome(result.replies[0], refusal)
    check_help_last(result)


# --- bytes only a pipe carries ------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")  # the loop the tests run in, or the LLM server never answers
async def one_console(tmp_path):
    """A console of its own, run exactly as `aula console < file` runs it."""
    async with FakeLlmServer() as llm:
        settings = console_settings(tmp_path / "aula.sqlite3", llm.base_url)

        async def run(data: bytes) -> str:
            out = io.StringIO()
            await run_console(Aula(settings), stdin=io.BytesIO(data), stdout=out, colour=True, locale=LANG)
            return out.getvalue()

        yield run


@pytest.mark.parametrize("raw", [r for _, r in RAW_LINES], ids=[i for i, _ in RAW_LINES])
async def test_bytes_that_are_not_utf8_are_refused_and_the_console_goes_on(one_console, raw: bytes):
    output = await one_console(b"/tokens texto:" + raw + b"\n/help\n")
    check_terminal_safe(output)
    assert t(LANG, "error.bad_encoding") in output
    assert t(LANG, "help.title") in output  # the next line is read and answered


@pytest.mark.parametrize("raw", [r for _, r in RAW_TEXT_LINES], ids=[i for i, _ in RAW_TEXT_LINES])
async def test_control_bytes_reach_no_terminal(one_console, raw: bytes):
    output = await one_console(b"/tokens texto:" + raw + b"\n/help\n")
    check_terminal_safe(output)
    assert t(LANG, "tokens.segments_caption") in output and t(LANG, "help.title") in output


async def test_a_pasted_escape_sequence_is_shown_not_obeyed(one_console):
    output = await one_console(b"/compare prompt:\x1b[2J\x1b[31mrojo\n")
    assert "␛[2J␛[31mrojo" in output and "\x1b[2J" not in output and "\x1b[31m" not in output


async def test_own_colour_codes_are_the_only_escapes_left():
    """The safety check itself: user escapes survive it, the renderer's own codes do not."""
    with pytest.raises(AssertionError):
        check_terminal_safe(BOLD + "x" + RESET + "\x1b[2J")
    check_terminal_safe(BOLD + "x" + RESET + SEGMENT_BACKGROUNDS[0] + "y\n\tz" + RESET)
    assert re.fullmatch(r"(\x1b\[[0-9;]*m)+", "".join(OWN_CODES))


# --- numbers too large for storage, through every integer option ----------------------------


def integer_options(aula: Aula) -> list[tuple[str, str]]:
    """(command line prefix, option name) for every integer option of every command."""
    found = []
    for command in aula.commands.values():
        for spec, prefix in [(command.spec, f"/{command.spec.name}")] + [
            (sub, f"/{command.spec.name} {sub.name}") for sub in command.spec.subcommands
        ]:
            found += [(prefix, option.name) for option in spec.options if option.kind == "integer"]
    return found


async def test_a_number_too_large_for_sqlite_is_refused_in_every_integer_option(console_class, caplog):
    """`/quiz results sesion:99999999999999999999999` answered "Algo salió mal" (OverflowError
    in SQLite); every integer option of every command now refuses it in the user's words."""
    room = console_class
    options = integer_options(room.aula)
    assert ("/quiz results", "sesion") in options and ("/quiz my-answers", "tarea") in options
    for prefix, option in options:
        for session in (room.teacher, room.student):
            result = await piped(room, session, pasted(f"{prefix} {option}:99999999999999999999999"))
            check_no_internal_error(result, caplog)
            reply = result.replies[0]
            assert reply.error, (prefix, option, plain_text(reply)[:200])
            text = plain_text(reply)
            assert "99999999999999999999999" in text or t(LANG, "error.instructor_only") in text, (prefix, text)


async def test_an_option_name_alone_is_the_option_given_empty_not_text(console_class, caplog):
    """`/tokens texto:` tokenized the word "texto:"; `/next texto:` sent it to the model."""
    room = console_class
    for line in ("/tokens texto:", "/tokens text:", "/next texto:", "/compare prompt:"):
        result = await piped(room, room.student, pasted(line))
        check_no_internal_error(result, caplog)
        reply = result.replies[0]
        assert reply.error, (line, plain_text(reply)[:200])  # a refusal asking for the text
