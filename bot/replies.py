"""What a command answers with: platform-neutral replies.

A reply is a list of semantic parts (headings, paragraphs, code, tables, coloured
segments, images), optional buttons and an optional form, and a visibility.
Adapters turn it into Discord messages, Slack blocks or terminal text, and they
escape user text, so parts hold plain text, never platform markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Visibility(Enum):
    CHANNEL = "channel"  # everyone in the channel sees it
    PRIVATE = "private"  # only the user who asked (Discord ephemeral, Slack ephemeral)


@dataclass(frozen=True)
class Span:
    """A run of inline text; adapters decide how bold/italic/code look."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    spans: tuple[Span, ...]

    @classmethod
    def of(cls, *items: str | Span) -> Paragraph:
        return cls(tuple(Span(i) if isinstance(i, str) else i for i in items))

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)


@dataclass(frozen=True)
class BulletList:
    items: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Code:
    """A block of literal text, shown monospaced and never interpreted."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Segment:
    """One coloured piece of a text: a token (or a group of tokens ending on a whole character)."""

    text: str
    colour: int  # index into a palette; adapters cycle it
    label: str = ""  # e.g. the token id(s), or "3 tokens"
    special: bool = False  # a chat-template special token
    trained: bool | None = None  # under a loss mask: learned from (True) or masked (False); None: no mask


@dataclass(frozen=True)
class Segments:
    """Text shown as coloured segments, tiktokenizer style."""

    segments: tuple[Segment, ...]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    png: bytes
    filename: str
    alt: str


@dataclass(frozen=True)
class Attachment:
    """A file for download (a CSV export, the full text of a long result)."""

    data: bytes
    filename: str
    description: str = ""


@dataclass(frozen=True)
class Columns:
    """Side-by-side panels (e.g. base vs instruct): each a title and its parts."""

    panels: tuple[tuple[str, tuple[Part, ...]], ...]


Part = Heading | Paragraph | BulletList | Code | Table | Segments | Image | Attachment | Columns


class ButtonStyle(Enum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


@dataclass(frozen=True)
class Button:
    """A button whose id is stable across restarts: '<command>:<anything>'."""

    id: str
    label: str
    style: ButtonStyle = ButtonStyle.SECONDARY
    disabled: bool = False


@dataclass(frozen=True)
class FormField:
    id: str
    label: str
    multiline: bool = False
    required: bool = True
    max_length: int = 4000
    placeholder: str = ""
    value: str = ""
    # Where the whole label can be read, for a platform that must cut it (Discord: 45
    # characters): its placeholder then goes on from the cut and ends with this.
    whole_label_at: str = ""


@dataclass(frozen=True)
class Form:
    """A modal (Discord, Slack) or a series of prompts (console). id: '<command>:<anything>'."""

    id: str
    title: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class Reply:
    parts: tuple[Part, ...] = ()
    buttons: tuple[Button, ...] = ()
    form: Form | None = None  # when set, the adapter opens this form instead of posting parts
    visibility: Visibility = Visibility.CHANNEL
    error: bool = False  # the request was refused or failed; the parts say why

    @classmethod
    def private(cls, *parts: Part, buttons: tuple[Button, ...] = ()) -> Reply:
        return cls(parts=tuple(parts), buttons=buttons, visibility=Visibility.PRIVATE)

    @classmethod
    def public(cls, *parts: Part, buttons: tuple[Button, ...] = ()) -> Reply:
        return cls(parts=tuple(parts), buttons=buttons, visibility=Visibility.CHANNEL)

    @classmethod
    def open_form(cls, form: Form) -> Reply:
        return cls(form=form, visibility=Visibility.PRIVATE)

    @property
    def is_private(self) -> bool:
        return self.visibility is Visibility.PRIVATE


def plain_text(reply: Reply) -> str:
    """The reply's text without any styling: for logs, tests and fallbacks."""
    out: list[str] = []
    for part in reply.parts:
        out.extend(_part_lines(part))
    return "\n".join(out)


def _part_lines(part: Part) -> list[str]:
    match part:
        case Heading(text=text):
            return [text]
        case Paragraph():
            return [part.text]
        case BulletList(items=items):
            return ["- " + i.text for i in items]
        case Code(text=text):
            return [text]
        case Table(headers=headers, rows=rows):
            return [" | ".join(headers)] + [" | ".join(r) for r in rows]
        case Segments(segments=segs, caption=caption):
            return ([caption] if caption else []) + ["".join(s.text for s in segs)]
        case Image(alt=alt):
            return [f"[{alt}]"]
        case Attachment(filename=name):
            return [f"[{name}]"]
        case Columns(panels=panels):
            lines: list[str] = []
            for title, parts in panels:
                lines.append(title)
                for p in parts:
                    lines.extend(_part_lines(p))
            return lines
    return []
