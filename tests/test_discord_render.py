"""The Discord adapter's pure parts: rendering within limits, throttled edits, the invite URL."""

from __future__ import annotations

import asyncio
import base64
import re
from urllib.parse import parse_qs, urlparse

import pytest

from adapters.cli import main
from adapters.discord.invite import client_id_from_token, invite_url
from adapters.discord.render import ANSI_SPECIAL, FULL_TEXT_FILENAME, SAFE_FENCE, render
from adapters.discord.respond import follow
from bot.i18n import t
from bot.limits import DISCORD_CONTENT, DISCORD_EMBED_FIELD_VALUE
from bot.replies import (
    Attachment,
    Button,
    Code,
    Columns,
    Heading,
    Image,
    Paragraph,
    Reply,
    Segment,
    Segments,
    Span,
    Table,
    plain_text,
)
from tests.discord_support import assert_within_limits


def test_prose_is_escaped_and_styles_wrap_the_text_not_its_spaces():
    (message,) = render(
        Reply.public(
            Heading("# Título *con* asteriscos"),
            Paragraph.of(
                "a_b ", Span(" negrita ", bold=True), Span("x`y", code=True), Span("cursiva", italic=True)
            ),
        ),
        "es",
    )
    heading, paragraph = message.content.split("\n")
    assert heading == "## \\# Título \\*con\\* asteriscos"
    assert paragraph == "a\\_b  **negrita** `xˋy`*cursiva*"


def test_code_cannot_close_its_fence_and_long_code_is_split_on_lines():
    code = "\n".join(f"x{i} = '```'" for i in range(400))
    messages = render(Reply.public(Code(code, "py; rm -rf")), "es")
    bodies = []
    for message in messages:
        assert_within_limits(message)
        bodies += re.findall(r"```pyrm-rf\n(.*?)\n```", message.content, flags=re.S)
    assert "\n".join(bodies) == code.replace("```", SAFE_FENCE)


def test_a_paragraph_longer_than_a_message_is_cut_without_losing_a_character():
    text = ("palabra " * 200 + "\n") * 2 + "x" * 2500
    messages = render(Reply.public(Paragraph.of(text)), "es")
    assert len(messages) > 2
    assert all(len(m.content) <= DISCORD_CONTENT for m in messages)
    assert "".join(m.content for m in messages) == text


def test_tables_are_monospaced_and_repeat_their_header_when_split():
    table = Table(("modelo", "tokens"), tuple((f"m{i}", str(i)) for i in range(300)))
    messages = render(Reply.public(table), "es")
    blocks = [b for m in messages for b in re.findall(r"```\n(.*?)\n```", m.content, flags=re.S)]
    assert len(blocks) > 1
    for block in blocks:
        header, rule, *rows = block.split("\n")
        assert header == "modelo | tokens" and rule == "-------+-------"
        assert all(re.fullmatch(r"m\d+ +\| \d+", row) for row in rows)
    assert sum(len(b.split("\n")) - 2 for b in blocks) == 300


def test_segments_become_an_ansi_block_with_cycling_colours_and_highlighted_specials():
    segments = Segments(
        (Segment("<|begin|>", 0, special=True), Segment("Hola", 0), Segment("·mundo", 1), Segment("```", 2)),
        caption="4 tokens",
    )
    (message,) = render(Reply.public(segments), "es")
    caption, block = message.content.split("\n", 1)
    assert caption == "4 tokens"
    assert block.startswith("```ansi\n") and block.endswith("\x1b[0m\n```")
    assert f"\x1b[0;{ANSI_SPECIAL}m<|begin|>" in block
    colours = re.findall(r"\x1b\[0;([\d;]+)m(Hola|·mundo)", block)
    assert len({c for c, _ in colours}) == 2  # neighbours differ
    assert block.count("```") == 2  # the token ``` cannot end the block


def test_columns_are_side_by_side_fields_or_one_embed_per_panel_when_long():
    short = Columns((("Base", (Paragraph.of("uno"),)), ("Instruct", (Paragraph.of("dos"),))))
    (message,) = render(Reply.public(short), "es")
    (embed,) = message.embeds
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [
        ("Base", "uno", True),
        ("Instruct", "dos", True),
    ]

    long_text = "palabra " * 400  # beyond a field's 1024 characters
    long = Columns((("Base", (Paragraph.of(long_text),)), ("Instruct", (Paragraph.of("dos"),))))
    messages = render(Reply.public(long), "es")
    embeds = [e for m in messages for e in m.embeds]
    assert [e.title for e in embeds] == ["Base", "Instruct"]
    assert embeds[0].description == long_text and len(long_text) > DISCORD_EMBED_FIELD_VALUE
    for message in messages:
        assert_within_limits(message)


