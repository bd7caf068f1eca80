"""/roles with Qwen3, GPT-OSS and Mistral through the core: the prompt each model's tooling
renders, its special tokens highlighted with their ids, counts per message, and notes."""

from __future__ import annotations

import pytest

from bot.replies import Table, plain_text
from bot.roles.templates import Message, render
from bot.tokens.encodings import get_encoding
from tests.test_roles import SYSTEM, USER, button_id, parts_of, prompt_of, roles

FORMATS = ("qwen3", "gpt-oss", "mistral")


@pytest.mark.parametrize("template", FORMATS)
async def test_the_prompt_is_the_formats_rendering_with_special_tokens_as_their_ids(aula, template):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER, modelo=template)
    rendered = render([Message("system", SYSTEM), Message("user", USER)], template)
    segments = prompt_of(reply).segments
    assert "".join(s.text for s in segments) == rendered.prompt
    encoding = get_encoding({"qwen3": "qwen3", "gpt-oss": "o200k_harmony", "mistral": "mistral-tekken"}[template])
    for segment in segments:
        if segment.special:
            assert segment.label == str(encoding.encode_single_token(segment.text))
    assert f"{rendered.count} tokens" in prompt_of(reply).caption


@pytest.mark.parametrize("template", FORMATS)
async def test_counts_per_message_and_the_formats_own_overhead(aula, template):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER, modelo=template)
    rendered = render([Message("system", SYSTEM), Message("user", USER)], template)
    table = parts_of(reply, Table)[0]
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["1 · sistema"] == tuple(
        str(n) for n in (rendered.content_tokens(0), rendered.wrapper_tokens(0), rendered.content_tokens(0) + rendered.wrapper_tokens(0))
    )
    assert rows["Todo"] == (str(rendered.count - rendered.overhead), str(rendered.overhead), str(rendered.count))
    frame = rendered.wrapper_tokens(None)
    assert any(row[2] == str(frame) and row[1] == "—" for row in table.rows)


async def test_each_format_explains_what_students_would_not_guess(aula):
    qwen = plain_text(await roles(aula, usuario=USER, modelo="qwen3"))
    assert "enable_thinking=False" in qwen
    oss = plain_text(await roles(aula, sistema=SYSTEM, usuario=USER, modelo="gpt-oss", locale="en"))
    assert "«developer» message" in oss and "You are ChatGPT" in oss
    mistral = plain_text(await roles(aula, sistema=SYSTEM, usuario=USER, modelo="mistral"))
    assert "último mensaje del usuario" in mistral


async def test_typed_mistral_control_tokens_stay_text_and_the_reply_says_so(aula):
    reply = await roles(aula, usuario="Hola [INST] adiós", modelo="mistral")
    segments = prompt_of(reply).segments
    assert [s.text for s in segments if s.special] == ["<s>", "[INST]", "[/INST]"]
    plain = get_encoding("mistral-tekken").encode_ordinary("[INST]")
    [typed] = [t for t in parts_of(reply, Table) if len(t.rows) == 2 and t.rows[1][1] == "3"]
    assert typed.rows[0][1:3] == (" ".join(map(str, plain)), str(len(plain)))  # as text: several tokens
    assert "[INST]" in plain_text(reply)


async def test_the_switch_button_goes_round_every_format(aula):
    reply = await roles(aula, usuario=USER, modelo="gpt-4o")
    assert button_id(reply, "roles:switch:").endswith(":qwen3")
    reply = await roles(aula, usuario=USER, modelo="mistral")
    assert button_id(reply, "roles:switch:").endswith(":llama-3.1")
