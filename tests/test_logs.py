"""Structured logs: one key=value line per event, and never a secret or a user's text.

The leak tests configure logging as `aula run` does (adapters/logs.py), at DEBUG, with all
five secrets set, then run distinctive text through the core, the console, /compare on the
loopback LLM server, Slack (signed, forged and failing requests) and Discord (simcord), and
read everything that was written.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.console import run_console
from adapters.logs import configure_logging
from adapters.slack import create_app
from bot.app import Aula
from bot.command import Command, CommandSpec, Option
from bot.errors import UserError
from bot.llm.client import LlmClient, MalformedResponse, resolve_profile
from bot.logs import KeyValueFormatter, event
from bot.registry import all_commands
from bot.replies import Paragraph, Reply, plain_text
from bot.settings import load_settings
from tests.conftest import make_request, replies_of
from tests.fake_llm import FakeLlmServer
from tests.fake_slack import FakeSlack, command_body, signed_request

TEXT = "Mi contraseña del banco es girasol-9931"  # what a student typed: must never be logged
SECRETS = {
    "DISCORD_TOKEN": base64.b64encode(b"987654321098765432").decode() + ".GLeaky.discord-leaky-part-abcdefghijklmnop",
    "SLACK_BOT_TOKEN": "xoxb-4242-leaky-bot-token",
    "SLACK_APP_TOKEN": "xapp-1-A42-leaky-app-token",
    "SLACK_SIGNING_SECRET": "leaky-signing-secret-42",
    "AULA_LLM_API_KEY": "sk-leaky-llm-key-42",
}
LINE = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z( [a-z_]+=("(?:[^"\\]|\\.)*"|[^\s"]+))+')
PAIR = re.compile(r' ([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def parse(line: str) -> dict[str, str]:
    assert LINE.fullmatch(line), f"not one key=value line: {line!r}"
    return {key: json.loads(value) if value.startswith('"') else value for key, value in PAIR.findall(line)}


@pytest.fixture
def secret_settings(tmp_path):
    return load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "AULA_LOG_LEVEL": "DEBUG",
            "AULA__LLM__MAX_RETRIES": "0",
            "AULA__LLM__STREAM_UPDATE_S": "0",
            "AULA__QUIZ__TICK_SECONDS": "0",
            "AULA__HOMEWORK__TICK_SECONDS": "0",
            **SECRETS,
        },
        dotenv_path=None,
    )


@pytest.fixture
def log_output(secret_settings):
    """Logging configured as `aula run` does, into a buffer; the lines written so far."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(secret_settings, stream)

    def lines() -> list[str]:
        return stream.getvalue().splitlines()

    yield lines
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def assert_nothing_private(lines: list[str]) -> None:
    output = "\n".join(lines)
    for name, value in SECRETS.items():
        assert value not in output, f"{name} leaked"
    assert "leaky" not in output  # no fragment of any secret either
    assert "girasol" not in output and "contraseña" not in output


def command_events(lines: list[str]) -> list[dict[str, str]]:
    return [fields for fields in map(parse, lines) if fields.get("event") == "command"]


# --- the format -----------------------------------------------------------------------------


def test_an_event_is_one_line_of_key_value_pairs():
    record = logging.LogRecord("aula", logging.INFO, __file__, 1, "command", None, None)
    record.aula_fields = {"command": "tokens", "platform": "slack", "latency_ms": 12.345, "reason": "a b"}
    line = KeyValueFormatter().format(record)
    assert parse(line) == {
        "level": "info", "logger": "aula", "event": "command", "command": "tokens",
        "platform": "slack", "latency_ms": "12.3", "reason": "a b",
    }  # fmt: skip


def test_an_exception_stays_on_the_same_line():
    try:
        raise RuntimeError("first line\nsecond line")
    except RuntimeError:
        record = logging.LogRecord("aula.x", logging.ERROR, __file__, 1, "it failed", None, __import__("sys").exc_info())
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    fields = parse(line)
    assert fields["msg"] == "it failed" and fields["error"] == "RuntimeError"
    assert fields["traceback"].startswith("Traceback") and "second line" in fields["traceback"]


@pytest.mark.parametrize(
    "leak",
    [
        "xoxb-123-456-abcdef",
        "xapp-1-A111-222-abc",
        "Authorization: Bot " + SECRETS["DISCORD_TOKEN"],
        SECRETS["DISCORD_TOKEN"],
        "headers={'Authorization': 'Bearer sk-live-abc'}",
        "https://api.example/v1/models?api_key=sk-in-a-url",
        "https://hooks.slack.com/commands/T0/123/AbCdEf",
        "token=legacy-verification-token&team_id=T1",
    ],
)
def test_token_shaped_text_is_masked_even_when_nobody_said_it_was_secret(leak):
    line = KeyValueFormatter().format(logging.LogRecord("lib", logging.WARNING, __file__, 1, "got %s", (leak,), None))
    secret = re.split(r"Bot |Bearer |api_key=|token=|commands/", leak)[-1].split("'")[0].split("&")[0]
    assert secret not in line and "****" in line


