"""`aula doctor`: is this installation ready to run? Prints what to fix; exit 1 if anything is wrong.

    aula doctor [--online] [--lang es|en]

The checks live in bot/doctor.py; this prints them, grouped by area, in the user's
language (--lang, else AULA_LOCALE or LANG, else Spanish).
"""

from __future__ import annotations

import argparse
import asyncio

from bot.doctor import Finding, Level, diagnose, has_problem, load
from bot.i18n import t

MARKS = {Level.OK: "✓", Level.WARNING: "⚠", Level.PROBLEM: "✗"}


def register(subparsers) -> None:
    from adapters.cli import tool_help

    doctor = subparsers.add_parser(
        "doctor", help=tool_help("doctor")
    )
    doctor.add_argument(
        "--online", action="store_true", help="also ask Discord and Slack whether they accept the tokens"
    )
    doctor.add_argument("--lang", choices=["es", "en"], help="language (default: from AULA_LOCALE or LANG)")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale

    lang = args.lang or cli_locale()
    settings, findings = load(getattr(args, "config", None))
    if settings is not None:
        findings += asyncio.run(diagnose(settings, online=args.online))
    print(render(findings, lang))
    return 1 if has_problem(findings) else 0


def render(findings: list[Finding], lang: str) -> str:
    lines = [t(lang, "doctor.title")]
    area = None
    for finding in findings:
        if finding.area != area:
            area = finding.area
            lines += ["", area_title(area, lang)]
        lines.append(f"  {MARKS[finding.level]} {t(lang, finding.key, **finding.values)}")
    problems = sum(f.level is Level.PROBLEM for f in findings)
    warnings = sum(f.level is Level.WARNING for f in findings)
    summary = "doctor.summary_problems" if problems else "doctor.summary_ok"
    lines += ["", t(lang, summary, problems=problems, warnings=warnings)]
    return "\n".join(lines)


def area_title(area: str, lang: str) -> str:
    if area.startswith("llm:"):
        return t(lang, "doctor.area.llm_profile", profile=area.split(":", 1)[1])
    return t(lang, f"doctor.area.{area}")
