"""Reply -> Discord messages, within Discord's limits.

Parts hold plain text, so every piece of it is escaped here: markdown and mentions
in prose, and code can never close its fence early. A reply too long for one
message is split across several; past MAX_MESSAGES it is shortened to one message
with the whole text attached as a .txt file. Nothing here sends: the caller does.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import discord

from adapters.discord.components import button_view
from bot.i18n import t
from bot.limits import (
    DISCORD_BUTTONS_PER_ROW,
    DISCORD_CONTENT,
    DISCORD_EMBED_DESCRIPTION,
    DISCORD_EMBED_FIELD_NAME,
    DISCORD_EMBED_FIELD_VALUE,
    DISCORD_EMBED_FIELDS,
    DISCORD_EMBED_TITLE,
    DISCORD_EMBEDS_PER_MESSAGE,
    DISCORD_EMBEDS_TOTAL,
    DISCORD_FILES_PER_MESSAGE,
    DISCORD_ROWS_PER_MESSAGE,
    split_code,
    truncate,
)
from bot.replies import (
    Attachment,
    BulletList,
    Button,
    Code,
    Columns,
    Heading,
    Image,
    Paragraph,
    Part,
    Reply,
    Segments,
    Span,
    Table,
    plain_text,
)

log = logging.getLogger("aula.discord")

# A reply longer than this many messages becomes one message plus a .txt file:
# five messages is already a wall of text in a classroom channel.
MAX_MESSAGES = 5
MAX_BUTTONS = DISCORD_BUTTONS_PER_ROW * DISCORD_ROWS_PER_MESSAGE
FULL_TEXT_FILENAME = "aula.txt"
FILE_DESCRIPTION = 1024  # Discord's limit for an attachment's alt text

NO_MENTIONS = discord.AllowedMentions.none()  # user text must never ping anyone
FENCE = "```"
SAFE_FENCE = "`\u200d`\u200d`"  # looks like ``` but cannot close a code block
ANSI_RESET = "\x1b[0m"
# Discord's ansi blocks know foregrounds 30-37 and backgrounds 40-47; neighbours differ.
ANSI_PALETTE = ("34", "32", "33", "35", "36", "31", "37;40", "37;45")
ANSI_SPECIAL = "1;37;41"  # chat-template special tokens: bold white on orange
ANSI_MASKED = "30"  # tokens left out of the loss: grey, whatever they are


@dataclass(frozen=True)
class FileData:
    """A file to upload; discord.File objects are single-use, so they are made per send."""

    filename: str
    data: bytes
    description: str = ""

    def to_file(self) -> discord.File:
        return discord.File(
            io.BytesIO(self.data), filename=self.filename, description=self.description or None
        )


@dataclass
class Outgoing:
    """One Discord message: what to pass to send()/edit()."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[FileData] = field(default_factory=list)
    buttons: tuple[Button, ...] = ()
    view: discord.ui.View | None = None  # instead of the buttons' view (a one-off view)

    def embeds_length(self) -> int:
        return sum(len(embed) for embed in self.embeds)

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for send()/send_message()/followup.send()."""
        kwargs: dict[str, Any] = {"content": self.content or None, "allowed_mentions": NO_MENTIONS}
        if self.embeds:
            kwargs["embeds"] = self.embeds
        if self.files:
            kwargs["files"] = [f.to_file() for f in self.files]
        view = self.view or button_view(self.buttons)
        if view is not None:
            kwargs["view"] = view
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for edit(): everything given, so nothing of the old version stays."""
        return {
            "content": self.content or None,
            "embeds": self.embeds,
            "attachments": [f.to_file() for f in self.files],
            "view": self.view or button_view(self.buttons),
            "allowed_mentions": NO_MENTIONS,
        }


# --- escaping -----------------------------------------------------------------------------


def prose(text: str) -> str:
    """User text for a markdown context: shown literally, never formatting, never a mention."""
    return discord.utils.escape_mentions(escape_brackets(discord.utils.escape_markdown(text)))


