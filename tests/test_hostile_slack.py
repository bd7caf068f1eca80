"""The hostile-input corpus through every command on Slack: Slack-signed requests through Bolt,
answers read off the fake Web API (tests/fake_slack.py), /compare on the loopback LLM server.

Every slash command takes the input as its text (/help and /privacy ignore it), the /roles
and homework modals take it in every field, and homework answers are published to the
channel as they come, under a display name that is the input too. One Slack app, core and
LLM server serve the whole module, as one bot serves a class. Checked per send: the
listener work finishes (no hang), nothing is logged as an error, the answer is the one the
command owes that input (its specific refusal or a real answer), every mrkdwn and fallback
text has Slack's control characters escaped (so `<!channel>` cannot ping), every code fence
is the adapter's own, and a plain /help still answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.command import slash_name
from bot.i18n import t
from bot.roles.command import MESSAGE_MAX
from bot.settings import Settings, load_settings
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    command_fields,
    signed_request,
    submission_body,
)
from tests.hostile_inputs import (
    CORPUS,
    Hostile,
    fence_problems,
    line_refusal,
    refusal_for,
    refusal_pattern,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

STUDENT, TEACHER = "U0STUDENT", "U0TEACHER"  # Spanish and English
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")
# Slack reads <, > and & as markup; escaped they can only be &lt; &gt; &amp;.
UNESCAPED = re.compile(r"[<>]|&(?!(?:amp|lt|gt);)")
# Tasks that live as long as the module's services, not one request.
LONG_LIVED = ("RequestHandler.start", "quiz-timers", "homework-deadlines")
DRAIN_S = 20.0


@dataclass(frozen=True)
class Target:
    id: str
    command: str  # the slash command
    line: str  # what is typed after it; {text} is the hostile input
    user: str = STUDENT
    option: str = ""  # the option the input lands in (for the expected answer)


TARGETS = (
    Target("help", "help", "{text}"),
    Target("tokens", "tokens", "texto:{text}", option="texto"),
    Target("roles-user", "roles", "usuario:{text}", option="usuario"),
    Target("roles-system", "roles", "sistema:{text}", option="sistema"),
    Target("compare", "compare", "prompt:{text}", option="prompt"),
    Target("quiz-start", "quiz", "start banco:{text}", user=TEACHER, option="banco"),
    Target("quiz-import-text", "quiz", "import {text}", user=TEACHER, option="archivo"),
    Target("quiz-assign-bank", "quiz", "assign banco:{text}", user=TEACHER, option="banco"),
    Target("quiz-assign-due", "quiz", "assign banco:seccion-2 vence:{text}", user=TEACHER, option="vence"),
    Target("privacy", "privacy", "{text}"),
)


@dataclass
class SlackClass:
    app: object
    slack: FakeSlack
    aula: Aula
    settings: Settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slack_class(tmp_path_factory):
    database = tmp_path_factory.mktemp("hostile-slack") / "aula.sqlite3"
    async with FakeLlmServer() as llm, FakeSlack() as slack:
        settings = load_settings(
            environ={
                "AULA_DATABASE": str(database),
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "AULA__SLACK__INSTRUCTOR_USER_IDS": f'["{TEACHER}"]',
                "AULA__QUIZ__TICK_SECONDS": "0",
                "AULA__HOMEWORK__TICK_SECONDS": "0",
                "AULA_LLM_BASE_URL": llm.base_url,
                "AULA_LLM_API_KEY": API_KEY,
                # A whole class, one student: no cooldown, queue or budget between the sends.
                "AULA__LLM__USER_COOLDOWN_S": "0",
                "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
                "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000",
            },
            dotenv_path=None,
        )
        slack.users[STUDENT] = {"locale": "es-ES"}
        slack.users[TEACHER] = {"locale": "en-US"}
        aula = Aula(settings)
        await aula.start()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        app = create_app(settings, aula=aula, client=client, edit_interval_s=0)
        room = SlackClass(app, slack, aula, settings)
        # Homework to answer, published as it comes in: the answers reach the channel too.
        assigned = await command(room, "quiz", "assign banco:seccion-2 publicar:al-enviar", user=TEACHER)
        assert assigned.messages() and not error_texts(assigned)
        yield room
        await aula.close()


# --- sending --------------------------------------------------------------------------------


@dataclass
class Sent:
    status: int
    body: str
    calls: list[Call]

    def messages(self) -> list[tuple[str, list[dict]]]:
        """(fallback text, blocks) of every message posted, updated or whispered."""
        return [
            (c.payload.get("text") or "", c.payload.get("blocks") or [])
            for c in self.calls
            if c.method in MESSAGE_METHODS
        ]


def slack_body(command: str, text: str, user: str, response_url: str) -> str:
    """A slash command's body as Slack sends it; text Slack cannot carry goes as its bytes."""
    fields = command_fields(command, text, user_id=user, response_url=response_url)
    return urlencode(fields, errors="surrogatepass")


async def dispatch(room: SlackClass, body: str) -> Sent:
    start = len(room.slack.calls)
    before = asyncio.all_tasks()
    response = await room.app.async_dispatch(signed_request(body))
    await drained(before)
    return Sent(response.status, response.body, room.slack.calls[start:])


