"""The `aula` command: run the bot, open the console classroom, and tools for instructors.

Each command group registers its own subcommands from a module here (see TOOLS), so
`aula tokens`, `aula roles`... sit beside the slash commands they mirror. Only the module of
the command being run is imported (with what it needs: tiktoken, httpx, Pillow, pydantic...);
`aula --help` lists the others from TOOLS alone, so it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from bot import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms of `aula --help`)

if TYPE_CHECKING:
    from bot.settings import Settings


# Modules under adapters/cli that add subcommands, each with register(subparsers), and the line
# `aula --help` shows for it (the module's register() uses the same line: tool_help(name)).
# The CLI's help is English throughout, like argparse's own words around it ("usage",
# "options", "show this help message"), whatever LANG or AULA_LOCALE say; the commands'
# output follows the locale (--lang where offered).
TOOLS: dict[str, str] = {
    "roles": "show a conversation in a model's chat template and count its tokens",
    "quiz": "question banks and quiz results",
    "tokens": "show how a text splits into tokens (TEXT '-' reads stdin)",
    "compare": "compare the base and the instruct model on one prompt",
    "next": "the next token with its probability, step by step (needs the provider's log-probabilities)",
    "dataset": "check a fine-tuning JSONL file: errors per line, statistics, estimated cost",
    "doctor": "check settings, database, credentials and the LLM endpoint; exit 1 if something is wrong",
}


def tool_help(name: str) -> str:
    return TOOLS[name]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Imported here, not at the top: `aula --help` must not pay for pydantic and aiosqlite.
        from bot.i18n import t
        from bot.settings import SettingsError
        from bot.storage.database import DatabaseError

        if isinstance(exc, SettingsError):
            print(f"aula: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, DatabaseError):
            print(f"aula: {t(cli_locale(), 'cli.database_error', error=exc)}", file=sys.stderr)
            return 2
        raise


def command_of(argv: list[str]) -> str | None:
    """The subcommand argv runs (its first word that is not an option), or None."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--config":
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = "") -> argparse.ArgumentParser:
    """The whole parser. command: register only that tool's module in full (the others get a
    stub with their help line); "" registers every tool (what tests of the parser use)."""
    parser = argparse.ArgumentParser(prog="aula", description="Aula: classroom bot for the fine-tuning course")
    parser.add_argument("--version", action="version", version=f"aula {__version__}")
    parser.add_argument("--config", help="settings file (default: config/aula.toml, or AULA_CONFIG)")
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="start every platform that has credentials (Discord, Slack)")
    run.set_defaults(handler=cmd_run)

    console = sub.add_parser("console", help="a local classroom in the terminal (no tokens needed)")
    console.add_argument("--as", dest="user", default="estudiante", help="who is typing (default: estudiante)")
    console.add_argument("--instructor", action="store_true", help="type as an instructor")
    console.add_argument("--lang", choices=["es", "en"], help="language (default: from settings)")
    console.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    console.add_argument("--strict", action="store_true", help="exit 1 if any line was refused")
    console.set_defaults(handler=cmd_console)

    config = sub.add_parser("config", help="settings")
    config_sub = config.add_subparsers(metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective settings (secrets masked)")
    show.set_defaults(handler=cmd_config_show)

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="create the database or apply pending migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    copy = db_sub.add_parser(
        "copy",
        help="copy a class, or the whole database, from SOURCE to TARGET (SQLite <-> PostgreSQL); safe to re-run",
    )
    copy.add_argument("source", metavar="SOURCE", help="a path, sqlite:///path or postgresql://... URL")
    copy.add_argument("target", metavar="TARGET", help="a path, sqlite:///path or postgresql://... URL (migrated first)")
    copy.add_argument(
        "--clase",
        "--class",
        dest="owner",
        metavar="PLATFORM:ID",
        help="only this class: discord:<guild id>, slack:<team id> or console:local (default: everything)",
    )
    copy.set_defaults(handler=cmd_db_copy)

    invite = sub.add_parser("invite", help="print the Discord URL that adds the bot to a server")
    invite.add_argument("--client-id", help="the Discord application id (default: read from DISCORD_TOKEN)")
    invite.set_defaults(handler=cmd_invite)

    health = sub.add_parser("healthcheck", help="exit 0 if a running `aula run` beat recently (for containers)")
    health.set_defaults(handler=cmd_healthcheck)

    for name in TOOLS:
        if command == "" or command == name:
            import_module(f"adapters.cli.{name}").register(sub)
        else:
            sub.add_parser(name, help=tool_help(name), add_help=False)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    from adapters.logs import configure_logging
    from bot.settings import load_settings

    settings = load_settings(getattr(args, "config", None))
    configure_logging(settings)  # key=value lines on stderr, secrets masked (README: Operations)
    return settings


