"""A Reply as Slack Block Kit: messages within Slack's limits, with user text escaped.

Parts hold plain text. Slack reads `&`, `<` and `>` as markup (`<!channel>` pings
everyone), so every piece of text is escaped before it goes into mrkdwn, and code
blocks cannot be closed early by a ``` the user typed. Text that does not fit one
section is split over several; blocks that do not fit one message go to the next;
a reply too long for a few messages is cut and attached whole as a text file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from adapters.console.render import display_width
from bot.i18n import t
from bot.limits import (
    SLACK_ACTION_ID,
    SLACK_ACTIONS_ELEMENTS,
    SLACK_BLOCKS_PER_MESSAGE,
    SLACK_BLOCKS_PER_MODAL,
    SLACK_BLOCKS_TEXT_BUDGET,
    SLACK_BUTTON_TEXT,
    SLACK_HEADER_TEXT,
    SLACK_INPUT_LABEL,
    SLACK_MESSAGE_TEXT,
    SLACK_MODAL_BUTTON_TEXT,
    SLACK_MODAL_TITLE,
    SLACK_PLACEHOLDER_TEXT,
    SLACK_PLAIN_INPUT_MAX,
    SLACK_SECTION_FIELD_TEXT,
    SLACK_SECTION_FIELDS,
    SLACK_SECTION_TEXT,
    split_text,
    truncate,
)
from bot.replies import (
    Attachment,
    BulletList,
    Button,
    ButtonStyle,
    Code,
    Columns,
    Form,
    Heading,
    Image,
    Paragraph,
    Part,
    Reply,
    Segment,
    Segments,
    Span,
    Table,
    plain_text,
)

ACTION_PREFIX = "aula:"  # every button's action_id; the rest is the core's stable button id
MAX_MESSAGES_PER_REPLY = 4  # beyond this a reply is cut and attached as a file: nobody reads a wall
FENCE = "```"
FENCE_OVERHEAD = len(FENCE + "\n") + len("\n" + FENCE)
# Inside a token's inline code: whitespace made visible, and a backtick (which would end the
# code) shown as its look-alike; the coloured picture beside it shows the exact text.
VISIBLE_WHITESPACE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "`": "ˋ"})

Block = dict
Piece = tuple[Block, str]  # a block and the plain text it shows, for the message's `text` fallback


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    title: str
    alt: str = ""


@dataclass(frozen=True)
class Message:
    blocks: list[Block]
    text: str  # plain fallback: notifications, screen readers, old clients


@dataclass(frozen=True)
class Rendered:
    messages: list[Message]
    uploads: list[Upload]


def escape(text: str) -> str:
    """Slack's three control characters, so user text never becomes a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_escape(text: str) -> str:
    """Text for mrkdwn: escaped, and with a zero-width space between backticks, so a ``` typed
    in prose cannot open a code block that swallows what follows, nor close one of ours."""
    return re.sub(r"`(?=`)", "`\u200b", escape(text))


def render(reply: Reply, locale: str) -> Rendered:
    uploads: list[Upload] = []
    pieces = [piece for part in reply.parts for piece in part_pieces(part, uploads)]
    tail = button_pieces(reply.buttons, locale)
    pages = paginate(pieces, tail)
    if len(pages) > MAX_MESSAGES_PER_REPLY:
        note = context(t(locale, "slack.continued_in_file"))
        kept = sum(len(page) for page in paginate(pieces, [])[:MAX_MESSAGES_PER_REPLY])
        while kept and len(pages := paginate(pieces[:kept] + [note], tail)) > MAX_MESSAGES_PER_REPLY:
            kept -= 1  # the note and the buttons need room: a few steps back at most
        full = plain_text(reply).encode("utf-8")
        uploads.append(Upload(full, "aula.txt", t(locale, "slack.full_reply_title")))
    messages = [Message([b for b, _ in page], fallback_text(page)) for page in pages if page]
    return Rendered(messages, uploads)


