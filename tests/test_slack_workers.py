"""Several Slack processes on one database (issue 20): HTTP workers behind a load balancer, or
Socket Mode connections that Slack spreads events across. The request that continues a
conversation may reach another process than the one that started it: the file for a /dataset
asked on one worker is taken by another, and an event Slack redelivers to another worker is
answered once. Two apps, each with its own Aula core, on one SQLite file or PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, file_share_event, signed_request
from tests.test_dataset_slack import JSON, STUDENT, ask, texts

FIXTURES = Path(__file__).parent / "fixtures" / "dataset"


@pytest.fixture
async def two_workers(database_url):
    settings = load_settings(
        environ={"AULA_DATABASE": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET},
        dotenv_path=None,
    )
    async with FakeSlack() as slack:
        slack.users[STUDENT] = {"locale": "es-ES"}
        serving = asyncio.all_tasks()
        workers, cores = [], []
        for _ in range(2):
            aula = Aula(settings)
            await aula.start()
            cores.append(aula)
            workers.append(create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)))

        async def settle() -> None:
            post_ack_work = asyncio.all_tasks() - serving - {asyncio.current_task()}
            if post_ack_work:
                await asyncio.wait(post_ack_work, timeout=30)

        for app in workers:
            app.settle = settle
        yield workers, slack
        await settle()
        for aula in cores:
            await aula.close()


async def test_the_file_for_a_command_asked_on_one_worker_is_taken_by_another(two_workers):
    (first, second), slack = two_workers
    ts = await ask(first, slack, "modelo:gpt-4o")
    data = (FIXTURES / "errors.jsonl").read_bytes()
    slack.files["errores.jsonl"] = data
    body = file_share_event("errores.jsonl", slack.file_url("errores.jsonl"), len(data), ts, user_id=STUDENT)
    assert (await second.async_dispatch(signed_request(body, extra_headers=JSON))).status == 200
    await second.settle()
    shown = "\n".join(texts(r.payload) for r in slack.calls_to("chat.postEphemeral"))
    assert "Revisión de «errores.jsonl»" in shown
    assert "GPT-4o (ChatML)" in shown  # the option given on the first worker came along

    # Slack redelivers the event (its ack looked late) to the first worker: answered once.
    before = len(slack.calls_to("chat.postEphemeral"))
    retry = signed_request(body, extra_headers=JSON | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert (await first.async_dispatch(retry)).status == 200
    await first.settle()
    assert len(slack.calls_to("chat.postEphemeral")) == before
    assert [c.payload["name"] for c in slack.calls_to("download")] == ["errores.jsonl"]  # downloaded once
