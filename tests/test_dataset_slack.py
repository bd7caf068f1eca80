"""/dataset through the Slack adapter with signed requests. The file goes with the command as
the user's newest file shared in the channel within [dataset] slack_file_minutes (files.list),
through the message shortcut "Comprobar con Aula" on the file's message, or, with neither, as
a reply in the thread of the command's message (tests/test_slack_workers.py: across
processes). The bot downloads the file with its token, streamed, and answers privately."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.dataset.display import megabytes
from bot.i18n import t
from bot.roles.templates import TEMPLATES
from bot.settings import load_settings
from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    FakeSlack,
    command_body,
    file_share_event,
    shortcut_body,
    signed_request,
)

STUDENT = "U0STUDENT"
FIXTURES = Path(__file__).parent / "fixtures" / "dataset"
PAIR = b'{"prompt": "a", "completion": "b"}\n'
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

        def worker():
            """An app instance, as each of several Aula processes builds its own."""
            return create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))

        async def settle() -> None:
            """Wait for the adapter's post-ack work (the fake Slack's own tasks run on)."""
            post_ack_work = asyncio.all_tasks() - serving - {asyncio.current_task()}
            if post_ack_work:
                await asyncio.wait(post_ack_work, timeout=30)

        app = worker()
        app.settle = settle
        app.worker = worker
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


def private_texts(slack) -> str:
    return "\n".join(texts(c.payload) for c in slack.calls_to("chat.postEphemeral") + slack.calls_to("response_url"))


async def ask(app, slack, text: str = "") -> str:
    """/dataset with no file shared: the public message whose thread takes the file; returns its ts."""
    response = await app.async_dispatch(signed_request(command_body("/dataset", text, user_id=STUDENT)))
    assert response.status == 200
    await app.settle()
    [post] = slack.calls_to("chat.postMessage")
    assert t("es", "dataset.attach.slack", limit=20, count=10) in texts(post.payload)
    index = slack.calls.index(post)  # the fake answers ts 1700000000.<n>, n counting its API answers
    answered = [c for c in slack.calls[: index + 1] if c.method not in ("upload", "response_url", "download")]
    return f"1700000000.{len(answered):06d}"


async def reply_in_thread(app, slack, name: str, data: bytes, thread_ts: str, text: str = "") -> None:
    slack.files[name] = data
    body = file_share_event(name, slack.file_url(name), len(data), thread_ts, text=text, user_id=STUDENT)
    assert (await app.async_dispatch(signed_request(body, extra_headers=JSON))).status == 200
    await app.settle()


async def dataset(app, slack, text: str = "", user_id: str = STUDENT) -> None:
    response = await app.async_dispatch(signed_request(command_body("/dataset", text, user_id=user_id)))
    assert response.status == 200
    await app.settle()


async def test_a_file_shared_in_the_channel_goes_with_the_next_dataset_command(slack_dataset):
    app, slack, aula = slack_dataset
    slack.share_file("errores.jsonl", (FIXTURES / "errors.jsonl").read_bytes(), STUDENT)
    other = app.worker()  # another process's app: nothing was remembered between the two
    response = await other.async_dispatch(signed_request(command_body("/dataset", "modelo:gpt-4o contexto:200", user_id=STUDENT)))
    assert response.status == 200
    await app.settle()
    [listed] = slack.calls_to("files.list")
    assert listed.payload["channel"] == CHANNEL_ID and listed.payload["user"] == STUDENT
    assert int(listed.payload["ts_from"]) >= time.time() - aula.settings.dataset.slack_file_minutes * 60 - 5
    [download] = slack.calls_to("download")
    assert download.payload["authorization"] == f"Bearer {BOT_TOKEN}"
    assert not slack.calls_to("chat.postMessage")  # nothing public: the report is the user's alone
    shown = private_texts(slack)
    for report in slack.calls_to("chat.postEphemeral"):
        assert report.payload["user"] == STUDENT and report.payload["channel"] == CHANNEL_ID
    # 11 errors: in GPT-4o's ChatML, Llama's <|eot_id|> on line 11 is not a control token.
    assert t("es", "dataset.title", file="errores.jsonl") in shown
    assert t("es", "dataset.errors.title", count=11) in shown
    assert TEMPLATES["gpt-4o"].label in shown  # the command's option
    assert t("es", "dataset.kind_name.too_long") in shown  # contexto:200 applied


async def test_without_a_recent_file_the_command_asks_for_one_in_its_thread(slack_dataset):
    app, slack, aula = slack_dataset
    minutes = aula.settings.dataset.slack_file_minutes
    slack.share_file("viejo.jsonl", PAIR, STUDENT, created=time.time() - (minutes + 1) * 60)  # too long ago
    slack.share_file("ajeno.jsonl", PAIR, "U0CLASSMATE")  # someone else's
    slack.share_file("otro-canal.jsonl", PAIR, STUDENT, channel="C0OTHER")  # another channel
    ts = await ask(app, slack, "modelo:gpt-4o")
    assert not slack.calls_to("download")
    await reply_in_thread(app, slack, "errores.jsonl", (FIXTURES / "errors.jsonl").read_bytes(), ts, text="contexto:200")
    [download] = slack.calls_to("download")
    assert download.payload["name"] == "errores.jsonl"
    reports = slack.calls_to("chat.postEphemeral")
    for report in reports:
        assert report.payload["user"] == STUDENT and report.payload["thread_ts"] == ts
    shown = private_texts(slack)
    assert t("es", "dataset.errors.title", count=11) in shown
    assert TEMPLATES["gpt-4o"].label in shown  # the command's option, kept for the thread's file
    assert t("es", "dataset.kind_name.too_long") in shown  # the option typed beside the file


async def test_files_in_other_threads_are_ignored(slack_dataset):
    app, slack, _ = slack_dataset
    await reply_in_thread(app, slack, "otro.jsonl", PAIR, "1699999999.000001")
    assert not slack.calls_to("download") and not slack.calls_to("chat.postEphemeral")


async def test_the_newest_of_your_files_is_the_one_checked(slack_dataset):
    app, slack, _ = slack_dataset
    slack.share_file("antes.jsonl", b"no es json\n", STUDENT, created=time.time() - 120)
    slack.share_file("ahora.jsonl", PAIR, STUDENT, created=time.time() - 5)
    await dataset(app, slack)
    assert [c.payload["name"] for c in slack.calls_to("download")] == ["ahora.jsonl"]
    assert t("es", "dataset.title", file="ahora.jsonl") in private_texts(slack)


async def test_the_message_shortcut_checks_the_file_of_that_message_with_options_written_in_it(slack_dataset):
    app, slack, _ = slack_dataset
    file = slack.share_file("errores.jsonl", (FIXTURES / "errors.jsonl").read_bytes(), STUDENT)
    body = shortcut_body([file], text="modelo:gpt-4o contexto:200", user_id=STUDENT)
    assert (await app.async_dispatch(signed_request(body))).status == 200
    await app.settle()
    assert not slack.calls_to("files.list")  # the message names its file
    shown = private_texts(slack)
    assert t("es", "dataset.errors.title", count=11) in shown and TEMPLATES["gpt-4o"].label in shown
    # Prose beside the file is not an option: the file is checked with the defaults.
    slack.calls.clear()
    chatty = shortcut_body([file], text="¿me lo revisas? gracias", user_id=STUDENT)
    assert (await app.async_dispatch(signed_request(chatty))).status == 200
    await app.settle()
    assert t("es", "dataset.title", file="errores.jsonl") in private_texts(slack)


async def test_the_shortcut_on_a_message_without_a_file_explains_itself(slack_dataset):
    app, slack, _ = slack_dataset
    assert (await app.async_dispatch(signed_request(shortcut_body([], text="hola")))).status == 200
    await app.settle()
    assert t("es", "dataset.shortcut.no_file") in private_texts(slack)


async def test_a_deleted_file_is_explained(slack_dataset):
    app, slack, _ = slack_dataset
    slack.share_file("borrado.jsonl", PAIR, STUDENT)
    slack.files.clear()  # gone before the bot downloads it
    await dataset(app, slack)
    assert t("es", "dataset.attach.gone", file="borrado.jsonl") in private_texts(slack)


async def test_an_oversized_file_is_refused_with_the_limit_whatever_size_slack_declared(slack_dataset):
    app, slack, aula = slack_dataset
    aula.settings.dataset.max_bytes = limit = 64 * 1024
    data = PAIR * (32 * 1024 * 1024 // len(PAIR))  # 32 MB, served chunked (no Content-Length)
    slack.share_file("grande.jsonl", data, STUDENT, size=100)  # and declared as 100 bytes
    await dataset(app, slack)
    assert t("es", "dataset.refused.too_large", limit=megabytes("es", limit)) in private_texts(slack)
    # The reader let go at the limit: what Slack's side wrote is the limit plus what the
    # loopback connection buffers, far from the whole file.
    assert slack.served["grande.jsonl"] < len(data) // 2