def paginate(pieces: list[Piece], tail: list[Piece]) -> list[list[Piece]]:
    """Blocks into messages of at most 50 blocks and SLACK_BLOCKS_TEXT_BUDGET characters of block
    text; the buttons (tail) stay together at the very end."""
    pages: list[list[Piece]] = [[]]
    size = 0
    for piece in pieces:
        piece_size = block_text_size(piece[0])
        if pages[-1] and (
            len(pages[-1]) >= SLACK_BLOCKS_PER_MESSAGE or size + piece_size > SLACK_BLOCKS_TEXT_BUDGET
        ):
            pages.append([])
            size = 0
        pages[-1].append(piece)
        size += piece_size
    tail_size = sum(block_text_size(block) for block, _ in tail)
    if len(pages[-1]) + len(tail) > SLACK_BLOCKS_PER_MESSAGE or size + tail_size > SLACK_BLOCKS_TEXT_BUDGET:
        pages.append([])
    pages[-1] = pages[-1] + tail
    return pages


def block_text_size(value: object) -> int:
    """Characters of text a block holds (every text object's `text`, nested ones included): what
    Slack adds up for msg_blocks_too_long."""
    if isinstance(value, dict):
        own = value.get("text")
        size = len(own) if isinstance(own, str) and value.get("type") in ("mrkdwn", "plain_text") else 0
        return size + sum(block_text_size(v) for v in value.values() if isinstance(v, dict | list))
    if isinstance(value, list):
        return sum(block_text_size(v) for v in value)
    return 0


def fallback_text(page: list[Piece]) -> str:
    text = "\n".join(plain for _, plain in page if plain) or " "
    return truncate(escape(text), SLACK_MESSAGE_TEXT)


# --- parts -------------------------------------------------------------------------------------


def part_pieces(part: Part, uploads: list[Upload]) -> list[Piece]:
    match part:
        case Heading(text=text):
            return [header(text)] if text.strip() else []
        case Image(png=png, filename=name, alt=alt):
            uploads.append(Upload(png, name, alt or name, alt))
            return []
        case Attachment(data=data, filename=name, description=description):
            uploads.append(Upload(data, name, description or name))
            return []
        case Columns(panels=panels):
            return columns(panels, uploads)
    return [section(text, plain) for text, plain in mrkdwn_texts(part, SLACK_SECTION_TEXT)]


def mrkdwn_texts(part: Part, limit: int) -> list[tuple[str, str]]:
    """A text-like part as mrkdwn strings of at most `limit` chars, each with its plain text."""
    match part:
        case Paragraph(spans=spans):
            return pack(span_pieces(spans, limit), limit)
        case BulletList(items=items):
            pieces: list[tuple[str, str]] = []
            for index, item in enumerate(items):
                bullet = ("\n" if index else "") + "• "
                item_pieces = span_pieces(item.spans, limit - len(bullet)) or [("", "")]
                first_text, first_plain = item_pieces[0]
                pieces.append((bullet + first_text, "- " + first_plain))
                pieces.extend(item_pieces[1:])
            return pack(pieces, limit)
        case Code(text=text):
            return code_texts(text, limit)
        case Table(headers=headers, rows=rows):
            return code_texts(table_text(headers, rows), limit)
        case Segments(segments=segments, caption=caption):
            pieces = [(f"_{mrkdwn_escape(caption)}_\n" if caption.strip() else "", caption)]
            separator = ""
            for segment in segments:
                if segment.text:
                    pieces.append((separator + token_mrkdwn(segment), segment.text))
                    separator = "\n" if segment.text.endswith("\n") else " "  # keep the text's own lines
            return pack(pieces, limit)
    return []


def header(text: str) -> Piece:
    block = {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, SLACK_HEADER_TEXT), "emoji": True},
    }
    return block, text


def section(mrkdwn: str, plain: str) -> Piece:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}, plain


def context(text: str) -> Piece:
    return {"type": "context", "elements": [{"type": "plain_text", "text": text, "emoji": True}]}, text


