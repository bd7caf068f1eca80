"""A dataset report in the reader's language: as reply parts (bot, console) and as JSON (CLI)."""

from __future__ import annotations

from typing import Any

from bot.dataset.checker import KINDS, Options, Problem, Refused, Report, estimated_cost, training_mask
from bot.i18n import money as usd
from bot.i18n import number, t
from bot.replies import Heading, Image, Paragraph, Part, Segment, Segments, Span, Table
from bot.roles.command import FRAME_COLOUR, mask_parts, prompt_segments
from bot.roles.templates import TEMPLATES, Piece, Rendered, render
from bot.tokens.encodings import get_encoding

SHOWN_HEAD = 300  # tokens of a long shown example printed from its start...
SHOWN_TAIL = 100  # ...and from its end, the rest summarised as "… N tokens más …"
SHOWN_ERRORS = 15  # errors listed in a chat reply; the JSON lists up to Limits.max_errors


def problem_message(lang: str, problem: Problem) -> str:
    values = dict(problem.values)
    if problem.kind == "role_order":  # chat roles in the reader's words
        values = {key: t(lang, f"roles.role.{value}") for key, value in values.items()}
    if problem.kind == "wrong_type":  # no JSON type jargon: what was expected and what is there
        expected, found = values["expected"], values["found"]
        if found == "missing":
            return t(lang, f"dataset.wrong_type.{expected}.missing")
        return t(lang, f"dataset.wrong_type.{expected}", found=t(lang, f"dataset.found.{found}"))
    return t(lang, f"dataset.kind.{problem.kind}", **values)


def refusal_message(lang: str, refused: Refused) -> str:
    values = dict(refused.values)
    if "limit" in values and refused.kind == "too_large":
        values["limit"] = megabytes(lang, values["limit"])
    elif "limit" in values:
        values["limit"] = number(lang, values["limit"])
    return t(lang, f"dataset.refused.{refused.kind}", **values)


