"""`aula next`: the next-token distribution from the terminal, optionally step by step.

    aula next "El clima hoy está" [--model base|instruct|both] [--top 10] [--steps N --greedy|--sample T]
              [--profile local] [--json]

--json prints {"model", "prompt", "steps": [{"candidates": [{"token", "id", "logprob", "probability"}, …],
"chosen": {…} or null}], "text"}; with --model both, one such object under "base" and one under
"instruct". With --steps N, N chosen steps then the distribution after them (chosen null).
The provider tokens it used count against the class "cli"/"local"'s daily budget, like
`aula compare`'s (bot.llm.usage). Exit status: 0, 1 when the provider returned no log-probabilities or a call failed (the message
says why), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time

from adapters.cli.numbers import whole_number
from bot.i18n import t
from bot.llm.client import LlmClient, LlmError, Profile, UnknownProfile, resolve_profile
from bot.llm.usage import UsageRepository
from bot.next.command import llm_error_text
from bot.next.display import bar, percent
from bot.next.logic import MAX_TOP, Generation, Step, counted_tokens, fetch, marked, shown
from bot.settings import Settings
from bot.storage.database import database_for


def register(subparsers) -> None:
    from adapters.cli import tool_help

    parser = subparsers.add_parser("next", help=tool_help("next"))
    parser.add_argument("text", help="the start of a text")
    parser.add_argument("--model", choices=("base", "instruct", "both"), default="base")
    parser.add_argument("--top", type=whole_number, help=f"tokens per step, 1-{MAX_TOP} (default: next.top)")
    parser.add_argument("--steps", type=whole_number, default=0, help="append this many tokens, one call each")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--greedy", action="store_true", help="each step takes the most likely token (default)")
    how.add_argument("--sample", type=float, metavar="T", help="each step samples at temperature T over the top k")
    parser.add_argument("--seed", type=whole_number, help="seed of --sample (repeatable runs)")
    parser.add_argument("--profile", default="", help="a profile from [llm.profiles] (default: the main provider)")
    parser.add_argument("--json", action="store_true", help="print the steps as JSON")
    parser.set_defaults(handler=cmd_next)


def cmd_next(args: argparse.Namespace) -> int:
    from adapters.cli import cli_locale, settings_from

    lang = cli_locale()
    settings = settings_from(args)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    top = settings.next.top if args.top is None else args.top  # 0 is refused below, not the default
    problem = None
    if not args.text.strip():
        problem = t(lang, "next.need_text")
    elif not 1 <= top <= MAX_TOP:
        problem = t(lang, "next.bad_top", value=top, most=MAX_TOP)
    elif args.steps < 0 or args.steps > settings.next.max_steps:
        problem = t(lang, "next.bad_steps", value=args.steps, most=settings.next.max_steps)
    elif args.sample is not None and not 0 < args.sample <= 2:
        problem = t(lang, "next.bad_temperature", value=args.sample)
    if problem:
        print(f"aula next: {problem}", file=sys.stderr)
        return 2
    try:
        profile = resolve_profile(settings, args.profile)
    except UnknownProfile as exc:
        print(f"aula next: {t(lang, 'compare.unknown_profile', name=exc.name, known=', '.join(exc.known))}",
              file=sys.stderr)  # fmt: skip
        return 2
    roles = ["base", "instruct"] if args.model == "both" else [args.model]
    for role in roles:
        tokens = counted_tokens(role, args.text, "")
        if tokens + 1 + args.steps > profile.context_window:
            model = profile.base_model if role == "base" else profile.instruct_model
            print(f"aula next: {t(lang, 'next.too_long', tokens=tokens, model=model, limit=profile.context_window - 1)}",
                  file=sys.stderr)  # fmt: skip
            return 2
    rng = random.Random(args.seed)
    results = asyncio.run(_run_all(settings, profile, roles, args.text, top, args.steps, args.sample, rng))
    failed = [r for r in results.values() if isinstance(r, BaseException)]
    for error in failed:
        print(f"aula next: {llm_error_text(error, lang, profile)}", file=sys.stderr)
    if failed:
        return 1
    if args.json:
        data = {role: g.as_json() for role, g in results.items()}
        print(json.dumps(data if len(roles) > 1 else data[roles[0]], ensure_ascii=False, indent=2))
        return 0
    for role, generation in results.items():
        assert isinstance(generation, Generation)
        print(f"== {t(lang, 'next.title', role=t(lang, f'next.role.{role}'), model=generation.model)} ==")
        for number, step in enumerate(generation.steps, start=1):
            if step.chosen is not None:
                chosen = step.distribution.candidates[step.chosen]
                print(f"{number}. {shown(chosen)}  {percent(lang, chosen.probability)}")
                continue
            for rank, candidate in enumerate(step.distribution.candidates, start=1):
                token_id = "—" if candidate.id is None else candidate.id
                print(f"{rank:>3}  {shown(candidate):<14} {token_id!s:>7}  {percent(lang, candidate.probability):>8}  {bar(candidate.probability)}")
            print(t(lang, "next.coverage", count=len(step.distribution.candidates),
                    covered=percent(lang, step.distribution.coverage), rest=percent(lang, step.distribution.rest)))  # fmt: skip
        print(generation.prompt + marked(generation.generated))  # a character cut between steps: ⟨e2 80⟩
        print()
    return 0


async def _run_all(settings: Settings, profile: Profile, roles: list[str], prompt: str, top: int, steps: int,
                   temperature: float | None, rng: random.Random) -> dict[str, Generation | BaseException]:  # fmt: skip
    client = LlmClient(settings.llm, profile)
    spent = [0]  # tokens of the calls that answered, also those of a run that failed later
    try:
        results = await asyncio.gather(
            *(_one(client, profile, role, prompt, top, steps, temperature, rng, spent) for role in roles),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
        await _record(settings, spent[0])
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, LlmError):
            raise result
    return dict(zip(roles, results, strict=True))


async def _one(client: LlmClient, profile: Profile, role: str, prompt: str, top: int, steps: int,
               temperature: float | None, rng: random.Random, spent: list[int]) -> Generation:  # fmt: skip
    distribution = await fetch(client, profile, role, prompt, "", top)
    spent[0] += distribution.prompt_tokens + 1  # as /next counts a call: its prompt and one token
    generation = Generation(role, distribution.model, prompt, [Step(distribution)])
    for _ in range(steps):
        step = generation.steps[-1]
        if temperature is None:
            step.chosen, step.how = 0, "greedy"
        else:
            step.chosen, step.how, step.temperature = step.distribution.sample(temperature, rng), "sample", temperature
        generated = generation.generated.decode("utf-8", errors="ignore")
        generation.steps.append(Step(distribution := await fetch(client, profile, role, prompt, generated, top)))
        spent[0] += distribution.prompt_tokens + 1
    return generation


async def _record(settings: Settings, tokens: int) -> None:
    """Count the run's tokens like a class's (the class "cli"/"local", as `aula compare` stores)."""
    if tokens <= 0:
        return
    db = database_for(settings.database, settings.database_pool_size)
    await db.open()
    try:
        await UsageRepository(db).record(time.time(), "cli", "local", tokens)
    finally:
        await db.close()