def span_pieces(spans: tuple[Span, ...], limit: int) -> list[tuple[str, str]]:
    pieces = []
    for span in spans:
        for text in fit(span.text, limit, lambda s, span=span: span_mrkdwn(replace(span, text=s))):
            pieces.append((span_mrkdwn(replace(span, text=text)), text))
    return pieces


def span_mrkdwn(span: Span) -> str:
    text = mrkdwn_escape(span.text)
    # Inline code has no escape for a backtick, and stops at a line break: show such text plain.
    if span.code and "`" not in span.text and "\n" not in span.text and span.text.strip():
        return f"`{text}`"
    if span.bold:
        text = wrap_lines(text, "*")
    if span.italic:
        text = wrap_lines(text, "_")
    return text


def wrap_lines(text: str, mark: str) -> str:
    """Slack's bold/italic stop at line ends and need no space inside the marks: wrap each line's core."""
    out = []
    for line in text.split("\n"):
        core = line.strip()
        if core:
            start = line.index(core)
            line = f"{line[:start]}{mark}{core}{mark}{line[start + len(core) :]}"
        out.append(line)
    return "\n".join(out)


def code_texts(text: str, limit: int) -> list[tuple[str, str]]:
    if not text.strip():
        return []
    chunks = fit(text, limit - FENCE_OVERHEAD, code_body)
    return [(f"{FENCE}\n{code_body(chunk)}\n{FENCE}", chunk) for chunk in chunks]


def code_body(text: str) -> str:
    return mrkdwn_escape(text)  # a ``` the user typed cannot close our block


def table_text(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    width = max([len(headers), *(len(r) for r in rows)])
    if width == 0:
        return ""
    all_rows = [tuple(r) + ("",) * (width - len(r)) for r in (headers, *rows)]
    widths = [max(display_width(r[i]) for r in all_rows) for i in range(width)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c + " " * (widths[i] - display_width(c)) for i, c in enumerate(cells)).rstrip()

    return "\n".join(
        [line(all_rows[0]), "  ".join("─" * w for w in widths)] + [line(r) for r in all_rows[1:]]
    )


def token_mrkdwn(segment: Segment) -> str:
    """One token as inline code, whitespace made visible, so every boundary shows; specials in
    bold; under a loss mask, masked tokens struck through (Slack's mrkdwn has no colours)."""
    text = f"`{escape(segment.text.translate(VISIBLE_WHITESPACE))}`"
    if segment.special:
        text = f"*{text}*"
    return f"~{text}~" if segment.trained is False else text


def columns(panels: tuple[tuple[str, tuple[Part, ...]], ...], uploads: list[Upload]) -> list[Piece]:
    """Side by side as a section's fields when every panel is short text; else one panel after another."""
    fields = [panel_field(title, parts) for title, parts in panels]
    if 0 < len(fields) <= SLACK_SECTION_FIELDS and all(fields):
        block = {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text, _ in fields]}
        return [(block, "\n".join(plain for _, plain in fields))]
    pieces: list[Piece] = []
    for title, parts in panels:
        if title.strip():
            pieces.append(section(f"*{mrkdwn_escape(title)}*", title))
        for part in parts:
            pieces.extend(part_pieces(part, uploads))
    return pieces


def panel_field(title: str, parts: tuple[Part, ...]) -> tuple[str, str] | None:
    texts = [(f"*{mrkdwn_escape(title)}*", title)] if title.strip() else []
    for part in parts:
        if isinstance(part, Heading):
            texts.append((f"*{mrkdwn_escape(part.text)}*", part.text))
            continue
        if isinstance(part, Image | Attachment | Columns):
            return None
        part_texts = mrkdwn_texts(part, SLACK_SECTION_FIELD_TEXT)
        if len(part_texts) > 1:
            return None
        texts.extend(part_texts)
    text = "\n".join(m for m, _ in texts)
    if not text.strip() or len(text) > SLACK_SECTION_FIELD_TEXT:
        return None
    return text, "\n".join(p for _, p in texts)


