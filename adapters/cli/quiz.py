"""`aula quiz`: question banks and quiz results from the terminal.

aula quiz list                      banks (files and imports) and the quizzes played
aula quiz validate FILE [FILE…]     check banks against the schema (exit 1 on errors)
aula quiz import FILE [--clase C]   store a bank for one class (console by default,
                                    discord:<guild id>, slack:<team id>): /quiz start banco:<name>
aula quiz export SESSION --csv      write the per-student and per-question CSVs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.cli.numbers import whole_number
from bot.exports import csv_bytes, write_private, xlsx_bytes
from bot.i18n import t
from bot.quiz.banks import BankCatalog, BankError, bank_files, load_bank_file

if TYPE_CHECKING:
    from bot.quiz.store import QuizRepository
    from bot.settings import Settings


def register(subparsers) -> None:
    from adapters.cli import tool_help

    quiz = subparsers.add_parser("quiz", help=tool_help("quiz"))
    actions = quiz.add_subparsers(metavar="ACTION")

    listing = actions.add_parser("list", help="the banks and the quizzes played")
    listing.set_defaults(handler=cmd_list)

    validate = actions.add_parser("validate", help="check bank files (YAML or Kahoot-style CSV)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=cmd_validate)

    importing = actions.add_parser("import", help="store a bank in the database for /quiz start")
    importing.add_argument("file", metavar="FILE")
    importing.add_argument(
        "--clase",
        "--class",
        dest="owner",
        default="console:local",
        metavar="PLATFORM:ID",
        help="the class that gets the bank: discord:<guild id>, slack:<team id> or console:local (the default)",
    )
    importing.set_defaults(handler=cmd_import)

    export = actions.add_parser("export", help="a quiz's results as CSV files")
    export.add_argument("session", type=whole_number, metavar="SESSION", help="the quiz number (see aula quiz list)")
    export.add_argument("--csv", action="store_true", help="write CSV files")
    export.add_argument("--xlsx", action="store_true", help="write .xlsx workbooks (openpyxl)")
    export.add_argument("--out", default=".", help="folder for the files (default: here)")
    export.set_defaults(handler=cmd_export)


def _locale() -> str:
    from adapters.cli import cli_locale

    return cli_locale()


def _settings(args: argparse.Namespace) -> Settings:
    from adapters.cli import settings_from

    return settings_from(args)


async def _with_repository(settings: Settings, work):
    # The database (and its driver) only for the subcommands that read or write it: not validate.
    from bot.quiz.store import QuizRepository
    from bot.storage.database import database_for

    db = database_for(settings.database, settings.database_pool_size)
    await db.open()
    try:
        return await work(QuizRepository(db))
    finally:
        await db.close()


def cmd_validate(args: argparse.Namespace) -> int:
    lang = _locale()
    failed = False
    for file in args.files:
        try:
            bank = load_bank_file(file)
        except BankError as exc:
            failed = True
            print(t(lang, "quiz.cli.invalid", file=file, count=len(exc.problems)), file=sys.stderr)
            for line in exc.describe(lang, limit=200):
                print("  " + line, file=sys.stderr)
            continue
        print(
            t(
                lang,
                "quiz.cli.valid",
                file=file,
                bank=bank.name,
                choice=t(lang, "quiz.n.choice", count=len(bank.choice_questions)),
                open=t(lang, "quiz.n.open", count=len(bank.open_questions)),
            )
        )
    return 1 if failed else 0


def cmd_import(args: argparse.Namespace) -> int:
    lang = _locale()
    try:
        bank = load_bank_file(args.file)
    except BankError as exc:
        print(t(lang, "quiz.cli.invalid", file=args.file, count=len(exc.problems)), file=sys.stderr)
        for line in exc.describe(lang, limit=200):
            print("  " + line, file=sys.stderr)
        return 1
    owner = _owner(args.owner)
    if owner is None:
        print(t(lang, "quiz.cli.bad_class", value=args.owner), file=sys.stderr)
        return 2
    settings = _settings(args)
    if bank.name in bank_files(settings.quiz.banks_dir):
        print(t(lang, "quiz.import_shipped_name", bank=bank.name, file=args.file), file=sys.stderr)
        return 1
    content = Path(args.file).read_bytes()
    asyncio.run(
        _with_repository(
            settings,
            lambda repo: repo.save_bank(owner, bank.name, Path(args.file).name, content, "cli", time.time()),
        )
    )
    print(t(lang, "quiz.cli.imported", bank=bank.name, database=settings.database_shown, owner=":".join(owner)))
    return 0


PLATFORMS = ("console", "discord", "slack")


def _owner(text: str) -> tuple[str, str] | None:
    """'discord:1234' -> ('discord', '1234'); None unless a known platform and a non-empty id."""
    platform, _, workspace = text.strip().partition(":")
    if platform not in PLATFORMS or not workspace.strip():
        return None
    return platform, workspace.strip()


def cmd_list(args: argparse.Namespace) -> int:
    lang = _locale()
    settings = _settings(args)

    async def gather(repo: QuizRepository):
        entries = await BankCatalog(settings.quiz.banks_dir, repo).entries()
        sessions = await repo.recent_sessions(50)
        players = {s.id: len(await repo.players(s.id)) for s in sessions}
        return entries, sessions, players

    entries, sessions, players = asyncio.run(_with_repository(settings, gather))
    if not entries:
        print(t(lang, "quiz.cli.no_banks", folder=settings.quiz.banks_dir))
    else:
        print(t(lang, "quiz.cli.banks"))
    for entry in entries:
        if entry.bank is None:
            print(t(lang, "quiz.cli.bank_broken", bank=entry.name, source=entry.source))
            continue
        print(
            t(
                lang,
                "quiz.cli.bank_line",
                bank=entry.name,
                choice=t(lang, "quiz.n.choice", count=len(entry.bank.choice_questions)),
                open=t(lang, "quiz.n.open", count=len(entry.bank.open_questions)),
                source=entry.source,
            )
        )
    if sessions:
        print()
        print(t(lang, "quiz.cli.sessions"))
    for session in sessions:
        print(
            t(
                lang,
                "quiz.cli.session_line",
                id=session.id,
                bank=session.bank_name,
                platform=session.place.platform,
                channel=session.place.channel_id,
                when=time.strftime("%Y-%m-%d %H:%M", time.localtime(session.started_at)),
                count=players[session.id],
                running=t(lang, "quiz.cli.running") if session.running else "",
            )
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    lang = _locale()
    if not (args.csv or args.xlsx):
        print(t(lang, "quiz.cli.csv_only"), file=sys.stderr)
        return 2
    settings = _settings(args)

    from bot.quiz.export import export_sheets

    async def files(repo: QuizRepository):
        session = await repo.session(args.session)
        return None if session is None else await export_sheets(repo, session, lang)

    written = asyncio.run(_with_repository(settings, files))
    if written is None:
        print(t(lang, "quiz.cli.no_session", id=args.session, database=settings.database_shown), file=sys.stderr)
        return 1
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    formats = [(".csv", csv_bytes)] * args.csv + [(".xlsx", xlsx_bytes)] * args.xlsx
    for stem, sheet in written:
        for suffix, write in formats:
            path = write_private(folder / (stem + suffix), write(sheet))  # students' names: owner-only
            print(t(lang, "quiz.cli.wrote", path=path))
    return 0
