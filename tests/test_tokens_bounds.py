"""/tokens stays bounded and linear whatever the text: observations quote long words short and list
a few pieces (issue 14, item 2), and the analysis does work in proportion to the text (issue 16).

Sizes and call counts, never times: the time figures are in bench/tokens_growth.py."""

from __future__ import annotations

import sys

import pytest

from bot.i18n import t
from bot.replies import BulletList
from bot.tokens.analysis import (
    MAX_PARTS,
    QUOTE_CHARS,
    analyze,
    group_pieces,
    observations,
    tokens_overlapping,
)
from bot.tokens.command import observation_text, tokens_reply
from bot.tokens.encodings import ENCODINGS, encode_plain, prepare_text, token_bytes

CHAT_LIMIT = 20_000  # settings.tokens.max_chars


def emoji(n: int) -> str:
    return ("🍕☕👩‍💻🇪🇸👍🏽❤️🎉🤖 " * n)[:n]


def distinct_words(n: int) -> str:
    return " ".join(f"palabrota{i}xq" for i in range(n))[:n]


# Each pathological kind the issues name: one long word, one long number, emoji, code, rare characters.
TEXTS = {
    "one repeated character": lambda n: "a" * n,
    "digits": lambda n: "".join(str(i % 10) for i in range(n)),
    "emoji": emoji,
    "one emoji sequence": lambda n: "👩" + "\u200d👩" * (n // 3),
    "distinct words": distinct_words,
    "rare characters in one word": lambda n: "𓀀𓀁𓀂𓀃" * (n // 8),
    "code": lambda n: ('def f(x):\n    return {"a": [x, 2]}\n' * n)[:n],
}


@pytest.mark.parametrize("kind", TEXTS)
@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_observation_is_short_whatever_the_text(kind, lang):
    """Case from issue 14: 6,000 × «a» quoted the whole word and its 750 pieces in one bullet."""
    text = TEXTS[kind](CHAT_LIMIT)
    for name in ("o200k_base", "llama-3.1"):
        for observation in observations(analyze(text, name)):
            line = observation_text(observation, lang)
            assert len(line) <= 500, (observation.key, len(line))
            for value in observation.values.values():
                if isinstance(value, str) and observation.key != "tokens.obs.spanish_costs_more":
                    assert len(value) <= MAX_PARTS * (QUOTE_CHARS + 3) + 10


def test_a_long_word_is_quoted_short_with_a_few_pieces_and_how_many_more():
    text = "a" * 6000
    analysis = analyze(text, "o200k_base")
    [split] = [o for o in observations(analysis) if o.key.startswith("tokens.obs.word_split")]
    pieces = len(analysis.pieces)
    assert split.values["count"] == pieces > MAX_PARTS
    assert split.values["word"] == "a" * (QUOTE_CHARS - 1) + "…"
    assert split.values["parts"] == " | ".join(p.text for p in analysis.pieces[:MAX_PARTS])
    assert split.values["more"] == pieces - MAX_PARTS
    shown = observation_text(split, "es")
    assert t("es", "tokens.obs.more_parts", count=f"{pieces - MAX_PARTS:,}".replace(",", ".")) in shown
    assert t("en", "tokens.obs.more_parts", count=f"{pieces - MAX_PARTS:,}") in observation_text(split, "en")


def test_a_short_word_is_listed_whole_as_before():
    [split] = [o for o in observations(analyze("def saludar(nombre):", "o200k_base")) if o.key == "tokens.obs.word_split"]
    assert split.values == {"word": "saludar", "count": 2, "parts": "sal | udar"}


def test_the_observations_bullet_of_a_6000_a_reply_is_short(settings):
    reply = tokens_reply("a" * 6000, ("o200k_base",), "es", settings.tokens, picture=False)
    [noticed] = [p for p in reply.parts if isinstance(p, BulletList)]
    assert sum(len(item.text) for item in noticed.items) < 1000


@pytest.mark.parametrize("text", ["Hola 👩‍💻 𓀀 mundo 2024 🇪🇸!", "a" * 50, "ñandú 🍕🍕 漢字 \u0301e"])
def test_tokens_overlapping_counts_the_tokens_holding_each_span(text):
    """The binary search against the definition: every token with at least one byte of the span."""
    for name in ENCODINGS:
        text = prepare_text(ENCODINGS[name], text)
        analysis = analyze(text, name)
        spans, offset = [], 0
        for chunk in token_bytes(name, encode_plain(name, text)):
            spans.append((offset, offset + len(chunk)))
            offset += len(chunk)
        for start in range(len(text)):
            for end in range(start + 1, min(len(text), start + 4) + 1):
                byte_start = len(text[:start].encode())
                byte_end = byte_start + len(text[start:end].encode())
                expected = sum(1 for s, e in spans if s < byte_end and e > byte_start)
                assert tokens_overlapping(analysis, start, end) == expected, (name, start, end)


def test_pieces_match_decoding_until_whole_characters():
    """The list-at-a-time grouping against the definition (decode strictly, else take one more token)."""
    for name in ENCODINGS:
        text = prepare_text(ENCODINGS[name], "2024 Hola 👩‍💻 𓀀𓀁 mundo 🇪🇸 ñ 漢字 e\u0301 " * 3)
        ids = encode_plain(name, text)
        chunks = token_bytes(name, ids)
        expected, buffer, group = [], b"", []
        for token_id, chunk in zip(ids, chunks, strict=True):
            buffer, group = buffer + chunk, [*group, token_id]
            try:
                expected.append((buffer.decode("utf-8"), tuple(group)))
            except UnicodeDecodeError:
                continue
            if not expected[-1][0]:  # no bytes of the text (SentencePiece's "▁"): joins the next
                expected.pop()
                continue
            buffer, group = b"", []
        assert [(p.text, p.ids) for p in group_pieces(ids, chunks)] == expected


def python_calls(function) -> int:
    """How many Python and built-in function calls `function()` makes (a count, not a time)."""
    calls = [0]

    def count(frame, event, arg):
        if event in ("call", "c_call"):
            calls[0] += 1

    sys.setprofile(count)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls[0]


@pytest.mark.parametrize("kind", TEXTS)
def test_the_analysis_does_work_in_proportion_to_the_text(kind, settings):
    """Four times the text, at most about four times the calls: the per-character emoji check and
    the split-word check made 6 million calls for 20,000 emoji characters (quadratic)."""
    small, large = TEXTS[kind](2_500), TEXTS[kind](10_000)

    def reply(text):
        return lambda: tokens_reply(text, ("o200k_base", "cl100k_base", "llama-3.1"), "es", settings.tokens, picture=False)

    reply(small)()  # warm: encodings and caches
    ratio = python_calls(reply(large)) / python_calls(reply(small))
    assert ratio < 5, ratio


# --- modelo:todos does the work of one full analysis, not seven (issue 16) -----------------


def expected_tsv(text: str, names: tuple[str, ...]) -> list[str]:
    """tokens.tsv by its definition: a line per token of each encoding, its text decoded alone."""
    lines = ["encoding\tposition\tid\ttoken"]
    for name in names:
        prepared = prepare_text(ENCODINGS[name], text)
        ids = encode_plain(name, prepared)
        for position, (token_id, chunk) in enumerate(zip(ids, token_bytes(name, ids), strict=True), 1):
            shown = chunk.decode("utf-8", "replace").replace(" ", "·").replace("\t", "→")
            shown = shown.replace("\r", "␍").replace("\n", "↵")
            lines.append(f"{name}\t{position}\t{token_id}\t{shown}")
    return lines


@pytest.mark.parametrize(
    "text",
    [
        "Hola Hola Hola 👩‍💻 🇪🇸\tñ\r\n2024 𓀀 " * 40,  # repeated tokens, SentencePiece's first "▁Hola" again later
        "1 dos\0tres 🍕🍕" * 30,  # a NUL in the text
    ],
)
def test_the_attached_list_has_every_token_of_every_encoding_as_defined(text, settings):
    from bot.tokens.command import ALL_ENCODINGS, tokens_tsv

    analyses = [analyze(text, name) for name in ALL_ENCODINGS]
    assert tokens_tsv(analyses).decode("utf-8").split("\n") == [*expected_tsv(text, ALL_ENCODINGS), ""]


@pytest.mark.parametrize("kind", TEXTS)
def test_first_pieces_are_the_first_of_all_the_pieces(kind):
    text = TEXTS[kind](3_000)
    for name in ENCODINGS:
        whole = analyze(text, name).pieces
        for count in (0, 1, 7, 30, 500, len(whole), len(whole) + 5):
            assert analyze(text, name).first_pieces(count) == whole[:count], (name, count)


def test_a_reply_in_every_encoding_groups_the_tokens_of_one_and_a_few_of_the_others(settings, monkeypatch):
    """Grouping every token of all seven encodings was most of a long `modelo:todos` reply: the
    observations need the first encoding's pieces, the other rows only what they show."""
    import bot.tokens.analysis as analysis_module
    from bot.tokens.command import ALL_ENCODINGS
    from bot.tokens.picture import pieces_that_fit

    grouped = []
    real = analysis_module.group_pieces
    monkeypatch.setattr(analysis_module, "group_pieces", lambda ids, chunks: grouped.append(len(ids)) or real(ids, chunks))
    text = emoji(CHAT_LIMIT)
    reply = tokens_reply(text, ALL_ENCODINGS, "es", settings.tokens)
    first = len(encode_plain(ALL_ENCODINGS[0], text))
    # The picture's rows show the most: at most pieces_that_fit pieces of at most 5 tokens each.
    most = 5 * pieces_that_fit(len(ALL_ENCODINGS)) + 8
    assert sorted(grouped)[-1] == first and sorted(grouped)[-2] <= most, grouped
    assert sum(grouped) < first + 2 * 6 * most < 3 * first, grouped
    assert any(getattr(part, "filename", "") == "tokens.tsv" for part in reply.parts)