def test_a_line_with_a_lone_surrogate_can_still_be_written():
    record = logging.LogRecord("lib", logging.WARNING, __file__, 1, "odd %s", ("a\ud800b",), None)
    line = KeyValueFormatter().format(record)
    line.encode("utf-8")  # would raise UnicodeEncodeError with the surrogate itself
    assert "a\\ud800b" in line and parse(line)["msg"] == "odd a\ud800b"  # JSON reads the escape back


def test_the_default_handler_writes_to_the_current_stderr(secret_settings, monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(secret_settings)
        later = io.StringIO()
        monkeypatch.setattr("sys.stderr", later)  # as a test runner swaps it
        logging.getLogger("aula.test").warning("after the swap")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "after the swap" in later.getvalue()


def test_known_secrets_are_masked_wherever_they_appear():
    formatter = KeyValueFormatter(["plain-looking-password"])
    line = formatter.format(
        logging.LogRecord("lib", logging.INFO, __file__, 1, "connecting with %s", ("plain-looking-password",), None)
    )
    assert "plain-looking-password" not in line and parse(line)["msg"] == "connecting with ****"


def test_libraries_stay_at_info_when_the_bot_logs_debug(log_output):
    event(logging.getLogger("aula.test"), "probe", level=logging.DEBUG, n=1)
    logging.getLogger("aiosqlite").debug("executing INSERT with %s", TEXT)
    logging.getLogger("slack_sdk.web").debug("Sending a request - body: %s", TEXT)
    logging.getLogger("aula:on_tokens_command").debug("request body: %s", TEXT)  # Bolt's listener loggers
    logging.getLogger("fontTools.ttLib").debug("Reading 'cmap' table from disk")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.hyperbolic.xyz/v1/completions")
    logging.getLogger("discord.gateway").info("Shard ID None has connected to Gateway")
    assert [parse(line)["logger"] for line in log_output()] == ["aula.test", "discord.gateway"]


def test_configuring_twice_does_not_double_the_lines(secret_settings, log_output):
    configure_logging(secret_settings, io.StringIO())
    kv_handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, KeyValueFormatter)]
    assert len(kv_handlers) == 1


# --- the core -------------------------------------------------------------------------------


def leaky_commands() -> list[Command]:
    async def count(request, app):
        return Reply.public(Paragraph.of(str(int(request.arg("texto")))))  # ValueError quotes the text

    async def refuse(request, app):
        raise UserError("error.empty_text")

    async def failed(request, app):
        return Reply(parts=(Paragraph.of("the service is down"),), error=True)

    text = Option("texto", "help.description")
    return [
        Command(CommandSpec("count", "help.description", options=(text,)), count),
        Command(CommandSpec("refuse", "help.description", options=(text,)), refuse),
        Command(CommandSpec("failed", "help.description"), failed),
    ]


async def test_every_command_is_one_event_with_its_outcome_and_none_shows_the_text(secret_settings, log_output):
    app = await Aula(secret_settings, commands=[*all_commands(), *leaky_commands()]).start()
    try:
        [answer] = await replies_of(app, make_request("tokens", args={"texto": TEXT}))
        assert "girasol" in plain_text(answer)  # the text did go through
        await replies_of(app, make_request("count", args={"texto": TEXT}))
        await replies_of(app, make_request("refuse", args={"texto": TEXT}))
        await replies_of(app, make_request("failed"))
        await replies_of(app, make_request(TEXT))  # a command name nobody registered
    finally:
        await app.close()
    lines = log_output()
    assert_nothing_private(lines)
    events = [{k: e[k] for k in ("command", "sub", "kind", "platform", "outcome", "reason", "shown")} for e in command_events(lines)]
    assert events == [
        {"command": "tokens", "sub": "-", "kind": "command", "platform": "console", "outcome": "ok", "reason": "-", "shown": "public"},
        {"command": "count", "sub": "-", "kind": "command", "platform": "console", "outcome": "error", "reason": "ValueError", "shown": "private"},
        {"command": "refuse", "sub": "-", "kind": "command", "platform": "console", "outcome": "refused", "reason": "error.empty_text", "shown": "private"},
        {"command": "failed", "sub": "-", "kind": "command", "platform": "console", "outcome": "failed", "reason": "-", "shown": "public"},
        {"command": "unknown", "sub": "-", "kind": "command", "platform": "console", "outcome": "refused", "reason": "error.unknown_command", "shown": "private"},
    ]  # fmt: skip
    assert all(float(e["latency_ms"]) >= 0 and e["replies"] == "1" for e in command_events(lines))
    [crash] = [parse(line) for line in lines if "traceback=" in line]
    assert crash["error"] == "ValueError" and "invalid literal for int() with base 10: '«…»'" in crash["traceback"]


