"""Slash commands made from the registry's CommandSpecs, so command authors never touch Discord.

Each spec becomes an `app_commands.Command` (or a `Group` of them for subcommands)
whose callback has a generated signature, one keyword parameter per option, and
discord.py's own `rename`/`describe`/`choices`/`autocomplete` metadata. Option
names and choice names default to Spanish; English names (`Option.name_en`,
`Option.choices_en`) and every description reach Discord as localizations through
`CatalogTranslator`, backed by bot.i18n. A choice's value is always the canonical
(Spanish) one, so the core gets the same value whatever language the picker showed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, locale_str

from bot.command import CommandSpec, Option
from bot.i18n import DEFAULT, normalize_locale, t
from bot.limits import DISCORD_AUTOCOMPLETE_CHOICES, truncate

log = logging.getLogger("aula.discord")

DESCRIPTION_LIMIT = 100  # Discord's limit for command, option and choice texts
STRING_OPTION_LIMIT = 6000  # Discord's longest string option

# (interaction, command, subcommand, option name -> value)
Invoke = Callable[[discord.Interaction, str, str, dict[str, Any]], Awaitable[None]]
# (interaction, command, subcommand, option, typed) -> suggestions
Complete = Callable[[discord.Interaction, str, str, Option, str], Awaitable[list[str]]]

KIND_TYPES: dict[str, type] = {
    "text": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "attachment": discord.Attachment,
}


def described(key: str) -> locale_str:
    """A description shown in Spanish by default; the translator localizes it by its key."""
    try:
        text = t(DEFAULT, key)
    except KeyError:
        log.error("message key %r is missing from bot/locales", key)
        text = key
    return locale_str(truncate(text, DESCRIPTION_LIMIT), key=key)


class CatalogTranslator(app_commands.Translator):
    """Localizes descriptions (message keys) and English option names for Discord's clients."""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        lang = normalize_locale(locale.value, default="")
        if not lang:
            return None  # Discord then shows the default (Spanish) text
        key = string.extras.get("key")
        if key:
            try:
                return truncate(t(lang, key), DESCRIPTION_LIMIT)
            except KeyError:
                return None
        name_en = string.extras.get("name_en")
        if lang == "en" and name_en:
            return name_en.lower()
        choice_en = string.extras.get("choice_en")
        if lang == "en" and choice_en:
            return truncate(choice_en, DESCRIPTION_LIMIT)
        return None


def slash_commands(
    specs: list[CommandSpec], invoke: Invoke, complete: Complete
) -> list[app_commands.Command | app_commands.Group]:
    out: list[app_commands.Command | app_commands.Group] = []
    for spec in specs:
        if not spec.subcommands:
            out.append(_command(spec, spec.name, "", invoke, complete))
            continue
        if spec.options:
            log.warning("/%s has subcommands, so Discord ignores its own options", spec.name)
        group = app_commands.Group(name=spec.name, description=described(spec.description))
        for sub in spec.subcommands:
            group.add_command(_command(sub, spec.name, sub.name, invoke, complete))
        out.append(group)
    return out


def _command(
    spec: CommandSpec, command: str, subcommand: str, invoke: Invoke, complete: Complete
) -> app_commands.Command:
    # Python parameter names are generated; Discord sees each option's own name via rename.
    options = {f"option_{index}": option for index, option in enumerate(spec.options)}

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        args = {options[param].name: value for param, value in values.items() if value is not None}
        await invoke(interaction, command, subcommand, args)

    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
            ),
            *(
                inspect.Parameter(
                    param,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=_annotation(option),
                    default=inspect.Parameter.empty if option.required else None,
                )
                for param, option in options.items()
            ),
        ]
    )
    if options:
        app_commands.rename(**{p: locale_str(o.name, name_en=o.name_en) for p, o in options.items()})(
            callback
        )
        app_commands.describe(**{p: described(o.description) for p, o in options.items()})(callback)
    choices = {
        p: [Choice(name=_choice_name(o, c), value=_typed(o, c)) for c in o.choices]
        for p, o in options.items()
        if o.choices and len(o.choices) <= DISCORD_AUTOCOMPLETE_CHOICES and not o.autocomplete
    }
    if choices:
        app_commands.choices(**choices)(callback)
    # Too many choices for Discord's picker: suggest them as the user types instead.
    completers = {
        p: _completer(command, subcommand, o, complete)
        for p, o in options.items()
        if (o.autocomplete or len(o.choices) > DISCORD_AUTOCOMPLETE_CHOICES)
        and o.kind in ("text", "integer", "number")
    }
    if completers:
        app_commands.autocomplete(**completers)(callback)
    return app_commands.Command(
        name=spec.name, description=described(spec.description), callback=callback, extras={"spec": spec}
    )


def _annotation(option: Option) -> Any:
    kind = KIND_TYPES[option.kind]
    if kind is str:
        return app_commands.Range[
            str, None, min(option.max_length or STRING_OPTION_LIMIT, STRING_OPTION_LIMIT)
        ]
    return kind


def _choice_name(option: Option, choice: str) -> locale_str:
    """A choice as the picker shows it: Spanish by default, its English name for English clients."""
    return locale_str(truncate(choice, DESCRIPTION_LIMIT), choice_en=option.choices_en.get(choice, ""))


def _typed(option: Option, value: str) -> Any:
    return KIND_TYPES[option.kind](value) if option.kind in ("integer", "number") else value


def _completer(command: str, subcommand: str, option: Option, complete: Complete):
    async def suggest(interaction: discord.Interaction, typed: str) -> list[Choice]:
        choices: list[Choice] = []
        # Suggested choices are named in the user's language too; their value stays canonical.
        english = normalize_locale(interaction.locale.value, default=DEFAULT) == "en"
        for text in (await complete(interaction, command, subcommand, option, str(typed)))[
            :DISCORD_AUTOCOMPLETE_CHOICES
        ]:
            try:
                choices.append(
                    Choice(
                        name=truncate(option.choices_en.get(str(text), str(text)) if english else str(text), DESCRIPTION_LIMIT),
                        value=_typed(option, str(text)),
                    )
                )
            except ValueError:
                continue  # a suggestion that is not a number for a number option
        return choices

    return suggest
