"""/roles through the Slack adapter: signed requests through Bolt, answers on the fake Web API."""

from __future__ import annotations

import asyncio
import json

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import create_app
from bot.app import Aula
from bot.i18n import t
from bot.roles.templates import Message, render
from bot.settings import load_settings
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

STUDENT = "U0STUDENT"


@pytest.fixture
async def slack_roles(tmp_path):
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
        serving = asyncio.all_tasks()  # the fake Slack's own tasks run until it closes
        app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
        yield app, slack
        post_ack_work = asyncio.all_tasks() - serving - {asyncio.current_task()}
        if post_ack_work:
            await asyncio.wait(post_ack_work, timeout=5)
        await aula.close()


def block_texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
    return "\n".join(out)


async def open_form(app, slack, text: str) -> dict:
    body = command_body("/roles", text, user_id=STUDENT, response_url=slack.response_url())
    response = await app.async_dispatch(signed_request(body))
    assert response.status == 200
    [opened] = await slack.wait_for(lambda: slack.calls_to("views.open"))
    return opened.payload["view"]


async def test_the_form_is_a_modal_and_a_signed_submission_posts_the_rendered_conversation(slack_roles):
    app, slack = slack_roles
    view = await open_form(app, slack, "formulario:sí modelo:gpt-4o")
    assert view["callback_id"] == "roles:form:gpt-4o"
    assert [b["block_id"] for b in view["blocks"]] == ["m1", "m2", "m3", "m4", "m5"]
    assert all(b["element"]["multiline"] for b in view["blocks"])
    assert [b["optional"] for b in view["blocks"]] == [True, False, True, True, True]

    values = {"m1": "Sé breve.\nMuy breve.", "m2": "¿Qué es un token?", "m3": "Un trozo de texto.", "m4": "¿Y un rol?"}
    response = await app.async_dispatch(signed_request(submission_body(view, values, user_id=STUDENT)))
    assert response.status == 200 and response.body == ""  # the modal closes
    [post] = await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    assert post.payload["channel"] == CHANNEL_ID
    shown = block_texts(post.payload["blocks"])
    assert t("es", "roles.received.title.prompt", model="GPT-4o (ChatML)") in shown
    # Special tokens set apart in bold; each message's content one plain segment (␣ and ↵ make
    # spaces and line breaks visible; < and > escaped as Slack requires).
    assert "*`&lt;|im_start|&gt;`* `system` *`&lt;|im_sep|&gt;`* `Sé␣breve.↵Muy␣breve.` *`&lt;|im_end|&gt;`*" in shown
    assert "`¿Qué␣es␣un␣token?`" in shown
    messages = [Message(r, values[f]) for r, f in (("system", "m1"), ("user", "m2"), ("assistant", "m3"), ("user", "m4"))]
    assert f"{render(messages, 'gpt-4o').count} tokens" in shown


async def test_an_all_blank_submission_is_refused_inside_the_modal(slack_roles):
    app, slack = slack_roles
    view = await open_form(app, slack, "formulario:sí")
    response = await app.async_dispatch(signed_request(submission_body(view, {"m2": "  \n"}, user_id=STUDENT)))
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    assert t("es", "roles.error.empty") in next(iter(answer["errors"].values()))
    assert slack.calls_to("chat.postMessage") == []


async def test_a_forged_submission_is_rejected(slack_roles):
    app, slack = slack_roles
    view = await open_form(app, slack, "formulario:sí")
    body = submission_body(view, {"m2": "Hola"}, user_id=STUDENT)
    response = await app.async_dispatch(signed_request(body, secret="not-the-signing-secret"))
    assert response.status == 401
    assert slack.calls_to("chat.postMessage") == []


async def test_the_edit_button_reopens_the_modal_with_the_conversation(slack_roles):
    app, slack = slack_roles
    view = await open_form(app, slack, "formulario:sí")
    await app.async_dispatch(signed_request(submission_body(view, {"m1": "Sé breve.", "m2": "Hola"}, user_id=STUDENT)))
    [post] = await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    edit_id = next(
        element["action_id"]
        for block in post.payload["blocks"] if block["type"] == "actions"
        for element in block["elements"] if element["text"]["text"] == t("es", "roles.button.edit")
    )
    response = await app.async_dispatch(signed_request(click_body(edit_id, user_id=STUDENT, response_url=slack.response_url())))
    assert response.status == 200
    opened = await slack.wait_for(lambda: slack.calls_to("views.open")[1:])
    initial = {b["block_id"]: b["element"].get("initial_value") for b in opened[0].payload["view"]["blocks"]}
    assert initial == {"m1": "Sé breve.", "m2": "Hola", "m3": None, "m4": None, "m5": None}


async def test_a_signed_comparar_command_posts_every_format_and_uploads_the_picture(slack_roles):
    import io

    from PIL import Image

    from bot.roles.templates import TEMPLATES

    # Loaded ahead: the first load of every encoding takes longer than the fake's waits.
    render([Message("user", "x")], "mistral"), render([Message("user", "x")], "gpt-oss")
    app, slack = slack_roles
    body = command_body("/roles", "comparar:sí sistema:Sé breve usuario:Hola", user_id=STUDENT, response_url=slack.response_url())
    response = await app.async_dispatch(signed_request(body))
    assert response.status == 200
    [done] = await slack.wait_for(lambda: slack.calls_to("files.completeUploadExternal"))
    [uploaded] = slack.calls_to("upload")
    assert Image.open(io.BytesIO(uploaded.payload["data"])).format == "PNG"
    shown = "\n".join(block_texts(p.payload["blocks"]) for p in slack.calls_to("chat.postMessage"))
    assert t("es", "roles.compare.title") in shown
    messages = [Message("system", "Sé breve"), Message("user", "Hola")]
    for name, chat_template in TEMPLATES.items():
        rendered = render(messages, name)
        assert t("es", "roles.compare.caption", model=chat_template.label, count=rendered.count, overhead=rendered.overhead) in shown
    assert "*`[INST]`*" in shown and "*`&lt;|start|&gt;`*" in shown  # special tokens set apart, as in one format
