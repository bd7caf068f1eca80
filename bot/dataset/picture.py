"""The /dataset histogram: how many examples have each rendered length, the context marked."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from bot.quiz.chart import _font

WIDTH, HEIGHT = 800, 380
MARGIN = 48
BINS = 20
BACKGROUND = (255, 255, 255)
TEXT = (33, 37, 41)
MUTED = (108, 117, 125)
BAR = (19, 104, 206)
OVER = (226, 27, 60)  # bins past the context: those examples are truncated


def bins_of(lengths: Sequence[int], context: int, bins: int = BINS) -> tuple[list[int], int, int]:
    """(counts per bin, lowest edge, bin width in tokens): equal-width bins from 0 to the
    longest example (or the context, if longer), so the context line falls inside the axis."""
    top = max(max(lengths, default=0), context if lengths and max(lengths) > context else 0, 1)
    width = max(1, math.ceil((top + 1) / bins))
    counts = [0] * bins
    for length in lengths:
        counts[min(bins - 1, length // width)] += 1
    return counts, 0, width


def histogram_png(lengths: Sequence[int], context: int, title: str, axis: str, context_label: str) -> bytes:
    counts, low, width = bins_of(lengths, context)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 14), title, fill=TEXT, font=_font(20))
    top, bottom = 60, HEIGHT - 60
    left, right = MARGIN, WIDTH - MARGIN
    slot = (right - left) / len(counts)
    tallest = max(counts) or 1
    draw.line((left, bottom, right, bottom), fill=MUTED, width=2)
    for index, count in enumerate(counts):
        if not count:
            continue
        x0 = left + index * slot + 1
        height = (bottom - top) * count / tallest
        colour = OVER if (index * width + low) >= context else BAR
        draw.rectangle((x0, bottom - height, x0 + slot - 2, bottom), fill=colour)
        draw.text((x0 + slot / 2, bottom - height - 4), str(count), fill=TEXT, font=_font(12), anchor="mb")
    for index in (0, len(counts) // 2, len(counts)):
        x = left + index * slot
        draw.text((x, bottom + 6), str(low + index * width), fill=MUTED, font=_font(12), anchor="mt")
    draw.text(((left + right) / 2, bottom + 26), axis, fill=MUTED, font=_font(14), anchor="mt")
    span = len(counts) * width
    if context < span:
        x = left + (context - low) / span * (right - left)
        draw.line((x, top - 8, x, bottom), fill=OVER, width=2)
        draw.text((x + 4, top - 8), context_label, fill=OVER, font=_font(12))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
