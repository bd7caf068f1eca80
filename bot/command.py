"""The command contract: a spec adapters can register, and the handlers that answer.

Each command lives in its own module here and exposes `command = Command(...)`.
`bot.registry` lists them. Adapters read `command.spec` to register slash commands
(Discord), slash-command names (Slack) or parse typed lines (console); the core
calls the handlers with a neutral `Request`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.replies import Reply
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula
    from bot.settings import Settings


@dataclass(frozen=True)
class Option:
    name: str  # Spanish, as students type it: "texto", "modelo"
    description: str  # message key in bot/locales
    kind: Literal["text", "integer", "number", "boolean", "attachment"] = "text"
    required: bool = False
    choices: tuple[str, ...] = ()  # the accepted values; shown as they are
    autocomplete: bool = False
    name_en: str = ""  # the English name (Discord localizes it; console and Slack accept both)
    max_length: int | None = None
    # English names of choices that are Spanish words ("todos": "all"); both are accepted where
    # options are typed, and the command always gets the Spanish (canonical) one.
    choices_en: Mapping[str, str] = field(default_factory=dict)
    # Free text that may hold anything a student writes ("Hora: 10:30", "nota:ver"): where options
    # are typed as `name:value`, a word shaped like an unknown option stays text here; in any other
    # option's value it is refused as a mistyped option name (bot/arguments.py).
    free_text: bool = False

    def names(self) -> tuple[str, ...]:
        return (self.name, self.name_en) if self.name_en and self.name_en != self.name else (self.name,)

    def name_in(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name

    def choices_in(self, lang: str) -> tuple[str, ...]:
        """The choices as a reader of `lang` types them."""
        return tuple(self.choices_en.get(c, c) for c in self.choices) if lang == "en" else self.choices

    def choice(self, typed: str) -> str | None:
        """The canonical choice for what was typed in either language (any case), else None."""
        lowered = typed.strip().lower()
        for canonical in self.choices:
            if lowered in (canonical.lower(), self.choices_en.get(canonical, canonical).lower()):
                return canonical
        return None


@dataclass(frozen=True)
class CommandSpec:
    name: str  # "tokens"; also the default slash-command name
    description: str  # message key in bot/locales
    options: tuple[Option, ...] = ()
    subcommands: tuple[CommandSpec, ...] = ()
    instructor_only: bool = False  # for a subcommand: only that subcommand
    # False: refused outside a class (a Discord DM has no guild): what it spends (the provider's
    # calls, the class's daily budget) is counted per class, and a DM would escape those limits.
    in_direct_messages: bool = True

    def subcommand(self, name: str) -> CommandSpec | None:
        return next((s for s in self.subcommands if s.name == name), None)

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if name in o.names()), None)


Handler = Callable[[Request, "Aula"], Awaitable[Reply] | AsyncIterator[Reply]]
Completer = Callable[[Request, "Aula", str, str], Awaitable[list[str]]]


def slash_name(settings: Settings, platform: str, command: str) -> str:
    """What a user types for `command` on `platform`: "/<name>", except that a Slack workspace
    may rename it ([slack.commands], since its slash commands share one namespace)."""
    if platform == "slack":
        renamed = settings.slack.commands.get(command)
        if renamed:
            return renamed if renamed.startswith("/") else "/" + renamed
    return f"/{command}"


@dataclass(frozen=True)
class Command:
    """run answers the slash command. A handler may return one Reply, or be an async
    generator yielding successive versions of it (each replaces the last: streaming).

    on_action answers clicks and form submissions whose id starts with "<name>:".
    autocomplete(request, app, option_name, typed) suggests values for an option.
    on_startup(app) runs once when the bot starts (e.g. to close timers that expired
    while it was down).
    """

    spec: CommandSpec
    run: Handler
    on_action: Handler | None = None
    autocomplete: Completer | None = None
    on_startup: Callable[[Aula], Awaitable[None]] | None = None
