"""The bar chart shown when a quiz question closes: one bar per option, the right one green."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import number, percent

WIDTH, HEIGHT = 800, 420
FONT_FILE = "DejaVuSans.ttf"
MARGIN = 40
BACKGROUND = (255, 255, 255)
TEXT = (33, 37, 41)
MUTED = (108, 117, 125)
# Kahoot-like colours per option; the correct one is drawn green whatever its letter.
OPTION_COLOURS = ((226, 27, 60), (19, 104, 206), (216, 158, 0), (38, 137, 12))
CORRECT = (38, 160, 70)
WRONG = (173, 181, 189)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans, shipped in bot/fonts (accents, ¿, ✓); Pillow's own font if it is missing."""
    try:
        with resources.as_file(resources.files("bot").joinpath("fonts", FONT_FILE)) as path:
            return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def distribution_png(
    letters: list[str], counts: list[int], correct: set[int], title: str, caption: str = "", lang: str = "es"
) -> bytes:
    """A PNG: bars of counts per option, each with its count and percentage; correct ones marked ✓."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 16), _fit(draw, title, _font(22), WIDTH - 2 * MARGIN), fill=TEXT, font=_font(22))
    if caption:
        draw.text((MARGIN, 46), caption, fill=MUTED, font=_font(16))

    total = sum(counts)
    top, bottom = 90, HEIGHT - 60
    slot = (WIDTH - 2 * MARGIN) / max(1, len(counts))
    bar_width = slot * 0.6
    tallest = max(counts) if counts and max(counts) > 0 else 1
    draw.line((MARGIN, bottom, WIDTH - MARGIN, bottom), fill=MUTED, width=2)
    for index, count in enumerate(counts):
        x0 = MARGIN + index * slot + (slot - bar_width) / 2
        height = (bottom - top - 30) * count / tallest
        if correct:
            colour = CORRECT if index in correct else WRONG
        else:
            colour = OPTION_COLOURS[index % len(OPTION_COLOURS)]
        if count:
            draw.rectangle((x0, bottom - height, x0 + bar_width, bottom), fill=colour)
        label = f"{number(lang, count)} · {percent(lang, count / total if total else 0)}"
        _centred(draw, label, x0 + bar_width / 2, bottom - height - 26, _font(18), TEXT)
        mark = f"{letters[index]} ✓" if index in correct else letters[index]
        _centred(
            draw, mark, x0 + bar_width / 2, bottom + 10, _font(22), CORRECT if index in correct else TEXT
        )

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _centred(draw: ImageDraw.ImageDraw, text: str, centre_x: float, y: float, font, fill) -> None:
    width = draw.textlength(text, font=font)
    draw.text((centre_x - width / 2, y), text, fill=fill, font=font)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
