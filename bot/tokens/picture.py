"""The /tokens picture: a text's tokens as coloured boxes, drawn with Pillow.

Each row is one encoding: a title, then the pieces (tokens grouped so each ends on a
whole character) in boxes that cycle a pastel palette, wrapped to the picture's width.
Spaces show as `·`, newlines as `↵` followed by a real line break, and a piece made
of several tokens carries a small `×N`.

Characters are drawn with the shipped DejaVu fonts and colour emoji with the shipped
Noto Color Emoji (a bitmap font Pillow draws at 109 px, scaled down once per emoji).
A character no font has, or an invisible one such as a zero-width joiner, becomes a
small box with its name or code point, so nothing silently disappears.
Fonts and scaled emoji are loaded once per process and cached.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from bot.tokens.analysis import EMOJI, Piece, visible

WIDTH = 960
MARGIN = 16
FONT_SIZE = 22
SMALL_SIZE = 12
LINE_HEIGHT = 34
BOX_HEIGHT = 30
BOX_PAD = 3  # horizontal padding inside a box
BOX_GAP = 2
EMOJI_STRIKE = 109  # the only size Noto Color Emoji's bitmaps come in
EMOJI_HEIGHT = 24
MAX_LINES = 48  # of token boxes, over all rows; the rest is summarised in a note

# FreeType faces are not safe to use from two threads at once, and /tokens draws in worker
# threads: measuring and drawing take this lock (PNG encoding, the slow part, does not).
_freetype = threading.Lock()

BACKGROUND = (255, 255, 255)
TEXT = (24, 24, 32)
MUTED = (96, 96, 112)
LABEL_BOX = (90, 90, 110)
MASKED = -1  # a PictureRow colour: a token left out of the loss, drawn grey with muted text
MASKED_BOX = (226, 226, 230)
SPECIAL = -2  # a PictureRow colour: a chat format's special token, drawn dark with light text
SPECIAL_BOX = (55, 65, 81)
SPECIAL_TEXT = (255, 255, 255)
# Pastel backgrounds, as tiktokenizer uses; Segment.colour indexes the same cycle.
PALETTE = (
    (187, 222, 251),
    (255, 224, 178),
    (200, 230, 201),
    (248, 187, 208),
    (225, 190, 231),
    (255, 245, 157),
)

# Fonts some hosts have for scripts the shipped ones lack (Debian/Ubuntu paths); tried in order.
SYSTEM_FALLBACKS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
)

# Invisible characters get a readable name instead of an empty box.
CHAR_NAMES = {
    "␍": "CR",
    "\u200d": "ZWJ",
    "\u200c": "ZWNJ",
    "\ufe0f": "VS16",
    "\ufe0e": "VS15",
    "\u00a0": "NBSP",
    "\ufeff": "BOM",
}


@dataclass(frozen=True)
class PictureRow:
    title: str  # e.g. "GPT-4o (o200k_base) · 11 tokens · 33 caracteres"
    pieces: Sequence[Piece]
    more: Callable[[int], str]  # the note when n tokens did not fit, in the user's language
    colours: Sequence[int] | None = None  # per piece, a PALETTE index, MASKED or SPECIAL; None: cycle the palette
    tokens: int | None = None  # the row's tokens when `pieces` holds only its first pieces (None: all of them)

    def hidden_tokens(self, hidden: int) -> int:
        """Tokens not drawn when the last `hidden` of `pieces` did not fit."""
        if self.tokens is None:
            return sum(p.token_count for p in self.pieces[len(self.pieces) - hidden :])
        return self.tokens - sum(p.token_count for p in self.pieces[: len(self.pieces) - hidden])


def pieces_that_fit(rows: int, max_lines: int = MAX_LINES) -> int:
    """More pieces than one of `rows` rows can draw: every box is at least its padding and gap wide."""
    lines_each = max(4, max_lines // max(1, rows))
    return lines_each * ((WIDTH - 2 * MARGIN) // (2 * BOX_PAD + BOX_GAP) + 1) + 1


@dataclass(frozen=True)
class Face:
    font: ImageFont.FreeTypeFont
    chars: frozenset[int]
    emoji: bool = False


@dataclass
class Run:
    """Consecutive characters drawn the same way: with a face, or as a label box (face None)."""

    text: str
    face: Face | None
    width: float


@dataclass
class Box:
    x: float
    line: int
    width: float
    runs: list[Run]
    colour: int
    badge: str


# --- fonts ---------------------------------------------------------------------------


def font_path(name: str) -> Path:
    return Path(str(resources.files("bot").joinpath("fonts", name)))


def _face(path: Path | str, size: int, emoji: bool = False) -> Face:
    chars = frozenset(TTFont(str(path), lazy=True, fontNumber=0).getBestCmap() or ())
    font = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
    return Face(font, chars, emoji)


@cache
def faces() -> tuple[list[Face], Face | None]:
    """The text faces in the order they are tried, and the emoji face (None if missing)."""
    text_faces = [
        _face(font_path("DejaVuSansMono.ttf"), FONT_SIZE),
        _face(font_path("DejaVuSans.ttf"), FONT_SIZE),
    ]
    for candidate in SYSTEM_FALLBACKS:
        if Path(candidate).is_file():
            try:
                text_faces.append(_face(candidate, FONT_SIZE))
            except OSError:
                continue
    try:
        emoji = _face(font_path("NotoColorEmoji.ttf"), EMOJI_STRIKE, emoji=True)
    except OSError:
        emoji = None
    return text_faces, emoji


@cache
def bold_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path("DejaVuSansMono-Bold.ttf")), 16)


@cache
def small_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path("DejaVuSansMono.ttf")), SMALL_SIZE)


@lru_cache(maxsize=4096)
def text_face_for(char: str) -> Face | None:
    # Line and paragraph separators are drawn as labels too: raqm refuses to lay out U+2029.
    if char in CHAR_NAMES or unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"):
        return None
    return next((f for f in faces()[0] if ord(char) in f.chars), None)


@lru_cache(maxsize=1024)
def emoji_image(text: str) -> Image.Image:
    """An emoji (or ZWJ sequence, flag...) drawn at the font's strike and scaled to the line."""
    face = faces()[1]
    left, top, right, bottom = face.font.getbbox(text)
    big = Image.new("RGBA", (max(1, right), max(1, bottom)))
    ImageDraw.Draw(big).text((0, 0), text, font=face.font, embedded_color=True)
    width = max(1, round(big.width * EMOJI_HEIGHT / big.height))
    return big.resize((width, EMOJI_HEIGHT), Image.Resampling.LANCZOS)


