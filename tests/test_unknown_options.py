"""A mistyped option name (`plazo:2m`) where options are typed as `name:value` (console, Slack)
is refused naming it and listing the command's options, not swallowed into the previous
option's value; inside free text ("Hora: 10:30", "nota:ver") it stays text, and URLs and times
are never taken for option names."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.arguments import parse_arguments, split_subcommand
from bot.compare.command import SPEC as COMPARE
from bot.dataset.command import SPEC as DATASET
from bot.errors import UserError
from bot.i18n import t
from bot.next.command import SPEC as NEXT
from bot.quiz.command import SPEC as QUIZ
from bot.tokens.command import SPEC as TOKENS
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, command_body, signed_request
from tests.homework_support import homework_settings
from tests.quiz_support import FakeClock
from tests.test_console import run_console
from tests.test_quiz_slack import replies_to, texts

ASSIGN = {
    "es": "banco:, vence:, publicar:, anonimo:, recordatorio:",
    "en": "bank:, due:, publish:, anonymous:, reminder:",
}
START = {"es": "banco:, aleatorio:, tiempo:, anonimo:", "en": "bank:, shuffle:, time:, anonymous:"}

# (spec, typed line, lang, unknown option, suggestion or None, options as listed in lang)
REFUSED = [
    (QUIZ, "assign banco:seccion-2 plazo:2m", "es", "plazo", None, ASSIGN["es"]),
    (QUIZ, "assign bank:seccion-2 deadline:2m", "en", "deadline", None, ASSIGN["en"]),
    (QUIZ, "assign banco:seccion-2 publicr:al-enviar", "es", "publicr", "publicar", ASSIGN["es"]),
    (QUIZ, "assign banco:seccion-2 vence:mañana recordatoro:2", "es", "recordatoro", "recordatorio", ASSIGN["es"]),
    (QUIZ, "assign seccion-2 anonimo:sí plazo:2m", "es", "plazo", None, ASSIGN["es"]),
    (QUIZ, "start banco:seccion-2 tiemp:30", "es", "tiemp", "tiempo", START["es"]),
    (QUIZ, "start bank:seccion-2 shufle:yes", "en", "shufle", "shuffle", START["en"]),
    (COMPARE, "prompt:hola perfil:mio ejemlo:completar", "es", "ejemlo", "ejemplo", None),
    (DATASET, "formato:openai modleo:qwen3", "es", "modleo", "modelo", None),
    (DATASET, "format:openai modle:qwen3", "en", "modle", "model", None),
]


def expected(lang, option, suggestion, options):
    if suggestion:
        return t(lang, "error.unknown_option_suggest", option=option, suggestion=suggestion, options=options)
    return t(lang, "error.unknown_option", option=option, options=options)


def parse(spec, line, lang):
    subcommand, rest = split_subcommand(spec, line)
    return parse_arguments(spec.subcommand(subcommand) if subcommand else spec, rest, lang)


@pytest.mark.parametrize("spec, line, lang, option, suggestion, options", REFUSED)
def test_an_unknown_option_name_is_refused_naming_it(spec, line, lang, option, suggestion, options):
    with pytest.raises(UserError) as refused:
        parse(spec, line, lang)
    assert refused.value.key == ("error.unknown_option_suggest" if suggestion else "error.unknown_option")
    assert refused.value.values["option"] == option
    if suggestion:
        assert refused.value.values["suggestion"] == suggestion
    if options:
        assert refused.value.values["options"] == options
    message = t(lang, refused.value.key, **refused.value.values)
    assert f"«{option}:»" in message
    assert message == expected(lang, option, suggestion, refused.value.values["options"])


# Free text keeps option-shaped words; URLs and times are values, not option names.
KEPT = [
    (TOKENS, "texto:Hora: 10:30 nota:ver modelo:todos", {"texto": "Hora: 10:30 nota:ver", "modelo": "todos"}),
    (TOKENS, "nota:ver y Hora:10:30", {"texto": "nota:ver y Hora:10:30"}),
    (NEXT, "texto:Paciente: nota:ver temperatura:0.5", {"texto": "Paciente: nota:ver", "temperatura": 0.5}),
    (COMPARE, "prompt:Usuario:hola Asistente: ciego:no", {"prompt": "Usuario:hola Asistente:", "ciego": False}),
    (QUIZ, "assign banco:seccion-2 vence:2026-12-01 10:30", {"banco": "seccion-2", "vence": "2026-12-01 10:30"}),
    (QUIZ, "start banco:https://example.org/banco.json tiempo:30",
     {"banco": "https://example.org/banco.json", "tiempo": 30}),
]


@pytest.mark.parametrize("spec, line, args", KEPT)
def test_free_text_urls_and_times_are_not_option_names(spec, line, args):
    assert parse(spec, line, "es") == args


CONSOLE = [
    ("es", b"/quiz assign banco:seccion-2 plazo:2m\n", "plazo", None, ASSIGN["es"]),
    ("en", b"/quiz assign bank:seccion-2 deadline:2m\n", "deadline", None, ASSIGN["en"]),
    ("es", b"/quiz start banco:seccion-2 tiemp:30\n", "tiemp", "tiempo", START["es"]),
]


@pytest.mark.parametrize("lang, line, option, suggestion, options", CONSOLE)
def test_console_refuses_an_unknown_option(tmp_path, lang, line, option, suggestion, options):
    out = run_console(tmp_path, line + b"/tokens texto:Hora: 10:30 nota:ver\n", "--lang", lang).stdout.decode()
    assert expected(lang, option, suggestion, options) in out
    assert f"seccion-2 {option}" not in out  # not swallowed into the bank's name
    assert "«nota:»" not in out and "«Hora:»" not in out  # /tokens' free text stays text


TEACHER = "U0PROFE"


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def bot(tmp_path, slack):
    settings = homework_settings(
        tmp_path, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    )
    aula = Aula(settings, clock=FakeClock())
    await aula.start()
    serving = asyncio.all_tasks()
    app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    yield aula, app
    work = asyncio.all_tasks() - serving - {asyncio.current_task()}
    if work:
        await asyncio.wait(work, timeout=5)
    await aula.close()


SLACK = [
    ("es-ES", "es", "/quiz", "assign banco:seccion-2 plazo:2m", "plazo", None, ASSIGN["es"]),
    ("en-US", "en", "/quiz", "assign bank:seccion-2 deadline:2m", "deadline", None, ASSIGN["en"]),
    ("es-ES", "es", "/quiz", "start banco:seccion-2 tiemp:30", "tiemp", "tiempo", START["es"]),
    ("en-US", "en", "/quiz", "assign bank:seccion-2 publsh:on-submit", "publsh", "publish", ASSIGN["en"]),
]


@pytest.mark.parametrize("locale, lang, command, text, option, suggestion, options", SLACK)
async def test_slack_refuses_an_unknown_option(bot, slack, locale, lang, command, text, option, suggestion, options):
    _, app = bot
    slack.users[TEACHER] = {"is_admin": True, "locale": locale}
    body = command_body(command, text, user_id=TEACHER, response_url=slack.response_url("typo"))
    assert (await app.async_dispatch(signed_request(body))).status == 200
    replies = await slack.wait_for(lambda: replies_to(slack, "typo"))
    shown = "\n".join(texts(r.get("blocks") or []) + r.get("text", "") for r in replies)
    assert expected(lang, option, suggestion, options) in shown
