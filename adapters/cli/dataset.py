"""`aula dataset check`: a fine-tuning file checked from the terminal, as /dataset does.

    aula dataset check FILE [--format auto|openai|prompt-completion|sharegpt] [--template …]
                            [--context N] [--epochs N] [--price-per-million X] [--json]

The file is streamed from disk line by line (bot.dataset.checker), never read whole.
Without --json it prints the report as the console shows /dataset; --json prints
`examples`, `errors` (line, field, kind, message), `error_counts`, `tokens` (min, median,
p95, max), `trained_tokens`, `truncated` and `estimated_cost`. Exit status: 0 without
errors, 1 with errors or a refused file, 2 for a bad option or a missing file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adapters.cli.numbers import whole_number
from adapters.console.render import ConsoleRenderer
from bot.dataset.checker import FORMATS, Refused, check
from bot.dataset.command import options_from
from bot.dataset.display import refusal_message, report_json, report_parts
from bot.errors import UserError
from bot.i18n import t
from bot.replies import Reply
from bot.roles.templates import TEMPLATES
from bot.settings import load_settings


def register(subparsers) -> None:
    from adapters.cli import cli_locale, tool_help

    dataset = subparsers.add_parser("dataset", help=tool_help("dataset"))
    actions = dataset.add_subparsers(metavar="ACTION")
    checker = actions.add_parser("check", help=t(cli_locale(), "dataset.cli.help"))
    checker.add_argument("file", metavar="FILE")
    checker.add_argument("--format", choices=FORMATS, default="auto")
    checker.add_argument("--template", choices=list(TEMPLATES), help="chat template (default: [dataset] template)")
    checker.add_argument("--context", type=whole_number, help="training sequence length in tokens (default: settings)")
    checker.add_argument("--epochs", type=whole_number, help="epochs for the cost estimate (default: settings)")
    checker.add_argument("--price-per-million", type=float, help="USD per million trained tokens (default: settings)")
    checker.add_argument("--json", action="store_true", help="print the report as JSON")
    checker.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale

    lang = cli_locale()
    settings = load_settings(getattr(args, "config", None))  # an offline check: no log set-up
    try:
        options = options_from(
            settings.dataset,
            format=args.format,
            template=args.template,
            context=args.context,
            epochs=args.epochs,
            price_per_million=args.price_per_million,
        )
    except UserError as exc:
        print(f"aula dataset: {t(lang, exc.key, **exc.values)}", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        stream = path.open("rb")
    except OSError:
        print(f"aula dataset: {t(lang, 'dataset.error.file', file=args.file)}", file=sys.stderr)
        return 2
    with stream:
        try:
            report = check(stream, options, size=path.stat().st_size if path.is_file() else None)
        except Refused as refused:
            message = refusal_message(lang, refused)
            if args.json:
                print(json.dumps({"refused": refused.kind, "message": message}, ensure_ascii=False, indent=2))
            else:
                print(f"aula dataset: {message}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report_json(lang, report, options), ensure_ascii=False, indent=2))
    else:
        renderer = ConsoleRenderer(colour=sys.stdout.isatty(), files_dir=Path.cwd())
        sys.stdout.write(renderer.render(Reply.private(*report_parts(lang, report, options, path.name))) + "\n")
    return 1 if report.error_count else 0
