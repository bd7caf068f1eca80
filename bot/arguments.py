"""Typed arguments from one line of text, for the console and Slack.

Discord hands us typed options; a console line or a Slack slash command is one
string. The syntax mirrors Discord's: `/tokens texto:Hola mundo modelo:todos`.
Text before the first `name:` goes to the command's first text option, so
`/tokens Hola mundo` works too. Options with fixed choices, numbers and booleans
take one word; anything after that word goes back to the main text. An option name
counts only when its value touches the colon (`modelo:todos`) or when it ends the line
(`texto:` alone is the option given empty, not the text "texto:"), so pasted code such as
`def f(modelo: str)` stays text. Integers stay within ±(2**53 - 1), the range Discord allows
for an integer option, so every adapter accepts the same numbers and none reaches storage
too large for SQLite; numbers must be finite.

A word shaped like an option name touching its value (`plazo:2m`) that is none of the command's
options, in Spanish or English, is refused as a mistyped option ("error.unknown_option", with
the closest name by difflib) instead of being swallowed into the previous option's value;
except inside a free-text option (`Option.free_text`: /tokens texto, /next texto, /compare
prompt, /roles messages), where "nota:ver" is what the student wrote. A URL (`https://…`) or
a time (`10:30`) is never taken for an option name.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from bot.command import CommandSpec, Option
from bot.errors import UserError, echo

TRUE_WORDS = {"sí", "si", "yes", "true", "1", "on", "verdadero"}
FALSE_WORDS = {"no", "false", "0", "off", "falso"}
# Discord's documented bounds for INTEGER options (-2^53, 2^53); SQLite's INTEGER holds 2^63.
MAX_INTEGER = 2**53 - 1
# A word shaped like an option name whose value touches its colon (or that ends the line): starts
# with a letter, so `10:30` is not one; `https://…` and `C:\\…` are not either.
OPTION_SHAPED = re.compile(r"(?:(?<=\s)|^)([^\W\d_][\w-]*):(?=[^\s/\\]|\s*$)")


def split_subcommand(spec: CommandSpec, text: str) -> tuple[str, str]:
    """`start banco:x` -> ("start", "banco:x") when spec has subcommands."""
    if not spec.subcommands:
        return "", text
    head, _, rest = text.strip().partition(" ")
    return head.strip(), rest


def parse_arguments(spec: CommandSpec, text: str, lang: str = "es") -> dict[str, Any]:
    """Option name (spec's canonical name) -> value. Raises UserError on a bad value (naming the
    option and its choices in `lang`). Names and choice values are accepted in both languages."""
    by_name = {name.lower(): opt for opt in spec.options for name in opt.names()}
    primary = next((o for o in spec.options if o.kind == "text" and not o.choices), None)
    if not by_name:
        return {}
    pattern = re.compile(
        r"(?:(?<=\s)|^)(" + "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True)) + r"):(?=\S|\s*$)",
        re.IGNORECASE,
    )
    matches = list(pattern.finditer(text))
    leading = text[: matches[0].start()] if matches else text
    leftovers: list[str] = [leading.strip()] if leading.strip() else []
    args: dict[str, Any] = {}
    for index, match in enumerate(matches):
        option = by_name[match.group(1).lower()]
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip()
        if option.kind == "text" and not option.choices:
            if not option.free_text:
                refuse_unknown_option(spec, value, lang)
            args[option.name] = value
            continue
        word, _, rest = value.partition(" ")
        args[option.name] = convert(option, word, lang)
        if rest.strip():
            leftovers.append(rest.strip())
    if leftovers:
        if primary is None or not primary.free_text:
            refuse_unknown_option(spec, " ".join(leftovers), lang)
        if primary is None or primary.name in args:
            extra = " ".join(leftovers)
            if primary is None:
                raise UserError("error.unexpected_text", text=echo(extra))
            args[primary.name] = (args[primary.name] + " " + extra).strip()
        else:
            args[primary.name] = " ".join(leftovers) if len(leftovers) > 1 else leftovers[0]
    return args


def refuse_unknown_option(spec: CommandSpec, text: str, lang: str) -> None:
    """UserError("error.unknown_option"[_suggest]) naming the first word of `text` shaped like an
    option (`plazo:2m`) that is not one of spec's options in either language, listing spec's
    options in `lang` and, when difflib finds one close enough, the likeliest meant; else None."""
    known = {name.lower() for opt in spec.options for name in opt.names()}
    typed = next((m.group(1) for m in OPTION_SHAPED.finditer(text) if m.group(1).lower() not in known), None)
    if typed is None:
        return
    options = ", ".join(f"{opt.name_in(lang)}:" for opt in spec.options)
    close = difflib.get_close_matches(typed.lower(), sorted(known), n=1)
    if close:
        raise UserError("error.unknown_option_suggest", option=echo(typed), options=options, suggestion=close[0])
    raise UserError("error.unknown_option", option=echo(typed), options=options)


def convert(option: Option, raw: str, lang: str = "es") -> Any:
    raw = raw.strip()
    if option.choices:
        canonical = option.choice(raw)
        if canonical is None:
            raise UserError(
                "error.bad_choice",
                value=echo(raw),
                option=option.name_in(lang),
                choices=", ".join(option.choices_in(lang)),
            )
        return canonical
    if option.kind == "integer":
        try:
            number = int(raw)
        except ValueError:
            raise UserError("error.bad_number", option=option.name, value=echo(raw)) from None
        return checked_integer(number, option.name)
    if option.kind == "number":
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            raise UserError("error.bad_number", option=option.name, value=echo(raw)) from None
        if not math.isfinite(number):
            raise UserError("error.bad_number", option=option.name, value=echo(raw))
        return number
    if option.kind == "boolean":
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise UserError("error.bad_choice", value=echo(raw), option=option.name, choices="sí, no")
    return raw


def checked_integer(number: int, option: str) -> int:
    """number itself when |number| <= MAX_INTEGER; else UserError("error.number_out_of_range")."""
    if abs(number) > MAX_INTEGER:
        raise UserError("error.number_out_of_range", option=option, value=echo(str(number)), limit=MAX_INTEGER)
    return number


def missing_required(spec: CommandSpec, args: dict[str, Any]) -> Option | None:
    return next((o for o in spec.options if o.required and args.get(o.name) in (None, "")), None)
