"""`aula dataset check`: a fine-tuning file checked from the terminal, as /dataset does.

    aula dataset check FILE|- [--format auto|openai|prompt-completion|sharegpt] [--template …]
                            [--context N] [--epochs N] [--price-per-million X] [--json]
                            [--png FILE] [--mask-png FILE] [--lang es|en]

The file is streamed from disk line by line (bot.dataset.checker), never read whole; FILE "-"
streams standard input the same way (`aula dataset check - < datos.jsonl`, or from a pipe).
Without --json it prints the report as the console shows /dataset; --json prints
`examples`, `errors` (line, field, kind, message), `error_counts`, `tokens` (min, median,
p95, max), `trained_tokens`, `truncated` and `estimated_cost`. Pictures are written only
when asked: --png FILE the histogram of lengths, --mask-png FILE the shown example with its
loss mask (owner-only files: the example is the class's data). Exit status: 0 without
errors, 1 with errors or a refused file, 2 for a bad option or a missing file.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from adapters.cli.numbers import whole_number
from adapters.cli.output import write_output
from adapters.console.render import ConsoleRenderer
from bot.dataset.checker import FORMATS, Refused, check
from bot.dataset.command import options_from
from bot.dataset.display import refusal_message, report_json, report_parts
from bot.errors import UserError, open_failure
from bot.i18n import t
from bot.replies import Image, Reply
from bot.roles.templates import TEMPLATES
from bot.settings import load_settings

HISTOGRAM, MASK = "dataset-lengths.png", "roles-mask.png"  # the report's Image filenames


def register(subparsers) -> None:
    from adapters.cli import tool_help

    dataset = subparsers.add_parser("dataset", help=tool_help("dataset"))
    actions = dataset.add_subparsers(metavar="ACTION")
    checker = actions.add_parser("check", help=tool_help("dataset"))
    checker.add_argument("file", metavar="FILE", help="the JSONL file, or - to read standard input")
    checker.add_argument("--format", choices=FORMATS, default="auto")
    checker.add_argument("--template", choices=list(TEMPLATES), help="chat template (default: [dataset] template)")
    checker.add_argument("--context", type=whole_number, help="training sequence length in tokens (default: settings)")
    checker.add_argument("--epochs", type=whole_number, help="epochs for the cost estimate (default: settings)")
    checker.add_argument("--price-per-million", type=float, help="USD per million trained tokens (default: settings)")
    checker.add_argument("--json", action="store_true", help="print the report as JSON")
    checker.add_argument("--png", metavar="FILE", help="also write the histogram of example lengths to FILE")
    checker.add_argument("--mask-png", metavar="FILE", help="also write the shown example with its loss mask to FILE")
    checker.add_argument("--lang", choices=["es", "en"], help="language (default: from AULA_LOCALE or LANG)")
    checker.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale

    lang = args.lang or cli_locale()
    settings = load_settings(getattr(args, "config", None))  # an offline check: no log set-up
    try:
        options = options_from(
            settings.dataset,
            format=args.format,
            template=args.template,
            context=args.context,
            epochs=args.epochs,
            price_per_million=args.price_per_million,
            names={"context": "--context", "price_per_million": "--price-per-million"},
        )
    except UserError as exc:
        print(f"aula dataset: {t(lang, exc.key, **exc.values)}", file=sys.stderr)
        return 2
    path = Path(args.file)
    from_stdin = args.file == "-"
    try:  # "-" streams standard input through the same checker, line by line as a file
        stream = nullcontext(sys.stdin.buffer) if from_stdin else path.open("rb")
    except OSError as exc:  # a folder or an unreadable file said as such, not as "not found"
        why = open_failure(exc)
        key = "dataset.error.file" if why == "missing" else f"dataset.error.{why}"
        print(f"aula dataset: {t(lang, key, file=args.file, error=exc.strerror)}", file=sys.stderr)
        return 2
    with stream as lines:
        try:
            report = check(lines, options, size=None if from_stdin or not path.is_file() else path.stat().st_size)
        except Refused as refused:
            message = refusal_message(lang, refused)
            if args.json:
                print(json.dumps({"refused": refused.kind, "message": message}, ensure_ascii=False, indent=2))
            else:
                print(f"aula dataset: {message}", file=sys.stderr)
            return 1
    shown = t(lang, "dataset.stdin") if from_stdin else path.name
    parts = report_parts(lang, report, options, shown, pictures=bool(args.png or args.mask_png))
    pictures = {part.filename: part for part in parts if isinstance(part, Image)}
    for wanted, name in ((args.png, HISTOGRAM), (args.mask_png, MASK)):
        if wanted and name in pictures and not write_output(lang, "dataset", wanted, pictures[name].png):
            return 2
    if args.json:
        print(json.dumps(report_json(lang, report, options), ensure_ascii=False, indent=2))
    else:  # the pictures only where --png / --mask-png asked for them, never in the current directory
        renderer = ConsoleRenderer(colour=sys.stdout.isatty(), files_dir=Path.cwd())
        text = [part for part in parts if not isinstance(part, Image)]
        sys.stdout.write(renderer.render(Reply.private(*text)) + "\n")
    return 1 if report.error_count else 0
