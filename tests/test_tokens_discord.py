"""/tokens through the Discord adapter on simcord: the ansi segments, the ids, the picture attached.

simcord's users speak en-US unless a test makes them speak Spanish (`speak`).
"""

from __future__ import annotations

import io

from PIL import Image

from adapters.discord.render import ANSI_PALETTE
from bot.tokens.command import EXAMPLES
from bot.tokens.encodings import ENCODINGS, encode_plain, get_encoding
from tests.discord_support import assert_within_limits, messages_of, speak
from tests.test_tokens_cli import aula_tokens_count


def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    ana = guild.add_member(simcord_env.create_user("ana"))
    return channel, ana


def everything(result) -> tuple[str, list]:
    messages = messages_of(result)
    for message in messages:
        assert_within_limits(message)
    text = "\n".join(m.content for m in messages) + "\n".join(
        (e.description or "") + "".join(f.value for f in e.fields) for m in messages for e in m.embeds
    )
    return text, [a for m in messages for a in m.attachments]


async def test_emoji_example_in_spanish_with_coloured_segments_and_the_picture(simcord_env, monkeypatch):
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "tokens", ejemplo="emojis")
    assert not result.ephemeral
    text, files = everything(result)
    assert "## Tokens en GPT-4o (o200k\\_base)" in text  # the adapter escapes markdown
    ids = encode_plain("o200k_base", EXAMPLES["emojis"].es)
    assert f"**{len(ids)} tokens**" in text
    # each token opens its colour in the ansi block, cycling the palette; the emoji is one segment
    assert "```ansi\n" in text
    assert f"\x1b[0;{ANSI_PALETTE[0]}mMe\x1b[0;{ANSI_PALETTE[1 % len(ANSI_PALETTE)]}m·gusta" in text
    assert "m·🍕\x1b" in text
    assert ", ".join(map(str, ids)) in text
    assert "El emoji 🍕 ocupa 2 tokens" in text
    [picture] = [f for f in files if f.filename == "tokens.png"]
    assert Image.open(io.BytesIO(await picture.read())).format == "PNG"


async def test_todos_in_english_compares_every_encoding(simcord_env):
    for name in ENCODINGS:  # loaded ahead: the first load of all seven takes longer than simcord's settle
        get_encoding(name)
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "tokens", texto="El año 2024 tiene 366 días", modelo="todos")
    text, files = everything(result)
    for name in ENCODINGS:
        assert ", ".join(map(str, encode_plain(name, "El año 2024 tiene 366 días"))) in text
    assert "The number 2024 splits into 2 tokens: 202 \\| 4" in text  # markdown-escaped pipe
    assert [f.filename for f in files] == ["tokens.png"]


async def test_a_long_text_comes_as_a_summary_with_the_full_list_attached(simcord_env):
    channel, ana = classroom(simcord_env)
    long_text = "Hola, ¿cómo estás? " * 300  # 5,700 characters, under Discord's option limit
    result = await ana.slash(channel, "tokens", texto=long_text)
    text, files = everything(result)
    assert "Showing the first" in text
    [tsv] = [f for f in files if f.filename == "tokens.tsv"]
    rows = (await tsv.read()).decode().splitlines()[1:]
    assert [int(r.split("\t")[2]) for r in rows] == encode_plain("o200k_base", long_text)


async def test_a_refusal_is_private_and_clear(simcord_env):
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "tokens", texto="hola", ejemplo="saludo")
    assert result.ephemeral
    assert "Use text or example, not both at once." in result.response.content


async def test_the_form_is_a_modal_whose_text_keeps_its_newline(simcord_env, monkeypatch, tmp_path):
    """Issue 15.12: the course's two-line code example through `/tokens formulario:sí`, a
    paragraph field of up to 4,000 characters (Discord's limit, below tokens.max_chars)."""
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    shown = await ana.slash(channel, "tokens", formulario=True)
    assert shown.modal is not None and shown.modal["title"] == "Tokens: tu texto"
    [[field]] = [row["components"] for row in shown.modal["components"]]
    assert field["custom_id"] == "texto" and field["style"] == 2 and field["max_length"] == 4000  # 2: paragraph

    code = EXAMPLES["codigo"].es
    result = await ana.submit_modal(shown, {"texto": code})
    text, _ = everything(result)
    count = aula_tokens_count(tmp_path, code)
    assert count == len(encode_plain("o200k_base", code))
    assert f"**{count} tokens** · {len(code)} caracteres" in text
    assert "↵" in text and "\\n" not in text


async def test_choices_are_named_in_english_for_english_clients_and_reach_the_core_canonical(simcord_env, monkeypatch):
    """Issue 15.8: Discord's picker shows `todos` as "all" and `numeros` as "numbers" to an
    English client (the choice's name localization); the value sent is the canonical one."""
    synced = [r.json for r in simcord_env.http_requests if r.method == "PUT" and r.path.endswith("/commands")][-1]
    tokens = next(c for c in synced if c["name"] == "tokens")
    options = {o["name"]: o for o in tokens["options"]}
    models = {c["value"]: c for c in options["modelo"]["choices"]}
    assert models["todos"]["name"] == "todos" and models["todos"]["name_localizations"]["en-US"] == "all"
    assert not models["gpt-4o"].get("name_localizations")  # a name the same in both languages
    examples = {c["value"]: c.get("name_localizations", {}).get("en-US") for c in options["ejemplo"]["choices"]}
    assert examples == {"hola-mundo": "hello-world", "saludo": "greeting", "numeros": "numbers",
                        "emojis": None, "codigo": "code"}

    for name in ENCODINGS:  # loaded ahead: the first load of all seven takes longer than simcord's settle
        get_encoding(name)
    channel, ana = classroom(simcord_env)  # an en-US client: it picked "numbers", Discord sends the value
    result = await ana.slash(channel, "tokens", ejemplo="numeros", modelo="todos")
    text, _ = everything(result)
    assert "Tokens in each encoding" in text
    for name in ENCODINGS:  # modelo: todos, on the course's numbers example
        assert ", ".join(map(str, encode_plain(name, EXAMPLES["numeros"].es))) in text
    assert "·año" in text and "·tiene" in text
