"""/compare: the course's "Base vs Instruido" demonstration, live.

The base model continues the raw prompt (POST /completions); the instruct model
answers it as a chat message (POST /chat/completions). Both calls run at once and
stream into two side-by-side panels. Calls wait their turn in a fair per-model queue
(the provider allows a few a minute), identical concurrent prompts share one call,
and every comparison is stored for the instructor. In blind mode the panels are A
and B and the class votes which one is the instruct model.

Here: the command, its checks and the calls; view.py: what students see; votes.py: blind
mode's buttons, votes and reveal; store.py: runs and votes in SQLite.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.command import Command, CommandSpec, Option
from bot.compare.store import CompareRepository, OutputRecord
from bot.compare.view import Comparison, Side, render, side_text
from bot.compare.votes import on_action
from bot.errors import UserError
from bot.exports import attachments
from bot.i18n import t
from bot.llm.client import (
    LlmClient,
    Profile,
    Sampling,
    profile_names,
    prompt_tokens,
)
from bot.llm.live import Budget, admit, changes, requested_profile, student
from bot.llm.queue import Upstream
from bot.llm.usage import UsageRepository
from bot.replies import Paragraph, Reply
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula

log = logging.getLogger("aula.compare")

# The activity's prompts (seccion-2-demostraciones.md), by a one-word name students can type.
# "capital" is the pair the course contrasts: a sentence to complete for the base model,
# the same fact as a question for the instruct model.
EXAMPLES: dict[str, tuple[str, str]] = {
    "completar": ("La inteligencia artificial es", "La inteligencia artificial es"),
    "pregunta": ("¿Qué es la inteligencia artificial?", "¿Qué es la inteligencia artificial?"),
    "instruccion": (
        "Explica en 3 puntos qué es el machine learning",
        "Explica en 3 puntos qué es el machine learning",
    ),
    "conversacion": ("Hola, ¿puedes ayudarme?", "Hola, ¿puedes ayudarme?"),
    "capital": ("El capital de Francia es", "¿Cuál es la capital de Francia?"),
}

SPEC = CommandSpec(
    name="compare",
    in_direct_messages=False,  # spends the class's budget: only where a class is
    description="compare.description",
    options=(
        Option("prompt", "compare.option.prompt", name_en="prompt", free_text=True),
        Option(
            "ejemplo",
            "compare.option.example",
            choices=tuple(EXAMPLES),
            name_en="example",
            choices_en={"completar": "complete", "pregunta": "question", "instruccion": "instruction",
                        "conversacion": "conversation"},
        ),
        Option("ciego", "compare.option.blind", kind="boolean", name_en="blind"),
        Option("perfil", "compare.option.profile", autocomplete=True, name_en="profile"),
        Option("exportar", "compare.option.export", kind="boolean", name_en="export"),
    ),
)


async def on_startup(app: Aula) -> None:
    # Created now, not by a student's first request: one connection pool and one set of queues
    # for the process, closed with the app.
    app.services.llm, app.services.llm_traffic  # noqa: B018


# --- the command -------------------------------------------------------------------------


async def run(request: Request, app: Aula):
    if request.arg("exportar", False):
        yield await _export(request, app)
        return
    base_prompt, instruct_prompt = _prompts(request)
    profile = requested_profile(request, app.settings)
    llm = app.settings.llm
    sampling = Sampling.from_settings(llm)
    state = app.services.llm_traffic
    client = app.services.llm
    repo = CompareRepository(app.db)

    if profile.needs_key and not profile.api_key:
        raise UserError("compare.no_key", setting=profile.key_setting)
    base_tokens = prompt_tokens(prompt=base_prompt)
    instruct_messages = [{"role": "user", "content": instruct_prompt}]
    instruct_tokens = prompt_tokens(messages=instruct_messages)
    for tokens, model in ((base_tokens, profile.base_model), (instruct_tokens, profile.instruct_model)):
        if tokens + sampling.max_tokens > profile.context_window:
            raise UserError(
                "compare.too_long", tokens=tokens, model=model, limit=profile.context_window - sampling.max_tokens
            )

    which_class = (request.place.platform, request.place.workspace_id)
    # A student in cooldown is refused before any await (admit checks it again, atomically).
    if not request.user.is_instructor and (wait := state.cooldowns.remaining(student(request))) > 0:
        raise UserError("compare.cooldown", seconds=math.ceil(wait))
    for model in (profile.base_model, profile.instruct_model):  # other processes' calls in line, if any
        await state.upstream.refresh(profile.rate_line(model), profile.per_minute(model))
    used = await used_today(app, *which_class)  # one budget: /compare, /next and live /roles
    # From here to admit() nothing awaits: the budget left and the reservation are one step.
    sampling, shrunk = fit_budget(sampling, state.budget.left(which_class, used), base_tokens + instruct_tokens, 2)
    longest_wait = max(
        state.upstream.estimated_wait(*_call_keys(profile, sampling, "base", base_prompt)),
        state.upstream.estimated_wait(*_call_keys(profile, sampling, "instruct", instruct_prompt)),
    )
    expected = base_tokens + instruct_tokens + 2 * sampling.max_tokens
    budget = Budget(which_class, used, expected)
    note = Paragraph.of("ℹ️ " + t(request.locale, "compare.budget_shrunk", max_tokens=sampling.max_tokens,
                                  reserved=expected)) if shrunk else None  # fmt: skip
    with await admit(request, state, llm, longest_wait_s=longest_wait, budget=budget) as admission:
        comparison = Comparison(
            profile=profile,
            sampling=sampling,
            settings=llm,
            sides={
                "base": _side(state.upstream, client, profile, sampling, "base", base_prompt),
                "instruct": _side(state.upstream, client, profile, sampling, "instruct", instruct_prompt),
            },
            blind_slot=random.choice("AB") if request.arg("ciego", False) else None,
        )
        async for _ in changes([side.call for side in comparison.sides.values()], llm.stream_update_s):
            yield _noted(render(comparison, request.locale), note)
        comparison.wall_s = time.perf_counter() - comparison.started
        if not any(side_text(side) for side in comparison.sides.values()):
            admission.refund_cooldown()  # only a comparison that produced text counts
        outputs = [_output_record(comparison, side) for side in comparison.sides.values()]
        try:
            run_id: int | None = await repo.save(
                at=app.clock(),
                platform=request.place.platform,
                workspace_id=request.place.workspace_id,
                channel_id=request.place.channel_id,
                user_id=request.user.id,
                user_name=request.user.name,
                profile=profile.name,
                outputs=outputs,
                instruct_slot=comparison.blind_slot,
            )
        except Exception:  # the class still sees the answers; only the record (and voting) is lost
            log.exception("could not store a comparison")
            run_id = None
        final = render(comparison, request.locale, final=True, run_id=run_id, votes_needed=llm.blind_reveal_votes)
        if run_id is None:  # say so, or the missing vote buttons and record look like a bug
            final = replace(final, parts=(*final.parts, Paragraph.of("⚠️ " + t(request.locale, "error.database"))))
        yield _noted(final, note)


async def used_today(app: Aula, platform: str, workspace_id: str) -> int:
    """Tokens the class spent today (UTC) against its one daily budget: every provider call of
    /compare, /next and live /roles, as stored (bot.llm.usage; a restart forgets none). With
    several processes (llm.shared_limits) it also counts what calls in flight anywhere hold."""
    used = await UsageRepository(app.db).used_on(platform, workspace_id, app.clock())
    shared = app.services.llm_traffic.shared
    return used if shared is None else used + await shared.held((platform, workspace_id))


def _noted(reply: Reply, note: Paragraph | None) -> Reply:
    return reply if note is None else replace(reply, parts=(*reply.parts, note))


MIN_ANSWER_TOKENS = 16  # below this a comparison says too little to be worth the tokens


def fit_budget(sampling: Sampling, left: int, prompt_tokens: int, answers: int) -> tuple[Sampling, bool]:
    """(sampling, shrunk): the budget is reserved for the worst case (every answer max_tokens
    long); when the class has less left than that, each answer's max_tokens is lowered to what
    fits, down to MIN_ANSWER_TOKENS (below it admit() refuses, saying what is left and needed).
    What the calls do not use returns to the budget when they end."""
    room = (left - prompt_tokens) // answers
    if room >= sampling.max_tokens:
        return sampling, False
    return replace(sampling, max_tokens=max(room, MIN_ANSWER_TOKENS)), True


def _prompts(request: Request) -> tuple[str, str]:
    """(base prompt, instruct prompt) from prompt: or ejemplo:. In blind mode both get the same
    prompt: a side given the question would be the instruct model, and the vote pointless (an
    example's two forms become its question form, the one a student would type)."""
    prompt = (request.arg("prompt") or "").strip()
    example = request.arg("ejemplo")
    if prompt and example:
        raise UserError("compare.prompt_and_example")
    if example:
        base_prompt, instruct_prompt = EXAMPLES[example]
        return (instruct_prompt, instruct_prompt) if request.arg("ciego", False) else (base_prompt, instruct_prompt)
    if not prompt:
        raise UserError("compare.need_prompt")
    return prompt, prompt


def _call_keys(profile: Profile, sampling: Sampling, role: str, prompt: str) -> tuple[tuple, tuple]:
    """(what is asked, which queue): same server, key, model, prompt and sampling is the same
    question, so one call serves all who ask it; each model on each server and key has its own
    line (Profile.rate_line)."""
    model = profile.base_model if role == "base" else profile.instruct_model
    line = profile.rate_line(model)
    return (*line, role, prompt, sampling), line


def _side(
    upstream: Upstream, client: LlmClient, profile: Profile, sampling: Sampling, role: str, prompt: str
) -> Side:
    if role == "base":
        model = profile.base_model

        def start():
            return client.stream_completion(prompt, model=model, profile=profile, sampling=sampling)
    else:
        model = profile.instruct_model

        def start():
            messages = [{"role": "user", "content": prompt}]
            return client.stream_chat(messages, model=model, profile=profile, sampling=sampling)

    key, queue_key = _call_keys(profile, sampling, role, prompt)
    call, shared = upstream.call(key, queue_key, profile.per_minute(model), start)
    return Side(role=role, model=model, prompt=prompt, call=call, shared=shared)


def _output_record(comparison: Comparison, side: Side) -> OutputRecord:
    latest = side.call.latest
    if latest is None:
        return OutputRecord(
            role=side.role, model=side.model, prompt=side.prompt, text="", finish_reason="error",
            error=type(side.call.error).__name__ if side.call.error else "", shared=side.shared,
        )  # fmt: skip
    usage = latest.usage
    return OutputRecord(
        role=side.role,
        model=side.model,
        prompt=side.prompt,
        text=latest.text,
        finish_reason=latest.finish_reason or "interrupted",
        interruption=latest.interruption,
        latency_s=latest.latency_s,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        usage_estimated=bool(usage and usage.estimated),
        cost_usd=0.0 if side.shared else comparison.profile.cost_usd(usage),
        shared=side.shared,
    )


# --- instructors: export, profiles ---------------------------------------------------------------


async def _export(request: Request, app: Aula) -> Reply:
    if not request.user.is_instructor:
        raise UserError("compare.export_instructor_only")
    sheet = await CompareRepository(app.db).export_sheet(
        request.place.platform, request.place.workspace_id, zone=app.settings.homework.timezone
    )
    rows = len(sheet.rows)
    lang = request.locale
    return Reply.private(
        Paragraph.of(t(lang, "compare.exported", count=rows)),
        *attachments(sheet, "compare", t(lang, "compare.exported", count=rows)),
    )


async def autocomplete(request: Request, app: Aula, option: str, typed: str) -> list[str]:
    if option != "perfil" or not request.user.is_instructor:
        return []
    return [name for name in profile_names(app.settings) if typed.lower() in name.lower()]


command = Command(spec=SPEC, run=run, on_action=on_action, autocomplete=autocomplete, on_startup=on_startup)
