"""Homework and /privacy through the Slack adapter: signed slash commands, the modal opened with
views.open, signed view_submission payloads, answers as thread replies (thread_ts) on the fake
Web API, a refusal shown inside the modal, the reminder DM and its opt-out click."""

from __future__ import annotations

import asyncio
import json

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    FakeSlack,
    click_body,
    command_body,
    signed_request,
    submission_body,
)
from tests.homework_support import DAY, homework_settings
from tests.quiz_support import FakeClock
from tests.test_quiz_slack import action_ids, replies_to, texts

TEACHER, ANA, BETO = "U0PROFE", "U0ANA", "U0BETO"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        fake.users[TEACHER] = {"is_admin": True, "locale": "es-ES"}
        yield fake


@pytest.fixture
async def bot(tmp_path, slack, clock):
    settings = homework_settings(
        tmp_path, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    )
    aula = Aula(settings, clock=clock)
    await aula.start()
    serving = asyncio.all_tasks()
    app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    yield aula, app
    work = asyncio.all_tasks() - serving - {asyncio.current_task()}
    if work:
        await asyncio.wait(work, timeout=5)
    await aula.close()


async def slash(app, slack, command: str, text: str, user: str, name: str) -> None:
    body = command_body(command, text, user_id=user, response_url=slack.response_url(name))
    assert (await app.async_dispatch(signed_request(body))).status == 200


async def answer(app, slack, name: str) -> list[dict]:
    return await slack.wait_for(lambda: replies_to(slack, name))


async def opened_view(app, slack, user: str) -> dict:
    before = len(slack.calls_to("views.open"))
    await slash(app, slack, "/quiz", "answer", user, f"form-{user}-{before}")
    opened = await slack.wait_for(lambda: slack.calls_to("views.open")[before:])
    return opened[0].payload["view"]


async def test_assign_answer_in_a_modal_and_the_answer_is_a_thread_reply(bot, slack):
    aula, app = bot
    await slash(
        app, slack, "/quiz", "assign banco:seccion-2 vence:en 3 días publicar:al-enviar", TEACHER, "assign"
    )
    [done] = await answer(app, slack, "assign")
    assert done["response_type"] == "ephemeral" and "Tarea 1 publicada" in texts(done["blocks"])
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 5 and all(
        p.payload["channel"] == CHANNEL_ID and not p.payload.get("thread_ts") for p in posts
    )
    question_ts = (await aula.services.homework.repo.threads(1))[0][1]
    assert question_ts.startswith("1700000000.")

    view = await opened_view(app, slack, ANA)
    assert view["callback_id"] == "quiz:hw-submit:1:0,1,2,3"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert inputs[0]["label"]["text"] == "1. ¿Por qué crees que es importante entender los tokens?"
    assert all(b["optional"] and b["element"]["max_length"] == 3000 for b in inputs)  # Slack's own limit

    text = "Porque <!channel> cobra *por* token & más"
    response = await app.async_dispatch(signed_request(submission_body(view, {"p0": text}, user_id=ANA)))
    assert response.status == 200 and response.body == ""  # the modal closes
    [reply] = await slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.payload.get("thread_ts")]
    )
    assert reply.payload["thread_ts"] == question_ts and reply.payload["channel"] == CHANNEL_ID
    shown = texts(reply.payload["blocks"])
    assert "*persona-u0ana*" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown  # no channel-wide ping
    confirmation = await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
    assert "Guardé 1 respuesta" in texts(confirmation[-1].payload["blocks"])


async def test_an_empty_submission_is_refused_inside_the_modal_and_nothing_is_lost(bot, slack):
    aula, app = bot
    await slash(app, slack, "/quiz", "assign banco:seccion-2", TEACHER, "assign")
    await answer(app, slack, "assign")
    view = await opened_view(app, slack, ANA)
    await app.async_dispatch(signed_request(submission_body(view, {"p1": "guardada"}, user_id=ANA)))
    revise = await opened_view(app, slack, ANA)  # the three left
    assert revise["callback_id"] == "quiz:hw-submit:1:0,2,3"
    response = await app.async_dispatch(signed_request(submission_body(revise, {"p0": "  "}, user_id=ANA)))
    refused = json.loads(response.body)
    assert refused["response_action"] == "errors"
    assert "No escribiste ninguna respuesta" in next(iter(refused["errors"].values()))
    rows = await aula.db.fetchall("SELECT position, text FROM homework_answers")
    assert [tuple(r) for r in rows] == [(1, "guardada")]