def megabytes(lang: str, count: int) -> str:
    """A byte limit as people say it: 20 MB, 1,5 MB, 512 KB, 100 bytes."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= size:
            value = count / size
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return (text.replace(".", ",") if lang == "es" else text) + " " + unit
    return f"{count} bytes"


def format_key(report: Report) -> str:
    """The summary's format: the one found or forced; when no line could be read (too long, not
    UTF-8, not JSON) that, pointing at the errors per line, rather than "not recognised"."""
    if report.format == "auto" and report.parsed == 0 and report.examples:
        return "dataset.format.unread"
    return f"dataset.format.{report.format}"


def report_parts(lang: str, report: Report, options: Options, filename: str, pictures: bool = True) -> list[Part]:
    """The report as reply parts; `pictures=False` leaves out the histogram and the mask picture
    (`aula dataset` draws them only for --png / --mask-png: Pillow and the drawing not paid otherwise)."""
    label = TEMPLATES[report.template].label
    parts: list[Part] = [
        Heading(t(lang, "dataset.title", file=filename)),
        Paragraph.of(
            t(
                lang,
                "dataset.summary",
                count=report.examples,
                valid=report.valid,
                format=t(lang, format_key(report)),
                model=label,
            )
        ),
    ]
    notes = [t(lang, f"dataset.note.{key}") for key in ("bom", "crlf") if getattr(report, key)]
    if notes:
        parts.append(Paragraph.of(Span(" ".join(notes), italic=True)))
    if report.examples == 0:
        parts.append(Paragraph.of(t(lang, "dataset.empty")))
        return parts
    parts += error_parts(lang, report)
    tokens = report.tokens()
    if tokens is not None:
        parts.append(Heading(t(lang, "dataset.stats.title")))
        per = report.messages_per_example
        rows = [
            (t(lang, "dataset.stats.examples"), number(lang, report.valid)),
            (t(lang, "dataset.stats.messages"), f"{min(per)} – {max(per)} · {decimal1(lang, sum(per) / len(per))}"),
            (t(lang, "dataset.stats.tokens"), " · ".join(number(lang, tokens[k]) for k in ("min", "median", "p95", "max"))),
            (t(lang, "dataset.stats.trained"), number(lang, report.trained_tokens)),
            (t(lang, "dataset.stats.truncated", context=number(lang, report.context)), number(lang, report.truncated)),
        ]
        parts.append(Table((t(lang, "dataset.stats.what"), t(lang, "dataset.stats.value")), tuple(rows)))
        if pictures:
            from bot.dataset.picture import histogram_png  # Pillow: only when drawing

            histogram = histogram_png(
                report.lengths,
                report.context,
                t(lang, "dataset.histogram.title", model=label),
                t(lang, "dataset.histogram.axis"),
                t(lang, "dataset.histogram.context", context=number(lang, report.context)),
            )
            parts.append(Image(histogram, "dataset-lengths.png", t(lang, "dataset.histogram.alt", count=report.valid)))
        parts += cost_parts(lang, report, options)
        parts += example_parts(lang, report, pictures)
    return parts


def decimal1(lang: str, value: float) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "es" else text


def error_parts(lang: str, report: Report) -> list[Part]:
    if not report.error_count:
        return [Paragraph.of("✅ ", t(lang, "dataset.no_errors"))]
    counts = [(t(lang, f"dataset.kind_name.{kind}"), number(lang, report.counts[kind])) for kind in KINDS if report.counts[kind]]
    shown = report.problems[:SHOWN_ERRORS]
    rows = tuple(
        (str(p.line), p.field or "—", problem_message(lang, p)) for p in shown
    )
    parts: list[Part] = [
        Heading(t(lang, "dataset.errors.title", count=number(lang, report.error_count))),
        Table((t(lang, "dataset.errors.kind"), t(lang, "dataset.errors.count")), tuple(counts)),
        Table(tuple(t(lang, f"dataset.errors.{k}") for k in ("line", "field", "problem")), rows),
    ]
    if report.error_count > len(shown):
        parts.append(Paragraph.of(Span(t(lang, "dataset.errors.more", count=report.error_count - len(shown)), italic=True)))
    return parts


def cost_parts(lang: str, report: Report, options: Options) -> list[Part]:
    cost = estimated_cost(report, options)
    return [
        Heading(t(lang, "dataset.cost.title")),
        Paragraph.of(
            Span(usd(lang, cost["usd"]), bold=True),
            " ",
            t(
                lang,
                "dataset.cost.formula" if cost["provider"] else "dataset.cost.formula_given",
                trained=t(lang, "dataset.cost.trained", count=cost["trained_tokens"]),
                epochs=t(lang, "dataset.cost.epochs", count=cost["epochs"]),
                price=usd(lang, cost["price_per_million"]),
                provider=cost["provider"],
                date=cost["price_date"] or "—",
            ),
        ),
    ]


def example_parts(lang: str, report: Report, picture: bool = True) -> list[Part]:
    """The shown example rendered with its training mask (`training_mask`: truncated to the
    context, then masked), its text bounded to its first SHOWN_HEAD and last SHOWN_TAIL
    tokens with the number left out between them."""
    if report.shown is None:
        return []
    rendered = render(report.shown.messages, report.template, generation_prompt=False)
    total = rendered.count
    rendered = split_pieces(rendered, (report.context,))  # a piece cut by the context is half trained
    mask = training_mask(rendered, report.shown.weights, report.context)
    caption = t(lang, "roles.received.caption", count=total)
    if total > report.context:
        caption += " " + t(lang, "dataset.example.truncated", count=total - report.context, context=report.context)
    return [
        Heading(t(lang, "dataset.example.title", line=report.shown.line)),
        Segments(bounded_segments(lang, rendered, mask), caption=caption),
        *mask_parts(lang, rendered, mask, "assistant", picture, try_all=False),  # /dataset has no entrenar:
    ]


def bounded_segments(lang: str, rendered: Rendered, mask: tuple[bool, ...]) -> tuple[Segment, ...]:
    """The rendering's segments, or for a long one its first SHOWN_HEAD and last SHOWN_TAIL
    tokens with a segment saying how many are left out between them."""
    total = rendered.count
    if total <= SHOWN_HEAD + SHOWN_TAIL:
        return prompt_segments(rendered, mask=mask)
    start = total - SHOWN_TAIL
    cut = split_pieces(rendered, (SHOWN_HEAD, start))
    head, tail, position = [], [], 0
    for piece in cut.pieces:
        (head if position < SHOWN_HEAD else tail if position >= start else []).append(piece)
        position += len(piece.ids)
    first = Rendered(cut.template, cut.messages, tuple(head), cut.generation_prompt)
    last = Rendered(cut.template, cut.messages, tuple(tail), cut.generation_prompt)
    omitted = Segment(t(lang, "dataset.example.omitted", count=start - first.count), FRAME_COLOUR, special=True)
    return (
        *prompt_segments(first, mask=mask[: first.count]),
        omitted,
        *prompt_segments(last, mask=mask[total - last.count :]),
    )


def split_pieces(rendered: Rendered, positions: tuple[int, ...]) -> Rendered:
    """The same rendering (same ids, in order) with content pieces split at the given token
    positions, each part's text decoded from its ids; special pieces stay whole."""
    encoding = get_encoding(TEMPLATES[rendered.template].encoding)
    pieces: list[Piece] = []
    position = 0
    for piece in rendered.pieces:
        end = position + len(piece.ids)
        cuts = sorted({p - position for p in positions if position < p < end})
        if not cuts or piece.kind == "special":
            pieces.append(piece)
        else:
            bounds = [0, *cuts, len(piece.ids)]
            for a, b in zip(bounds, bounds[1:], strict=False):
                ids = piece.ids[a:b]
                pieces.append(Piece(encoding.decode(list(ids)), piece.kind, ids, piece.message))
        position = end
    return Rendered(rendered.template, rendered.messages, tuple(pieces), rendered.generation_prompt)


def report_json(lang: str, report: Report, options: Options) -> dict[str, Any]:
    """The keys `aula dataset check --json` prints (issue 19)."""
    return {
        "format": report.format,
        "template": report.template,
        "context": report.context,
        "examples": report.examples,
        "valid_examples": report.valid,
        "errors": [
            {"line": p.line, "field": p.field, "kind": p.kind, "message": problem_message(lang, p)} for p in report.problems
        ],
        "error_counts": {kind: report.counts[kind] for kind in KINDS if report.counts[kind]},
        "tokens": report.tokens(),
        "trained_tokens": report.trained_tokens,
        "truncated": report.truncated,
        "estimated_cost": estimated_cost(report, options),
        "bom": report.bom,
        "crlf": report.crlf,
    }
