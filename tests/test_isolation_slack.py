"""Every Slack workspace is its own class (issue 13, item 1), through signed requests from two teams.

Slack slash commands carry no files, so team B's bank arrives as `aula quiz import --clase
slack:<team>` stores it. Team A must neither see nor play it; clicks from team B that carry
team A's ids (a quiz answer, a quiz's standings, a blind vote, a /roles conversation) are
refused and change nothing. Each test asserts the attacker's (B) and the victim's (A) view.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.cli import main
from bot.compare.store import CompareRepository, OutputRecord
from bot.i18n import t
from bot.next.logic import Generation
from bot.next.store import NextRepository
from bot.roles.store import RolesConversations
from bot.roles.templates import Message
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    click_body,
    command_body,
    signed_request,
)
from tests.quiz_support import FakeClock, quiz_settings
from tests.test_quiz_slack import TEACHER, settle, slack_aula, texts

OTHER_TEAM, OTHER_CHANNEL, OTHER_TEACHER, OTHER_STUDENT = "T0OTRA", "C0OTRA", "U0PROFEB", "U0ESTB"
B_EXAM = (
    'questions:\n  - question: {es: "¿Examen de B? https://b.example/x", en: "B exam?"}\n'
    "    options: [sí, no]\n    answer: A\n"
)


@pytest.fixture
def settings(tmp_path):
    secrets = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return quiz_settings(str(tmp_path / "aula.sqlite3"), environ=secrets)


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        fake.users[TEACHER] = {"is_admin": True, "locale": "es-ES"}
        fake.users[OTHER_TEACHER] = {"is_admin": True, "locale": "es-ES"}
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bot(settings, slack, clock):
    aula, app = await slack_aula(settings, slack, clock)
    yield aula, app
    await settle()
    await aula.close()


async def slash(app, slack, text: str, user: str, name: str, team: str = TEAM_ID, channel: str = CHANNEL_ID):
    body = command_body(
        "/quiz", text, user_id=user, response_url=slack.response_url(name), team_id=team, channel_id=channel
    )
    assert (await app.async_dispatch(signed_request(body))).status == 200
    [answer] = await slack.wait_for(lambda: answers(slack, name))
    return answer


def answers(slack, name: str) -> list[dict]:
    return [c.payload for c in slack.calls_to("response_url") if c.payload["url_name"] == name]


async def click(app, slack, action_id: str, name: str) -> dict:
    """Team B's student clicks a button carrying action_id in team B's channel."""
    body = click_body(
        action_id, user_id=OTHER_STUDENT, response_url=slack.response_url(name), team_id=OTHER_TEAM,
        channel_id=OTHER_CHANNEL, message_ts="1700000000.000009",
    )  # fmt: skip
    assert (await app.async_dispatch(signed_request(body))).status == 200
    [answer] = await slack.wait_for(lambda: answers(slack, name))
    return answer


async def test_a_bank_imported_for_one_workspace_is_invisible_in_another(bot, slack, settings, tmp_path, monkeypatch):
    aula, app = bot
    (tmp_path / "examen.yaml").write_text(B_EXAM)
    monkeypatch.setenv("AULA_DATABASE", settings.database)
    command = ["quiz", "import", str(tmp_path / "examen.yaml"), "--clase", f"slack:{OTHER_TEAM}"]
    assert await asyncio.to_thread(main, command) == 0  # the CLI runs its own event loop

    victim = await slash(app, slack, "start banco:examen", TEACHER, "a-start")
    shown = texts(victim["blocks"])
    assert "No encuentro el banco «examen»" in shown and "seccion-2" in shown.split("disponibles:")[1]
    assert "examen" not in shown.split("disponibles:")[1]
    assert slack.calls_to("chat.postMessage") == []

    attacker = await slash(app, slack, "start banco:examen", OTHER_TEACHER, "b-start", OTHER_TEAM, OTHER_CHANNEL)
    assert "iniciado" in texts(attacker["blocks"])
    [post] = await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    assert post.payload["channel"] == OTHER_CHANNEL and "Examen de B" in texts(post.payload["blocks"])


async def test_clicks_from_another_workspace_change_nothing_and_read_nothing(bot, slack, clock):
    aula, app = bot
    await slash(app, slack, "start banco:seccion-2", TEACHER, "a-start")
    await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    compare = CompareRepository(aula.db)
    output = OutputRecord(role="base", model="m", prompt="p", text="salida de A", finish_reason="stop")
    run_id = await compare.save(
        at=clock(), platform="slack", workspace_id=TEAM_ID, channel_id=CHANNEL_ID, user_id="U0ANA",
        user_name="ana", profile="default", outputs=[output], instruct_slot="A",
    )  # fmt: skip
    conversation = await RolesConversations(aula.db).save(
        "slack", TEAM_ID, "U0ANA", "llama-3.1", [Message("user", "secreto de A")], clock(), 3600
    )

    run = await NextRepository(aula.db).create(
        at=clock(), platform="slack", workspace_id=TEAM_ID, channel_id=CHANNEL_ID, user_id="U0ANA",
        user_name="ana", profile="default", temperature=1.0,
        generation=Generation(role="base", model="m", prompt="secreto de A"),
    )  # fmt: skip

    answer = await click(app, slack, "aula:quiz:answer:1:0:A", "answer")
    fork = await click(app, slack, f"aula:next:fork:{run}:0", "fork")
    rank = await click(app, slack, "aula:quiz:rank:1", "rank")
    vote = await click(app, slack, f"aula:compare:vote:{run_id}:A", "vote")
    reveal = await click(app, slack, f"aula:compare:reveal:{run_id}", "reveal")
    edit = await click(app, slack, f"aula:roles:switch:{conversation}:gpt-4o", "roles")

    assert "Ese botón no corresponde a ningún quiz" in texts(answer["blocks"])
    assert "Ese botón no corresponde a ningún quiz" in texts(rank["blocks"])
    for reply in (vote, reveal):
        assert "Esa comparación ya no existe" in texts(reply["blocks"])
    assert "Esa conversación ya no está guardada" in texts(edit["blocks"])
    assert t("es", "next.run_gone") in texts(fork["blocks"])
    assert [r["id"] for r in await aula.db.fetchall("SELECT id FROM next_runs")] == [run]  # no copy
    assert "salida de A" not in str(slack.calls) and "secreto de A" not in str(slack.calls)
    # The victim's records are unchanged.
    assert await aula.db.fetchall("SELECT * FROM quiz_answers") == []
    assert await aula.db.fetchall("SELECT * FROM compare_votes") == []
    assert (await compare.get(run_id)).revealed is False
