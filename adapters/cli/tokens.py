"""`aula tokens`: a text's tokens from the terminal, the same analysis as /tokens.

    aula tokens "¡Hola mundo!" [--encoding o200k_base|cl100k_base|llama-3.1|all] [--json] [--png FILE]
    aula tokens - < texto.txt        (TEXT "-" reads standard input, exactly as given)

Without --json it prints what /tokens shows. --json prints, per encoding, one JSON object
on its own line: encoding, count, characters, ids, tokens (each token's text, with U+FFFD
where it holds only part of a character) and segments (tokens grouped on whole characters).
"""

from __future__ import annotations

import argparse
import json
import sys

from adapters.cli.output import write_output
from bot.errors import UserError
from bot.i18n import t
from bot.replies import Paragraph, Reply, Span
from bot.tokens.analysis import TokenAnalysis, analyze
from bot.tokens.command import ALL_ENCODINGS, check_text, languages_table, picture_png, tokens_reply
from bot.tokens.encodings import MODEL_ALIASES

# Encoding names, and the short names students type (gpt-oss, qwen3, mistral).
ENCODING_CHOICES = (*ALL_ENCODINGS, *sorted(set(MODEL_ALIASES) - set(ALL_ENCODINGS)), "all")


def register(subparsers) -> None:
    from adapters.cli import tool_help

    tokens = subparsers.add_parser("tokens", help=tool_help("tokens"))
    tokens.add_argument("text", metavar="TEXT", help="the text, or - to read standard input")
    tokens.add_argument(
        "--encoding", choices=ENCODING_CHOICES, default="o200k_base", help="default: o200k_base"
    )
    tokens.add_argument("--json", action="store_true", help="one JSON object per encoding, one per line")
    tokens.add_argument("--png", metavar="FILE", help="also write the coloured picture to FILE")
    tokens.add_argument("--lang", choices=["es", "en"], help="language (default: from AULA_LOCALE or LANG)")
    tokens.set_defaults(handler=cmd_tokens)


def cmd_tokens(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale, settings_from

    lang = args.lang or cli_locale()
    try:
        text = read_text(args.text)
        check_text(text, max_chars=sys.maxsize, lang=lang)  # the terminal has no message size to respect
    except UserError as exc:
        print(f"aula tokens: {t(lang, exc.key, **exc.values)}", file=sys.stderr)
        return 2
    names = ALL_ENCODINGS if args.encoding == "all" else (MODEL_ALIASES.get(args.encoding, args.encoding),)
    if args.json:
        for name in names:
            print(json.dumps(as_json(analyze(text, name)), ensure_ascii=False))
    else:
        from adapters.console.render import ConsoleRenderer

        settings = settings_from(args)
        reply = tokens_reply(text, names, lang, settings.tokens, picture=False)
        files = settings.data_dir / "console-files"
        renderer = ConsoleRenderer(colour=sys.stdout.isatty(), files_dir=files)
        print(renderer.render(reply))
        if args.encoding == "all":  # how much more Spanish costs than English, per tokenizer
            table = Reply.public(
                Paragraph.of(Span(t(lang, "tokens.languages.course"), bold=True)),
                languages_table(list(names), lang),
            )
            print(renderer.render(table))
    if args.png and not write_output(lang, "tokens", args.png, picture_png([analyze(text, name) for name in names], lang)):
        return 2  # owner-only: the user's text
    return 0


def read_text(argument: str) -> str:
    if argument != "-":
        return argument
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("tokens.error.unreadable_input") from None


def as_json(analysis: TokenAnalysis) -> dict:
    return {
        "encoding": analysis.encoding.name,
        "count": analysis.count,
        "characters": analysis.characters,
        "ids": list(analysis.ids),
        "tokens": analysis.token_texts(),
        "segments": [{"text": p.text, "ids": list(p.ids)} for p in analysis.pieces],
    }
