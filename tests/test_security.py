"""Security promises of issue 8, in one place (with where the rest of each is proved).

- Slack requests with forged, missing or replayed signatures are refused. Slash commands
  with a forged, a stale or no signature, or a body changed after signing, are in
  tests/test_slack_app.py (signatures section), HTTP mode over a real socket there too.
  Here: a captured request replayed with a fresh timestamp, one from the future, and
  forged clicks and modal submissions, which must not reach the core either.
- Instructor-only commands refuse students on both platforms. /quiz start and import are
  in tests/test_quiz_discord.py and tests/test_quiz_slack.py; here every instructor-only
  subcommand of the registry through the core, a student's /quiz next and stop during a
  running quiz on both platforms, and Slack failing closed when it cannot ask who is who.
- Secrets never appear in `aula config show` (tests/test_settings.py, all five) nor in
  logs (tests/test_logs.py) nor in `aula doctor` (tests/test_doctor.py).
- The SQLite file and its -wal and -shm files are created readable by their owner only.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord import create_bot
from adapters.slack import create_app
from bot.app import Aula
from bot.i18n import t
from bot.registry import all_commands
from bot.replies import plain_text
from bot.storage import Database
from tests.conftest import make_request, replies_of
from tests.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    click_body,
    command_body,
    signed_headers,
    signed_request,
    submission_body,
)
from tests.quiz_support import FakeClock, quiz_settings

TEACHER, STUDENT, ADMIN = "U0PROFE", "U0ANA", "U0ADMIN"


@pytest.fixture
def settings(tmp_path):
    secrets = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return quiz_settings(str(tmp_path / "aula.sqlite3"), environ=secrets)


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        fake.users[TEACHER] = {"is_admin": True, "locale": "es-ES"}
        fake.users[ADMIN] = {"is_admin": True, "locale": "es-ES"}
        yield fake


@pytest.fixture
async def slack_bot(settings, slack):
    aula = await Aula(settings, clock=FakeClock()).start()
    app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    yield aula, app
    await settle()
    await aula.close()


async def settle() -> None:
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=5)


async def nothing_happened(aula: Aula, slack: FakeSlack) -> None:
    await settle()
    assert slack.calls == []  # no answer, not even a users.info lookup
    assert await aula.db.fetchall("SELECT * FROM command_log") == []  # the core never saw it


# --- Slack signatures ---------------------------------------------------------------------


async def test_a_captured_request_replayed_with_a_fresh_timestamp_is_refused(slack_bot, slack):
    aula, app = slack_bot
    body = command_body("/aula", response_url=slack.response_url())
    captured = signed_headers(body, timestamp=int(time.time()) - 10 * 60)  # seen on the wire 10 minutes ago
    replayed = captured | {"x-slack-request-timestamp": str(int(time.time()))}
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=replayed))
    assert response.status == 401
    await nothing_happened(aula, slack)


async def test_a_request_signed_for_the_future_is_refused(slack_bot, slack):
    aula, app = slack_bot
    body = command_body("/aula", response_url=slack.response_url())
    response = await app.async_dispatch(signed_request(body, timestamp=int(time.time()) + 10 * 60))
    assert response.status == 401
    await nothing_happened(aula, slack)


@pytest.mark.parametrize("secret", ["someone-elses-secret", ""])
async def test_forged_clicks_and_form_submissions_never_reach_the_core(slack_bot, slack, secret):
    aula, app = slack_bot
    click = click_body("aula:quiz:answer:1:0:A", user_id=STUDENT, response_url=slack.response_url())
    view = {"callback_id": "roles:form", "private_metadata": "{}", "blocks": []}
    submission = submission_body(view, {}, user_id=STUDENT)
    for body in (click, submission):
        request = signed_request(body, secret=secret) if secret else signed_request(body)
        if not secret:
            del request.headers["x-slack-signature"]
        assert (await app.async_dispatch(request)).status == 401
    await nothing_happened(aula, slack)


# --- instructors only ---------------------------------------------------------------------


def instructor_only() -> list[tuple[str, str]]:
    found = []
    for command in all_commands():
        spec = command.spec
        if spec.instructor_only:
            found.append((spec.name, ""))
        found += [(spec.name, sub.name) for sub in spec.subcommands if sub.instructor_only]
    return found


def test_the_registry_has_instructor_only_commands_to_protect():
    assert {("quiz", "start"), ("quiz", "next"), ("quiz", "stop"), ("quiz", "export")} <= set(instructor_only())


@pytest.mark.parametrize(("command", "subcommand"), instructor_only())
async def test_every_instructor_only_command_refuses_a_student_before_it_runs(aula, command, subcommand):
    [reply] = await replies_of(aula, make_request(command, subcommand=subcommand, locale="en"))
    assert reply.error and plain_text(reply) == "⚠️ " + t("en", "error.instructor_only")
    [row] = await aula.db.fetchall("SELECT outcome FROM command_log")
    assert row["outcome"] == "refused"
    assert await aula.users.get("console", "u1") is None  # refused before anything was saved


async def quiz_state(aula: Aula) -> tuple[list, int]:
    sessions = [tuple(r) for r in await aula.db.fetchall("SELECT id, ended_at FROM quiz_sessions")]
    [(questions,)] = await aula.db.fetchall("SELECT count(*) FROM quiz_questions")
    return sessions, questions


async def slash(app, slack, text: str, user: str, name: str) -> dict:
    body = command_body("/quiz", text, user_id=user, response_url=slack.response_url(name))
    assert (await app.async_dispatch(signed_request(body))).status == 200
    [answer] = await slack.wait_for(
        lambda: [c.payload for c in slack.calls_to("response_url") if c.payload["url_name"] == name]
    )
    return answer


def block_text(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer["blocks"] if isinstance(b.get("text"), dict))


async def test_a_student_cannot_move_or_stop_a_running_quiz_on_slack(slack_bot, slack):
    aula, app = slack_bot
    await slash(app, slack, "start banco:seccion-2", TEACHER, "start")
    before = await quiz_state(aula)
    assert before == ([(1, None)], 1)
    for sub in ("next", "stop", "results", "export"):
        answer = await slash(app, slack, sub, STUDENT, sub)
        assert answer["response_type"] == "ephemeral"
        assert t("es", "error.instructor_only") in block_text(answer)
    assert await quiz_state(aula) == before
    assert slack.calls_to("files.getUploadURLExternal") == []  # no export went out


async def test_slack_fails_closed_when_it_cannot_ask_who_is_an_admin(slack_bot, slack):
    aula, app = slack_bot
    slack.failures["users.info"] = "ratelimited"
    answer = await slash(app, slack, "start banco:seccion-2", ADMIN, "start")
    assert t("es", "error.instructor_only") in block_text(answer)
    assert await aula.db.fetchall("SELECT * FROM quiz_sessions") == []


@pytest.fixture
async def simcord_bot(settings):
    bot = create_bot(settings, aula=Aula(settings, clock=FakeClock()))
    yield bot
    await bot.aula.close()


async def test_a_student_cannot_move_or_stop_a_running_quiz_on_discord(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher = guild.add_member(simcord_env.create_user("profe"), roles=[guild.create_role("Instructor")])
    student = guild.add_member(simcord_env.create_user("ana"))
    aula = simcord_env.bot.aula
    await teacher.slash(channel, "quiz start", banco="seccion-2")
    before = await quiz_state(aula)
    assert before == ([(1, None)], 1)
    for sub in ("next", "stop", "results", "export"):
        refused = await student.slash(channel, f"quiz {sub}")
        assert refused.ephemeral and t("en", "error.instructor_only") in refused.response.content
        assert not refused.response.attachments
    assert await quiz_state(aula) == before


# --- the database file ----------------------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
async def test_the_database_and_its_wal_and_shm_files_are_owner_only(tmp_path, umask):
    """SQLite gives -wal and -shm the database file's own mode, whatever the umask, so
    creating the database 0600 is enough; this proves it after real writes."""
    path = tmp_path / "data" / "aula.sqlite3"
    previous = os.umask(umask)
    try:
        db = await Database(path).open()
        try:
            await db.execute("INSERT INTO users (platform, user_id, display_name, locale, first_seen, last_seen)"
                             " VALUES ('console', 'u1', 'Ana', 'es', 0, 0)")  # fmt: skip
            async with db.transaction() as conn:
                await conn.execute("UPDATE users SET display_name = 'Ana B' WHERE user_id = 'u1'")
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            assert all(f.exists() for f in files)  # WAL mode, open: both side files are there
            assert {str(f): mode(f) for f in files} == {str(f): 0o600 for f in files}
        finally:
            await db.close()
    finally:
        os.umask(previous)


async def test_the_command_log_table_holds_no_typed_text(aula):
    """The command log row holds names and numbers only: never what was typed."""
    text = "mi clave es girasol-9931"
    await replies_of(aula, make_request("tokens", args={"texto": text}))
    rows = [tuple(r) for r in await aula.db.fetchall("SELECT * FROM command_log")]
    assert rows and not any("girasol" in str(value) for row in rows for value in row)

