"""/tokens through the core: the reply's parts, what it observes, costs, limits and errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from bot.app import Aula
from bot.i18n import t
from bot.replies import Attachment, BulletList, Code, Heading, Image, Segments, Table, plain_text
from bot.tokens.analysis import CostLine, analyze, observations, visible
from bot.tokens.command import EXAMPLES, percent, tokens_reply, usd
from bot.tokens.encodings import ENCODINGS, encode_plain
from bot.tokens.picture import PALETTE, render_png
from tests.conftest import make_request, replies_of


def parts_of(reply, kind):
    return [p for p in reply.parts if isinstance(p, kind)]


def bullets(reply) -> list[str]:
    [observed] = parts_of(reply, BulletList)
    return [item.text for item in observed.items]


async def tokens(aula, locale="es", user_id="u1", **args):
    [reply] = await replies_of(aula, make_request("tokens", locale=locale, user_id=user_id, args=args))
    return reply


async def test_emoji_example_counts_groups_and_pictures_in_spanish(aula):
    reply = await tokens(aula, ejemplo="emojis")
    assert not reply.error and not reply.is_private
    text = EXAMPLES["emojis"].es
    ids = encode_plain("o200k_base", text)
    summary = reply.parts[1]
    assert summary.text.startswith(f"{len(ids)} tokens · {len(text)} caracteres")
    [segments] = parts_of(reply, Segments)
    assert "".join(s.text for s in segments.segments) == visible(text)
    pizza = next(s for s in segments.segments if "🍕" in s.text)
    assert pizza.text == "·🍕" and pizza.label == "2 tokens"  # two tokens, one whole character
    assert [s.colour for s in segments.segments] == list(range(len(segments.segments)))
    [code] = parts_of(reply, Code)
    assert code.text == ", ".join(map(str, ids))
    assert "El emoji 🍕 ocupa 2 tokens: en UTF-8 son 4 bytes, y los tokens se arman con bytes." in bullets(
        reply
    )
    [image] = parts_of(reply, Image)
    assert PILImage.open(io.BytesIO(image.png)).format == "PNG"
    assert not parts_of(reply, Attachment)


async def test_pieces_joined_into_whole_characters_are_listed_once_each(aula):
    """A repeated emoji text listed the same joined piece again and again («‍» 2 tokens, «‍» 2
    tokens, …) in the caption, in place of the other pieces."""
    text = "👨‍👩‍👧 " * 30
    for lang in ("es", "en"):
        reply = await tokens(aula, locale=lang, texto=text, modelo="qwen3")
        [segments] = parts_of(reply, Segments)
        distinct = list(dict.fromkeys((s.text, s.label) for s in segments.segments if s.label))
        assert len(distinct) < len([s for s in segments.segments if s.label])  # the text repeats pieces
        listed = ", ".join(f"«{piece}» {label}" for piece, label in distinct[:5]) + (", …" if len(distinct) > 5 else "")
        assert t(lang, "tokens.segments_grouped", groups=listed) in segments.caption


async def test_english_locale_gets_english_words(aula):
    reply = await tokens(aula, locale="en", texto="El año 2024 tiene 366 días")
    out = plain_text(reply)
    assert "Tokens in GPT-4o (o200k_base)" in out and "characters per token" in out
    assert "The number 2024 splits into 2 tokens: 202 | 4. Digits go in groups of up to three." in bullets(
        reply
    )
    assert "The number 366 is a single token." in bullets(reply)


@pytest.mark.parametrize("key", list(EXAMPLES))
async def test_every_course_example_compares_spanish_with_english_from_real_counts(aula, key):
    example = EXAMPLES[key]
    reply = await tokens(aula, ejemplo=key, modelo="llama-3.1")
    spanish = len(encode_plain("llama-3.1", example.es))
    english = len(encode_plain("llama-3.1", example.en))
    [line] = [b for b in bullets(reply) if b.startswith("En inglés")]
    assert f"ocupa {english} tokens; en español, {spanish}." in line
    assert ("cuesta más tokens" in line) == (spanish > english)


def test_observations_for_the_course_examples_are_the_ones_the_course_wants():
    numbers = observations(analyze(EXAMPLES["numeros"].es, "cl100k_base"))
    assert ("tokens.obs.number_groups", "202 | 4") in [(o.key, o.values.get("parts")) for o in numbers]

    code = {o.key: o.values for o in observations(analyze(EXAMPLES["codigo"].es, "o200k_base"))}
    assert code["tokens.obs.word_split"] == {"word": "saludar", "count": 2, "parts": "sal | udar"}
    assert code["tokens.obs.code"]["count"] == 15

    greeting = {o.key: o.values for o in observations(analyze(EXAMPLES["hola-mundo"].es, "o200k_base"))}
    assert greeting["tokens.obs.leading_space"] == {"token": "·mundo"}

    lookalike = {o.key: o.values for o in observations(analyze("fin <|eot_id|>", "llama-3.1"))}
    assert lookalike["tokens.obs.special_lookalike"]["count"] == len(encode_plain("llama-3.1", " <|eot_id|>"))

    family = {o.key: o.values for o in observations(analyze("👨‍👩‍👧", "o200k_base"))}
    assert family["tokens.obs.emoji_many"]["count"] == len(encode_plain("o200k_base", "👨‍👩‍👧"))


def test_a_rare_character_split_over_tokens_is_pointed_out():
    analysis = analyze("鑫", "llama-3.1")
    assert [p.token_count for p in analysis.pieces] == [len(analysis.ids)] and len(analysis.ids) > 1
    [split] = [o for o in observations(analysis) if o.key == "tokens.obs.char_split"]
    assert split.values == {"char": "鑫", "count": len(analysis.ids), "bytes": 3}


async def test_todos_compares_every_encoding_in_one_table(aula):
    text = "Hola, ¿cómo estás?"
    reply = await tokens(aula, texto=text, modelo="todos")
    [compare, languages, costs] = parts_of(reply, Table)
    counts = {row[0]: row[2] for row in compare.rows}
    assert counts == {
        f"{info.label} ({name})": str(len(encode_plain(name, text))) for name, info in ENCODINGS.items()
    }
    assert list(counts) == [
        "GPT-4o (o200k_base)", "GPT-4 (cl100k_base)", "Llama 3.1 (llama-3.1)", "GPT-OSS (o200k_harmony)",
        "Qwen3 (qwen3)", "Mistral (Tekken) (mistral-tekken)", "Mistral 7B v0.3 (mistral-v3)",
    ]
    assert len(parts_of(reply, Segments)) == 7
    [image] = parts_of(reply, Image)
    assert PILImage.open(io.BytesIO(image.png)).height > 7 * 50  # seven rows
    # The course's example: Spanish against English in every tokenizer.
    [row] = languages.rows
    assert row[0] == "saludo"
    english = "Hello, how are you?"
    for name, cell in zip(ENCODINGS, row[1:], strict=True):
        es, en = len(encode_plain(name, text)), len(encode_plain(name, english))
        assert cell == f"{round(100 * (es - en) / en):+d} % ({es} / {en})".replace("-", "−")
    assert row[-1] == "+67 % (10 / 6)"  # SentencePiece v3: Spanish costs two thirds more


async def test_a_new_encoding_by_its_short_name(aula):
    reply = await tokens(aula, texto="Hola, ¿cómo estás?", modelo="qwen3")
    [heading] = parts_of(reply, Heading)
    assert "Qwen3" in heading.text and "qwen3" in heading.text
    [ids] = parts_of(reply, Code)
    assert ids.text == ", ".join(str(i) for i in encode_plain("qwen3", "Hola, ¿cómo estás?"))


async def test_the_spanish_english_observation_covers_the_new_encodings(aula):
    for modelo, name in (("gpt-oss", "o200k_harmony"), ("mistral", "mistral-tekken"), ("mistral-v3", "mistral-v3")):
        reply = await tokens(aula, ejemplo="hola-mundo", modelo=modelo)
        text = plain_text(reply)
        es, en = len(encode_plain(name, "¡Hola mundo!")), len(encode_plain(name, "Hello world!"))
        assert f"«Hello world!» ocupa {en} tokens; en español, {es}" in text


async def test_costs_cover_every_configured_model_with_its_own_encoding(aula):
    text = "Me gusta la pizza 🍕 y el café ☕"
    reply = await tokens(aula, texto=text)
    [costs] = parts_of(reply, Table)
    rows = {row[0]: row for row in costs.rows}
    llama = rows["Llama 3.1 405B Instruct (Hyperbolic)"]
    count = len(encode_plain("llama-3.1", text))
    assert llama[1] == str(count)
    assert llama[4] == usd("es", count * 4.00 / 1_000_000)
    assert rows["GPT-4"][3] == percent("es", len(encode_plain("cl100k_base", text)) / 8_192)


def test_cost_line_arithmetic_and_number_formats():
    line = CostLine("Llama", "llama-3.1", 250_000, 128_000, 4.0)
    assert line.usd == pytest.approx(1.0) and not line.fits and line.share == pytest.approx(1.953125)
    # CLDR's patterns through Babel: no-break space before the symbol in Spanish.
    assert usd("es", 0.0000275) == "0,0000275\xa0US$" and usd("en", 1234.5) == "$1,234.50"
    assert percent("es", 11 / 128_000) == "0,0086\xa0%" and percent("en", 0.5) == "50%"


async def test_a_text_that_does_not_fit_a_context_window_says_so(aula, settings):
    text = "palabra " * 9000  # about 9000 tokens: more than GPT-4's 8192
    reply = tokens_reply(text, ("o200k_base",), "es", settings.tokens, picture=False)
    [costs] = parts_of(reply, Table)
    gpt4 = next(row for row in costs.rows if row[0] == "GPT-4")
    assert gpt4[3].endswith("(no cabe)")


async def test_a_long_text_is_a_summary_plus_the_full_list_attached(aula):
    text = "El año 2024 tiene 366 días. " * 700  # 19,600 characters
    reply = await tokens(aula, texto=text)
    ids = encode_plain("o200k_base", text)
    [segments] = parts_of(reply, Segments)
    assert 0 < len(segments.segments) < len(ids)
    assert f"de {len(ids)} tokens" in segments.caption and len(ids) < 10_000  # Spanish groups from 10.000
    assert sum(len(s.text) for s in segments.segments) < 2000
    [code] = parts_of(reply, Code)
    assert len(code.text) <= 1000 and code.text.endswith("…")
    [attachment] = parts_of(reply, Attachment)
    lines = attachment.data.decode().splitlines()
    assert lines[0] == "encoding\tposition\tid\ttoken" and len(lines) == len(ids) + 1
    assert [int(line.split("\t")[2]) for line in lines[1:]] == ids
    [image] = parts_of(reply, Image)
    assert PILImage.open(io.BytesIO(image.png)).height < 2500


async def test_past_the_maximum_a_clear_message(aula):
    reply = await tokens(aula, texto="a" * 20_001)
    assert reply.error and reply.is_private
    assert "El texto tiene 20.001 caracteres y /tokens acepta hasta 20.000" in plain_text(reply)


async def test_the_maximum_comes_from_settings(settings):
    from bot.app import Aula

    settings.tokens.max_chars = 10
    app = await Aula(settings).start()
    try:
        [reply] = await replies_of(app, make_request("tokens", locale="en", args={"texto": "x" * 11}))
        assert reply.error and "up to 10" in plain_text(reply)
    finally:
        await app.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "Escribe un texto (texto:…) o elige un ejemplo del curso"),
        ({"texto": "hola", "ejemplo": "emojis"}, "Usa texto o ejemplo, no los dos a la vez."),
        ({"texto": "hola \ud800"}, "no son Unicode válido"),
    ],
)
async def test_bad_requests_get_clear_messages(aula, args, message):
    reply = await tokens(aula, **args)
    assert reply.error and message in plain_text(reply)


async def test_special_token_lookalikes_are_tokenized_as_text(aula):
    reply = await tokens(aula, texto="<|endoftext|>", modelo="gpt-4")
    [code] = parts_of(reply, Code)
    assert code.text == ", ".join(map(str, encode_plain("cl100k_base", "<|endoftext|>")))
    assert "100257" not in code.text.split(", ")


# --- the picture ------------------------------------------------------------------------


def picture(text: str, name: str = "o200k_base") -> PILImage.Image:
    from bot.tokens.picture import PictureRow

    analysis = analyze(text, name)
    png = render_png([PictureRow("t", analysis.pieces, lambda n: f"+{n}")])
    return PILImage.open(io.BytesIO(png)).convert("RGB")


def colours(image: PILImage.Image) -> set[tuple[int, int, int]]:
    return {c for _, c in image.getcolors(maxcolors=1 << 20)}


def test_picture_boxes_cycle_the_palette_one_colour_per_piece():
    image = picture("a b c d")  # four pieces: a, ·b, ·c, ·d
    assert set(PALETTE[:4]) <= colours(image)
    assert PALETTE[4] not in colours(image)


def test_picture_draws_colour_emoji_not_a_blank():
    plain = picture("pizza x")
    emoji = picture("pizza 🍕")
    # the pizza's crust and pepperoni bring colours that no box or text has
    new = colours(emoji) - colours(plain) - set(PALETTE)
    assert len([c for c in new if max(c) - min(c) > 80]) > 20


def test_picture_of_a_character_no_font_has_is_a_labelled_box(monkeypatch):
    import bot.tokens.picture as pictures

    monkeypatch.setattr(pictures, "SYSTEM_FALLBACKS", ())
    pictures.faces.cache_clear()
    pictures.text_face_for.cache_clear()
    try:
        assert pictures.runs_of("\U0001d11e鑫")[-1].text == "U+946B"  # no shipped font has CJK
        assert pictures.runs_of("\u200d")[0].text == "ZWJ"
    finally:
        pictures.faces.cache_clear()
        pictures.text_face_for.cache_clear()


def test_picture_shows_whitespace_and_breaks_lines_at_newlines():
    from bot.tokens.picture import layout, piece_lines

    analysis = analyze("uno\ndos tres", "o200k_base")
    assert [line for p in analysis.pieces for line in piece_lines(p)] == ["uno", "↵", "dos", "·tres"]
    boxes, lines, hidden = layout(analysis.pieces)
    assert lines == 2 and hidden == 0
    assert [b.line for b in boxes] == [0, 0, 1, 1]


def test_picture_of_a_long_text_stops_with_a_note():
    from bot.tokens.picture import MAX_LINES, layout

    analysis = analyze("palabra " * 3000, "o200k_base")
    boxes, lines, hidden = layout(analysis.pieces)
    assert lines == MAX_LINES and hidden > 0 and len(boxes) + hidden == len(analysis.pieces)


def test_plain_text_of_the_reply_has_every_section(settings):
    reply = tokens_reply("¡Hola mundo!", ("o200k_base",), "es", settings.tokens)
    out = plain_text(reply)
    for section in ("Tokens en GPT-4o (o200k_base)", "Ids de los tokens", "Qué observar", "Costo y límites"):
        assert section in out
    assert isinstance(reply.parts[0], Heading)


def test_a_common_word_split_only_for_lack_of_a_space_is_explained_as_such():
    analysis = analyze("El año\ntiene 366 días", "o200k_base")
    found = {o.key: o.values for o in observations(analysis)}
    assert "tokens.obs.word_split" not in found  # «tiene» is not a rare word
    assert found["tokens.obs.word_split_unspaced"]["spaced"] == "·tiene"
    assert len(encode_plain("o200k_base", " tiene")) == 1 < len(encode_plain("o200k_base", "tiene"))


async def test_the_caption_names_the_segments_that_join_several_tokens(aula):
    reply = await tokens(aula, ejemplo="emojis", modelo="gpt-4")
    [segments] = parts_of(reply, Segments)
    pizza = len(encode_plain("cl100k_base", " 🍕"))
    assert f"«·🍕» {pizza} tokens" in segments.caption


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=80))
def test_property_reply_segments_spell_the_text_and_the_picture_always_draws(text):
    from bot.tokens.command import SEGMENT_BUDGET, segments_part
    from bot.tokens.picture import PictureRow

    analysis = analyze(text, "llama-3.1")
    part, shown = segments_part(analysis, "es", SEGMENT_BUDGET, multiple=False)
    assert shown == len(analysis.pieces)
    assert "".join(s.text for s in part.segments) == visible(text)
    png = render_png([PictureRow("t", analysis.pieces, str)])
    assert PILImage.open(io.BytesIO(png)).format == "PNG"


async def test_a_class_sending_the_same_text_gets_the_reply_drawn_once_for_a_few_minutes(
    settings, monkeypatch
):
    """ "Try it now": the same example from the whole class; the picture is the costly part."""
    import bot.tokens.command as tokens_command
    from tests.quiz_support import FakeClock

    drawn: list[tuple] = []
    draw = tokens_command.tokens_reply

    def counted(text, names, lang, token_settings, picture=True):
        drawn.append((text, names, lang))
        return draw(text, names, lang, token_settings, picture)

    monkeypatch.setattr(tokens_command, "tokens_reply", counted)
    clock = FakeClock()
    app = Aula(settings, clock=clock)
    await app.start()
    try:
        example = EXAMPLES["emojis"].es
        first = await tokens(app, texto=example)
        again = [await tokens(app, texto=example, user_id=f"s{i}") for i in range(5)]
        assert all(reply == first for reply in again) and len(drawn) == 1
        await tokens(app, locale="en", texto=example)  # another language: another reply
        await tokens(app, texto=example, modelo="todos")  # other encodings too
        assert len(drawn) == 3
        long_paste = "palabra " * 300  # 2,400 characters: rarely sent twice, not kept
        await tokens(app, texto=long_paste)
        await tokens(app, texto=long_paste)
        assert len(drawn) == 5
        clock.advance(tokens_command.RECENT_REPLIES_S + 1)
        assert await tokens(app, texto=example) == first
        assert len(drawn) == 6  # drawn again once the few minutes are over
    finally:
        await app.close()


def test_only_the_pipe_shape_is_noted_as_a_special_token_lookalike():
    """One pattern serves /tokens and /roles; /tokens notes <|…|> only, not markup that
    merely shares a shape with Mistral's or Qwen's specials."""
    keys = {o.key for o in observations(analyze("<b>hola</b> [NOTA] </s>", "llama-3.1"))}
    assert "tokens.obs.special_lookalike" not in keys
    found = {o.key: o.values for o in observations(analyze("[INST] <|eot_id|>", "llama-3.1"))}
    assert found["tokens.obs.special_lookalike"]["text"] == "<|eot_id|>"
