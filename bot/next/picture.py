"""The next-token bar chart: one horizontal bar per candidate, sized for a projector.

Token texts use DejaVu Sans Mono (· for a space, ↵ for a newline, ⟨e2 80⟩ for a byte fragment),
probabilities are printed beside each bar, and a last grey bar shows the rest of the vocabulary.
Several distributions (base and instruct) are stacked in one picture.

Drawn as a palette image (one byte a pixel): the text is anti-aliased on a grey ramp (indices
0-239, from the text colour to white) and the bars take three indices of their own, so encoding the
PNG handles a third of an RGB picture's bytes (bench/next.py: the PNG was most of a step's cost).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import percent, t
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
RAMP = 240  # palette indices 0..239: TEXT to BACKGROUND, for anti-aliased text
PAPER = RAMP - 1  # the background's index
INK = 0  # the text's
MUTED = 100  # a grey on the ramp, for the percentages
BAR_COLOURS = ((19, 104, 206), (226, 120, 27), (190, 190, 200))  # base, instruct, the rest
BARS = (250, 251)  # their indices (a later panel cycles)
REST = 252


def _palette() -> list[int]:
    palette: list[int] = []
    for index in range(256):
        if index < RAMP:
            share = index / (RAMP - 1)
            palette += [round(t + (b - t) * share) for t, b in zip(TEXT, BACKGROUND, strict=True)]
        elif 0 <= index - BARS[0] < len(BAR_COLOURS):
            palette += list(BAR_COLOURS[index - BARS[0]])
        else:
            palette += list(BACKGROUND)
    return palette


PALETTE = _palette()


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
    # Keep the end (the words right before the next token matter most): the fewest characters
    # cut from the start, found by bisection (a run's text grows every step; cutting one
    # character at a time measured the line once per character).
    low, high = 1, len(text)  # cutting `high` characters always fits ("…" alone)
    while low < high:
        middle = (low + high) // 2
        if draw.textlength("…" + text[middle:], font=font) <= width:
            high = middle
        else:
            low = middle + 1
    return "…" + text[high:]


def distribution_png(panels: Sequence[tuple[str, Distribution]], lang: str) -> bytes:
    """A PNG of each (title, distribution): bars of probability, most likely on top, then the rest."""
    heights = [TITLE_SIZE + 24 + ROW * (len(d.candidates) + 1) + 24 for _, d in panels]
    image = Image.new("L", (WIDTH, MARGIN + sum(heights) + MARGIN // 2), PAPER)
    draw = ImageDraw.Draw(image)
    title_font, label_font = _font("DejaVuSans.ttf", TITLE_SIZE), _font("DejaVuSansMono.ttf", LABEL_SIZE)
    value_font = _font("DejaVuSans.ttf", LABEL_SIZE - 2)
    top = MARGIN
    bar_left = MARGIN + LABEL_WIDTH
    bar_room = WIDTH - bar_left - VALUE_WIDTH - MARGIN
    for index, ((title, distribution), height) in enumerate(zip(panels, heights, strict=True)):
        colour = BARS[index % len(BARS)]
        draw.text((MARGIN, top), _fit(draw, title, title_font, WIDTH - 2 * MARGIN), fill=INK, font=title_font)
        y = top + TITLE_SIZE + 24
        highest = max([c.probability for c in distribution.candidates] + [distribution.rest, 1e-9])
        rows = [(shown(c), c.probability, colour) for c in distribution.candidates]
        rows.append((t(lang, "next.picture_rest"), distribution.rest, REST))
        for label, probability, fill in rows:
            draw.text((MARGIN, y + 6), _fit(draw, label, label_font, LABEL_WIDTH - 16), fill=INK, font=label_font)
            width = bar_room * probability / highest
            if width >= 1:
                draw.rectangle((bar_left, y + 6, bar_left + width, y + ROW - 6), fill=fill)
            draw.text((bar_left + width + 10, y + 8), percent(lang, probability), fill=MUTED, font=value_font)
            y += ROW
        top += height
    picture = Image.frombytes("P", image.size, image.tobytes())  # the grey values are palette indices
    picture.putpalette(PALETTE)
    out = io.BytesIO()
    # zlib's run-length strategy: rows of one index (paper, bars) are most of the picture, so this is
    # faster than level 1's default strategy and smaller (18 KB against 21; bench/next.py).
    picture.save(out, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return out.getvalue()