def cli_locale() -> str:
    import os

    from bot.i18n import normalize_locale

    return normalize_locale(os.environ.get("AULA_LOCALE") or os.environ.get("LANG"), default="es")


def cmd_console(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from adapters.console import run_console
    from bot.app import Aula

    settings = settings_from(args)
    logging.getLogger().setLevel(logging.WARNING)  # the terminal is the classroom, not a log
    colour = {"always": True, "never": False}.get(args.color)
    aula = Aula(settings)
    refused = asyncio.run(
        run_console(aula, user_name=args.user, instructor=args.instructor, locale=args.lang, colour=colour)
    )
    return 1 if args.strict and refused else 0


def cmd_config_show(args: argparse.Namespace) -> int:
    import json

    settings = settings_from(args)
    print(json.dumps(settings.masked(), indent=2, ensure_ascii=False))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from bot.storage.database import database_for

    settings = settings_from(args)

    async def upgrade() -> tuple[list[str], int]:
        db = database_for(settings.database, settings.database_pool_size)
        await db.open(migrate=False)
        try:
            applied = await db.upgrade()
            return applied, await db.schema_version()
        finally:
            await db.close()

    from bot.i18n import t

    applied, version = asyncio.run(upgrade())
    lang = cli_locale()
    print(t(lang, "cli.db_upgraded", path=settings.database_shown, version=version, applied=", ".join(applied) or "-"))
    return 0


def cmd_db_copy(args: argparse.Namespace) -> int:
    """aula db copy SOURCE TARGET [--clase PLATFORM:ID]: exit 0 when copied (or already there),
    1 when refused (nothing written), 2 when a database cannot be opened."""
    import asyncio

    from bot.i18n import number, t
    from bot.storage.transfer import CopyRefused, copy_database, shown

    lang = cli_locale()
    owner = None
    if args.owner is not None:
        platform, _, workspace = args.owner.strip().partition(":")
        if platform not in ("console", "discord", "slack") or not workspace.strip():
            print(f"aula: {t(lang, 'cli.db_copy_bad_class', value=args.owner)}", file=sys.stderr)
            return 2
        owner = (platform, workspace.strip())
    what = t(lang, "cli.db_copy_class", owner=":".join(owner)) if owner else t(lang, "cli.db_copy_everything")
    print(t(lang, "cli.db_copy_start", what=what, source=shown(args.source), target=shown(args.target)), flush=True)
    try:
        report = asyncio.run(copy_database(args.source, args.target, owner))
    except CopyRefused as refused:
        print(f"aula: {t(lang, refused.key, **refused.values)}", file=sys.stderr)
        return 1
    headers = t(lang, "cli.db_copy_columns").split("|")
    rows = [(c.table, number(lang, c.source), number(lang, c.copied), number(lang, c.target)) for c in report.tables]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(4)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    print(t(lang, "cli.db_copy_done", count=report.copied))
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from adapters.discord.invite import client_id_from_token, invite_url
    from bot.i18n import t

    settings = settings_from(args)
    client_id = args.client_id
    if not client_id and settings.secrets.discord_token:
        client_id = client_id_from_token(settings.secrets.discord_token.get_secret_value())
    if not client_id:
        print(t(cli_locale(), "cli.invite_needs_id"), file=sys.stderr)
        return 2
    print(invite_url(client_id))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.runner import run_platforms

    settings = settings_from(args)
    return run_platforms(settings, cli_locale())


def cmd_healthcheck(args: argparse.Namespace) -> int:
    from adapters.runner import healthy
    from bot.settings import load_settings

    return 0 if healthy(load_settings(getattr(args, "config", None))) else 1


if __name__ == "__main__":
    sys.exit(main())