def fit(raw: str, limit: int, render_text: Callable[[str], str]) -> list[str]:
    """Split raw text so each piece still fits `limit` once rendered (escaping makes text longer)."""
    rendered = render_text(raw)
    if len(rendered) <= limit:
        return [raw]
    size = max(1, len(raw) * limit // len(rendered))
    pieces: list[str] = []
    for chunk in split_text(raw, size):
        pieces.extend([chunk] if len(render_text(chunk)) <= limit else fit(chunk, limit, render_text))
    return pieces


def pack(pieces: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """Join consecutive pieces into as few strings of at most `limit` chars as possible."""
    out: list[tuple[str, str]] = []
    text, plain = "", ""
    for piece_text, piece_plain in pieces:
        if text and len(text) + len(piece_text) > limit:
            out.append((text, plain))
            text, plain = "", ""
        if not text:
            piece_text = piece_text.lstrip("\n ")  # a separator is not needed at the start of a section
        text += truncate(piece_text, limit)  # pieces are fitted already; this only guards the limit
        plain += piece_plain
    if text.strip():
        out.append((text, plain))
    return [(t_, p) for t_, p in out if t_.strip()]


# --- buttons and forms --------------------------------------------------------------------------


def button_pieces(buttons: tuple[Button, ...], locale: str) -> list[Piece]:
    live = [b for b in buttons if not b.disabled]
    pieces: list[Piece] = []
    for start in range(0, len(live), SLACK_ACTIONS_ELEMENTS):
        chunk = live[start : start + SLACK_ACTIONS_ELEMENTS]
        pieces.append(({"type": "actions", "elements": [button(b) for b in chunk]}, ""))
    closed = [b.label for b in buttons if b.disabled]
    if closed:  # Slack has no disabled buttons: name them so the message still reads whole
        pieces.append(context(t(locale, "slack.buttons_closed") + " " + " · ".join(closed)))
    return pieces


def button(b: Button) -> Block:
    element = {
        "type": "button",
        "action_id": truncate(ACTION_PREFIX + b.id, SLACK_ACTION_ID, ellipsis=""),
        "text": {"type": "plain_text", "text": truncate(b.label, SLACK_BUTTON_TEXT), "emoji": True},
        "value": b.id,
    }
    if b.style in (ButtonStyle.PRIMARY, ButtonStyle.SUCCESS):
        element["style"] = "primary"
    elif b.style is ButtonStyle.DANGER:
        element["style"] = "danger"
    return element


def modal(form: Form, locale: str, metadata: dict[str, str]) -> dict:
    """A Form as a modal view; callback_id is the form id, each input's block_id its field id."""
    blocks = []
    for field in form.fields[:SLACK_BLOCKS_PER_MODAL]:
        element = {
            "type": "plain_text_input",
            "action_id": field.id,
            "multiline": field.multiline,
            "max_length": min(field.max_length, SLACK_PLAIN_INPUT_MAX),
        }
        if field.value:
            element["initial_value"] = field.value[:SLACK_PLAIN_INPUT_MAX]
        if field.placeholder:
            element["placeholder"] = plain(truncate(field.placeholder, SLACK_PLACEHOLDER_TEXT))
        blocks.append(
            {
                "type": "input",
                "block_id": field.id,
                "optional": not field.required,
                "label": plain(truncate(field.label, SLACK_INPUT_LABEL)),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": form.id,
        "title": plain(truncate(form.title, SLACK_MODAL_TITLE)),
        "submit": plain(truncate(t(locale, "slack.form_submit"), SLACK_MODAL_BUTTON_TEXT)),
        "close": plain(truncate(t(locale, "slack.form_cancel"), SLACK_MODAL_BUTTON_TEXT)),
        "private_metadata": json.dumps(metadata),  # a few ids: far below Slack's 3,000 chars
        "blocks": blocks,
    }


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}
