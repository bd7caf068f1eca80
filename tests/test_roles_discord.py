"""/roles through the Discord adapter on simcord: the slash command, the modal, the buttons, the live run.

simcord's users speak en-US unless a test makes them speak Spanish (`speak`).
"""

from __future__ import annotations

import pytest

import bot.roles.command as roles
from adapters.discord import create_bot
from adapters.discord.render import ANSI_MASKED, ANSI_SPECIAL
from bot.app import Aula
from bot.roles.templates import Message, render
from bot.settings import load_settings
from tests.discord_support import assert_within_limits, messages_of, speak
from tests.fake_llm import API_KEY, FakeLlmServer

SPECIAL = f"\x1b[0;{ANSI_SPECIAL}m"  # how the adapter starts a special token in an ansi block


@pytest.fixture
async def fake_llm():
    async with FakeLlmServer() as server:
        yield server


@pytest.fixture
async def simcord_bot(tmp_path, fake_llm):
    settings = load_settings(
        environ={
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "AULA_LLM_BASE_URL": fake_llm.base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__STREAM_UPDATE_S": "0",
        },
        dotenv_path=None,
    )
    bot = create_bot(settings, aula=Aula(settings, commands=[roles.command]))
    yield bot
    await bot.aula.close()


def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    ana = guild.add_member(simcord_env.create_user("ana"))
    return channel, ana


def field_values(modal: dict) -> dict[str, str | None]:
    return {c["custom_id"]: c.get("value") for row in modal["components"] for c in row["components"]}


async def test_the_form_opens_as_a_modal_and_its_submission_renders_the_conversation(simcord_env):
    channel, ana = classroom(simcord_env)
    shown = await ana.slash(channel, "roles", formulario=True, modelo="gpt-4o")
    assert shown.modal is not None and shown.modal["title"] == "Roles: conversation"
    assert list(field_values(shown.modal)) == ["m1", "m2", "m3", "m4", "m5"]

    result = await ana.submit_modal(shown, {"m1": "Be brief.\nVery brief.", "m2": "What is a token?"})
    for message in messages_of(result):
        assert_within_limits(message)
    content = result.response.content
    assert content.startswith("## What GPT-4o (ChatML) receives")
    # Special tokens in the special style; the multi-line system message as it was typed.
    assert f"{SPECIAL}<|im_start|>" in content and f"{SPECIAL}<|im_sep|>" in content
    assert "Be brief.↵\nVery brief." in content  # the newline shown, and kept
    total = render([Message("system", "Be brief.\nVery brief."), Message("user", "What is a token?")], "gpt-4o").count
    assert f"{total} tokens" in content
    variants = result.response.embeds[0].to_dict()["fields"]
    assert [f["name"] for f in variants] == ["Without a system message", "With a different system message"]
    assert not result.ephemeral


async def test_in_spanish_typed_special_tokens_are_not_styled_as_special(simcord_env, monkeypatch):
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "roles", usuario="Para <|eot_id|> aquí")
    content = result.response.content
    assert content.startswith("## Lo que recibe Llama 3.1 Instruct")
    assert "Para <|eot_id|> aquí" in content  # one plain run, no style change inside it
    assert content.count(f"{SPECIAL}<|eot_id|>") == 2  # the template's own: system block and user block
    shown = "\n".join(m.content for m in messages_of(result))
    assert "Así lo ve la API de OpenAI" in shown and "tokens especiales activos" in shown
    assert "escapar o rechazar" in shown


async def test_a_training_example_greys_the_masked_tokens_and_attaches_the_picture(simcord_env, monkeypatch):
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "roles", usuario="Hola", asistente="¡Hola!")
    shown = "\n".join(m.content for m in messages_of(result))
    assert "ejemplo de entrenamiento" in shown
    masked, trained = f"\x1b[0;{ANSI_MASKED}m", f"{SPECIAL}<|eot_id|>"
    assert f"{masked}<|begin_of_text|>" in shown and f"{masked}Hola" in shown  # masked: grey
    assert shown.count(trained) == 1  # only the answer's end of turn keeps its colour
    total = render([Message("user", "Hola"), Message("assistant", "¡Hola!")]).count
    assert f"Entrenados: 4 de {total} tokens." in shown  # "¡", "Hola", "!" + <|eot_id|>
    assert "roles-mask.png" in [a.filename for m in messages_of(result) for a in m.attachments]
    for message in messages_of(result):
        assert_within_limits(message)


async def test_edit_reopens_the_modal_filled_and_switch_renders_the_other_template(simcord_env):
    channel, ana = classroom(simcord_env)
    first = await ana.slash(channel, "roles", sistema="Be brief.", usuario="Hi")
    message = messages_of(first)[-1]

    edit = await ana.click(message, label="✏️ Edit")
    assert edit.modal is not None
    assert field_values(edit.modal)["m1"] == "Be brief." and field_values(edit.modal)["m2"] == "Hi"

    switched = await ana.click(message, label="🔁 See in GPT-4o (ChatML)")
    assert "## What GPT-4o (ChatML) receives" in switched.response.content
    assert f"{SPECIAL}<|im_start|>" in switched.response.content


async def test_the_live_button_streams_both_answers_side_by_side(simcord_env, fake_llm):
    channel, ana = classroom(simcord_env)
    first = await ana.slash(channel, "roles", sistema="Be brief.", usuario="Hi")
    live = await ana.click(messages_of(first)[-1], label="▶ Try it live")
    await simcord_env.advance_time(3)
    for message in messages_of(live):
        assert_within_limits(message)
    fields = {f.name: f.value for m in messages_of(live) for e in m.embeds for f in e.fields}
    yours = fields["Your conversation"]
    other = next(value for name, value in fields.items() if name.startswith("With a different system message"))
    assert yours.startswith("¡Claro! Sobre «Hi»") and other.startswith("¡Claro! Sobre «Hi»")
    sent = [body["messages"][0]["content"] for path, body in fake_llm.calls if path == "/v1/chat/completions"]
    assert sorted(sent) == sorted(["Be brief.", "Answer in a single sentence, as if talking to an 8-year-old."])


async def test_comparar_shows_every_format_and_the_picture(simcord_env, monkeypatch):
    from bot.roles.templates import TEMPLATES

    for name in TEMPLATES:  # loaded ahead: a first load of every encoding outlasts simcord's settle
        render([Message("user", "x")], name)
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "roles", comparar=True, sistema="Sé breve", usuario="Hola")
    shown = "\n".join(m.content for m in messages_of(result))
    assert "La misma conversación en cada formato" in shown
    messages = [Message("system", "Sé breve"), Message("user", "Hola")]
    for name, chat_template in TEMPLATES.items():
        rendered = render(messages, name)
        assert f"{chat_template.label}: {rendered.count} tokens, {rendered.overhead} de plantilla." in shown
    assert f"{SPECIAL}[INST]" in shown and f"{SPECIAL}<|start|>" in shown and f"{SPECIAL}<think>" in shown
    assert "roles-formats.png" in [a.filename for m in messages_of(result) for a in m.attachments]
    for message in messages_of(result):
        assert_within_limits(message)
