"""/dataset: check a fine-tuning file (JSON Lines) before paying for training.

    /dataset archivo:<file> [formato:auto|openai|prompt-completion|sharegpt] [modelo:…] [contexto:N] [epocas:N]

The file comes as the command's attachment (Discord), a file the user shared in the channel
(Slack: see adapters/slack), or a local path (console), as a bot.uploads.Upload. The check
(bot.dataset.checker) runs in a worker thread, at most `dataset.concurrent_checks` at once,
so the bot keeps answering everyone else while a large file is read; a download is streamed
into it chunk by chunk (bot.uploads.blocking_stream), never held whole, and refused once more
than [dataset] max_bytes arrived, whatever size the platform declared. The price per million tokens, its
provider and date come from the settings ([dataset] in config/aula.toml).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.command import Command, CommandSpec, Option
from bot.dataset.checker import FORMATS, Limits, Options, Refused, check
from bot.dataset.display import refusal_message, report_parts
from bot.errors import UserError, file_error
from bot.i18n import t
from bot.replies import Paragraph, Reply, Visibility
from bot.requests import Request
from bot.roles.templates import TEMPLATES
from bot.settings import DatasetSettings
from bot.tokens.encodings import preload
from bot.uploads import TooLarge, Upload, blocking_stream

if TYPE_CHECKING:
    from bot.app import Aula

SPEC = CommandSpec(
    name="dataset",
    description="dataset.description",
    options=(
        Option("archivo", "dataset.option.file", kind="attachment", name_en="file"),
        Option("formato", "dataset.option.format", choices=FORMATS, name_en="format"),
        Option("modelo", "dataset.option.model", choices=tuple(TEMPLATES), name_en="model"),
        Option("contexto", "dataset.option.context", kind="integer", name_en="context"),
        Option("epocas", "dataset.option.epochs", kind="integer", name_en="epochs"),
    ),
)


MOST_PRICE = 1_000_000  # USD per million trained tokens: above any provider's price, and a cost Babel can format


def options_from(settings: DatasetSettings, *, format: str | None = None, template: str | None = None,
                 context: int | None = None, epochs: int | None = None,
                 price_per_million: float | None = None, names: dict[str, str] | None = None) -> Options:
    """The check's options: what was asked, else the settings. Raises UserError for a bad value,
    naming the option as the user typed it: names maps "context" and "price_per_million" to
    that (the option in the reader's language; the CLI's --flags)."""
    names = {"context": "contexto", "price_per_million": "price-per-million"} | (names or {})
    template = template or settings.template
    if template not in TEMPLATES:
        raise UserError("roles.error.template", template=template, choices=", ".join(TEMPLATES))
    if context is not None and context < 1:
        raise UserError("dataset.error.positive", option=names["context"], value=context)
    if epochs is not None and not 1 <= epochs <= 100:
        raise UserError("dataset.error.epochs", value=epochs)
    if price_per_million is not None and price_per_million < 0:
        raise UserError("dataset.error.negative", option=names["price_per_million"], value=price_per_million)
    if price_per_million is not None and not price_per_million <= MOST_PRICE:  # NaN, inf, 1e308
        raise UserError("dataset.error.price", option=names["price_per_million"], value=str(price_per_million),
                        most=MOST_PRICE)  # fmt: skip
    given = price_per_million is not None  # then it is the user's price, not the settings' provider's
    return Options(
        format=format or "auto",  # type: ignore[arg-type]
        template=template,
        context=context or settings.context_tokens,
        epochs=epochs or settings.epochs,
        price_per_million=settings.price_per_million if price_per_million is None else price_per_million,
        provider="" if given else settings.price_provider,
        price_date="" if given else settings.price_date,
        limits=Limits(settings.max_bytes, settings.max_lines, settings.max_line_bytes, settings.max_errors),
    )


async def run(request: Request, app: Aula) -> Reply:
    lang = request.locale
    options = options_from(
        app.settings.dataset,
        format=request.arg("formato"),
        template=request.arg("modelo"),
        context=request.arg("contexto"),
        epochs=request.arg("epocas"),
        names={"context": next(o for o in SPEC.options if o.name == "contexto").name_in(lang)},
    )
    if not request.attachments:
        limit = app.settings.dataset.max_bytes // 1024 // 1024
        if request.place.platform == "slack":
            # Slack's commands carry no files, and the user shared none in the channel within
            # [dataset] slack_file_minutes: this public message asks for one in its thread (the
            # adapter hands a file shared there back to /dataset, with these options).
            minutes = app.settings.dataset.slack_file_minutes
            return Reply.public(Paragraph.of(t(lang, "dataset.attach.slack", limit=limit, count=minutes)))
        return Reply.private(Paragraph.of(t(lang, "dataset.attach.other", limit=limit)))
    return await check_reply(app, lang, request.attachments[0], options)


async def check_reply(app: Aula, lang: str, upload: Upload, options: Options) -> Reply:
    """Check one uploaded file off the event loop and answer with its report (private: the
    file may hold a class's data). A local file is opened by the worker thread itself; any
    other is streamed to it from the loop. UserError when the file cannot be fetched."""
    async with app.services.dataset_slots:
        if upload.path is not None:
            return await asyncio.to_thread(_checked_path, lang, upload, options)
        stream, _, close = blocking_stream(upload, asyncio.get_running_loop(), options.limits.max_bytes)
        try:
            return await asyncio.to_thread(_checked, lang, upload.name, stream, options, upload.size)
        finally:
            await close()


def _checked_path(lang: str, upload: Upload, options: Options) -> Reply:
    assert upload.path is not None
    try:
        with upload.path.open("rb") as stream:
            return _checked(lang, upload.name, stream, options, upload.size)
    except OSError as exc:
        raise file_error(exc, upload.name) from None


def _checked(lang: str, filename: str, stream, options: Options, size: int | None) -> Reply:
    try:
        report = check(stream, options, size=size)
    except TooLarge as exc:
        return _refusal(lang, Refused("too_large", limit=exc.limit))
    except Refused as refused:
        return _refusal(lang, refused)
    return Reply.private(*report_parts(lang, report, options, filename))


def _refusal(lang: str, refused: Refused) -> Reply:
    return Reply(parts=(Paragraph.of("⚠️ ", refusal_message(lang, refused)),), visibility=Visibility.PRIVATE, error=True)


async def on_startup(app: Aula) -> None:
    """The configured template's encoding only: every template's (Qwen3's and Mistral's Tekken
    among them) held the whole app's start, the console's first answer included, 2-3 s longer.
    Another template's encoding loads on first use, in the checker's worker thread."""
    template = TEMPLATES.get(app.settings.dataset.template)  # an unknown one is refused per request
    await preload({template.encoding} if template else ())


command = Command(spec=SPEC, run=run, on_startup=on_startup)
