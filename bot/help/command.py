"""/help: what Aula can do, in the user's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.command import Command, CommandSpec, slash_name
from bot.i18n import t
from bot.replies import BulletList, Heading, Paragraph, Reply, Span
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula

SPEC = CommandSpec(name="help", description="help.description")


async def run(request: Request, app: Aula) -> Reply:
    lang = request.locale
    items = []
    for command in app.commands.values():
        spec = command.spec
        slack = request.place.platform == "slack"
        usage = _usage(spec, lang, slash_name(app.settings, request.place.platform, spec.name), files=not slack)
        line = [Span(usage, code=True), Span(" — " + t(lang, spec.description))]
        if slack and any(o.kind == "attachment" for o in spec.options):
            # Slack's commands carry no files: how a file goes with this one (adapters/slack).
            line.append(Span(" " + t(lang, "help.slack_file", count=app.settings.dataset.slack_file_minutes)))
        items.append(Paragraph(tuple(line)))
        for sub in spec.subcommands:
            if sub.instructor_only and not request.user.is_instructor:
                continue
            items.append(
                Paragraph(
                    (
                        Span(
                            _usage(
                                sub, lang, slash_name(app.settings, request.place.platform, spec.name) + " " + sub.name
                            ),
                            code=True,
                        ),
                        Span(" — " + t(lang, sub.description)),
                    )
                )
            )
    return Reply.private(
        Heading(t(lang, "help.title")),
        Paragraph.of(t(lang, "help.intro")),
        BulletList(tuple(items)),
        Paragraph.of(
            Span(t(lang, "help.try", tokens=slash_name(app.settings, request.place.platform, "tokens")), italic=True)
        ),
    )


def _usage(spec: CommandSpec, lang: str, typed: str, files: bool = True) -> str:
    words = [typed]
    for option in spec.options:
        if option.kind == "attachment" and not files:
            continue
        name = option.name_in(lang)
        value = "|".join(option.choices_in(lang)) if option.choices else "…"
        if option.required:
            words.append(f"{name}:{value}")
        else:
            words.append(f"[{name}:{value}]" if option.choices else f"[{name}]")
    return " ".join(words)


command = Command(spec=SPEC, run=run)
