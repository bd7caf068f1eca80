"""/compare: the course's "Base vs Instruido" demonstration, live.

The base model continues the raw prompt (POST /completions); the instruct model
answers it as a chat message (POST /chat/completions). Both calls run at once and
stream into two side-by-side panels. Calls wait their turn in a fair per-model queue
(the provider allows a few a minute), identical concurrent prompts share one call,
and every comparison is stored for the instructor. In blind mode the panels are A
and B and the class votes which one is the instruct model.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.actions import COMPARE_REVEAL, COMPARE_VOTE, first_match
from bot.command import Command, CommandSpec, Option
from bot.compare.store import CompareRepository, OutputRecord, RunRecord
from bot.errors import UserError
from bot.exports import attachments
from bot.i18n import money, percent, t
from bot.i18n import seconds as seconds_text
from bot.limits import DISCORD_EMBED_FIELD_VALUE
from bot.llm.client import (
    Completion,
    ConnectionFailed,
    EndpointDecommissioned,
    InvalidApiKey,
    LlmClient,
    LlmTimeout,
    MalformedResponse,
    MissingApiKey,
    ModelNotFound,
    Profile,
    PromptTooLong,
    RateLimited,
    Sampling,
    UnknownProfile,
    UpstreamError,
    profile_names,
    prompt_tokens,
    resolve_profile,
)
from bot.llm.live import Budget, admit, changes, student
from bot.llm.queue import (
    SharedCall,
    Upstream,
    day_start,
)
from bot.next.store import NextRepository
from bot.replies import Attachment, Button, ButtonStyle, Columns, Heading, Paragraph, Reply, Span
from bot.requests import Request
from bot.settings import LlmSettings

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
    description="compare.description",
    options=(
        Option("prompt", "compare.option.prompt", name_en="prompt"),
        Option("ejemplo", "compare.option.example", choices=tuple(EXAMPLES), name_en="example"),
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


@dataclass
class Side:
    """One model's part of a comparison."""

    role: str  # "base" or "instruct"
    model: str
    prompt: str
    call: SharedCall
    shared: bool  # someone else's identical call: this request pays nothing for it

    @property
    def failed(self) -> bool:
        return self.call.done and self.call.latest is None


@dataclass
class Comparison:
    profile: Profile
    sampling: Sampling
    settings: LlmSettings  # for the timeouts a cut answer names
    sides: dict[str, Side]
    blind_slot: str | None  # blind mode: "A" or "B", where the instruct output is shown
    started: float = field(default_factory=time.perf_counter)
    wall_s: float | None = None

    @property
    def done(self) -> bool:
        return all(side.call.done for side in self.sides.values())


async def run(request: Request, app: Aula):
    if request.arg("exportar", False):
        yield await _export(request, app)
        return
    base_prompt, instruct_prompt = _prompts(request)
    profile = _profile(request, app)
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
    with admit(request, state, llm, longest_wait_s=longest_wait, budget=budget) as admission:
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
        if not any(_text(side) for side in comparison.sides.values()):
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
    """Tokens the class spent today (UTC) against its one daily budget: /compare's and /next's
    (stored) and live /roles' (counted in memory, bot.llm.queue.TokenBudget.record)."""
    since = day_start(app.clock())
    compare = await CompareRepository(app.db).tokens_used_since(platform, workspace_id, since)
    steps = await NextRepository(app.db).tokens_used_since(platform, workspace_id, since)
    return compare + steps + app.services.llm_traffic.budget.spent((platform, workspace_id), since)


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


def _profile(request: Request, app: Aula) -> Profile:
    name = (request.arg("perfil") or "").strip()
    if name and not request.user.is_instructor:
        raise UserError("compare.profile_instructor_only")
    try:
        return resolve_profile(app.settings, name)
    except UnknownProfile as exc:
        raise UserError("compare.unknown_profile", name=exc.name, known=", ".join(exc.known)) from None


def _call_keys(profile: Profile, sampling: Sampling, role: str, prompt: str) -> tuple[tuple, tuple]:
    """(what is asked, which queue): same server, model, prompt and sampling is the same question,
    so one call serves all who ask it; each model on each server has its own line."""
    model = profile.base_model if role == "base" else profile.instruct_model
    return (profile.base_url, model, role, prompt, sampling), (profile.base_url, model)


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


# --- what students see ---------------------------------------------------------------------