def test_a_picture_in_a_panel_is_shown_by_that_panels_embed():
    columns = Columns(
        (
            ("Base", (Paragraph.of("texto"), Image(b"\x89PNG", "base.png", "gráfico"))),
            ("", (Paragraph.of("otro"),)),
        )
    )
    (message,) = render(Reply.public(columns), "es")
    assert [(e.title, e.description, e.image.url) for e in message.embeds] == [
        ("Base", "texto", "attachment://base.png"),
        (None, "otro", None),
    ]
    assert [f.filename for f in message.files] == ["base.png"]


def test_text_after_an_embed_keeps_its_place():
    reply = Reply.public(
        Paragraph.of("antes"),
        Columns((("A", (Paragraph.of("a"),)), ("B", (Paragraph.of("b"),)))),
        Paragraph.of("después"),
    )
    (message,) = render(reply, "es")
    assert message.content == "antes"
    assert [e.description for e in message.embeds] == [None, "después"]


def test_images_and_attachments_become_files_with_their_descriptions():
    reply = Reply.public(
        Image(b"\x89PNG...", "tokens de/../hola", "tokens coloreados"),
        Attachment(b"a,b\n1,2", "export.csv", "CSV"),
    )
    (message,) = render(reply, "es")
    assert [(f.filename, f.data, f.description) for f in message.files] == [
        ("tokens_de_.._hola.png", b"\x89PNG...", "tokens coloreados"),
        ("export.csv", b"a,b\n1,2", "CSV"),
    ]


def test_buttons_go_on_the_last_message_and_beyond_five_rows_are_dropped():
    buttons = tuple(Button(f"quiz:{i}", f"B{i}") for i in range(30))
    messages = render(Reply.public(*[Paragraph.of("x" * 1500) for _ in range(3)], buttons=buttons), "es")
    assert [len(m.buttons) for m in messages] == [0, 0, 25]


def test_past_the_message_budget_the_full_text_goes_in_a_file():
    reply = Reply.public(*[Paragraph.of(f"párrafo {i} " + "y" * 300) for i in range(60)])
    (message,) = render(reply, "en")
    assert len(message.content) <= DISCORD_CONTENT
    assert message.content.endswith(t("en", "discord.full_text_attached"))
    assert message.files[0].filename == FULL_TEXT_FILENAME
    assert message.files[0].data.decode() == plain_text(reply)


def test_an_empty_reply_still_says_something():
    (message,) = render(Reply.private(), "en")
    assert message.content == t("en", "discord.done")


async def test_follow_edits_at_most_once_per_interval_and_always_shows_the_last():
    interval = 0.05
    applied: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    async def versions():
        for n in range(1, 16):
            await asyncio.sleep(0.01)
            yield n

    async def apply(n):
        applied.append((loop.time(), n))

    started = loop.time()
    await follow(versions(), apply, interval)
    times = [started] + [when for when, _ in applied]
    assert all(later - earlier >= interval * 0.95 for earlier, later in zip(times, times[1:], strict=False))
    assert applied[-1][1] == 15
    assert 2 <= len(applied) < 15  # throttled, yet not only the last one


def test_invite_url_asks_for_exactly_the_needed_permissions():
    query = parse_qs(urlparse(invite_url("123456789012345678")).query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    # view channel, send, send in threads, create public threads, embed links, attach files, read history
    expected = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 14) | (1 << 15) | (1 << 16)
    assert query["permissions"] == [str(expected)]


@pytest.mark.parametrize("application_id", ["123456789012345678", "987654321098765432"])
def test_the_application_id_is_read_from_a_bot_token(application_id):
    head = base64.b64encode(application_id.encode()).decode().rstrip("=")
    assert client_id_from_token(f"{head}.GhIjKl.secret-part") == application_id


def test_a_malformed_token_gives_no_id():
    assert client_id_from_token("not a token!.x.y") == ""
    assert client_id_from_token(base64.b64encode(b"hello").decode() + ".x.y") == ""


def test_aula_invite_prints_the_url(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AULA_DATABASE", str(tmp_path / "a.sqlite3"))
    assert main(["invite", "--client-id", "42"]) == 0
    assert capsys.readouterr().out.strip() == invite_url("42")