def label_for(char: str) -> str:
    return CHAR_NAMES.get(char) or f"U+{ord(char):04X}"


# --- layout ---------------------------------------------------------------------------


def runs_of(text: str) -> list[Run]:
    """Split one line of display text into runs, keeping emoji sequences whole."""
    runs: list[Run] = []
    emoji_face = faces()[1]
    position = 0
    for match in EMOJI.finditer(text) if emoji_face else ():
        runs.extend(_text_runs(text[position : match.start()]))
        if all(ord(c) in emoji_face.chars for c in match.group() if c != "\u200d"):
            runs.append(Run(match.group(), emoji_face, emoji_image(match.group()).width))
        else:
            runs.extend(_text_runs(match.group()))
        position = match.end()
    runs.extend(_text_runs(text[position:]))
    return runs


def _text_runs(text: str) -> list[Run]:
    runs: list[Run] = []
    for char in text:
        face = text_face_for(char)
        if face is None:
            runs.append(Run(label_for(char), None, small_font().getlength(label_for(char)) + 6))
        elif runs and runs[-1].face is face:
            runs[-1].text += char
        else:
            runs.append(Run(char, face, 0))
    for run in runs:
        if run.face is not None:
            run.width = run.face.font.getlength(run.text)
    return runs


def piece_lines(piece: Piece) -> list[str]:
    """The piece's display text per line: `↵` ends each line that a newline ends."""
    parts = visible(piece.text).split("\n")
    return [part + "↵" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def layout(
    pieces: Sequence[Piece], first_colour: int = 0, max_lines: int = MAX_LINES, colours: Sequence[int] | None = None
) -> tuple[list[Box], int, int]:
    """Boxes for the pieces; returns (boxes, lines used, pieces that did not fit)."""
    usable = WIDTH - 2 * MARGIN
    boxes: list[Box] = []
    x, line = 0.0, 0
    for index, piece in enumerate(pieces):
        badge = f"×{piece.token_count}" if piece.token_count > 1 else ""
        texts = piece_lines(piece)
        for number, text in enumerate(texts):
            runs = runs_of(text)
            badge_width = small_font().getlength(badge) + 2 if badge and number == len(texts) - 1 else 0
            for chunk in _wrap(runs, usable - 2 * BOX_PAD - badge_width):
                width = sum(r.width for r in chunk) + 2 * BOX_PAD + badge_width
                if x > 0 and x + width > usable:
                    x, line = 0.0, line + 1
                if line >= max_lines:
                    return boxes, max_lines, len(pieces) - index
                colour = colours[index] if colours is not None else first_colour + index
                boxes.append(Box(x, line, width, chunk, colour, badge if badge_width else ""))
                x += width + BOX_GAP
            if text.endswith("↵"):
                x, line = 0.0, line + 1
    return boxes, line + (1 if x > 0 else 0), 0


def _wrap(runs: list[Run], limit: float) -> list[list[Run]]:
    """Runs of one box, split into chunks no wider than limit (only very long tokens need it)."""
    if sum(r.width for r in runs) <= limit:
        return [runs]
    chunks: list[list[Run]] = [[]]
    used = 0.0
    for run in runs:
        parts = (
            [run]
            if run.face is None or run.face.emoji
            else [Run(c, run.face, run.face.font.getlength(c)) for c in run.text]
        )
        for part in parts:
            if used + part.width > limit and chunks[-1]:
                chunks.append([])
                used = 0.0
            chunks[-1].append(part)
            used += part.width
    return chunks


# --- drawing --------------------------------------------------------------------------


def render_png(rows: Sequence[PictureRow], max_lines: int = MAX_LINES) -> bytes:
    """One PNG with a block per row; `max_lines` lines of boxes are shared out between the rows."""
    with _freetype:
        image = _draw(rows, max_lines)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _draw(rows: Sequence[PictureRow], max_lines: int = MAX_LINES) -> Image.Image:
    lines_each = max(4, max_lines // max(1, len(rows)))
    laid_out = []
    for row in rows:
        boxes, lines, hidden = layout(row.pieces, max_lines=lines_each, colours=row.colours)
        laid_out.append((row, boxes, lines, row.hidden_tokens(hidden)))
    title_height, note_height = 28, 22
    height = MARGIN
    width = 360.0  # short texts get a narrow picture, not a wide empty one
    for row, boxes, lines, hidden in laid_out:
        height += title_height + lines * LINE_HEIGHT + (note_height if hidden else 0) + MARGIN
        width = max([width, bold_font().getlength(row.title)] + [b.x + b.width for b in boxes])
    image = Image.new("RGB", (min(WIDTH, round(width) + 2 * MARGIN), height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for row, boxes, lines, hidden in laid_out:
        draw.text((MARGIN, y), row.title, font=bold_font(), fill=TEXT)
        y += title_height
        for box in boxes:
            _draw_box(image, draw, box, MARGIN, y)
        y += lines * LINE_HEIGHT
        if hidden:
            draw.text(
                (MARGIN, y),
                row.more(hidden),
                font=small_font(),
                fill=MUTED,
            )
            y += note_height
        y += MARGIN
    return image


def _draw_box(image: Image.Image, draw: ImageDraw.ImageDraw, box: Box, left: int, top: int) -> None:
    x0 = left + box.x
    y0 = top + box.line * LINE_HEIGHT
    masked = box.colour == MASKED
    if box.colour == SPECIAL:
        colour, ink = SPECIAL_BOX, SPECIAL_TEXT
    else:
        colour = MASKED_BOX if masked else PALETTE[box.colour % len(PALETTE)]
        ink = MUTED if masked else TEXT
    draw.rounded_rectangle((x0, y0, x0 + box.width, y0 + BOX_HEIGHT), radius=4, fill=colour)
    x = x0 + BOX_PAD
    baseline = y0 + BOX_HEIGHT - 8
    for run in box.runs:
        if run.face is None:
            draw.rounded_rectangle(
                (x + 1, y0 + 7, x + run.width - 1, y0 + BOX_HEIGHT - 7), radius=2, outline=LABEL_BOX
            )
            draw.text((x + 3, y0 + BOX_HEIGHT / 2), run.text, font=small_font(), fill=LABEL_BOX, anchor="lm")
        elif run.face.emoji:
            picture = emoji_image(run.text)
            image.paste(picture, (round(x), round(y0 + (BOX_HEIGHT - EMOJI_HEIGHT) / 2)), picture)
        else:
            draw.text((x, baseline), run.text, font=run.face.font, fill=ink, anchor="ls")
        x += run.width
    if box.badge:
        draw.text((x + 1, y0 + 2), box.badge, font=small_font(), fill=MUTED)
