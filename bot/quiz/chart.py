"""The bar chart shown when a quiz question closes: one bar per option, the right one green."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import number, percent
from bot.tokens.picture import EMOJI_HEIGHT, FONT_SIZE, Run, emoji_image, runs_of

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
    letters: list[str],
    counts: list[int],
    correct: set[int],
    title: str,
    caption: str = "",
    lang: str = "es",
    options: list[str] | None = None,
) -> bytes:
    """A PNG: bars of counts per option, each with its count and percentage, labelled with its
    letter and its text (shortened to the bar's room); correct ones marked ✓. Emoji in the title
    and the options are drawn in colour, as /tokens' picture draws them (Noto Color Emoji)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    _rich_text(image, draw, title, MARGIN, 16, WIDTH - 2 * MARGIN, TEXT)
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
        if options and index < len(options):
            mark += " · " + options[index]
        runs = _fitted(mark, slot - 8)
        width = sum(r.width for r in runs)
        _draw_runs(image, draw, runs, x0 + bar_width / 2 - width / 2, bottom + 8, CORRECT if index in correct else TEXT)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fitted(text: str, width: float) -> list[Run]:
    """The runs of `text` (emoji kept whole), cut with "…" to fit `width` pixels."""
    runs = runs_of(text)
    if sum(r.width for r in runs) <= width:
        return runs
    while text:
        text = text[:-1].rstrip()
        runs = runs_of(text + "…")
        if sum(r.width for r in runs) <= width:
            return runs
    return []


def _draw_runs(image: Image.Image, draw: ImageDraw.ImageDraw, runs: list[Run], x: float, y: float, fill) -> None:
    for run in runs:
        if run.face is not None and run.face.emoji:
            picture = emoji_image(run.text)
            image.paste(picture, (round(x), round(y + (FONT_SIZE + 6 - EMOJI_HEIGHT) / 2)), picture)
        elif run.face is not None:
            draw.text((x, y + FONT_SIZE), run.text, font=run.face.font, fill=fill, anchor="ls")
        # a character no font has (a control character) is left out of a chart
        x += run.width


def _rich_text(image: Image.Image, draw: ImageDraw.ImageDraw, text: str, x: float, y: float, width: float, fill) -> None:
    _draw_runs(image, draw, _fitted(text, width), x, y, fill)


def _centred(draw: ImageDraw.ImageDraw, text: str, centre_x: float, y: float, font, fill) -> None:
    width = draw.textlength(text, font=font)
    draw.text((centre_x - width / 2, y), text, fill=fill, font=font)