async def test_the_reminder_is_a_dm_with_an_opt_out_click_and_review_lists_who_is_missing(bot, slack, clock):
    aula, app = bot
    for user in (ANA, BETO):
        await slash(app, slack, "/quiz", "my-answers", user, f"seen-{user}")
        await answer(app, slack, f"seen-{user}")
    await slash(
        app, slack, "/quiz", "assign banco:seccion-2 vence:en 3 días recordatorio:12", TEACHER, "assign"
    )
    await answer(app, slack, "assign")
    view = await opened_view(app, slack, ANA)
    await app.async_dispatch(
        signed_request(submission_body(view, {"p0": "a", "p1": "b", "p2": "c", "p3": "d"}, user_id=ANA))
    )

    clock.advance(2.5 * DAY + 60)
    await aula.services.homework.tick()
    [dm] = await slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.payload["channel"] == BETO]
    )
    assert "te faltan 4" in texts(dm.payload["blocks"])
    assert action_ids(dm.payload["blocks"]) == ["aula:quiz:hw-open:1", "aula:quiz:hw-mute:1"]
    body = click_body("aula:quiz:hw-mute:1", user_id=BETO, response_url=slack.response_url("mute"))
    assert (await app.async_dispatch(signed_request(body))).status == 200
    [muted] = await answer(app, slack, "mute")
    assert "no te mandaré más recordatorios" in texts(muted["blocks"])
    assert await aula.services.homework.repo.opted_out("slack", "T0AULA") == {BETO}

    await slash(app, slack, "/quiz", "review", TEACHER, "review")
    [review] = await answer(app, slack, "review")
    shown = texts(review["blocks"])
    assert "Completas: 1" in shown and "faltan: 1" in shown and "• persona-u0beto" in shown


async def test_privacy_through_slack_shows_and_deletes(bot, slack):
    aula, app = bot
    await slash(app, slack, "/quiz", "assign banco:seccion-2 publicar:al-enviar", TEACHER, "assign")
    await answer(app, slack, "assign")
    view = await opened_view(app, slack, ANA)
    await app.async_dispatch(signed_request(submission_body(view, {"p0": "mía"}, user_id=ANA)))
    await slash(app, slack, "/privacy", "", ANA, "privacy")
    [shown] = await answer(app, slack, "privacy")
    assert "1 versión de respuestas en 1 tarea," in texts(shown["blocks"])
    assert action_ids(shown["blocks"]) == ["aula:privacy:delete"]
    for step in ("delete", "confirm"):
        body = click_body(f"aula:privacy:{step}", user_id=ANA, response_url=slack.response_url(step))
        await app.async_dispatch(signed_request(body))
        await answer(app, slack, step)
    assert "borré todo" in texts(replies_to(slack, "confirm")[0]["blocks"])
    assert await aula.db.fetchall("SELECT * FROM homework_answers") == []


async def test_homework_posts_rate_limited_by_slack_still_all_land(bot, slack):
    """Issue 14.3 for homework: every post answered 429 more often in a row than the client
    retries one call waits out Retry-After; the assignment and its questions all go up."""
    aula, app = bot
    slack.rate_limits["chat.postMessage"] = [0] * 4
    await slash(
        app, slack, "/quiz", "assign banco:seccion-2 vence:en 3 días publicar:al-enviar", TEACHER, "assign"
    )
    [done] = await slack.wait_for(lambda: replies_to(slack, "assign"), seconds=30)
    assert "Tarea 1 publicada" in texts(done["blocks"])
    assert [c.status for c in slack.calls_to("chat.postMessage")][:4] == [429] * 4
    posts = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
    assert len(posts) == 5  # as without rate limits: the assignment and its four questions
    threads = await aula.services.homework.repo.threads(1)
    assert len(threads) == 4 and all(ts.startswith("1700000000.") for ts, _ in threads.values())
