"""The next-token bar chart: one horizontal bar per candidate, sized for a projector.

Token texts use DejaVu Sans Mono (· for a space, ↵ for a newline, ⟨e2 80⟩ for a byte fragment),
probabilities are printed beside each bar, and a last grey bar shows the rest of the vocabulary.
Several distributions (base and instruct) are stacked in one picture.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import t
from bot.next.logic import Distribution, shown

WIDTH = 1280
MARGIN = 32
ROW = 46  # pixels per bar
TITLE_SIZE = 30
LABEL_SIZE = 28
LABEL_WIDTH = 300  # token column
VALUE_WIDTH = 130  # percentage column
BACKGROUND = (255, 255, 255)
TEXT = (24, 24, 32)
MUTED = (110, 110, 125)
BARS = ((19, 104, 206), (226, 120, 27))  # base, instruct (and any later panel cycles)
REST = (190, 190, 200)


@cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        with resources.as_file(resources.files("bot").joinpath("fonts", name)) as path:
            return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """One line that fits: newlines shown as ↵, the start cut with … when too long."""
    text = "".join("↵" if ch == "\n" else " " if ch.isspace() or not ch.isprintable() else ch for ch in text)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]  # keep the end: the words right before the next token matter most
    return "…" + text


def distribution_png(panels: Sequence[tuple[str, Distribution]], lang: str) -> bytes:
    """A PNG of each (title, distribution): bars of probability, most likely on top, then the rest."""
    heights = [TITLE_SIZE + 24 + ROW * (len(d.candidates) + 1) + 24 for _, d in panels]
    image = Image.new("RGB", (WIDTH, MARGIN + sum(heights) + MARGIN // 2), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font = _font("DejaVuSans.ttf", TITLE_SIZE), _font("DejaVuSansMono.ttf", LABEL_SIZE)
    value_font = _font("DejaVuSans.ttf", LABEL_SIZE - 2)
    top = MARGIN
    bar_left = MARGIN + LABEL_WIDTH
    bar_room = WIDTH - bar_left - VALUE_WIDTH - MARGIN
    for index, ((title, distribution), height) in enumerate(zip(panels, heights, strict=True)):
        colour = BARS[index % len(BARS)]
        draw.text((MARGIN, top), _fit(draw, title, title_font, WIDTH - 2 * MARGIN), fill=TEXT, font=title_font)
        y = top + TITLE_SIZE + 24
        highest = max([c.probability for c in distribution.candidates] + [distribution.rest, 1e-9])
        rows = [(shown(c), c.probability, colour) for c in distribution.candidates]
        rows.append((t(lang, "next.picture_rest"), distribution.rest, REST))
        for label, probability, fill in rows:
            draw.text((MARGIN, y + 6), _fit(draw, label, label_font, LABEL_WIDTH - 16), fill=TEXT, font=label_font)
            width = bar_room * probability / highest
            if width >= 1:
                draw.rectangle((bar_left, y + 6, bar_left + width, y + ROW - 6), fill=fill)
            draw.text((bar_left + width + 10, y + 8), f"{100 * probability:.1f} %", fill=MUTED, font=value_font)
            y += ROW
        top += height
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