async def drained(before: set[asyncio.Task]) -> None:
    """Wait for the work Bolt started after the ack; fail if it is still running (a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_S
    while True:
        pending = [
            task
            for task in asyncio.all_tasks() - before
            if task is not asyncio.current_task()
            and not task.done()
            and task.get_name() not in LONG_LIVED
            and getattr(task.get_coro(), "__qualname__", "") not in LONG_LIVED
        ]
        if not pending:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"still working {DRAIN_S:g} s after the ack: {pending}")
        await asyncio.wait(pending, timeout=deadline - loop.time())


async def command(room: SlackClass, name: str, text: str, user: str = STUDENT) -> Sent:
    slash = slash_name(room.settings, "slack", name)  # Slack's names are configurable: /help is /aula
    return await dispatch(room, slack_body(slash, text, user, room.slack.response_url()))


# --- what the class sees ----------------------------------------------------------------------


def mrkdwn_texts(blocks: list[dict]) -> list[str]:
    out = []
    for block in blocks:
        pieces = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        out += [p["text"] for p in pieces if isinstance(p, dict) and p.get("type") == "mrkdwn"]
    return out


def unescaped(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_shown_safely(sent: Sent) -> None:
    """No mention, link or broken fence can come out of user text."""
    for fallback, blocks in sent.messages():
        for text in [fallback, *mrkdwn_texts(blocks)]:
            found = UNESCAPED.search(text)
            assert found is None, f"unescaped {found.group()!r} in {text[:300]!r}"
        for text in mrkdwn_texts(blocks):
            assert fence_problems(text) == [], text[:500]


def error_texts(sent: Sent) -> list[str]:
    return [unescaped(fallback) for fallback, _ in sent.messages() if fallback.startswith("⚠️")]


def check_answer(sent: Sent, refusal: str | None, lang: str) -> None:
    assert sent.status == 200
    messages = sent.messages()
    assert messages, "no answer at all"
    errors = error_texts(sent)
    if refusal is None:
        assert errors == [], errors
        return
    assert len(errors) == 1 and len(messages) == 1, [m[0][:200] for m in messages]
    assert refusal_pattern(refusal, lang).fullmatch(errors[0]), (refusal, errors[0][:500])


async def check_help_still_answers(room: SlackClass) -> None:
    sent = await command(room, "help", "")
    [(fallback, blocks)] = sent.messages()
    assert blocks[0]["text"]["text"] == t("es", "help.title")


def logged_errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def expected_refusal(room: SlackClass, target: Target, line: str) -> str | None:
    """What the command owes the typed line: parsed as the adapter parses it."""
    spec = room.aula.commands[target.command].spec
    return line_refusal(spec, line, target.id, target.option, room.settings, room.aula.clock())


def as_slack_delivers(text: str) -> str:
    """Slash-command text arrives form-encoded: bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


# --- the matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
async def test_slash_command(slack_class: SlackClass, target: Target, entry: Hostile, caplog):
    line = target.line.format(text=entry.text)
    sent = await command(slack_class, target.command, line, user=target.user)
    check_shown_safely(sent)
    lang = "en" if target.user == TEACHER else "es"
    check_answer(sent, expected_refusal(slack_class, target, as_slack_delivers(line)), lang)
    await check_help_still_answers(slack_class)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_roles_form(slack_class: SlackClass, entry: Hostile, caplog):
    opened = await command(slack_class, "roles", "formulario:sí")
    [view] = [c.payload["view"] for c in opened.calls if c.method == "views.open"]
    fields = {b["block_id"]: b for b in view["blocks"]}
    # Slack's own modal keeps a field within its max_length and a required field filled.
    value = entry.text[: fields["m2"]["element"]["max_length"]]
    assert fields["m2"]["element"]["max_length"] == MESSAGE_MAX and not fields["m2"]["optional"]
    if value:
        values = {"m1": value, "m2": value, "m3": value}
        sent = await dispatch(slack_class, submission_body(view, values, user_id=STUDENT))
        check_shown_safely(sent)
        refusal = refusal_for("roles-form", value, slack_class.settings)
        if refusal is None:
            assert sent.body == "" and error_texts(sent) == [] and sent.messages()
        else:  # a refusal shows inside the modal, under the field, as plain text
            answer = json.loads(sent.body)
            assert answer["response_action"] == "errors" and sent.messages() == []
            [shown] = answer["errors"].values()
            assert refusal_pattern(refusal, "es").fullmatch(shown), shown[:300]
    await check_help_still_answers(slack_class)
    assert logged_errors(caplog) == []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
async def test_homework_form(slack_class: SlackClass, entry: Hostile, caplog):
    student = f"U0HW{CORPUS.index(entry):03d}"  # a first answer each: nothing saved to revise
    # Published answers carry the author's name: a name is pasted text too (Slack takes 80 chars).
    slack_class.slack.users[student] = {"locale": "es-ES", "profile": {"display_name": entry.text[:80]}}
    opened = await command(slack_class, "quiz", "answer", user=student)
    [view] = [c.payload["view"] for c in opened.calls if c.method == "views.open"]
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    values = {b["block_id"]: entry.text[: b["element"]["max_length"]] for b in inputs}
    sent = await dispatch(slack_class, submission_body(view, values, user_id=student))
    check_shown_safely(sent)
    refusal = refusal_for("homework-form", min(values.values(), key=len), slack_class.settings)
    if refusal is None:
        assert sent.body == "" and error_texts(sent) == [] and sent.messages()
        mine = await command(slack_class, "quiz", "my-answers", user=student)
        check_shown_safely(mine)
        check_answer(mine, None, "es")
    else:
        answer = json.loads(sent.body)
        assert answer["response_action"] == "errors" and sent.messages() == []
        [shown] = answer["errors"].values()
        assert refusal_pattern(refusal, "es").fullmatch(shown), shown[:300]
    await check_help_still_answers(slack_class)
    assert logged_errors(caplog) == []
