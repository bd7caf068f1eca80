"""/dataset: check a fine-tuning file (JSON Lines) before paying for training.

    /dataset archivo:<file> [formato:auto|openai|prompt-completion|sharegpt] [modelo:…] [contexto:N] [epocas:N]

The file comes as the command's attachment (Discord), a file shared in reply to the
command's message (Slack), or a local path (console). The check (bot.dataset.checker)
runs in a worker thread, at most `dataset.concurrent_checks` at once, so the bot keeps
answering everyone else while a large file is read. The price per million tokens, its
provider and date come from the settings ([dataset] in config/aula.toml).
"""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

from bot.command import Command, CommandSpec, Option
from bot.dataset.checker import FORMATS, Limits, Options, Refused, check
from bot.dataset.display import refusal_message, report_parts
from bot.errors import UserError
from bot.i18n import t
from bot.replies import Paragraph, Reply, Visibility
from bot.requests import Request
from bot.roles.templates import TEMPLATES
from bot.settings import DatasetSettings
from bot.tokens.encodings import preload

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


def options_from(settings: DatasetSettings, *, format: str | None = None, template: str | None = None,
                 context: int | None = None, epochs: int | None = None,
                 price_per_million: float | None = None) -> Options:
    """The check's options: what was asked, else the settings. Raises UserError for a bad value."""
    template = template or settings.template
    if template not in TEMPLATES:
        raise UserError("roles.error.template", template=template, choices=", ".join(TEMPLATES))
    if context is not None and context < 1:
        raise UserError("dataset.error.positive", option="contexto", value=context)
    if epochs is not None and not 1 <= epochs <= 100:
        raise UserError("dataset.error.epochs", value=epochs)
    if price_per_million is not None and price_per_million < 0:
        raise UserError("dataset.error.positive", option="price-per-million", value=price_per_million)
    return Options(
        format=format or "auto",  # type: ignore[arg-type]
        template=template,
        context=context or settings.context_tokens,
        epochs=epochs or settings.epochs,
        price_per_million=settings.price_per_million if price_per_million is None else price_per_million,
        provider=settings.price_provider,
        price_date=settings.price_date,
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
    )
    if not request.attachments:
        limit = app.settings.dataset.max_bytes // 1024 // 1024
        if request.place.platform == "slack":
            # Slack's commands carry no files: this message asks for one in its thread (the adapter
            # hands a file shared there back to /dataset, with these options).
            return Reply.public(Paragraph.of(t(lang, "dataset.attach.slack", limit=limit)))
        return Reply.private(Paragraph.of(t(lang, "dataset.attach.other", limit=limit)))
    filename, content = request.attachments[0]
    return await check_reply(app, lang, filename, content, options)


async def check_reply(app: Aula, lang: str, filename: str, content: bytes, options: Options) -> Reply:
    """Check one uploaded file off the event loop and answer with its report (private: the
    file may hold a class's data)."""
    async with app.services.dataset_slots:
        return await asyncio.to_thread(_checked, lang, filename, content, options)


def _checked(lang: str, filename: str, content: bytes, options: Options) -> Reply:
    try:
        report = check(io.BytesIO(content), options, size=len(content))
    except Refused as refused:
        return Reply(parts=(Paragraph.of("⚠️ ", refusal_message(lang, refused)),), visibility=Visibility.PRIVATE, error=True)
    return Reply.private(*report_parts(lang, report, options, filename))


async def on_startup(app: Aula) -> None:
    await preload({template.encoding for template in TEMPLATES.values()})


command = Command(spec=SPEC, run=run, on_startup=on_startup)
