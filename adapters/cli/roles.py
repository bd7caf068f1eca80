"""`aula roles`: a conversation in a model's chat template, from the terminal.

    aula roles --system "Eres un profesor" --user "Explícame el fine-tuning" [--template gpt-4o|all] [--json] [--png F]

Messages are used in the order given; ending with --assistant makes a training example
(no generation prompt after it). Without --json it prints the exact prompt, then the token
counts; --json prints the template, the prompt, its ids and their count, whether it is a
training example, and the loss mask: `trained` (one boolean per id) and `trained_count`
(--train assistant, the default: the assistant's answers and their end-of-turn token;
--train all: every token). With --template all, every format side by side: each prompt,
then a table of tokens, template overhead, content tokens and special tokens per format
(--json: a list of the per-format objects; --png FILE: the picture, one row per format).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adapters.cli.output import write_output
from adapters.console.render import ConsoleRenderer
from bot.i18n import t
from bot.roles.command import DEFAULT_TEMPLATE, counts_table
from bot.roles.comparison import COMPARE, comparison_picture, comparison_table, render_all
from bot.roles.templates import LOSS_SCOPES, TEMPLATES, LossScope, Message, Rendered, loss_mask, render


class _AddMessage(argparse.Action):
    """--system/--user/--assistant append to one list, so the order given is kept."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        messages = list(getattr(namespace, self.dest) or [])
        messages.append(Message(self.const, values))
        setattr(namespace, self.dest, messages)


def register(subparsers) -> None:
    from adapters.cli import tool_help

    roles = subparsers.add_parser("roles", help=tool_help("roles"))
    for role in ("system", "user", "assistant"):
        roles.add_argument(
            f"--{role}", action=_AddMessage, dest="messages", const=role, metavar="TEXT", help=f"add {'an' if role == 'assistant' else 'a'} {role} message (repeatable, in order)"
        )
    roles.add_argument(
        "--template", choices=[*TEMPLATES, COMPARE], default=DEFAULT_TEMPLATE, help="all: every format side by side"
    )
    roles.add_argument("--train", choices=LOSS_SCOPES, default="assistant", help="which tokens the loss covers")
    roles.add_argument("--json", action="store_true", help="print template, prompt, ids, count and loss mask as JSON")
    roles.add_argument("--png", metavar="FILE", help="with --template all: also write the picture (one row per format)")
    roles.set_defaults(handler=cmd_roles, messages=[])


def cmd_roles(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale

    lang = cli_locale()
    if not args.messages:
        print(f"aula roles: {t(lang, 'roles.cli.no_messages')}", file=sys.stderr)
        return 2
    if args.template == COMPARE:
        return compare_all(args, lang)
    rendered = render(args.messages, args.template)
    if args.json:
        print(json.dumps(as_json(rendered, args.train), ensure_ascii=False, indent=2))
        return 0
    renderer = ConsoleRenderer(colour=sys.stdout.isatty(), files_dir=Path.cwd())
    sys.stdout.write(rendered.prompt + "\n\n" + renderer.part(counts_table(lang, rendered)) + "\n")
    return 0


def compare_all(args: argparse.Namespace, lang: str) -> int:
    """Every format: with --json a list of the per-format objects; else each prompt under its
    name, then the comparison table; --png writes the picture."""
    renderings = render_all(args.messages)
    if args.png and not write_output(lang, "roles", args.png, comparison_picture(lang, renderings)):
        return 2
    if args.json:
        print(json.dumps([as_json(r, args.train) for r in renderings], ensure_ascii=False, indent=2))
        return 0
    renderer = ConsoleRenderer(colour=sys.stdout.isatty(), files_dir=Path.cwd())
    for rendered in renderings:
        title = t(lang, "roles.compare.caption", model=TEMPLATES[rendered.template].label, count=rendered.count, overhead=rendered.overhead)
        sys.stdout.write(f"── {title}\n{rendered.prompt}\n\n")
    sys.stdout.write(renderer.part(comparison_table(lang, renderings, args.train)) + "\n")
    return 0


def as_json(rendered: Rendered, train: LossScope) -> dict:
    """One format's rendering as `aula roles --json` prints it."""
    mask = loss_mask(rendered, train)
    return {
        "template": rendered.template,
        "prompt": rendered.prompt,
        "ids": rendered.ids,
        "count": rendered.count,
        "overhead": rendered.overhead,
        "training_example": rendered.is_training_example,
        "trained": list(mask),
        "trained_count": sum(mask),
        "messages": [
            {
                "role": message.role,
                "content_tokens": rendered.content_tokens(index),
                "template_tokens": rendered.wrapper_tokens(index),
            }
            for index, message in enumerate(rendered.messages)
        ],
    }
