"""The core contract: dispatch, errors, permissions, locales."""

from __future__ import annotations

import asyncio

from bot.app import Aula
from bot.command import Command, CommandSpec
from bot.errors import UserError
from bot.i18n import catalog, normalize_locale, t
from bot.replies import Heading, Paragraph, Reply, plain_text
from bot.requests import Place, Request
from tests.conftest import make_request, replies_of


async def test_help_answers_in_spanish_and_english(aula):
    [es] = await replies_of(aula, make_request("help", locale="es"))
    [en] = await replies_of(aula, make_request("help", locale="en"))
    assert "Qué puede hacer Aula" in plain_text(es)
    assert "What Aula can do" in plain_text(en)
    assert es.is_private and not es.error


async def test_unknown_command_is_a_private_error_in_the_users_language(aula):
    [reply] = await replies_of(aula, make_request("nope", locale="en"))
    assert reply.error and reply.is_private
    assert "I don't know the command /nope" in plain_text(reply)


def _commands_for_test():
    async def boom(request, app):
        raise RuntimeError("kaboom")

    async def refuse(request, app):
        raise UserError("error.empty_text")

    async def stream(request, app):
        for i in range(3):
            yield Reply.public(Paragraph.of(f"v{i}"))
            await asyncio.sleep(0)

    async def secret(request, app):
        return Reply.public(Heading("secret"))

    return [
        Command(CommandSpec("boom", "help.description"), boom),
        Command(CommandSpec("refuse", "help.description"), refuse),
        Command(CommandSpec("stream", "help.description"), stream),
        Command(CommandSpec("secret", "help.description", instructor_only=True), secret),
    ]


async def test_a_crashing_command_becomes_an_error_reply_and_the_core_keeps_working(settings):
    app = await Aula(settings, commands=_commands_for_test()).start()
    try:
        [reply] = await replies_of(app, make_request("boom"))
        assert reply.error and "Algo salió mal" in plain_text(reply)
        [reply] = await replies_of(app, make_request("refuse", locale="en"))
        assert reply.error and "The text is empty" in plain_text(reply)
        outcomes = [row["outcome"] for row in await app.command_log.recent()]
        assert outcomes[:2] == ["refused", "error"]
    finally:
        await app.close()


async def test_streaming_handlers_yield_every_version(settings):
    app = await Aula(settings, commands=_commands_for_test()).start()
    try:
        replies = await replies_of(app, make_request("stream"))
        assert [plain_text(r) for r in replies] == ["v0", "v1", "v2"]
    finally:
        await app.close()


async def test_instructor_only_commands_refuse_students(settings):
    app = await Aula(settings, commands=_commands_for_test()).start()
    try:
        [student] = await replies_of(app, make_request("secret", instructor=False))
        [teacher] = await replies_of(app, make_request("secret", instructor=True))
        assert student.error and "Solo los instructores" in plain_text(student)
        assert not teacher.error and plain_text(teacher) == "secret"
    finally:
        await app.close()


async def test_users_are_remembered_without_message_content(aula):
    await replies_of(aula, make_request("help", user_id="ana"))
    row = await aula.users.get("console", "ana")
    assert row["display_name"] == "name-ana"
    columns = {r[1] for r in await aula.db.fetchall("PRAGMA table_info(command_log)")}
    assert "text" not in columns and "content" not in columns


def test_locales_normalise_to_spanish_or_english():
    assert normalize_locale("es-ES") == "es"
    assert normalize_locale("es-419") == "es"
    assert normalize_locale("en-US") == "en"
    assert normalize_locale("en_GB") == "en"
    assert normalize_locale("fr") == "es"
    assert normalize_locale(None, default="en") == "en"


def test_every_message_exists_in_spanish_and_english():
    missing = [key for key, texts in catalog().items() if not texts.get("es") or not texts.get("en")]
    assert missing == []


def test_every_command_description_is_a_message():
    keys = catalog()
    for command in Aula.__init__.__globals__["all_commands"]():
        specs = [command.spec, *command.spec.subcommands]
        for spec in specs:
            assert spec.description in keys, spec.name
            for option in spec.options:
                assert option.description in keys, f"{spec.name}.{option.name}"


async def test_requests_carry_their_arguments():
    request = make_request("tokens", args={"texto": "", "modelo": "gpt-4o"})
    assert request.arg("texto", "x") == "x"
    assert request.arg("modelo") == "gpt-4o"
    assert isinstance(request, Request)


async def test_help_names_commands_as_typed_on_each_platform(settings):
    settings.slack.commands["tokens"] = "/aula-tokens"
    app = await Aula(settings).start()
    try:
        slack_request = make_request("help")
        slack_request = Request(
            command="help", user=slack_request.user, place=Place("slack", "T1", "C1")
        )
        [on_slack] = await replies_of(app, slack_request)
        [on_console] = await replies_of(app, make_request("help"))
        assert "- /aula-tokens [texto]" in plain_text(on_slack)
        assert "- /tokens [texto]" in plain_text(on_console) and "/aula-tokens" not in plain_text(on_console)
        # A file cannot be typed into a Slack command: its help says how a file goes with /dataset.
        minutes = settings.dataset.slack_file_minutes
        assert t("es", "help.slack_file", count=minutes) in plain_text(on_slack)
        assert "- /dataset [formato:" in plain_text(on_slack) and "- /dataset [archivo] [formato:" in plain_text(on_console)
        assert t("es", "help.slack_file", count=minutes) not in plain_text(on_console)
    finally:
        await app.close()


async def test_who_was_seen_and_the_command_log_are_stamped_by_the_apps_clock(settings):
    app = await Aula(settings, clock=lambda: 1_700_000_000.0).start()
    try:
        await replies_of(app, make_request("help", user_id="ana"))
        user = await app.users.get("console", "ana")
        assert (user["first_seen"], user["last_seen"]) == (1_700_000_000.0, 1_700_000_000.0)
        [logged] = await app.command_log.recent()
        assert logged["at"] == 1_700_000_000.0
    finally:
        await app.close()


async def test_a_command_log_the_database_cannot_take_is_one_warning_without_traceback(settings, caplog):
    """With PostgreSQL down every command logged an error with a traceback for its log row, beside
    the user's "couldn't save"; a bug in the log still gets its traceback."""
    import logging

    from bot.storage.database import StorageUnavailable

    app = await Aula(settings, commands=_commands_for_test()).start()
    try:
        failures = [StorageUnavailable("PostgreSQL is unavailable: ConnectionRefusedError"), RuntimeError("a bug")]

        async def record(*args, **kwargs):
            raise failures.pop(0)

        app.command_log.record = record
        with caplog.at_level(logging.INFO, logger="aula"):
            for _ in range(2):
                [reply] = await replies_of(app, make_request("refuse", locale="en"))
                assert t("en", "error.empty_text") in plain_text(reply)
        logged = [(r.levelno, r.exc_info is not None) for r in caplog.records if "command log" in r.getMessage()]
        assert logged == [(logging.WARNING, False), (logging.ERROR, True)]
    finally:
        await app.close()
