"""/tokens: how a model splits a text into tokens, the course's "Explorando Tokens" activity in the channel.

`/tokens texto:<text> [modelo:gpt-4o|gpt-4|llama-3.1|todos] [ejemplo:<course example>]`
(or `/tokens formulario:sí`: a form with one paragraph field, for a text of several lines,
such as the course's code example, which an option of one line cannot hold) answers with the count, the text as coloured token segments, the ids, what to notice,
the cost in each configured model, and a picture of the segments. `tokens_reply` builds
that reply from plain values, so `aula tokens` and the benchmark use the same code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TYPE_CHECKING

from cachetools import TTLCache

from bot import actions, limits
from bot.command import Command, CommandSpec, Option
from bot.errors import UserError
from bot.i18n import money, number, percent, t
from bot.replies import (
    Attachment,
    BulletList,
    Code,
    Form,
    FormField,
    Heading,
    Image,
    Paragraph,
    Reply,
    Segment,
    Segments,
    Span,
    Table,
    plain_text,
)
from bot.requests import Request
from bot.tokens.analysis import TokenAnalysis, analyze, cost_lines, observations, visible
from bot.tokens.encodings import ENCODINGS, MODEL_ALIASES, encode_plain, preload

if TYPE_CHECKING:
    from bot.app import Aula
    from bot.settings import TokensSettings
    from bot.tokens.pool import TokensPool


@dataclass(frozen=True)
class Example:
    es: str
    en: str  # the same meaning in English, to compare what each language costs


# The course's activity (seccion-2-demostraciones.md, "Explorando Tokens"), by short stable key.
EXAMPLES: dict[str, Example] = {
    "hola-mundo": Example("¡Hola mundo!", "Hello world!"),
    "saludo": Example("Hola, ¿cómo estás?", "Hello, how are you?"),
    "numeros": Example("El año 2024 tiene 366 días", "The year 2024 has 366 days"),
    "emojis": Example("Me gusta la pizza 🍕 y el café ☕", "I like pizza 🍕 and coffee ☕"),
    "codigo": Example(
        'def saludar(nombre):\n    return f"Hola, {nombre}!"',
        'def greet(name):\n    return f"Hello, {name}!"',
    ),
}

ALL = "todos"
# English names of the examples, accepted where options are typed (canonical: the Spanish ones).
EXAMPLES_EN = {"hola-mundo": "hello-world", "saludo": "greeting", "numeros": "numbers", "codigo": "code"}
MODEL_CHOICES = ("gpt-4o", "gpt-4", "llama-3.1", "gpt-oss", "qwen3", "mistral", "mistral-v3", ALL)
# o200k_base, cl100k_base, llama-3.1, o200k_harmony, qwen3, mistral-tekken, mistral-v3
ALL_ENCODINGS = tuple(ENCODINGS)

# What one reply shows inline; the rest goes in an attached file. Discord's message is the
# tightest limit, and each coloured segment costs about this many characters of colour codes.
SEGMENT_BUDGET = limits.DISCORD_CONTENT - 200
SEGMENT_OVERHEAD = 10
IDS_BUDGET = limits.DISCORD_CONTENT // 2
GROUPS_LISTED = 5

SPEC = CommandSpec(
    name="tokens",
    description="tokens.description",
    options=(
        Option("texto", "tokens.option.texto", name_en="text", free_text=True),
        Option("modelo", "tokens.option.modelo", choices=MODEL_CHOICES, name_en="model", choices_en={ALL: "all"}),
        Option("ejemplo", "tokens.option.ejemplo", choices=tuple(EXAMPLES), name_en="example", choices_en=EXAMPLES_EN),
        Option("formulario", "tokens.option.form", kind="boolean", name_en="form"),
    ),
)


# "Try it now": a class sends the same few texts (the course's examples) within minutes. A
# reply is a pure function of text, encodings and language, and its picture is the costly
# part (about 70 ms for a long paste), so recent replies are kept for a few minutes.
RECENT_REPLIES_S = 10 * 60
RECENT_REPLIES_BYTES = 32 * 1024 * 1024  # about 300 pictures of the course's examples
RECENT_TEXT_MAX_CHARS = 2_000  # longer pastes are rarely sent twice


async def run(request: Request, app: Aula) -> Reply:
    model = request.arg("modelo", "gpt-4o")
    if request.arg("formulario", False):
        # texto: or ejemplo: given too fills the field, to be edited there.
        given = ""
        if request.arg("texto") or request.arg("ejemplo"):
            given = chosen_text(request.arg("texto", ""), request.arg("ejemplo"))
        return Reply.open_form(text_form(request.locale, model, given, app.settings.tokens.max_chars))
    text = chosen_text(request.arg("texto", ""), request.arg("ejemplo"))
    return await answer(request, app, text, model)


async def on_action(request: Request, app: Aula) -> Reply:
    """The text form's submission: its text, newlines and all, analysed as texto: is."""
    values = actions.TOKENS_FORM.parse(request.action)
    if values is None or (values["model"] not in MODEL_ALIASES and values["model"] not in (ALL, "all")):
        raise UserError("error.unknown_action")
    text = request.values.get(FORM_FIELD, "")
    if not text.strip():
        raise UserError("tokens.error.empty", examples="|".join(EXAMPLES))
    return await answer(request, app, text, values["model"])


