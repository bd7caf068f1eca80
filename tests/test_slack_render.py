"""Replies as Slack Block Kit: limits, escaping, and each kind of part; plus the throttle and user cache."""

from __future__ import annotations

import asyncio
import json
import re

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.delivery import throttled
from adapters.slack.render import MAX_MESSAGES_PER_REPLY, button, escape, modal, render
from adapters.slack.users import UserDirectory
from bot.i18n import t
from bot.limits import (
    SLACK_ACTIONS_ELEMENTS,
    SLACK_BLOCKS_PER_MESSAGE,
    SLACK_BUTTON_TEXT,
    SLACK_HEADER_TEXT,
    SLACK_MODAL_TITLE,
    SLACK_SECTION_FIELD_TEXT,
    SLACK_SECTION_TEXT,
)
from bot.replies import (
    Attachment,
    BulletList,
    Button,
    ButtonStyle,
    Code,
    Columns,
    Form,
    FormField,
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
from tests.fake_slack import MESSAGE_BLOCKS_TEXT, FakeSlack, block_kit_problems, blocks_text_size


def blocks_of(reply: Reply, locale: str = "es") -> list[dict]:
    [message] = render(reply, locale).messages
    return message.blocks


def all_blocks(reply: Reply, locale: str = "es") -> list[dict]:
    """The blocks of every message of a reply, in order (long replies take several)."""
    return [block for message in render(reply, locale).messages for block in message.blocks]


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


# --- escaping -----------------------------------------------------------------------------------


def test_user_text_is_escaped_in_every_kind_of_part():
    typed = "<!channel> <@U123> a&b"
    reply = Reply.public(
        Paragraph((Span(typed), Span(typed, bold=True), Span(typed, code=True))),
        BulletList((Paragraph.of(typed),)),
        Code(typed),
        Table(("col",), ((typed,),)),
        Segments((Segment(typed, 0),), caption=typed),
    )
    rendered = render(reply, "es")
    raw = json.dumps([m.blocks for m in rendered.messages]) + json.dumps([m.text for m in rendered.messages])
    assert "<!channel>" not in raw and "<@U123>" not in raw and "a&b" not in raw
    texts = section_texts(rendered.messages[0].blocks)
    assert (
        texts[0]
        == "&lt;!channel&gt; &lt;@U123&gt; a&amp;b*&lt;!channel&gt; &lt;@U123&gt; a&amp;b*`&lt;!channel&gt; &lt;@U123&gt; a&amp;b`"
    )


def test_escape_handles_ampersands_first():
    assert escape("&lt; < > &") == "&amp;lt; &lt; &gt; &amp;"


def test_a_users_triple_backticks_cannot_break_out_of_a_code_block():
    [section] = section_texts(blocks_of(Reply.public(Code("antes ```\n<!here> *fuera* ```después"))))
    assert section.startswith("```\n") and section.endswith("\n```")
    assert section.count("```") == 2  # only our own fences
    assert "\u200b" in section and "&lt;!here&gt;" in section


def test_inline_code_with_a_backtick_is_shown_plain_rather_than_broken():
    [section] = section_texts(blocks_of(Reply.public(Paragraph((Span("a`b", code=True),)))))
    assert section == "a`b"


def test_bold_and_italic_wrap_each_line_without_inner_spaces():
    [section] = section_texts(
        blocks_of(Reply.public(Paragraph((Span(" uno \ndos", bold=True, italic=True),))))
    )
    assert section == "_*uno*_ \n_*dos*_"  # a section does not start with a space


# --- limits ---------------------------------------------------------------------------------------


def test_a_long_paragraph_is_split_into_sections_that_fit():
    text = " ".join(f"palabra{i}" for i in range(2000))  # about 20,000 characters
    texts = section_texts(all_blocks(Reply.public(Paragraph.of(text))))
    assert len(texts) > 1 and all(len(s) <= SLACK_SECTION_TEXT for s in texts)
    assert " ".join(texts).split() == text.split()


def test_escaping_that_lengthens_text_never_overflows_or_cuts_an_entity():
    texts = section_texts(all_blocks(Reply.public(Paragraph.of("&" * 4000))))
    assert all(len(s) <= SLACK_SECTION_TEXT for s in texts)
    assert all(re.fullmatch(r"(&amp;)+", s) for s in texts)
    assert sum(s.count("&amp;") for s in texts) == 4000


def test_long_code_is_split_into_fenced_sections():
    code = "\n".join(f"linea_{i} = '{'x' * 40}'" for i in range(400))
    texts = section_texts(all_blocks(Reply.public(Code(code))))
    assert len(texts) >= 6
    for text in texts:
        assert len(text) <= SLACK_SECTION_TEXT and text.startswith("```\n") and text.endswith("\n```")
    assert "\n".join(text[4:-4] for text in texts) == code


def test_many_blocks_go_over_several_messages_with_buttons_on_the_last():
    buttons = tuple(Button(f"x:{i}", f"B{i}") for i in range(30))
    rendered = render(Reply.public(*[Paragraph.of(f"p{i}") for i in range(120)], buttons=buttons), "es")
    sizes = [len(m.blocks) for m in rendered.messages]
    assert sizes == [50, 50, 22]  # 20 paragraphs + two actions blocks (25 + 5 buttons)
    actions = [b for b in rendered.messages[-1].blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [SLACK_ACTIONS_ELEMENTS, 5]
    shown = [s for m in rendered.messages for s in section_texts(m.blocks)]
    assert shown == [f"p{i}" for i in range(120)]
    assert all(m.text.strip() for m in rendered.messages)


def test_few_long_sections_go_over_several_messages_within_slacks_total_of_block_text():
    """Issue 14.1: 14 blocks of up to 3,000 characters are far below 50 blocks, yet Slack refuses
    a message whose blocks hold more than about 12,000 characters of text (msg_blocks_too_long)."""
    texts = [f"{i:02d} " + "palabra " * 360 for i in range(10)]  # about 2,900 characters each
    buttons = (Button("x:1", "Más"),)
    rendered = render(Reply.public(*[Paragraph.of(text) for text in texts], buttons=buttons), "es")
    sizes = [blocks_text_size(m.blocks) for m in rendered.messages]
    assert len(rendered.messages) > 1 and max(sizes) <= MESSAGE_BLOCKS_TEXT
    shown = [s for m in rendered.messages for s in section_texts(m.blocks)]
    assert shown == texts  # every section whole, in order
    assert rendered.messages[-1].blocks[-1]["type"] == "actions" and not rendered.uploads


def test_a_reply_too_long_for_a_few_messages_is_cut_and_attached_whole():
    reply = Reply.public(*[Paragraph.of(f"párrafo {i}") for i in range(400)], buttons=(Button("x:1", "Más"),))
    rendered = render(reply, "en")
    assert len(rendered.messages) == MAX_MESSAGES_PER_REPLY
    assert all(len(m.blocks) <= SLACK_BLOCKS_PER_MESSAGE for m in rendered.messages)
    last = rendered.messages[-1].blocks
    assert last[-1]["type"] == "actions"
    assert last[-2]["elements"][0]["text"] == t("en", "slack.continued_in_file")
    [attached] = rendered.uploads
    assert attached.data.decode() == plain_text(reply) and attached.title == t("en", "slack.full_reply_title")


def test_a_reply_of_long_sections_too_long_for_a_few_messages_is_cut_within_the_text_total():
    reply = Reply.public(*[Paragraph.of("texto " * 490) for _ in range(30)], buttons=(Button("x:1", "Más"),))
    rendered = render(reply, "es")
    assert len(rendered.messages) == MAX_MESSAGES_PER_REPLY
    assert all(blocks_text_size(m.blocks) <= MESSAGE_BLOCKS_TEXT for m in rendered.messages)
    last = rendered.messages[-1].blocks
    assert last[-1]["type"] == "actions"
    assert last[-2]["elements"][0]["text"] == t("es", "slack.continued_in_file")
    [attached] = rendered.uploads
    assert attached.data.decode() == plain_text(reply)


def test_a_long_heading_is_cut_to_the_header_limit_and_fallback_text_is_set():
    [message] = render(Reply.public(Heading("Título " * 50)), "es").messages
    [header] = message.blocks
    assert header["type"] == "header" and len(header["text"]["text"]) == SLACK_HEADER_TEXT
    assert message.text.startswith("Título")


# --- parts ------------------------------------------------------------------------------------------


def test_bullets_table_and_segments():
    blocks = blocks_of(
        Reply.public(
            BulletList((Paragraph.of("uno"), Paragraph((Span("dos", bold=True),)))),
            Table(("Modelo", "Tokens"), (("GPT-4o", "3"), ("Llama 3.1", "12"))),
            Segments(
                (
                    Segment("Hola", 0),
                    Segment(" mundo", 1),
                    Segment("\n", 2),
                    Segment("<|eot_id|>", 3, special=True),
                ),
                caption="4 tokens",
            ),
        )
    )
    bullets, table, segments = section_texts(blocks)
    assert bullets == "• uno\n• *dos*"
    assert table == "```\nModelo     Tokens\n─────────  ──────\nGPT-4o     3\nLlama 3.1  12\n```"
    assert segments == "_4 tokens_\n`Hola` `␣mundo` `↵`\n*`&lt;|eot_id|&gt;`*"


def test_under_a_loss_mask_masked_tokens_are_struck_through_and_trained_ones_are_not():
    segments = (
        Segment("user", 0, trained=False),
        Segment("<|im_end|>", 0, special=True, trained=False),
        Segment("Hola", 1, trained=True),
        Segment("<|im_end|>", 1, special=True, trained=True),
    )
    [text] = section_texts(blocks_of(Reply.public(Segments(segments))))
    assert text == "~`user`~ ~*`&lt;|im_end|&gt;`*~ `Hola` *`&lt;|im_end|&gt;`*"


def test_a_token_with_a_backtick_still_shows_its_boundaries():
    [text] = section_texts(
        blocks_of(Reply.public(Segments((Segment("a", 0), Segment("`b", 1), Segment(" c", 2)))))
    )
    assert text == "`a` `ˋb` `␣c`"


def test_short_columns_become_side_by_side_fields():
    [block] = blocks_of(
        Reply.public(
            Columns((("Base", (Paragraph.of("sigue el texto"),)), ("Instruct", (Paragraph.of("responde"),))))
        )
    )
    assert block["type"] == "section"
    assert [f["text"] for f in block["fields"]] == ["*Base*\nsigue el texto", "*Instruct*\nresponde"]


def test_long_columns_become_one_panel_after_another():
    long_text = "palabra " * 400  # over a field's limit
    assert len(long_text) > SLACK_SECTION_FIELD_TEXT
    blocks = blocks_of(
        Reply.public(Columns((("Base", (Paragraph.of(long_text),)), ("Instruct", (Paragraph.of("ok"),)))))
    )
    texts = section_texts(blocks)
    assert texts[0] == "*Base*" and texts[-2:] == ["*Instruct*", "ok"]
    assert all("fields" not in b for b in blocks)


def test_images_and_attachments_become_uploads():
    rendered = render(
        Reply.public(Image(b"png", "t.png", "tokens"), Attachment(b"a,b\n", "datos.csv", "Respuestas")), "es"
    )
    assert rendered.messages == []
    assert [(u.filename, u.title, u.alt, u.data) for u in rendered.uploads] == [
        ("t.png", "tokens", "tokens", b"png"),
        ("datos.csv", "Respuestas", "", b"a,b\n"),
    ]


def test_buttons_carry_stable_action_ids_and_disabled_ones_are_named():
    reply = Reply.public(
        Paragraph.of("¿?"),
        buttons=(
            Button("quiz:answer:1:A", "A" * 100, ButtonStyle.PRIMARY),
            Button("quiz:answer:1:B", "B", ButtonStyle.DANGER),
            Button("quiz:answer:1:C", "C", ButtonStyle.SUCCESS),
            Button("quiz:answer:1:D", "D", disabled=True),
        ),
    )
    _, actions, closed = blocks_of(reply, "en")
    elements = actions["elements"]
    assert [e["action_id"] for e in elements] == [
        "aula:quiz:answer:1:A",
        "aula:quiz:answer:1:B",
        "aula:quiz:answer:1:C",
    ]
    assert [e.get("style") for e in elements] == ["primary", "danger", "primary"]
    assert len(elements[0]["text"]["text"]) == SLACK_BUTTON_TEXT
    assert (
        closed["type"] == "context"
        and closed["elements"][0]["text"] == t("en", "slack.buttons_closed") + " D"
    )


def test_a_form_becomes_a_modal():
    form = Form(
        "homework:submit:7",
        "Entrega de la tarea número siete",
        (
            FormField("answer", "Tu respuesta", multiline=True, max_length=9000, placeholder="Escribe aquí"),
            FormField("link", "Enlace", required=False, value="https://"),
        ),
    )
    view = modal(form, "en", {"team": "T1", "channel": "C1", "thread": ""})
    assert view["callback_id"] == "homework:submit:7"
    assert len(view["title"]["text"]) == SLACK_MODAL_TITLE
    assert view["submit"]["text"] == t("en", "slack.form_submit") and view["close"]["text"] == t(
        "en", "slack.form_cancel"
    )
    answer, link = view["blocks"]
    assert answer["block_id"] == "answer" and answer["element"]["action_id"] == "answer"
    assert answer["element"]["multiline"] is True and answer["element"]["max_length"] == 3000
    assert answer["optional"] is False and answer["element"]["placeholder"]["text"] == "Escribe aquí"
    assert link["optional"] is True and link["element"]["initial_value"] == "https://"
    assert json.loads(view["private_metadata"]) == {"team": "T1", "channel": "C1", "thread": ""}


# --- streaming throttle -------------------------------------------------------------------------------


async def test_throttled_sends_the_first_at_once_at_most_one_per_interval_and_always_the_last():
    interval = 0.05

    async def versions():
        for i in range(12):
            yield Reply.public(Paragraph.of(str(i)))
            await asyncio.sleep(0.01)

    loop = asyncio.get_running_loop()
    sent: list[tuple[float, str]] = []
    async for reply in throttled(versions(), interval):
        sent.append((loop.time(), plain_text(reply)))
    shown = [text for _, text in sent]
    assert shown[0] == "0" and shown[-1] == "11"
    assert len(shown) < 12
    gaps = [b - a for (a, _), (b, _) in zip(sent, sent[1:], strict=False)]
    assert all(gap >= interval * 0.99 for gap in gaps)


async def test_throttled_passes_on_a_handler_failure():
    async def broken():
        yield Reply.public(Paragraph.of("uno"))
        raise RuntimeError("boom")

    seen = []
    try:
        async for reply in throttled(broken(), 0.01):
            seen.append(plain_text(reply))
    except RuntimeError:
        seen.append("raised")
    assert seen[-1] == "raised"


# --- user directory -------------------------------------------------------------------------------------


async def test_users_are_cached_until_their_time_runs_out(settings):
    now = [1000.0]
    async with FakeSlack() as slack:
        slack.users["U1"] = {"locale": "en-GB", "is_owner": True}
        directory = UserDirectory(
            AsyncWebClient(token="xoxb-test", base_url=slack.api_url),
            settings,
            ttl_s=60,
            timer=lambda: now[0],
        )
        first = await directory.user("U1")
        assert (first.locale, first.is_instructor, first.name) == ("en", True, "persona-u1")
        now[0] += 59
        assert await directory.user("U1") == first
        assert len(slack.calls_to("users.info")) == 1
        slack.users["U1"] = {"locale": "es-MX"}
        now[0] += 2
        again = await directory.user("U1")
        assert (again.locale, again.is_instructor) == ("es", False)
        assert len(slack.calls_to("users.info")) == 2


def test_the_fake_slack_refuses_what_slack_refuses():
    """The fake checks Block Kit limits, so every adapter test would notice an over-long send."""
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * (SLACK_SECTION_TEXT + 1)}}
    assert block_kit_problems("chat.postMessage", {"text": "x", "blocks": [section]})
    assert block_kit_problems("chat.postMessage", {"text": "x", "blocks": [{"type": "divider"}] * 51})
    duplicate = {"type": "actions", "elements": [button(Button("a:1", "A")), button(Button("a:1", "B"))]}
    assert block_kit_problems("chat.postMessage", {"text": "x", "blocks": [duplicate]})
    assert block_kit_problems("chat.postMessage", {"text": "", "blocks": []})
    big = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * SLACK_SECTION_TEXT}}
    assert blocks_text_size([big] * 5) > MESSAGE_BLOCKS_TEXT  # five legal sections: too long together
    fine = render(
        Reply.public(Heading("h"), Paragraph.of("p"), buttons=(Button("a:1", "A"),)), "es"
    ).messages[0]
    assert block_kit_problems("chat.postMessage", {"text": fine.text, "blocks": fine.blocks}) == []