async def test_the_console_logs_no_text(secret_settings, log_output):
    app = Aula(secret_settings)
    shown = io.StringIO()
    stdin = io.BytesIO(f"/tokens texto:{TEXT}\n/roles usuario:{TEXT}\n/nope {TEXT}\n".encode())
    await run_console(app, stdin=stdin, stdout=shown, colour=False)
    assert "girasol" in shown.getvalue()
    lines = log_output()
    assert_nothing_private(lines)
    assert [e["command"] for e in command_events(lines)] == ["tokens", "roles"]  # /nope: refused by the console


# --- the LLM --------------------------------------------------------------------------------


async def test_compare_logs_neither_the_prompt_nor_the_answers_nor_the_key(secret_settings, log_output):
    async with FakeLlmServer(api_key=SECRETS["AULA_LLM_API_KEY"]) as server:
        settings = secret_settings.model_copy(update={"llm": secret_settings.llm.model_copy(update={"base_url": server.base_url})})
        app = await Aula(settings).start()
        try:
            answer = (await replies_of(app, make_request("compare", args={"prompt": TEXT})))[-1]
            assert "girasol" in plain_text(answer) and not answer.error
            server.api_key = "another-key"  # the key is refused now
            failed = (await replies_of(app, make_request("compare", user_id="u2", args={"prompt": TEXT})))[-1]
            assert failed.error
        finally:
            await app.close()
    lines = log_output()
    assert_nothing_private(lines)
    assert [e["outcome"] for e in command_events(lines)] == ["ok", "failed"]


async def test_a_malformed_chunk_is_described_without_quoting_it(secret_settings):
    chunk = json.dumps({"choices": [{"delta": {"content": [TEXT]}}]})

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f"data: {chunk}\n\n", headers={"content-type": "text/event-stream"})

    client = LlmClient(secret_settings.llm, resolve_profile(secret_settings), transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(MalformedResponse) as caught:
            await client.chat([{"role": "user", "content": "hola"}])
    finally:
        await client.aclose()
    assert "TypeError" in str(caught.value) and "girasol" not in str(caught.value)


# --- Slack ----------------------------------------------------------------------------------


async def test_slack_logs_no_text_no_token_and_not_the_body_of_a_forged_request(secret_settings, log_output):
    signing = SECRETS["SLACK_SIGNING_SECRET"]
    async with FakeSlack() as slack:
        app_core = await Aula(secret_settings).start()
        client = AsyncWebClient(token=SECRETS["SLACK_BOT_TOKEN"], base_url=slack.api_url)
        app = create_app(secret_settings, aula=app_core, client=client)
        try:
            body = command_body("/tokens", f"texto:{TEXT}", response_url=slack.response_url())
            assert (await app.async_dispatch(signed_request(body, secret=signing))).status == 200
            await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
            forged = command_body("/tokens", f"texto:{TEXT}", response_url=slack.response_url())
            assert (await app.async_dispatch(signed_request(forged, secret="not-the-secret"))).status == 401
            slack.failures["chat.postMessage"] = "internal_error"
            slack.failures["users.info"] = "ratelimited"
            body = command_body("/tokens", f"texto:{TEXT}", user_id="U0OTHER", response_url=slack.response_url("r2"))
            assert (await app.async_dispatch(signed_request(body, secret=signing))).status == 200
            await slack.wait_for(lambda: [c for c in slack.calls_to("response_url") if c.payload["url_name"] == "r2"])
        finally:
            await app_core.close()
    lines = log_output()
    assert_nothing_private(lines)
    assert any("Invalid request signature" in line and "(not logged)" in line for line in lines)
    assert any("a Slack request failed" in line and "SlackApiError" in line for line in lines)
    assert [(e["command"], e["platform"]) for e in command_events(lines)] == [("tokens", "slack")] * 2


# --- Discord --------------------------------------------------------------------------------


@pytest.fixture
def discord_settings(secret_settings):
    return secret_settings


async def test_discord_logs_no_text(simcord_env, log_output):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    member = guild.add_member(simcord_env.create_user("ana"))
    result = await member.slash(channel, "tokens", texto=TEXT)
    assert "girasol" in json.dumps([e.to_dict() for e in result.response.embeds], ensure_ascii=False) + (
        result.response.content or ""
    )
    lines = log_output()
    assert_nothing_private(lines)
    assert [(e["command"], e["platform"], e["outcome"]) for e in command_events(lines)] == [("tokens", "discord", "ok")]