FORM_FIELD = "texto"


def text_form(lang: str, model: str, text: str, max_chars: int) -> Form:
    """One paragraph field of up to `max_chars` characters (each adapter also keeps it within
    its platform's limit: 4,000 on Discord, 3,000 on Slack)."""
    field = FormField(
        id=FORM_FIELD,
        label=t(lang, "tokens.form.label"),
        multiline=True,
        max_length=max_chars,
        placeholder=t(lang, "tokens.form.placeholder"),
        value=text,
    )
    return Form(id=actions.TOKENS_FORM.id(model=model), title=t(lang, "tokens.form.title"), fields=(field,))


async def answer(request: Request, app: Aula, text: str, model: str) -> Reply:
    check_text(text, app.settings.tokens.max_chars, request.locale)
    names = encodings_for(model)
    recent = app.services.tokens_replies
    key = (text, names, request.locale)
    reply = recent.get(key)
    if reply is None:
        # Encoding a text and drawing it takes CPU: a short one in a worker thread keeps the event
        # loop free; a long one (up to a second) would still hold the GIL, so it goes to the
        # worker process (bot.tokens.pool).
        pool = app.services.tokens_pool
        if pool.wants(text, names):
            reply = await pool.run(tokens_reply, text, names, request.locale, app.settings.tokens)
        else:
            reply = await asyncio.to_thread(tokens_reply, text, names, request.locale, app.settings.tokens)
        if len(text) <= RECENT_TEXT_MAX_CHARS:
            recent[key] = reply
    return reply


def new_recent_replies(app: Aula) -> TTLCache:
    """The cache behind `app.services.tokens_replies`: replies by (text, encodings, language)."""
    return TTLCache(maxsize=RECENT_REPLIES_BYTES, ttl=RECENT_REPLIES_S, timer=app.clock, getsizeof=reply_bytes)


def new_pool(app: Aula) -> TokensPool:
    """The worker process behind `app.services.tokens_pool`; it loads the encodings start-up loads."""
    from bot.tokens.pool import TokensPool

    return TokensPool(preload=startup_encodings(app))


def startup_encodings(app: Aula) -> list[str]:
    # The cost table counts the text in each configured model's encoding, and gpt-4o is the default.
    return list(dict.fromkeys(["o200k_base", *(m.encoding for m in app.settings.tokens.models)]))


def reply_bytes(reply: Reply) -> int:
    """About what a kept reply holds: its picture and files, plus its text."""
    files = sum(len(getattr(part, "png", b"")) + len(getattr(part, "data", b"")) for part in reply.parts)
    return files + 4 * len(plain_text(reply))


def chosen_text(text: str, example: str | None) -> str:
    if text and example:
        raise UserError("tokens.error.both")
    if example:
        if example not in EXAMPLES:
            raise UserError("error.bad_choice", value=example, option="ejemplo", choices=", ".join(EXAMPLES))
        return EXAMPLES[example].es
    if not text:
        raise UserError("tokens.error.empty", examples="|".join(EXAMPLES))
    return text


