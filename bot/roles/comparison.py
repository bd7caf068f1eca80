"""One conversation in every chat format, side by side: `/roles comparar:sí`, `aula roles --template all`.

For each format (bot.roles.templates.TEMPLATES, in its order) the reply shows the rendered
prompt with its special tokens highlighted, and a table of the total tokens, the template's
overhead (every token that is not message content), the content tokens (the same text costs
differently in each tokenizer), the special tokens the format uses and, for a training example
(it ends with the assistant), the tokens its loss mask trains in that format, each prompt's
trained tokens marked as /roles marks them (bot.roles.templates.loss_mask). The picture has one
row per format: tokens as boxes in their message's colour, every special token drawn the
same dark way in every row, so the markers each model was fine-tuned to expect stand out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.errors import UserError
from bot.i18n import t
from bot.replies import Image, Paragraph, Part, Segments, Span, Table
from bot.roles.templates import TEMPLATES, LossScope, Message, Rendered, loss_mask, render
from bot.tokens.analysis import Piece as PicturePiece
from bot.tokens.analysis import group_pieces
from bot.tokens.encodings import get_encoding

if TYPE_CHECKING:
    from bot.tokens.picture import PictureRow

COMPARE = "all"  # the name that stands for every format (buttons, stored conversations, the CLI)
FRAME_COLOUR = 5  # the conversation's own frame, as in /roles' segments


def render_all(messages: Sequence[Message], refused: list[UserError] | None = None) -> list[Rendered]:
    """The conversation in every format that accepts it, in TEMPLATES' order; a format that
    refuses it (Mistral's, for one that starts with the assistant) is left out, its reason
    appended to `refused` when given, else raised."""
    renderings = []
    for name in TEMPLATES:
        try:
            renderings.append(render(messages, name))
        except UserError as error:
            if refused is None:
                raise
            refused.append(error)
    return renderings


def special_names(rendered: Rendered) -> list[str]:
    """The special tokens a rendering uses, each once, in order of first use."""
    return list(dict.fromkeys(p.text for p in rendered.pieces if p.kind == "special"))


def comparison_table(lang: str, renderings: Sequence[Rendered], scope: LossScope = "assistant") -> Table:
    """One row per format; a training example gains a column of trained tokens (by `scope`)."""
    training = bool(renderings) and renderings[0].is_training_example
    rows = tuple(
        (
            TEMPLATES[r.template].label,
            str(r.count),
            str(r.overhead),
            str(r.count - r.overhead),
            *((str(sum(loss_mask(r, scope))),) if training else ()),
            " ".join(special_names(r)),
        )
        for r in renderings
    )
    headers = t(lang, "roles.compare.headers").split("|")
    if training:
        headers.insert(4, t(lang, "roles.compare.trained"))
    return Table(tuple(headers), rows)


def comparison_parts(lang: str, messages: Sequence[Message], scope: LossScope = "assistant") -> list[Part]:
    """Table, summary, each format's prompt as segments, and the picture."""
    from bot.roles.command import prompt_segments  # the same segments a single format shows

    refused: list[UserError] = []
    renderings = render_all(messages, refused)
    counts = [r.count for r in renderings]
    parts: list[Part] = [
        comparison_table(lang, renderings, scope),
        Paragraph.of(
            t(lang, "roles.compare.summary", count=len(messages), least=min(counts), most=max(counts))
        ),
    ]
    for rendered in renderings:
        caption = t(
            lang,
            "roles.compare.caption",
            model=TEMPLATES[rendered.template].label,
            count=rendered.count,
            overhead=rendered.overhead,
        )
        mask = loss_mask(rendered, scope) if rendered.is_training_example else None
        parts.append(Segments(prompt_segments(rendered, mask=mask), caption=caption))
    parts += [Paragraph.of("⚠️ " + t(lang, error.key, **error.values)) for error in refused]
    parts.append(Paragraph.of(Span(t(lang, "roles.compare.note"), italic=True)))
    parts.append(Image(comparison_picture(lang, renderings), "roles-formats.png", t(lang, "roles.compare.alt")))
    return parts


def picture_row(lang: str, rendered: Rendered) -> PictureRow:
    """One format as token boxes: text tokens in their message's colour, special tokens SPECIAL."""
    from bot.tokens.picture import SPECIAL, PictureRow  # Pillow: only when drawing

    chat_template = TEMPLATES[rendered.template]
    encoding = get_encoding(chat_template.encoding)
    pieces: list[PicturePiece] = []
    colours: list[int] = []
    for piece in rendered.pieces:
        if not piece.ids:
            continue
        if piece.kind == "special":
            pieces.append(PicturePiece(piece.text, piece.ids, 0, len(piece.text)))
            colours.append(SPECIAL)
            continue
        grouped = group_pieces(piece.ids, [encoding.decode_single_token_bytes(i) for i in piece.ids])
        pieces += grouped
        colours += [FRAME_COLOUR if piece.message is None else piece.message] * len(grouped)
    title = t(
        lang,
        "roles.compare.picture_title",
        model=chat_template.label,
        count=rendered.count,
        overhead=rendered.overhead,
    )
    return PictureRow(title, pieces, lambda count: t(lang, "roles.compare.picture_more", count=count), colours=colours)


PICTURE_LINES = 90  # lines of boxes over all rows: about 18 per format, a short conversation whole


def comparison_picture(lang: str, renderings: Sequence[Rendered]) -> bytes:
    from bot.tokens.picture import render_png

    return render_png([picture_row(lang, r) for r in renderings], max_lines=PICTURE_LINES)
