"""/roles with Qwen3, GPT-OSS and Mistral through the core: the prompt each model's tooling
renders, its special tokens highlighted with their ids, counts per message, and notes."""

from __future__ import annotations

import pytest

from bot.i18n import t as tr
from bot.replies import Table, plain_text
from bot.roles.templates import Message, loss_mask, render
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


# --- comparar:sí: one conversation, every format ----------------------------------------------


async def test_comparar_renders_the_conversation_in_every_format_side_by_side(aula):
    from PIL import Image as PILImage

    from bot.replies import Image, Segments
    from bot.roles.comparison import special_names
    from bot.roles.templates import TEMPLATES

    reply = await roles(aula, sistema=SYSTEM, usuario=USER, asistente="El fine-tuning es…", comparar=True)
    messages = [Message("system", SYSTEM), Message("user", USER), Message("assistant", "El fine-tuning es…")]
    renderings = {name: render(messages, name) for name in TEMPLATES}
    [table] = [t for t in parts_of(reply, Table) if t.headers[0] == "Formato"]
    assert [row[0] for row in table.rows] == [TEMPLATES[name].label for name in TEMPLATES]
    # A training example: each format's trained tokens by its loss mask, in its own column.
    assert table.headers[4] == tr("es", "roles.compare.trained")
    for row, rendered in zip(table.rows, renderings.values(), strict=True):
        assert row[1:] == (
            str(rendered.count), str(rendered.overhead), str(rendered.count - rendered.overhead),
            str(sum(loss_mask(rendered))), " ".join(special_names(rendered)),
        )
    assert table.rows[2][5] == "<|im_start|> <|im_end|> <think> </think>"  # Qwen3, in order of first use
    assert table.rows[4][5] == "<s> [INST] [/INST] </s>"  # Mistral NeMo
    prompts = parts_of(reply, Segments)
    assert ["".join(s.text for s in p.segments) for p in prompts] == [r.prompt for r in renderings.values()]
    for prompt in prompts:  # the mask marked, as /roles marks it
        trained = "".join(s.text for s in prompt.segments if s.trained)
        assert trained.startswith("El fine-tuning es…") and all(s.trained is not None for s in prompt.segments)
    everything = await roles(aula, sistema=SYSTEM, usuario=USER, asistente="Sí", comparar=True, entrenar="todo")
    [table_all] = [t for t in parts_of(everything, Table) if t.headers[0] == "Formato"]
    assert all(row[4] == row[1] for row in table_all.rows)  # entrenar:todo trains every token
    prompt_only = await roles(aula, usuario=USER, comparar=True)
    [table_prompt] = [t for t in parts_of(prompt_only, Table) if t.headers[0] == "Formato"]
    assert tr("es", "roles.compare.trained") not in table_prompt.headers  # a prompt trains nothing
    counts = [r.count for r in renderings.values()]
    assert f"cuestan entre {min(counts)} y {max(counts)} tokens" in plain_text(reply)
    [image] = parts_of(reply, Image)
    assert PILImage.open(__import__("io").BytesIO(image.png)).height > 5 * 60  # five rows


async def test_comparar_alone_shows_the_course_example_and_buttons_lead_to_each_view(aula):
    from tests.test_roles import click

    reply = await roles(aula, comparar=True, locale="en")
    assert "The same conversation in every format" in plain_text(reply)
    assert "Explain what fine-tuning is" in plain_text(reply) or "fine-tuning" in plain_text(reply)
    switch = button_id(reply, "roles:switch:")
    assert switch.endswith(":llama-3.1")
    [single] = await click(aula, switch, locale="en")
    compare = next(b.id for b in single.buttons if b.id.endswith(":all"))
    [again] = await click(aula, compare, locale="en")
    assert plain_text(again) == plain_text(reply)


def test_the_picture_has_one_row_per_format_with_special_tokens_drawn_alike():
    from bot.roles.comparison import picture_row, render_all
    from bot.tokens.picture import SPECIAL

    renderings = render_all([Message("system", SYSTEM), Message("user", USER)])
    rows = [picture_row("es", r) for r in renderings]
    assert [row.title.split(" · ")[0] for row in rows] == ["Llama 3.1 Instruct", "GPT-4o (ChatML)", "Qwen3", "GPT-OSS (harmony)", "Mistral NeMo"]
    for row, rendered in zip(rows, renderings, strict=True):
        assert f"{rendered.count} tokens" in row.title and f"{rendered.overhead} de plantilla" in row.title
        assert sum(p.token_count for p in row.pieces) == rendered.count  # every token is drawn
        specials = [p.text for p, colour in zip(row.pieces, row.colours, strict=True) if colour == SPECIAL]
        assert specials == [p.text for p in rendered.pieces if p.kind == "special"]
        assert "".join(p.text for p in row.pieces) == rendered.prompt


def test_the_picture_draws_special_tokens_dark_and_each_format_whole():
    import io

    from PIL import Image as PILImage

    from bot.roles.comparison import comparison_picture, render_all
    from bot.tokens.picture import SPECIAL_BOX

    png = comparison_picture("es", render_all([Message("system", SYSTEM), Message("user", USER)]))
    image = PILImage.open(io.BytesIO(png)).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert SPECIAL_BOX in colours
    # The course's two messages fit whole in every row: no "…and N more tokens" note is drawn,
    # so the picture is as tall as the five rows' boxes need.
    rows = [picture_row_lines(r) for r in render_all([Message("system", SYSTEM), Message("user", USER)])]
    assert all(hidden == 0 for hidden in rows)


def picture_row_lines(rendered):
    from bot.roles.comparison import PICTURE_LINES, picture_row
    from bot.tokens.picture import layout

    row = picture_row("es", rendered)
    _, _, hidden = layout(row.pieces, max_lines=PICTURE_LINES // 5, colours=row.colours)
    return hidden


async def test_comparar_leaves_out_a_format_that_refuses_the_conversation_and_says_why(aula):
    reply = await roles(aula, asistente="Hola", comparar=True)
    [table] = [t for t in parts_of(reply, Table) if t.headers[0] == "Formato"]
    assert "Mistral NeMo" not in [row[0] for row in table.rows] and len(table.rows) == 4
    assert "El formato de Mistral no acepta esta conversación" in plain_text(reply)