def escape_brackets(text: str) -> str:
    """Escape every `[` that still opens a masked link `[text](url)`: escape_markdown escapes
    only the first one of a line (its pattern is greedy), so a second would stay a live link."""

    def escaped(match: re.Match) -> str:
        backslashes = match.group(1)  # an odd run already escapes the bracket
        return backslashes + ("" if len(backslashes) % 2 else "\\") + "["

    return re.sub(r"(\\*)\[(?=[^\n]*\]\()", escaped, text)


def fence_safe(text: str) -> str:
    return text.replace(FENCE, SAFE_FENCE)


def code_language(language: str) -> str:
    return re.sub(r"[^A-Za-z0-9_+-]", "", language)[:20]


def filename_safe(name: str, default: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._")[:100]
    return cleaned or default


# --- parts -> blocks ----------------------------------------------------------------------
# A block is a string of at most `limit` characters that may stand alone in a message
# (a paragraph, a whole code block); files and embeds travel beside them in order.


@dataclass(frozen=True)
class _Embed:
    embed: discord.Embed


Block = str | FileData | _Embed


def blocks_of(parts: tuple[Part, ...], limit: int) -> list[Block]:
    out: list[Block] = []
    for part in parts:
        out.extend(_part_blocks(part, limit))
    return out


def _part_blocks(part: Part, limit: int) -> list[Block]:
    match part:
        case Heading(text=text):
            return [truncate("## " + prose(" ".join(text.split())), limit)]
        case Paragraph():
            return _paragraph_blocks(part, limit)
        case BulletList(items=items):
            return [block for item in items for block in _paragraph_blocks(item, limit, bullet=True)]
        case Code(text=text, language=language):
            return split_code(fence_safe(text), limit, language=code_language(language))
        case Table():
            return _table_blocks(part, limit)
        case Segments():
            return _segments_blocks(part, limit)
        case Image(png=png, filename=name, alt=alt):
            filename = filename_safe(name, "imagen.png")
            if not filename.lower().endswith(".png"):
                filename += ".png"
            return [FileData(filename, png, truncate(alt, FILE_DESCRIPTION))]
        case Attachment(data=data, filename=name, description=description):
            return [FileData(filename_safe(name, "archivo"), data, truncate(description, FILE_DESCRIPTION))]
        case Columns():
            return _columns_blocks(part)
    return []


def _styled(span: Span) -> str:
    if span.code:
        # Inside inline code nothing is interpreted, but a backtick would end it.
        body = span.text.replace("`", "ˋ")
        inner = f"`{body}`" if body.strip() else body
    else:
        inner = prose(span.text)
    if not (span.bold or span.italic) or not span.text.strip():
        return inner
    # Markers must touch the text: "** x**" is not bold, so whitespace goes outside.
    core = inner.strip()
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    if span.bold:
        core = f"**{core}**"
    if span.italic:
        core = f"*{core}*"
    return lead + core + trail


def _paragraph_blocks(paragraph: Paragraph, limit: int, bullet: bool = False) -> list[str]:
    prefix = "- " if bullet else ""
    # Escaping at most doubles a text, so pieces of half the room always fit once escaped.
    room = max(1, (limit - len(prefix) - 8) // 2)
    pieces = [
        _styled(Span(chunk, span.bold, span.italic, span.code))
        for span in paragraph.spans
        for chunk in lossless_chunks(span.text, room)
    ]
    if bullet:
        pieces = [piece.replace("\n", "\n  ") for piece in pieces]
    blocks: list[str] = []
    current = prefix
    for piece in pieces:
        if len(current) + len(piece) > limit:
            blocks.append(current)
            current = ""
        current += piece
    if current.strip():
        blocks.append(current)
    return blocks


def lossless_chunks(text: str, size: int) -> list[str]:
    """Cut text into pieces of at most `size` characters, after a newline or space when
    possible; unlike split_text, the pieces joined give back the text exactly."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size) + 1 or text.rfind(" ", 0, size) + 1 or size
        chunks.append(text[:cut])
        text = text[cut:]
    if text:
        chunks.append(text)
    return chunks


def _table_blocks(table: Table, limit: int) -> list[str]:
    def clean(cell: str) -> str:
        return fence_safe(" ".join(str(cell).split()))

    headers = [clean(h) for h in table.headers]
    rows = [[clean(c) for c in row] for row in table.rows]
    columns = max([len(headers), *(len(r) for r in rows)], default=0)
    grid = [r + [""] * (columns - len(r)) for r in ([headers] if headers else []) + rows]
    widths = [max((len(r[i]) for r in grid), default=0) for i in range(columns)]

    def line(row: list[str]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    head = [line(grid[0]), "-+-".join("-" * w for w in widths)] if headers else []
    body = [line(r) for r in (grid[1:] if headers else grid)]
    overhead = len(FENCE) * 2 + 2
    blocks: list[str] = []
    chunk: list[str] = list(head)
    for row_line in body:
        candidate = "\n".join([*chunk, row_line])
        if len(candidate) + overhead > limit and len(chunk) > len(head):
            blocks.append("\n".join(chunk))
            chunk = [*head, row_line]  # each piece repeats the header
        else:
            chunk.append(row_line)
    if chunk:
        blocks.append("\n".join(chunk))
    out: list[str] = []
    for text in blocks:
        out.extend(split_code(text, limit))
    return out


def _segments_blocks(segments: Segments, limit: int) -> list[str]:
    room = limit - len(FENCE) * 2 - len("ansi") - 2 - len(ANSI_RESET)
    pieces: list[str] = []
    for segment in segments.segments:
        style = ANSI_SPECIAL if segment.special else ANSI_PALETTE[segment.colour % len(ANSI_PALETTE)]
        if segment.trained is False:
            style = ANSI_MASKED
        opener = f"\x1b[0;{style}m"
        # A newline is shown as ↵ and still breaks the line, as the console and Slack show it.
        text = segment.text.replace("\n", "↵\n")
        for chunk in lossless_chunks(fence_safe(text), room - len(opener)):
            pieces.append(opener + chunk)
    bodies: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > room:
            bodies.append(current)
            current = ""
        current += piece
    if current or not bodies:
        bodies.append(current)
    blocks: list[str] = [prose(segments.caption)] if segments.caption else []
    blocks.extend(f"{FENCE}ansi\n{body}{ANSI_RESET}\n{FENCE}" for body in bodies)
    return blocks


def _columns_blocks(columns: Columns) -> list[Block]:
    """Side-by-side panels: one embed of inline fields when they fit, else an embed per
    panel (also when a panel has a picture, which its embed then shows)."""
    panels: list[tuple[str, list[str], list[FileData]]] = []
    for title, parts in columns.panels:
        blocks = blocks_of(parts, DISCORD_EMBED_DESCRIPTION)
        texts = [b for b in blocks if isinstance(b, str)]
        for b in blocks:  # nested columns: their embeds' text joins this panel
            if isinstance(b, _Embed):
                texts.append(b.embed.description or "")
                texts.extend(f"**{f.name}**\n{f.value}" for f in b.embed.fields)
        panels.append((" ".join(title.split()), texts, [b for b in blocks if isinstance(b, FileData)]))
    files: list[Block] = [f for _, _, panel_files in panels for f in panel_files]

    as_fields = [(prose(title), pack_text(texts, DISCORD_EMBED_FIELD_VALUE)) for title, texts, _ in panels]
    if (
        not files
        and len(panels) <= DISCORD_EMBED_FIELDS
        and all(
            len(chunks) == 1
            and len(chunks[0]) <= DISCORD_EMBED_FIELD_VALUE
            and len(name) <= DISCORD_EMBED_FIELD_NAME
            for name, chunks in as_fields
        )
    ):
        embed = discord.Embed()
        for name, chunks in as_fields:
            embed.add_field(name=name or "\u200b", value=chunks[0] or "\u200b", inline=True)
        if len(embed) <= DISCORD_EMBEDS_TOTAL:
            return [_Embed(embed)]

    out: list[Block] = []
    for title, texts, panel_files in panels:
        embeds = [
            discord.Embed(title=heading, description=chunk or (None if heading else "\u200b"))
            for index, chunk in enumerate(pack_text(texts, DISCORD_EMBED_DESCRIPTION))
            for heading in [truncate(prose(title), DISCORD_EMBED_TITLE) if index == 0 and title else None]
        ]
        pictures = [f for f in panel_files if f.filename.endswith(".png")]
        if pictures:  # shown inside the panel's embed; the file travels in the same message
            embeds[-1].set_image(url=f"attachment://{pictures[0].filename}")
        out.extend(_Embed(embed) for embed in embeds)
    return out + files


def pack_text(texts: list[str], limit: int) -> list[str]:
    """Join blocks with newlines into as few strings of at most `limit` characters as possible."""
    out: list[str] = []
    current = ""
    for text in texts:
        if not current:
            current = text
        elif len(current) + 1 + len(text) <= limit:
            current += "\n" + text
        else:
            out.append(current)
            current = text
    if current or not out:
        out.append(current)
    return out


# --- blocks -> messages -------------------------------------------------------------------


def pack_messages(blocks: list[Block]) -> list[Outgoing]:
    """Fill messages in order. Discord shows a message's content above its embeds, so text
    that comes after an embed becomes an embed too (or starts a new message)."""
    messages = [Outgoing()]
    for block in blocks:
        current = messages[-1]
        if isinstance(block, str) and not current.embeds:
            joined = f"{current.content}\n{block}" if current.content else block
            if len(joined) > DISCORD_CONTENT:
                messages.append(Outgoing(content=block))
            else:
                current.content = joined
        elif isinstance(block, str | _Embed):
            embed = block.embed if isinstance(block, _Embed) else discord.Embed(description=block)
            if (
                len(current.embeds) >= DISCORD_EMBEDS_PER_MESSAGE
                or current.embeds_length() + len(embed) > DISCORD_EMBEDS_TOTAL
            ):
                if isinstance(block, str):
                    messages.append(Outgoing(content=block))
                    continue
                current = Outgoing()
                messages.append(current)
            current.embeds.append(embed)
        else:
            if len(current.files) >= DISCORD_FILES_PER_MESSAGE:
                current = Outgoing()
                messages.append(current)
            current.files.append(block)
    return messages


def render(reply: Reply, lang: str, max_messages: int = MAX_MESSAGES) -> list[Outgoing]:
    """The messages that show `reply`; buttons go on the last one."""
    buttons = reply.buttons[:MAX_BUTTONS]
    if len(reply.buttons) > MAX_BUTTONS:
        log.warning("reply has %d buttons; Discord shows %d", len(reply.buttons), MAX_BUTTONS)
    messages = pack_messages(blocks_of(reply.parts, DISCORD_CONTENT))
    if len(messages) > max_messages:
        messages = [_shortened(reply, lang)]
    last = messages[-1]
    last.buttons = buttons
    if not (last.content or last.embeds or last.files or last.buttons):
        last.content = t(lang, "discord.done")
    return messages


def _shortened(reply: Reply, lang: str) -> Outgoing:
    """One message: the reply's opening, a note, and the full text as a file."""
    note = t(lang, "discord.full_text_attached")
    blocks = blocks_of(reply.parts, DISCORD_CONTENT - len(note) - 1)
    texts = [b for b in blocks if isinstance(b, str)]
    opening = pack_text(texts, DISCORD_CONTENT - len(note) - 1)[0] if texts else ""
    full = FileData(FULL_TEXT_FILENAME, plain_text(reply).encode("utf-8"))
    files = [full, *(b for b in blocks if isinstance(b, FileData))]
    if len(files) > DISCORD_FILES_PER_MESSAGE:
        log.warning("reply has %d files; Discord takes %d per message", len(files), DISCORD_FILES_PER_MESSAGE)
    return Outgoing(
        content=f"{opening}\n{note}" if opening else note, files=files[:DISCORD_FILES_PER_MESSAGE]
    )
