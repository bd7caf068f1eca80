"""/quiz through the Slack adapter: signed slash commands and signed interactive payloads
for the clicks, answered on a fake Web API (tests/fake_slack.py)."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from adapters.starts import SLOTS, start_slots
from bot.app import Aula
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    FakeSlack,
    click_body,
    command_body,
    signed_request,
)
from tests.quiz_support import FakeClock, hold_every_start_slot, quiz_settings

TEACHER = "U0PROFE"
ANSWER_IDS = [f"aula:quiz:answer:1:0:{letter}" for letter in "ABCD"]


@pytest.fixture
def settings(tmp_path):
    secrets = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return quiz_settings(str(tmp_path / "aula.sqlite3"), environ=secrets)


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        fake.users[TEACHER] = {"is_admin": True, "locale": "es-ES"}
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def slack_aula(settings, slack, clock):
    aula = Aula(settings, clock=clock)
    await aula.start()
    app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    return aula, app


@pytest.fixture
async def bot(settings, slack, clock):
    aula, app = await slack_aula(settings, slack, clock)
    yield aula, app
    await settle()
    await aula.close()


async def settle() -> None:
    """Let Bolt's post-ack work finish."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=5)


async def slash(app, slack, text: str, user: str, name: str) -> dict:
    body = command_body("/quiz", text, user_id=user, response_url=slack.response_url(name))
    response = await app.async_dispatch(signed_request(body))
    assert response.status == 200
    [answer] = await slack.wait_for(lambda: replies_to(slack, name))
    return answer


def replies_to(slack, name: str) -> list[dict]:
    return [c.payload for c in slack.calls_to("response_url") if c.payload["url_name"] == name]


def texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
        out.extend(e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str))
    return "\n".join(out)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def click(app, slack, user: str, action_id: str, name: str):
    """A signed block_actions payload, as Slack posts it when `user` clicks `action_id`."""
    body = click_body(
        action_id, user_id=user, response_url=slack.response_url(name), message_ts="1700000000.000002"
    )
    return await app.async_dispatch(signed_request(body))


async def start_quiz(app, slack) -> dict:
    answer = await slash(app, slack, "start banco:seccion-2", TEACHER, "start")
    assert answer["response_type"] == "ephemeral" and "iniciado" in texts(answer["blocks"])
    [post] = await slack.wait_for(lambda: [c for c in slack.calls_to("chat.postMessage") if c.status == 200])
    assert post.payload["channel"] == CHANNEL_ID
    return post.payload


async def recorded(aula) -> list[tuple]:
    rows = await aula.db.fetchall("SELECT user_id, choice FROM quiz_answers ORDER BY user_id")
    return [tuple(r) for r in rows]


async def test_an_instructor_starts_a_quiz_and_thirty_signed_clicks_arrive_at_once(bot, slack):
    aula, app = bot
    question = await start_quiz(app, slack)
    assert "Pregunta 1 de 17" in texts(question["blocks"])
    assert action_ids(question["blocks"]) == ANSWER_IDS

    students = [f"U0EST{i:02}" for i in range(30)]
    responses = await asyncio.gather(
        *(click(app, slack, s, ANSWER_IDS[i % 4], f"c{i}") for i, s in enumerate(students))
    )
    assert all(r.status == 200 for r in responses)
    await slack.wait_for(lambda: sum(len(replies_to(slack, f"c{i}")) for i in range(30)) == 30)
    confirmations = [reply for i in range(30) for reply in replies_to(slack, f"c{i}")]
    assert all(
        c["response_type"] == "ephemeral" and "Respuesta registrada" in texts(c["blocks"])
        for c in confirmations
    )
    rows = await recorded(aula)
    assert {user for user, _ in rows} == set(students) and len(rows) == 30


async def test_a_double_click_records_one_answer(bot, slack):
    aula, app = bot
    await start_quiz(app, slack)
    await asyncio.gather(*(click(app, slack, "U0ANA", ANSWER_IDS[2], f"d{i}") for i in range(2)))
    await slack.wait_for(lambda: len(replies_to(slack, "d0") + replies_to(slack, "d1")) == 2)
    assert await recorded(aula) == [("U0ANA", 2)]
    answers = [texts(r["blocks"]) for r in replies_to(slack, "d0") + replies_to(slack, "d1")]
    assert sum("Respuesta registrada: C" in a for a in answers) == 1
    assert sum("Ya tenías registrada C" in a for a in answers) == 1