def render(
    comparison: Comparison, lang: str, final: bool = False, run_id: int | None = None, votes_needed: int = 0
) -> Reply:
    """The comparison as it stands: queued, streaming, or final (votable in blind mode once stored as run_id)."""
    sides = comparison.sides
    blind = comparison.blind_slot is not None
    order = _display_order(comparison)
    parts: list = [Heading(t(lang, "compare.title"))]
    base, instruct = sides["base"], sides["instruct"]
    if base.prompt == instruct.prompt:
        parts.append(Paragraph((Span(t(lang, "compare.prompt_line"), bold=True), Span(" " + base.prompt))))
    else:
        for side in order:
            label = _label(comparison, side, lang)
            parts.append(Paragraph((Span(t(lang, "compare.prompt_for", side=label), bold=True), Span(" " + side.prompt))))
    panels = []
    for side in order:
        title = _label(comparison, side, lang) if blind else t(
            lang, "compare.panel_title", side=_label(comparison, side, lang), model=side.model
        )
        panels.append((title, tuple(_panel(comparison, side, lang))))
    parts.append(Columns(tuple(panels)))
    if final:
        if comparison.profile.name != "default":
            parts.append(Paragraph.of(Span(t(lang, "compare.profile_used", profile=comparison.profile.name), italic=True)))
        parts.append(Paragraph.of(Span(t(lang, "compare.wall_time", seconds=_seconds(comparison.wall_s, lang)), italic=True)))
        if any(len(_text(side)) > DISCORD_EMBED_FIELD_VALUE for side in order):
            parts.append(_full_text(comparison, order, lang))
    buttons: tuple[Button, ...] = ()
    if final and blind and run_id is not None and not all(side.failed for side in order):
        parts.append(Paragraph.of(t(lang, "compare.blind_question", count=votes_needed)))
        buttons = _vote_buttons(run_id, lang)
    # Both calls failed: still in the channel (the message is already there), flagged as an error.
    return Reply(parts=tuple(parts), buttons=buttons, error=final and all(side.failed for side in order))


def _display_order(comparison: Comparison) -> list[Side]:
    base, instruct = comparison.sides["base"], comparison.sides["instruct"]
    return [instruct, base] if comparison.blind_slot == "A" else [base, instruct]


def _label(comparison: Comparison, side: Side, lang: str) -> str:
    if comparison.blind_slot is None:
        return t(lang, f"compare.{side.role}")
    slot = comparison.blind_slot if side.role == "instruct" else _other(comparison.blind_slot)
    return t(lang, "compare.blind_title", slot=slot)


def _other(slot: str) -> str:
    return "B" if slot == "A" else "A"


def _panel(comparison: Comparison, side: Side, lang: str) -> list[Paragraph]:
    call = side.call
    latest = call.latest
    if call.done and latest is None:
        return [Paragraph.of("⚠️ " + error_message(call.error, lang, comparison.profile))]
    if not call.admitted:
        wait = math.ceil(call.estimated_wait())
        return [Paragraph.of(t(lang, "compare.queued", position=call.position(), seconds=wait))]
    if latest is None or (not latest.text and not latest.done):
        return [Paragraph.of(t(lang, "compare.writing"))]
    if not latest.done:
        return [Paragraph.of(latest.text + " ▌")]
    stats = stats_line(latest, lang, comparison.profile, comparison.sampling, comparison.settings)
    parts = [Paragraph.of(latest.text or t(lang, "compare.empty_output")), Paragraph.of(Span(stats, italic=True))]
    if side.shared:
        parts.append(Paragraph.of(Span(t(lang, "compare.shared"), italic=True)))
    return parts


def stats_line(completion: Completion, lang: str, profile: Profile, sampling: Sampling, llm: LlmSettings) -> str:
    """Latency, tokens, estimated cost and why it stopped, in one line."""
    usage = completion.usage
    return t(
        lang,
        "compare.stats",
        latency=seconds_text(lang, completion.latency_s),
        prompt_tokens=t(lang, "tokens.count", count=usage.prompt_tokens if usage else 0),
        completion_tokens=t(lang, "tokens.count", count=usage.completion_tokens if usage else 0),
        estimated=t(lang, "compare.estimated") if usage and usage.estimated else "",
        cost=money(lang, profile.cost_usd(usage)),
        finish=finish_text(completion, lang, sampling, llm),
    )


def finish_text(completion: Completion, lang: str, sampling: Sampling, llm: LlmSettings) -> str:
    reason, interruption = completion.finish_reason or "", completion.interruption
    if reason == "interrupted":
        limit = llm.idle_timeout_s if interruption == "idle_timeout" else llm.total_timeout_s
        return t(lang, f"compare.finish.{interruption or 'disconnected'}", seconds=limit)
    if reason == "length":
        received = completion.usage.completion_tokens if completion.usage else 0
        if received > sampling.max_tokens:  # the provider ignored the limit: say what was asked and what came
            return t(lang, "compare.finish.length_ignored", max_tokens=sampling.max_tokens, count=received)
        return t(lang, "compare.finish.length", max_tokens=sampling.max_tokens)
    if reason in ("stop", "content_filter"):
        return t(lang, f"compare.finish.{reason}")
    return t(lang, "compare.finish.other", reason=reason)


