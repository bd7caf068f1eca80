"""The next-token bar chart: one horizontal bar per candidate, sized for a projector.

Token texts use DejaVu Sans Mono (· for a space, ↵ for a newline, ⟨e2 80⟩ for a byte fragment),
probabilities are printed beside each bar, and a last grey bar shows the rest of the vocabulary.
Several distributions (base and instruct) are stacked in one picture.

Drawn as a palette image (one byte a pixel): the text is anti-aliased on a grey ramp (indices
0-239, from the text colour to white) and the bars take three indices of their own, so encoding the
PNG handles a third of an RGB picture's bytes (bench/next.py: the PNG was most of a step's cost).
960 pixels wide, with the 1280-pixel version's proportions (every length × 3/4): a chat client
scales a picture to its message column, so the text's share of the width decides what a projector
shows, while the pixels to draw and deflate are what a step pays for (bench/next.py).
Each string is rendered once into a tile and pasted afterwards (a class steps through the same
prompt, so the same tokens and percentages recur from step to step and student to student).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot import i18n
from bot.i18n import t
from bot.next.logic import Distribution, shown

WIDTH = 960
MARGIN = 24
ROW = 34  # pixels per bar
TITLE_SIZE = 23
LABEL_SIZE = 21
VALUE_SIZE = 20
LABEL_WIDTH = 225  # token column
VALUE_WIDTH = 98  # percentage column
REST_SHOWN_FROM = 1e-9  # a rest below this is the rounding of shares that add up to 1
TILES = 1024  # strings kept rendered (a tile is at most LABEL_WIDTH x ROW bytes: ~8 KB)
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


def bar_rows(distribution: Distribution, lang: str) -> list[tuple[str, float, bool]]:
    """(label, probability, is the rest) of each bar: the candidates, then the rest of the
    vocabulary unless nothing is left (a class's answers, when all of them are shown, add up
    to 1: a "rest" of 0 % would only puzzle the class)."""
    rows = [(shown(c), c.probability, False) for c in distribution.candidates]
    if distribution.rest > REST_SHOWN_FROM:
        rows.append((t(lang, "next.picture_rest"), distribution.rest, True))
    return rows


@lru_cache(maxsize=TILES)
def _tile(text: str, font_name: str, size: int, width: int, ink: int) -> Image.Image:
    """`text` fitted to `width` pixels (_fit) and drawn in `ink` on the paper: a palette tile to
    paste at the text's origin (it starts at (0, 0), whatever the glyphs' bearings)."""
    font = _font(font_name, size)
    text = _fit(ImageDraw.Draw(Image.new("L", (1, 1))), text, font, width)
    right, bottom = font.getbbox(text)[2:]
    tile = Image.new("L", (max(1, int(right)), max(1, int(bottom))), PAPER)
    ImageDraw.Draw(tile).text((0, 0), text, fill=ink, font=font)
    return Image.frombytes("P", tile.size, tile.tobytes())  # the grey values are palette indices


def distribution_png(panels: Sequence[tuple[str, Distribution]], lang: str) -> bytes:
    """A PNG of each (title, distribution): bars of probability, most likely on top, then the rest."""
    bars = [bar_rows(distribution, lang) for _, distribution in panels]
    heights = [TITLE_SIZE + 18 + ROW * len(rows) + 18 for rows in bars]
    picture = Image.new("P", (WIDTH, MARGIN + sum(heights) + MARGIN // 2), PAPER)
    draw = ImageDraw.Draw(picture)
    top = MARGIN
    bar_left = MARGIN + LABEL_WIDTH
    bar_room = WIDTH - bar_left - VALUE_WIDTH - MARGIN
    for index, ((title, _), rows, height) in enumerate(zip(panels, bars, heights, strict=True)):
        colour = BARS[index % len(BARS)]
        # The title changes every step (the run's text grows): rendered, not kept.
        picture.paste(_tile.__wrapped__(title, "DejaVuSans.ttf", TITLE_SIZE, WIDTH - 2 * MARGIN, INK), (MARGIN, top))
        y = top + TITLE_SIZE + 18
        highest = max([probability for _, probability, _ in rows] + [1e-9])
        for label, probability, rest in rows:
            fill = REST if rest else colour
            picture.paste(_tile(label, "DejaVuSansMono.ttf", LABEL_SIZE, LABEL_WIDTH - 12, INK), (MARGIN, y + 4))
            width = bar_room * probability / highest
            value = _tile(i18n.probability(lang, probability), "DejaVuSans.ttf", VALUE_SIZE, VALUE_WIDTH, MUTED)
            picture.paste(value, (bar_left + round(width) + 8, y + 6))
            if width >= 1:
                draw.rectangle((bar_left, y + 4, bar_left + width, y + ROW - 5), fill=fill)
            y += ROW
        top += height
    picture.putpalette(PALETTE)
    out = io.BytesIO()
    # zlib's run-length strategy: rows of one index (paper, bars) are most of the picture, so this is
    # faster than level 1's default strategy and smaller (bench/next.py).
    picture.save(out, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return out.getvalue()