async def test_a_student_cannot_start_a_quiz(bot, slack):
    aula, app = bot
    answer = await slash(app, slack, "start banco:seccion-2", "U0ANA", "nope")
    assert answer["response_type"] == "ephemeral" and "Solo los instructores" in texts(answer["blocks"])
    await settle()
    assert slack.calls_to("chat.postMessage") == []
    assert await aula.db.fetchall("SELECT * FROM quiz_sessions") == []


async def test_at_the_close_the_buttons_go_and_the_results_are_posted(bot, slack, clock):
    aula, app = bot
    await start_quiz(app, slack)
    await click(app, slack, "U0ANA", ANSWER_IDS[1], "a")
    await slack.wait_for(lambda: replies_to(slack, "a"))
    clock.advance(31)
    await aula.services.quiz.tick()
    [update] = await slack.wait_for(lambda: slack.calls_to("chat.update"))
    assert update.payload["channel"] == CHANNEL_ID
    assert update.payload["ts"] == (await aula.services.quiz.repo.question(1, 0)).message_id
    assert action_ids(update.payload["blocks"]) == []  # nothing left to click
    assert "100\xa0%" in texts(update.payload["blocks"])
    uploads = await slack.wait_for(lambda: slack.calls_to("upload"))
    assert uploads[0].payload["data"].startswith(b"\x89PNG")


async def test_a_new_app_on_the_same_database_still_records_clicks(settings, slack, clock):
    aula, app = await slack_aula(settings, slack, clock)
    await start_quiz(app, slack)
    await click(app, slack, "U0ANA", ANSWER_IDS[0], "first")
    await slack.wait_for(lambda: replies_to(slack, "first"))
    await settle()
    await aula.close()

    new_aula, new_app = await slack_aula(settings, slack, clock)
    try:
        await click(new_app, slack, "U0BETO", ANSWER_IDS[3], "after")
        [answer] = await slack.wait_for(lambda: replies_to(slack, "after"))
        assert "Respuesta registrada: D" in texts(answer["blocks"])
        assert await recorded(new_aula) == [("U0ANA", 0), ("U0BETO", 3)]
    finally:
        await settle()
        await new_aula.close()


async def test_a_click_queued_behind_a_burst_is_scored_from_its_arrival(bot, slack, clock):
    """The listener stamps the click before ack(); the twelve seconds it then waits for a start
    slot (a class's burst ahead of it) cost no speed bonus and no deadline."""
    aula, app = bot
    await slash(app, slack, "start banco:seccion-2 tiempo:10", TEACHER, "start")
    arrived = clock.now
    burst_done = asyncio.Event()
    ahead = hold_every_start_slot(aula, [burst_done] * SLOTS)
    await asyncio.sleep(0)
    assert start_slots(aula.services).full

    response = await click(app, slack, "U0ANA", ANSWER_IDS[0], "ana")
    assert response.status == 200  # acknowledged while the slots are taken
    await asyncio.sleep(0.05)
    assert replies_to(slack, "ana") == []  # still queued
    clock.advance(12)  # past the question's 10 s timer, which has not run yet
    burst_done.set()
    await asyncio.gather(*ahead)
    [confirmation] = await slack.wait_for(lambda: replies_to(slack, "ana"))
    assert "Respuesta registrada" in texts(confirmation["blocks"])
    row = await aula.db.fetchone("SELECT answered_at FROM quiz_answers")
    assert row["answered_at"] == arrived


async def test_rate_limited_question_posts_and_closing_edits_still_land(bot, slack, clock):
    """Issue 14.3 for timers: a question posted and closed while Slack answers 429 (more often
    in a row than the client retries one call) waits out Retry-After; nothing is lost."""
    aula, app = bot
    slack.rate_limits["chat.postMessage"] = [0] * 4
    question = await start_quiz(app, slack)
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429] * 4 + [200]
    assert "Pregunta 1 de 17" in texts(question["blocks"])
    slack.rate_limits["chat.update"] = [0] * 4
    clock.advance(31)
    await aula.services.quiz.tick()
    closed = [c for c in slack.calls_to("chat.update") if c.status == 200]
    assert closed and action_ids(closed[-1].payload["blocks"]) == []  # the close replaced the question
    await slack.wait_for(lambda: slack.calls_to("upload"))  # and the results followed
