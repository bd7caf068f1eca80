"""/compare through the Slack adapter: signed requests through Bolt, answers on the fake Web
API, both models on the loopback LLM server."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.web.async_client import AsyncWebClient

import bot.compare.command as compare
from adapters.slack import create_app
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_llm import API_KEY, BASE_MODEL, INSTRUCT_MODEL, FakeLlmServer
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    FakeSlack,
    click_body,
    command_body,
    signed_request,
)

STUDENT = "U0STUDENT"


@pytest.fixture
async def slack_compare(tmp_path):
    async with FakeLlmServer(chunk_delay_s=0.01) as llm, FakeSlack() as slack:
        settings = load_settings(
            environ={
                "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "AULA_LLM_BASE_URL": llm.base_url,
                "AULA_LLM_API_KEY": API_KEY,
                "AULA__LLM__STREAM_UPDATE_S": "0",
                "AULA__LLM__BLIND_REVEAL_VOTES": "2",
            },
            dotenv_path=None,
        )
        slack.users[STUDENT] = {"locale": "es-ES"}
        aula = Aula(settings, commands=[compare.command])
        await aula.start()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        app = create_app(settings, aula=aula, client=client, edit_interval_s=0.05)
        yield app, slack, llm, aula
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=5)
        await aula.close()


def block_texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
        out.extend(e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str))
    return "\n".join(out)


def accepted(slack, method: str) -> list:
    """The calls Slack took (not those it answered 429 ratelimited)."""
    return [c for c in slack.calls_to(method) if c.status == 200]


def last_version(slack) -> dict:
    """The blocks the channel message shows now: the last update, or the post if never updated."""
    updates = accepted(slack, "chat.update")
    return (updates or accepted(slack, "chat.postMessage"))[-1].payload


async def run_compare(app, slack, text: str, user: str = STUDENT) -> None:
    response = await app.async_dispatch(signed_request(command_body("/compare", text, user_id=user, response_url=slack.response_url())))
    assert response.status == 200  # acknowledged at once; the comparison follows


async def test_a_signed_compare_posts_two_sections_and_streams_by_chat_update(slack_compare):
    app, slack, llm, aula = slack_compare
    await run_compare(app, slack, "La inteligencia artificial es")
    await slack.wait_for(lambda: aula_has_run(slack))
    [post] = slack.calls_to("chat.postMessage")
    assert post.payload["channel"] == CHANNEL_ID
    updates = slack.calls_to("chat.update")
    assert updates and all(u.payload["ts"] == updates[0].payload["ts"] for u in updates)  # one message, edited
    blocks = last_version(slack)["blocks"]
    [columns] = [b for b in blocks if b.get("fields")]
    base, instruct = (f["text"] for f in columns["fields"])
    assert base.startswith(f"*Base · {BASE_MODEL}*\nLa inteligencia artificial es un campo")
    assert instruct.startswith(f"*Instruido · {INSTRUCT_MODEL}*\n¡Claro!")
    assert "terminó por sí solo" in base and "tokens" in instruct
    assert llm.upstream_calls("/v1/completions") == 1 and llm.upstream_calls("/v1/chat/completions") == 1


def aula_has_run(slack) -> bool:
    """The final version is up once its text carries the total time."""
    versions = accepted(slack, "chat.update") or accepted(slack, "chat.postMessage")
    return bool(versions) and "Tiempo total" in block_texts(versions[-1].payload["blocks"])


async def test_blind_mode_buttons_vote_and_reveal_in_slack(slack_compare):
    app, slack, llm, aula = slack_compare
    await run_compare(app, slack, "ejemplo:conversacion ciego:sí")
    await slack.wait_for(lambda: aula_has_run(slack))
    blocks = last_version(slack)["blocks"]
    shown = block_texts(blocks)
    assert "Modelo A" in shown and "Modelo B" in shown and BASE_MODEL not in shown
    [actions] = [b for b in blocks if b["type"] == "actions"]
    vote_ids = [e["action_id"] for e in actions["elements"]]
    assert any(i.endswith(":A") for i in vote_ids) and any("reveal" in i for i in vote_ids)
    vote_a = next(i for i in vote_ids if i.endswith(":A"))
    ts = slack.calls_to("chat.postMessage")[0].payload.get("ts", "")

    for voter in ("U0LUIS", "U0EVA"):
        body = click_body(vote_a, user_id=voter, response_url=slack.response_url(voter), message_ts=ts)
        assert (await app.async_dispatch(signed_request(body))).status == 200
    revealed = await slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if "el instruido era" in block_texts(c.payload["blocks"])]
    )
    [row] = await aula.db.fetchall("SELECT instruct_slot, revealed FROM compare_runs")
    assert row["revealed"] == 1
    assert f"el instruido era {row['instruct_slot']}" in block_texts(revealed[0].payload["blocks"])
    votes = await aula.db.fetchall("SELECT user_id, choice FROM compare_votes ORDER BY user_id")
    assert [tuple(v) for v in votes] == [("U0EVA", "A"), ("U0LUIS", "A")]


async def test_a_refusal_is_private(slack_compare):
    app, slack, llm, aula = slack_compare
    await run_compare(app, slack, "")
    private = await slack.wait_for(lambda: slack.calls_to("response_url") or slack.calls_to("chat.postEphemeral"))
    assert "Escribe un prompt o elige un ejemplo" in str(private[0].payload)
    assert not slack.calls_to("chat.postMessage") and llm.calls == []


async def test_a_rate_limited_edit_waits_for_retry_after_and_the_comparison_still_lands(slack_compare):
    """Issue 14.3: the first chat.update answered 429 with Retry-After: 1 aborted the comparison,
    wasted both model calls, stored nothing and left the placeholder up for good."""
    app, slack, llm, aula = slack_compare
    slack.rate_limits["chat.update"] = [1]
    await run_compare(app, slack, "La inteligencia artificial es")
    await slack.wait_for(lambda: aula_has_run(slack), seconds=15)
    assert [c.status for c in slack.calls_to("chat.update")][0] == 429
    [post] = accepted(slack, "chat.postMessage")
    assert all(u.payload["ts"] == accepted(slack, "chat.update")[0].payload["ts"] for u in accepted(slack, "chat.update"))
    assert not slack.calls_to("chat.postEphemeral") and not slack.calls_to("response_url")  # no "Algo salió mal"
    outputs = await aula.db.fetchall("SELECT role, text FROM compare_outputs ORDER BY role")
    assert [o["role"] for o in outputs] == ["base", "instruct"] and all(o["text"] for o in outputs)
    assert llm.upstream_calls("/v1/completions") == 1 and llm.upstream_calls("/v1/chat/completions") == 1


async def test_edits_rate_limited_past_the_clients_retries_are_skipped_and_the_last_replaces_the_placeholder(
    slack_compare,
):
    app, slack, llm, aula = slack_compare
    slack.rate_limits["chat.postMessage"] = [0]
    slack.rate_limits["chat.update"] = [0] * 7  # more 429s in a row than the client retries one call
    await run_compare(app, slack, "La inteligencia artificial es")
    await slack.wait_for(lambda: aula_has_run(slack), seconds=20)
    assert not slack.rate_limits["chat.update"] and not slack.calls_to("chat.postEphemeral")
    assert len(accepted(slack, "chat.postMessage")) == 1  # the placeholder, posted once after its 429
    shown = block_texts(last_version(slack)["blocks"])
    assert "⏳" not in shown and "Tiempo total" in shown
    assert len(await aula.db.fetchall("SELECT text FROM compare_outputs WHERE text != ''")) == 2