def check_text(text: str, max_chars: int, lang: str) -> None:
    if len(text) > max_chars:
        raise UserError(
            "tokens.error.too_long", length=number(lang, len(text)), limit=number(lang, max_chars)
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError("tokens.error.not_unicode") from None


def encodings_for(model: str) -> tuple[str, ...]:
    """`modelo` option (or an encoding name, or "all") -> encoding names."""
    if model in (ALL, "all"):
        return ALL_ENCODINGS
    return (MODEL_ALIASES[model],)


def tokens_reply(
    text: str, names: tuple[str, ...], lang: str, settings: TokensSettings, picture: bool = True
) -> Reply:
    analyses = [analyze(text, name) for name in names]
    parts: list = []
    if len(analyses) == 1:
        only = analyses[0]
        parts.append(
            Heading(t(lang, "tokens.heading", label=only.encoding.label, encoding=only.encoding.name))
        )
        parts.append(summary(only, lang))
    else:
        parts.append(Heading(t(lang, "tokens.heading_all")))
        parts.append(comparison_table(analyses, lang))

    budget = SEGMENT_BUDGET // len(analyses)
    truncated = False
    for analysis in analyses:
        segments, shown = segments_part(analysis, lang, budget, multiple=len(analyses) > 1)
        truncated |= sum(p.token_count for p in analysis.first_pieces(shown)) < analysis.count
        parts.append(segments)
    ids, ids_cut = ids_text(analyses, IDS_BUDGET // len(analyses))
    parts += [Paragraph.of(Span(t(lang, "tokens.ids"), bold=True)), Code(ids)]

    noticed = observations(analyses[0], translation_of(text))
    if noticed:
        title = "tokens.observations" if len(analyses) == 1 else "tokens.observations_in"
        parts.append(Paragraph.of(Span(t(lang, title, label=analyses[0].encoding.label), bold=True)))
        parts.append(BulletList(tuple(Paragraph.of(observation_text(o, lang)) for o in noticed)))

    if len(analyses) > 1 and translation_of(text) is not None:
        parts += [
            Paragraph.of(Span(t(lang, "tokens.languages.title"), bold=True)),
            languages_table([a.encoding.name for a in analyses], lang, [text]),
        ]
    parts += costs_parts(text, analyses, lang, settings)
    if picture:
        parts.append(Image(picture_png(analyses, lang), "tokens.png", t(lang, "tokens.picture_alt")))
    if truncated or ids_cut:
        parts.append(Attachment(tokens_tsv(analyses), "tokens.tsv", t(lang, "tokens.attachment")))
    return Reply.public(*parts)


# --- parts ---------------------------------------------------------------------------


def summary(analysis: TokenAnalysis, lang: str) -> Paragraph:
    rest = t(
        lang,
        "tokens.summary",
        count="",
        chars=number(lang, analysis.characters),
        ratio=number(lang, analysis.chars_per_token, 2),
    )
    return Paragraph((Span(count_text(lang, analysis.count), bold=True), Span(rest)))


def comparison_table(analyses: list[TokenAnalysis], lang: str) -> Table:
    rows = tuple(
        (
            f"{a.encoding.label} ({a.encoding.name})",
            a.encoding.models,
            number(lang, a.count),
            number(lang, a.chars_per_token, 2),
        )
        for a in analyses
    )
    return Table(tuple(t(lang, "tokens.compare.headers").split("|")), rows)


def segments_part(analysis: TokenAnalysis, lang: str, budget: int, multiple: bool) -> tuple[Segments, int]:
    """The pieces as coloured segments, as many as fit the budget; returns (part, pieces shown)."""
    segments: list[Segment] = []
    labels: dict[int, str] = {}  # "3 tokens", written once per count (an emoji text repeats a few)
    used = 0
    # Each segment takes at least one character and its overhead: no more pieces than this can fit.
    for index, piece in enumerate(analysis.first_pieces(budget // (1 + SEGMENT_OVERHEAD) + 1)):
        shown = visible(piece.text)
        used += len(shown) + SEGMENT_OVERHEAD
        if used > budget and segments:
            break
        tokens = len(piece.ids)
        label = "" if tokens < 2 else labels.get(tokens) or labels.setdefault(tokens, t(lang, "tokens.segment_tokens", count=tokens))
        segments.append(Segment(shown, index, label))
    if multiple:
        caption = t(
            lang,
            "tokens.segments_caption_all",
            label=analysis.encoding.label,
            encoding=analysis.encoding.name,
            count=count_text(lang, analysis.count),
        )
    else:
        caption = t(lang, "tokens.segments_caption")
    # Adapters draw segments without their labels, so the caption says which ones join several tokens.
    # Each piece once: an emoji text repeats the same joined pieces (a ZWJ, a family emoji).
    grouped = list(dict.fromkeys((s.text, s.label) for s in segments if s.label))
    if grouped:
        listed = ", ".join(f"«{text}» {label}" for text, label in grouped[:GROUPS_LISTED])
        caption += " " + t(
            lang, "tokens.segments_grouped", groups=listed + (", …" if len(grouped) > GROUPS_LISTED else "")
        )
    shown_tokens = sum(p.token_count for p in analysis.first_pieces(len(segments)))
    if shown_tokens < analysis.count:
        caption += " " + t(
            lang,
            "tokens.segments_truncated",
            shown=number(lang, shown_tokens),
            total=number(lang, analysis.count),
        )
    return Segments(tuple(segments), caption), len(segments)


def ids_text(analyses: list[TokenAnalysis], budget: int) -> tuple[str, bool]:
    """Ids comma-separated (one line per encoding when several); returns (text, whether cut)."""
    lines, cut = [], False
    for analysis in analyses:
        # An id takes at least 3 characters with its ", ": no more than this many can fit.
        line = ", ".join(map(str, analysis.ids[: budget // 3 + 1]))
        if len(line) > budget or len(analysis.ids) > budget // 3 + 1:
            line, cut = line[: line.rfind(", ", 0, budget)] + ", …", True
        lines.append(f"{analysis.encoding.name}: {line}" if len(analyses) > 1 else line)
    return "\n".join(lines), cut


def observation_text(observation, lang: str) -> str:
    key, values = observation.key, dict(observation.values)
    if key == "tokens.obs.words_whole" and values["count"] == 1:
        key = "tokens.obs.word_whole"
    more = values.pop("more", 0)
    if more:  # only the first pieces are listed (bot.tokens.analysis.listed)
        values["parts"] = f"{values['parts']} | {t(lang, 'tokens.obs.more_parts', count=number(lang, more))}"
    return t(lang, key, **values)


def translation_of(text: str) -> tuple[str, str] | None:
    """For a course example in either language: (the other language's text, its language)."""
    for example in EXAMPLES.values():
        if text == example.es:
            return example.en, "en"
        if text == example.en:
            return example.es, "es"
    return None


def languages_table(names: list[str], lang: str, texts: list[str] | None = None) -> Table:
    """Spanish against English per encoding: one row per course example (or per given example
    text, in either language), one column per encoding, each cell the extra share Spanish costs
    with both counts ("+33 % (4 / 3)", a whole percentage)."""
    examples = [e for e in EXAMPLES.values() if texts is None or e.es in texts or e.en in texts]
    keys = {e: k for k, e in EXAMPLES.items()}
    rows = []
    for example in examples:
        cells = [keys[example]]
        for name in names:
            es, en = len(encode_plain(name, example.es)), len(encode_plain(name, example.en))
            extra = round(100 * (es - en) / en) if en else 0
            cells.append(f"{extra:+d} % ({number(lang, es)} / {number(lang, en)})".replace("-", "−"))
        rows.append(tuple(cells))
    headers = (t(lang, "tokens.languages.example"), *(ENCODINGS[n].label for n in names))
    return Table(headers, tuple(rows))


def costs_parts(text: str, analyses: list[TokenAnalysis], lang: str, settings: TokensSettings) -> list:
    """Every configured model's share of its context window and input price, each counted with its own encoding."""
    counts = {a.encoding.name: a.count for a in analyses}
    for model in settings.models:
        if model.encoding not in counts:
            counts[model.encoding] = len(encode_plain(model.encoding, text))
    rows = []
    for line in cost_lines(counts, settings.models):
        share = percent(lang, line.share)
        rows.append(
            (
                line.model,
                number(lang, line.tokens),
                number(lang, line.context_window),
                share if line.fits else t(lang, "tokens.costs.doesnt_fit", share=share),
                usd(lang, line.usd),
            )
        )
    if not rows:
        return []
    return [
        Paragraph.of(Span(t(lang, "tokens.costs"), bold=True)),
        Table(tuple(t(lang, "tokens.costs.headers").split("|")), tuple(rows)),
        Paragraph.of(Span(t(lang, "tokens.costs.note"), italic=True)),
    ]


def picture_png(analyses: list[TokenAnalysis], lang: str) -> bytes:
    from bot.tokens.picture import (  # Pillow and the fonts: only when drawing
        PictureRow,
        pieces_that_fit,
        render_png,
    )

    def more(count: int) -> str:
        return t(lang, "tokens.picture_more", count=count)

    rows = [
        PictureRow(
            t(
                lang,
                "tokens.picture_title",
                label=a.encoding.label,
                encoding=a.encoding.name,
                count=count_text(lang, a.count),
                chars=number(lang, a.characters),
            ),
            a.first_pieces(pieces_that_fit(len(analyses))),
            more,
            tokens=a.count,
        )
        for a in analyses
    ]
    return render_png(rows)


def tokens_tsv(analyses: list[TokenAnalysis]) -> bytes:
    """Every token of every encoding: position, id and text (· for spaces, ↵ for newlines, � for part of a character)."""
    parts = ["encoding\tposition\tid\ttoken"]
    positions = list(map(str, range(1, max(a.count for a in analyses) + 1)))
    for analysis in analyses:
        # Three strings per line, joined once at the end: no formatting per token.
        start = "\n" + analysis.encoding.name + "\t"
        parts.extend(chain.from_iterable(zip(repeat(start), positions[: analysis.count], analysis.token_lines())))
    parts.append("\n")
    return "".join(parts).encode("utf-8")


# --- numbers in the user's language (bot.i18n writes them) ------------------------------


def count_text(lang: str, count: int) -> str:
    return t(lang, "tokens.count", count=count)


def usd(lang: str, value: float) -> str:
    return money(lang, value)


async def on_startup(app: Aula) -> None:
    # The other encodings load on the first request that asks for them.
    await preload(startup_encodings(app))


command = Command(spec=SPEC, run=run, on_action=on_action, on_startup=on_startup)
