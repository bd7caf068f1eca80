"""A Reply as terminal text: ANSI colours on a terminal, plain text in a pipe."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from bot.exports import write_private
from bot.replies import (
    Attachment,
    BulletList,
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
)

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
ITALIC = "\x1b[3m"
DIM = "\x1b[2m"
UNDERLINE = "\x1b[4m"
# Background colours cycled over token segments (black text on pastel, like tiktokenizer).
SEGMENT_BACKGROUNDS = ("\x1b[30;48;5;153m", "\x1b[30;48;5;222m", "\x1b[30;48;5;151m", "\x1b[30;48;5;217m", "\x1b[30;48;5;183m")
SPECIAL_STYLE = "\x1b[1;97;48;5;160m"
MASKED_STYLE = "\x1b[2;37;48;5;236m"  # a token left out of the loss: dim grey, whatever it is
# Without colour, trained segments are bracketed so the mask still shows.
TRAINED_OPEN, TRAINED_CLOSE = "⟦", "⟧"
# Control characters in the reply's text (user text: a paste, a model's answer) are shown as
# Unicode's control pictures (ESC as ␛), so a pasted escape sequence cannot clear, recolour or
# retitle the terminal, nor a carriage return or backspace hide what came before. Tab and
# newline stay; C1 controls (which some terminals obey) become �.
VISIBLE_CONTROLS = {c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)} | {0x7F: 0x2421} | {
    c: 0xFFFD for c in range(0x80, 0xA0)
}


def inert(text: str) -> str:
    return text.translate(VISIBLE_CONTROLS)


class ConsoleRenderer:
    def __init__(self, colour: bool, files_dir: Path) -> None:
        self.colour = colour
        self.files_dir = files_dir

    def render(self, reply: Reply, buttons_hint: str = "") -> str:
        blocks = [self.part(p) for p in reply.parts]
        if reply.buttons:
            labels = "  ".join(
                f"[{i + 1}] {inert(b.label)}" + (" (x)" if b.disabled else "") for i, b in enumerate(reply.buttons)
            )
            blocks.append(labels + (f"\n{self.style(buttons_hint, DIM)}" if buttons_hint else ""))
        return "\n\n".join(b for b in blocks if b)

    def style(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.colour and text else text

    def span(self, span: Span) -> str:
        text = inert(span.text)
        if span.code:
            return self.style(text, BOLD) if self.colour else f"`{text}`"
        if span.bold:
            text = self.style(text, BOLD) if self.colour else f"*{text}*"
        if span.italic:
            text = self.style(text, ITALIC) if self.colour else f"_{text}_"
        return text

    def part(self, part: Part) -> str:
        match part:
            case Heading(text=text):
                text = inert(text)
                return self.style(text, BOLD + UNDERLINE) if self.colour else f"== {text} =="
            case Paragraph(spans=spans):
                return "".join(self.span(s) for s in spans)
            case BulletList(items=items):
                return "\n".join("  • " + "".join(self.span(s) for s in item.spans) for item in items)
            case Code(text=text):
                return "\n".join("    " + line for line in inert(text).split("\n"))
            case Table(headers=headers, rows=rows):
                return self.table(tuple(map(inert, headers)), [tuple(map(inert, row)) for row in rows])
            case Segments(segments=segments, caption=caption):
                return (inert(caption) + "\n" if caption else "") + self.segments(segments)
            case Image(png=png, filename=name, alt=alt):
                return f"🖼  {inert(alt)}: {self.save(name, png)}"
            case Attachment(data=data, filename=name, description=desc):
                return f"📎 {inert(desc or name)}: {self.save(name, data)}"
            case Columns(panels=panels):
                out = []
                for title, parts in panels:
                    title = inert(title)
                    out.append(self.style(title, BOLD) if self.colour else f"-- {title} --")
                    out.extend(self.part(p) for p in parts)
                return "\n\n".join(out)
        return ""

    def segments(self, segments) -> str:
        if self.colour:
            out = []
            for seg in segments:
                style = SPECIAL_STYLE if seg.special else SEGMENT_BACKGROUNDS[seg.colour % len(SEGMENT_BACKGROUNDS)]
                if seg.trained is False:
                    style = MASKED_STYLE
                # A newline is shown as ↵ inside the colour and still breaks the line.
                lines = inert(seg.text).split("\n")
                out.append("\n".join(self.style(line + ("↵" if i < len(lines) - 1 else ""), style) for i, line in enumerate(lines)))
            return "".join(out)
        return "|".join(
            (TRAINED_OPEN + text + TRAINED_CLOSE) if seg.trained else text
            for seg in segments
            for text in (inert(seg.text).replace("\n", "↵\n"),)
        )

    def table(self, headers, rows) -> str:
        all_rows = [tuple(headers)] + [tuple(r) for r in rows]
        widths = [max(display_width(r[i]) for r in all_rows if i < len(r)) for i in range(len(headers))]

        def line(cells) -> str:
            return "  ".join(c + " " * (widths[i] - display_width(c)) for i, c in enumerate(cells)).rstrip()

        head = line(headers)
        return "\n".join([self.style(head, BOLD), "  ".join("─" * w for w in widths)] + [line(r) for r in rows])

    def save(self, filename: str, data: bytes) -> str:
        self.files_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.files_dir / Path(filename).name
        write_private(path, data)  # exports hold students' names and answers: owner-only, like the database
        return str(path)


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (wide CJK and emoji count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in text)
