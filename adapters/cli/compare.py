"""`aula compare`: base vs instruct from the terminal, both calls at once.

    aula compare "La inteligencia artificial es" [--json] [--profile local] [--max-tokens 50]
    aula compare --example capital --json

--json prints {"base": {...}, "instruct": {...}}, each with model, text, latency_s,
finish_reason and usage. The comparison is stored like one made in class (platform
"cli"), so the instructor's export has it too. Exit status: 0 when both models
answered, 1 when one failed (its "error" says why), 2 when nothing was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time

from adapters.cli.numbers import whole_number
from bot.compare.command import EXAMPLES
from bot.compare.store import CompareRepository, OutputRecord
from bot.compare.view import error_message, stats_line
from bot.i18n import seconds as seconds_text
from bot.i18n import t
from bot.llm.client import Completion, LlmClient, Profile, Sampling, UnknownProfile, resolve_profile
from bot.settings import Settings
from bot.storage.database import database_for


def register(subparsers) -> None:
    from adapters.cli import tool_help

    parser = subparsers.add_parser("compare", help=tool_help("compare"))
    parser.add_argument("prompt", nargs="?", help="the text both models get")
    parser.add_argument("--example", choices=list(EXAMPLES), help="one of the course activity's prompts instead")
    parser.add_argument("--profile", default="", help="a profile from [llm.profiles] (default: the main provider)")
    parser.add_argument("--max-tokens", type=whole_number, help="default: llm.max_tokens")
    parser.add_argument("--temperature", type=float, help="default: llm.temperature")
    parser.add_argument("--top-p", type=float, help="default: llm.top_p")
    parser.add_argument("--stop", action="append", help="a stop sequence (repeatable)")
    parser.add_argument("--json", action="store_true", help="print both answers as JSON")
    parser.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale, settings_from

    lang = cli_locale()
    settings = settings_from(args)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would mix with the answer
    if bool(args.prompt) == bool(args.example):
        print(f"aula compare: {t(lang, 'compare.need_prompt' if not args.prompt else 'compare.prompt_and_example')}",
              file=sys.stderr)  # fmt: skip
        return 2
    base_prompt, instruct_prompt = EXAMPLES[args.example] if args.example else (args.prompt, args.prompt)
    try:
        profile = resolve_profile(settings, args.profile)
    except UnknownProfile as exc:
        print(f"aula compare: {t(lang, 'compare.unknown_profile', name=exc.name, known=', '.join(exc.known))}",
              file=sys.stderr)  # fmt: skip
        return 2
    sampling = Sampling.from_settings(
        settings.llm, max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, stop=args.stop
    )
    result = asyncio.run(compare(settings, profile, sampling, base_prompt, instruct_prompt))
    if result["refused"]:
        print(f"aula compare: {error_message(result['refused'], lang, profile)}", file=sys.stderr)
        return 2
    sides = {role: result[role] for role in ("base", "instruct")}
    if args.json:
        models = {"base": profile.base_model, "instruct": profile.instruct_model}
        data = {"profile": profile.name, "wall_s": round(result["wall_s"], 3)}
        data |= {role: _as_json(answer, models[role], profile, lang) for role, answer in sides.items()}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for role, answer in sides.items():
            model = profile.base_model if role == "base" else profile.instruct_model
            print(f"== {t(lang, f'compare.{role}')} · {model} ==")
            if isinstance(answer, Completion):
                print(answer.text)
                print(stats_line(answer, lang, profile, sampling, settings.llm))
            else:
                print("⚠️ " + error_message(answer, lang, profile))
            print()
        print(t(lang, "compare.wall_time", seconds=seconds_text(lang, result["wall_s"])))
    return 0 if all(isinstance(a, Completion) for a in sides.values()) else 1


async def compare(
    settings: Settings, profile: Profile, sampling: Sampling, base_prompt: str, instruct_prompt: str
) -> dict:
    """Both calls at once; each side is a Completion or the exception it ended with."""
    from bot.llm.client import MissingApiKey, PromptTooLong

    client = LlmClient(settings.llm, profile)
    started = time.perf_counter()
    try:
        base, instruct = await asyncio.gather(
            client.complete(base_prompt, profile=profile, sampling=sampling),
            client.chat([{"role": "user", "content": instruct_prompt}], profile=profile, sampling=sampling),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
    wall_s = time.perf_counter() - started
    for answer in (base, instruct):
        if isinstance(answer, MissingApiKey | PromptTooLong):  # nothing was sent: say it once
            return {"refused": answer}
        if isinstance(answer, BaseException) and not isinstance(answer, Exception):
            raise answer
    await _record(settings, profile, base_prompt, instruct_prompt, base, instruct)
    return {"refused": None, "base": base, "instruct": instruct, "wall_s": wall_s}


async def _record(settings: Settings, profile: Profile, base_prompt: str, instruct_prompt: str, base, instruct) -> None:
    outputs = []
    for role, model, prompt, answer in (
        ("base", profile.base_model, base_prompt, base),
        ("instruct", profile.instruct_model, instruct_prompt, instruct),
    ):
        if isinstance(answer, Completion):
            usage = answer.usage
            outputs.append(OutputRecord(
                role=role, model=model, prompt=prompt, text=answer.text,
                finish_reason=answer.finish_reason or "interrupted", interruption=answer.interruption,
                latency_s=answer.latency_s, prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                usage_estimated=bool(usage and usage.estimated), cost_usd=profile.cost_usd(usage),
            ))  # fmt: skip
        else:
            outputs.append(OutputRecord(role=role, model=model, prompt=prompt, text="", finish_reason="error",
                                        error=type(answer).__name__))  # fmt: skip
    db = database_for(settings.database, settings.database_pool_size)
    await db.open()
    try:
        user = os.environ.get("USER") or "cli"
        await CompareRepository(db).save(
            at=time.time(), platform="cli", workspace_id="local", channel_id="terminal",
            user_id=user, user_name=user, profile=profile.name, outputs=outputs,
        )  # fmt: skip
    finally:
        await db.close()


def _as_json(answer: Completion | BaseException, model: str, profile: Profile, lang: str) -> dict:
    if not isinstance(answer, Completion):
        return {"model": model, "error": type(answer).__name__, "message": error_message(answer, lang, profile)}
    usage = answer.usage
    return {
        "model": answer.model,
        "text": answer.text,
        "latency_s": round(answer.latency_s, 3),
        "finish_reason": answer.finish_reason,
        "interruption": answer.interruption or None,
        "usage": None if usage is None else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "estimated": usage.estimated,
        },
        "cost_usd": round(profile.cost_usd(usage), 6),
    }
