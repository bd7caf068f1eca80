"""/dataset through the Slack adapter: the command asks for the file, the file comes as a reply in
its thread (a signed Events API request), the bot downloads it with its token and answers privately."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.settings import load_settings
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    FakeSlack,
    command_body,
    file_share_event,
    signed_request,
)

STUDENT = "U0STUDENT"
FIXTURES = Path(__file__).parent / "fixtures" / "dataset"
JSON = {"content-type": "application/json"}


@pytest.fixture
async def slack_dataset(tmp_path):
    settings = load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        },
        dotenv_path=None,
    )
    async with FakeSlack() as slack:
        slack.users[STUDENT] = {"locale": "es-ES"}
        aula = Aula(settings)
        await aula.start()
        serving = asyncio.all_tasks()
        app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))

        async def settle() -> None:
            """Wait for the adapter's post-ack work (the fake Slack's own tasks run on)."""
            post_ack_work = asyncio.all_tasks() - serving - {asyncio.current_task()}
            if post_ack_work:
                await asyncio.wait(post_ack_work, timeout=30)

        app.settle = settle
        yield app, slack, aula
        await settle()
        await aula.close()


def texts(payload: dict) -> str:
    out = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
    return "\n".join(out)


async def ask(app, slack, text: str = "") -> str:
    """/dataset in the channel: the public message whose thread takes the file; returns its ts."""
    response = await app.async_dispatch(signed_request(command_body("/dataset", text, user_id=STUDENT)))
    assert response.status == 200
    await app.settle()
    [post] = slack.calls_to("chat.postMessage")
    assert "responde en el hilo de este mensaje" in texts(post.payload)
    return await posted_ts(slack, post)


async def posted_ts(slack, post) -> str:
    # The fake answers chat.postMessage with ts 1700000000.<n>; n counts every API call it answered.
    index = slack.calls.index(post)
    answered = [c for c in slack.calls[: index + 1] if c.method not in ("upload", "response_url", "download")]
    return f"1700000000.{len(answered):06d}"


async def share(app, slack, name: str, data: bytes, thread_ts: str, text: str = "") -> None:
    slack.files[name] = data
    body = file_share_event(name, slack.file_url(name), len(data), thread_ts, text=text, user_id=STUDENT)
    response = await app.async_dispatch(signed_request(body, extra_headers=JSON))
    assert response.status == 200


async def test_a_file_shared_in_the_thread_is_checked_and_answered_privately(slack_dataset):
    app, slack, _ = slack_dataset
    ts = await ask(app, slack, "modelo:gpt-4o")
    await share(app, slack, "errores.jsonl", (FIXTURES / "errors.jsonl").read_bytes(), ts, text="contexto:200")
    [download] = await slack.wait_for(lambda: slack.calls_to("download"))
    assert download.payload["authorization"] == f"Bearer {BOT_TOKEN}"
    await app.settle()
    reports = slack.calls_to("chat.postEphemeral")
    shown = "\n".join(texts(r.payload) for r in reports)
    for report in reports:
        assert report.payload["user"] == STUDENT and report.payload["channel"] == CHANNEL_ID
        assert report.payload["thread_ts"] == ts
    # 11 errors: in GPT-4o's ChatML, Llama's <|eot_id|> on line 11 is not a control token.
    assert "Revisión de «errores.jsonl»" in shown and "Errores: 11" in shown
    assert "GPT-4o (ChatML)" in shown  # the command's option, kept for the thread's file
    assert "más de 200 tokens" in shown  # the option typed beside the file


async def test_files_elsewhere_are_ignored_and_a_deleted_file_is_explained(slack_dataset):
    app, slack, _ = slack_dataset
    await share(app, slack, "otro.jsonl", b'{"prompt": "a", "completion": "b"}\n', "1699999999.000001")
    ts = await ask(app, slack)
    slack.files.clear()
    body = file_share_event("borrado.jsonl", slack.file_url("borrado.jsonl"), 10, ts, user_id=STUDENT)
    assert (await app.async_dispatch(signed_request(body, extra_headers=JSON))).status == 200
    await app.settle()
    [refusal] = slack.calls_to("chat.postEphemeral")
    assert "No pude descargar el archivo «borrado.jsonl»: ya no está" in texts(refusal.payload)
    assert [c.payload["name"] for c in slack.calls_to("download")] == ["borrado.jsonl"]  # the other never fetched


async def test_an_oversized_file_is_refused_with_the_limit(slack_dataset):
    app, slack, aula = slack_dataset
    aula.settings.dataset.max_bytes = 2048
    ts = await ask(app, slack)
    await share(app, slack, "grande.jsonl", b'{"prompt": "a", "completion": "b"}\n' * 200, ts)
    await app.settle()
    [refusal] = slack.calls_to("chat.postEphemeral")
    assert "El archivo supera el límite de 2 KB." in texts(refusal.payload)