def error_message(error: BaseException | None, lang: str, profile: Profile | None = None) -> str:
    """What to tell the class about a call that produced nothing: the kind of failure in its
    words, never the provider's own text (it may quote the key) nor credentials in the address;
    those go to the log, masked."""
    match error:
        case MissingApiKey(setting=setting):
            return t(lang, "compare.no_key", setting=setting)
        case InvalidApiKey(setting=setting):
            return t(lang, "compare.bad_key", setting=setting)
        case EndpointDecommissioned():
            return t(lang, "compare.decommissioned")
        case ModelNotFound(model=model, base_url=base_url):
            return t(lang, "compare.model_not_found", model=model, base_url=base_url)
        case RateLimited(attempts=attempts):
            return t(lang, "compare.rate_limited", attempts=attempts)
        case UpstreamError(status=status):
            return t(lang, "compare.upstream_error", status=status)
        case ConnectionFailed(base_url=base_url):
            return t(lang, "compare.unreachable", base_url=base_url)  # public_address already
        case LlmTimeout(seconds=seconds):
            return t(lang, "compare.timeout", seconds=seconds)
        case MalformedResponse():
            return t(lang, "compare.malformed")
        case PromptTooLong(tokens=tokens, limit=limit):
            return t(lang, "compare.too_long", tokens=tokens, limit=limit, model="")
    log.error("compare call failed", exc_info=error)
    return t(lang, "compare.failed")


def _text(side: Side) -> str:
    return side.call.latest.text if side.call.latest else ""


def _full_text(comparison: Comparison, order: list[Side], lang: str) -> Attachment:
    sections = [f"== {_label(comparison, side, lang)} ==\n{_text(side)}\n" for side in order]
    return Attachment("\n".join(sections).encode("utf-8"), "compare.txt", t(lang, "compare.full_text"))


def _seconds(value: float | None, lang: str) -> str:
    return seconds_text(lang, value or 0)


def _vote_buttons(run_id: int, lang: str) -> tuple[Button, ...]:
    return (
        Button(COMPARE_VOTE.id(run=run_id, slot="A"), t(lang, "compare.vote_button", slot="A"), ButtonStyle.PRIMARY),
        Button(COMPARE_VOTE.id(run=run_id, slot="B"), t(lang, "compare.vote_button", slot="B"), ButtonStyle.PRIMARY),
        Button(COMPARE_REVEAL.id(run=run_id), t(lang, "compare.reveal_button"), ButtonStyle.SECONDARY),
    )


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


# --- blind votes ------------------------------------------------------------------------------


async def on_action(request: Request, app: Aula) -> Reply:
    """compare:vote:<run>:<A|B> and compare:reveal:<run>."""
    lang = request.locale
    found = first_match((COMPARE_VOTE, COMPARE_REVEAL), request.action)
    if found is None:
        raise UserError("error.unknown_action")
    action, values = found
    run_id = values["run"]
    repo = CompareRepository(app.db)
    record = await repo.get(run_id)
    # A button id names a run by number: another class must not vote on, nor reveal, this one.
    if record is None or (record.platform, record.workspace_id) != (
        request.place.platform,
        request.place.workspace_id,
    ):
        raise UserError("compare.run_gone")
    if not record.blind or record.instruct_slot is None:
        raise UserError("compare.not_blind")
    needed = app.settings.llm.blind_reveal_votes
    if action is COMPARE_REVEAL:
        if not request.user.is_instructor:
            raise UserError("error.instructor_only")
        await repo.reveal(run_id)
        return await revealed_reply(repo, record, lang)
    slot = values["slot"]
    # The vote counts even after the reveal (the class's tally keeps it); what the student
    # reads depends on whether the reveal has happened, by this vote or before it.
    await repo.vote(run_id, request.place.platform, request.user.id, slot, app.clock())
    tally = await repo.tally(run_id)
    count = tally["A"] + tally["B"]
    if not record.revealed and count >= needed and await repo.reveal(run_id):
        return await revealed_reply(repo, record, lang)
    if record.revealed or count >= needed:
        instruct = record.instruct_slot or (await repo.get(run_id)).instruct_slot
        return Reply.private(
            Paragraph.of(t(lang, "compare.already_revealed", slot=instruct, vote=slot, count=count))
        )
    return Reply.private(Paragraph.of(t(lang, "compare.voted", slot=slot, count=count, needed=needed)))


async def revealed_reply(repo: CompareRepository, record: RunRecord, lang: str) -> Reply:
    """The blind comparison with its names shown and the class's votes (replaces the message)."""
    slot = record.instruct_slot or "A"
    tally = await repo.tally(record.id)
    votes = tally["A"] + tally["B"]
    order = ("instruct", "base") if slot == "A" else ("base", "instruct")
    panels = []
    for letter, role in zip("AB", order, strict=True):
        out = record.outputs.get(role)
        if out is None:
            continue
        title = f"{letter} · {t(lang, f'compare.{role}')} · {out.model}"
        body = out.text or t(lang, "compare.empty_output")
        panels.append((title, (Paragraph.of(body),)))
    base = record.outputs.get("base")
    instruct = record.outputs.get("instruct")
    parts: list = [Heading(t(lang, "compare.title"))]
    if base and instruct and base.prompt == instruct.prompt:
        parts.append(Paragraph((Span(t(lang, "compare.prompt_line"), bold=True), Span(" " + base.prompt))))
    parts.append(Columns(tuple(panels)))
    if votes:
        right = percent(lang, tally[slot] / votes)
        summary = t(lang, "compare.revealed", slot=slot, a=tally["A"], b=tally["B"], percent=right)
    else:
        summary = t(lang, "compare.revealed_no_votes", slot=slot)
    parts.append(Paragraph((Span(summary, bold=True),)))
    return Reply.public(*parts)


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
