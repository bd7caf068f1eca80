"""/next: the model predicts the next token, one step at a time, and the class guesses first.

`/next texto:<prefix> [modelo:base|instruct|ambos] [perfil:…] [temperatura:…]` asks the base model
(POST /completions, `logprobs: k`) or the instruct model (POST /chat/completions, `logprobs: true,
top_logprobs: k`, the prefix as the user's message) for one token and shows the top k with their
probabilities, what they cover, a temperature table and a bar chart. Buttons take a step (greedy,
sampled at the temperature, or one of the top five): the token is appended and the model asked
again. Every call goes through /compare's fair per-model queue and the class's daily token budget;
runs are stored, so their buttons work after a restart. The class game (juego:sí) is bot.next.game.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot import actions
from bot.actions import first_match
from bot.command import Command, CommandSpec, Option
from bot.compare.command import used_today
from bot.compare.view import error_message
from bot.errors import UserError
from bot.i18n import t
from bot.llm.client import (
    LlmError,
    MissingApiKey,
    Profile,
    profile_names,
    resolve_profile,
)
from bot.llm.live import Admission, Budget, admit, longest_wait, requested_profile
from bot.llm.queue import QUEUE_REFRESH_S, SharedCall
from bot.llm.usage import UsageRepository
from bot.next import game
from bot.next.display import both_reply, run_reply
from bot.next.logic import ROLES, Distribution, Generation, NoLogprobs, Step, counted_tokens, fetch
from bot.next.store import NextRepository, dump_steps
from bot.replies import Button, Paragraph, Reply, Visibility
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula

BOTH = "ambos"
MODEL_CHOICES = ("base", "instruct", BOTH)
END_TOKENS = ("<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "</s>")

SPEC = CommandSpec(
    name="next",
    in_direct_messages=False,  # spends the class's budget: only where a class is
    description="next.description",
    options=(
        Option("texto", "next.option.text", name_en="text", max_length=4000, free_text=True),
        Option("modelo", "next.option.model", choices=MODEL_CHOICES, name_en="model", choices_en={BOTH: "both"}),
        Option("temperatura", "next.option.temperature", kind="number", name_en="temperature"),
        Option("perfil", "next.option.profile", autocomplete=True, name_en="profile"),
        Option("juego", "next.option.game", kind="boolean", name_en="game"),
        Option("exportar", "next.option.export", kind="boolean", name_en="export"),
    ),
)


async def on_startup(app: Aula) -> None:
    app.services.llm, app.services.llm_traffic  # noqa: B018 - created now, not on a class's first click
    await app.services.next_game.start()  # closes rounds that expired while the bot was down


def rng(app: Aula) -> random.Random:
    """The sampler of the "sample" button and the game's shuffles (tests may seed it)."""
    return app.services.next_random


# --- asking the provider, fairly -------------------------------------------------------------


def model_of(profile: Profile, role: str) -> str:
    return profile.base_model if role == "base" else profile.instruct_model


def llm_error_text(error: BaseException | None, lang: str, profile: Profile) -> str:
    if isinstance(error, NoLogprobs):
        return t(lang, "next.no_logprobs", profile=error.profile, model=error.model)
    if isinstance(error, MissingApiKey):
        return t(lang, "next.no_key", setting=error.setting)
    return error_message(error, lang, profile)


class Asking:
    """The calls of one request: checked against the context and the class's budget, queued
    fairly with /compare's, and counted in the budget when they were really sent."""

    def __init__(self, app: Aula, request: Request, profile: Profile, workspace: tuple[str, str]) -> None:
        self.app, self.request, self.profile, self.workspace = app, request, profile, workspace
        self.state = app.services.llm_traffic
        self.admissions: list[Admission] = []

    async def reserve(self, asks: list[tuple[str, str, str]], used: int | None = None) -> None:
        """Refuse now what cannot be sent: no key, a text over the context, no budget, a line too long.
        `used`: the class's tokens today when the caller read them already (NextRepository.get's
        `used_today`, in the same round trip as the run); else they are read here. With shared
        limits the budget is checked and held in the database (bot.llm.shared), so nothing is read."""
        profile, llm = self.profile, self.app.settings.llm
        if profile.needs_key and not profile.api_key:
            raise UserError("next.no_key", setting=profile.key_setting)
        expected = 0
        for role, prompt, generated in asks:
            tokens = counted_tokens(role, prompt, generated)
            if tokens + 1 > profile.context_window:
                raise UserError("next.too_long", tokens=tokens, model=model_of(profile, role),
                                limit=profile.context_window - 1)  # fmt: skip
            expected += tokens + 1
        for ask in asks:  # other processes' calls in line, when there are
            await self.state.upstream.refresh(self.keys(*ask)[1], profile.per_minute(model_of(profile, ask[0])))
        if self.state.shared is not None:
            used = 0  # admit() checks the shared budget under its row lock; Budget.used is not read
        elif used is None:
            used = await used_today(self.app, *self.workspace)
        wait = max(self.state.upstream.estimated_wait(*self.keys(*ask)) for ask in asks)
        budget = Budget(self.workspace, used, expected)
        self.admissions.append(await admit(self.request, self.state, llm, longest_wait_s=wait, budget=budget, cooldown=False))

    def release(self) -> None:
        for admission in self.admissions:
            admission.release()
        self.admissions.clear()

    def keys(self, role: str, prompt: str, generated: str) -> tuple[tuple, tuple]:
        model = model_of(self.profile, role)
        top = self.app.settings.next.top
        line = self.profile.rate_line(model)  # one line per server, API key and model
        return (*line, "next", role, prompt, generated, top), line

    def start(self, role: str, prompt: str, generated: str) -> tuple[SharedCall, bool]:
        client, profile, top = self.app.services.llm, self.profile, self.app.settings.next.top

        async def one() -> AsyncIterator:
            yield await fetch(client, profile, role, prompt, generated, top)

        key, queue_key = self.keys(role, prompt, generated)
        return self.state.upstream.call(key, queue_key, profile.per_minute(model_of(profile, role)), one)

    async def wait(self, calls: list[tuple[SharedCall, bool]]) -> AsyncIterator[tuple[int, int]]:
        """Yield (position in line, longest wait in s: bot.llm.live.longest_wait), refreshed, while
        any call waits its turn; return when all end."""
        changed = asyncio.Event()
        for call, _ in calls:
            call.listen(changed)
        try:
            while not all(call.done for call, _ in calls):
                queued = [call for call, _ in calls if not call.admitted and not call.done]
                late = [call for call in queued if call.estimated_wait() > 0]  # held back by the rate limit
                if late:
                    total_timeout_s = self.app.settings.llm.total_timeout_s
                    yield max(call.position() for call in late), longest_wait([c for c, _ in calls], total_timeout_s)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(QUEUE_REFRESH_S if queued else None):
                        await changed.wait()
                changed.clear()
        finally:
            for call, _ in calls:
                call.unlisten(changed)

    async def settle(self, call: SharedCall, shared: bool, record: bool = True) -> Distribution:
        """The call's distribution, counted in the budget (record=False: the caller stores the
        usage itself, with its own write); raises its LlmError."""
        if call.error is not None or call.latest is None:
            raise call.error or NoLogprobs(self.profile.name, "?")
        distribution: Distribution = call.latest  # type: ignore[assignment]
        if record and not shared:
            await UsageRepository(self.app.db).record(
                self.app.clock(), *self.workspace, distribution.prompt_tokens + 1
            )
        return distribution


async def rendered(lang: str, generation: Generation, **options) -> Reply:
    """run_reply in a worker thread: its PNG takes tens of ms, and a class's other requests go on."""
    return await asyncio.to_thread(run_reply, lang, generation, **options)


def queued_reply(lang: str, position: int, seconds: int) -> Reply:
    return Reply.public(Paragraph.of(t(lang, "next.queued", position=position, seconds=seconds)))


def failure_reply(text: str) -> Reply:
    return Reply(parts=(Paragraph.of("⚠️ " + text),), visibility=Visibility.PRIVATE, error=True)


# --- the command -------------------------------------------------------------------------------


async def run(request: Request, app: Aula):
    if request.arg("exportar", False):
        yield await game.export(request, app)
        return
    prompt = request.arg("texto") or ""
    if not prompt.strip():
        raise UserError("next.need_text")
    which = (request.arg("modelo") or "base").lower()
    which = {"both": BOTH, "instruido": "instruct"}.get(which, which)
    if which not in MODEL_CHOICES:
        raise UserError("next.unknown_model", value=which, known=", ".join(MODEL_CHOICES))
    if request.arg("juego", False):
        if not request.user.is_instructor:
            raise UserError("error.instructor_only")
        if which == BOTH:
            raise UserError("next.game.one_model")
        profile = requested_profile(request, app.settings)
        asking = Asking(app, request, profile, (request.place.platform, request.place.workspace_id))
        yield await game.start_round(request, app, prompt, which, asking)
        return
    settings = app.settings.next
    temperature = request.arg("temperatura")
    temperature = settings.temperature if temperature is None else float(temperature)
    if not 0 < temperature <= 2:
        raise UserError("next.bad_temperature", value=temperature)
    profile = requested_profile(request, app.settings)
    roles = list(ROLES) if which == BOTH else [which]
    asking = Asking(app, request, profile, (request.place.platform, request.place.workspace_id))
    await asking.reserve([(role, prompt, "") for role in roles])
    lang = request.locale
    try:
        calls = [asking.start(role, prompt, "") for role in roles]
        async for position, seconds in asking.wait(calls):
            yield queued_reply(lang, position, seconds)
        results: dict[str, Distribution | BaseException] = {}
        for role, (call, shared) in zip(roles, calls, strict=True):
            try:
                results[role] = await asking.settle(call, shared)
            except LlmError as exc:
                results[role] = exc
    finally:
        asking.release()
    if which == BOTH:
        shown = {role: r if isinstance(r, Distribution) else llm_error_text(r, lang, profile) for role, r in results.items()}
        yield await asyncio.to_thread(both_reply, lang, prompt, shown, settings.temperatures)
        return
    [result] = results.values()
    if isinstance(result, NoLogprobs):
        raise UserError("next.no_logprobs", profile=result.profile, model=result.model)
    if not isinstance(result, Distribution):
        yield failure_reply(llm_error_text(result, lang, profile))
        return
    generation = Generation(which, result.model, prompt, [Step(result)])
    repo = NextRepository(app.db)
    run_id = await repo.create(
        at=app.clock(), platform=request.place.platform, workspace_id=request.place.workspace_id,
        channel_id=request.place.channel_id, user_id=request.user.id, user_name=request.user.name,
        profile=profile.name, temperature=temperature, generation=generation,
    )  # fmt: skip
    yield await rendered(lang, generation, run_id=run_id, temperature=temperature, temperatures=settings.temperatures,
                    max_steps=settings.max_steps, profile=profile.name)  # fmt: skip


# --- steps ------------------------------------------------------------------------------------


STEP_ACTIONS = {
    actions.NEXT_GREEDY: "greedy",
    actions.NEXT_SAMPLE: "sample",
    actions.NEXT_PICK: "pick",
    actions.NEXT_RETRY: "retry",
    actions.NEXT_FORK: "fork",
}


async def on_action(request: Request, app: Aula):
    answered = await game.on_action(request, app)
    if answered is not None:
        yield answered
        return
    found = first_match(tuple(STEP_ACTIONS), request.action)
    if found is None:
        raise UserError("error.unknown_action")
    action, values = found
    kind = STEP_ACTIONS[action]
    run_id, count, rank = values["run"], values["steps"], values.get("rank", 0)
    repo = NextRepository(app.db)
    record = await repo.get(run_id, usage_at=app.clock())  # with the class's tokens today: one read
    # A button id names a run by number: another class must neither step nor fork (copy) it.
    if record is None or (record.platform, record.workspace_id) != (
        request.place.platform,
        request.place.workspace_id,
    ):
        raise UserError("next.run_gone")
    lang, settings = request.locale, app.settings.next
    mine = (record.platform, record.user_id) == (request.place.platform, request.user.id)
    if kind == "fork":
        yield await _fork(request, app, record, count)
        return
    if not mine:
        yield Reply.private(
            Paragraph.of(t(lang, "next.not_yours", owner=record.user_name)),
            buttons=(Button(actions.NEXT_FORK.id(run=run_id, steps=count), t(lang, "next.button.fork")),),
        )
        return
    steps = record.generation.steps
    if count != len(steps):
        raise UserError("next.stale", steps=sum(1 for s in steps if s.chosen is not None))
    chosen = sum(1 for s in steps if s.chosen is not None)
    private = record.forked_from is not None

    async def reply(error: str = "", finished: bool = False, can_retry: bool = True) -> Reply:
        return await rendered(lang, record.generation, run_id=run_id, temperature=record.temperature,
                         temperatures=settings.temperatures, max_steps=settings.max_steps, profile=record.profile,
                         error=error, private=private, finished=finished, can_retry=can_retry)  # fmt: skip

    last = steps[-1]
    if last.chosen is not None and kind != "retry":
        # This step's token was chosen already (a double click, or an older message's button): at
        # the cap or after an end token nothing is left to ask; otherwise its retry is the latest.
        if last.distribution.candidates[last.chosen].token in END_TOKENS:
            raise UserError("next.finished")
        if chosen >= settings.max_steps:
            raise UserError("next.cap", count=settings.max_steps)
        raise UserError("next.stale", steps=chosen)
    stored = dump_steps(steps)  # as read: every write below is a compare-and-set against it
    chose = False
    if last.chosen is None:
        if kind == "retry":
            yield await reply()
            return
        if chosen >= settings.max_steps:
            raise UserError("next.cap", count=settings.max_steps)
        candidates = last.distribution.candidates
        if kind == "greedy":
            index, how = 0, "greedy"
        elif kind == "sample":
            index, how = last.distribution.sample(record.temperature, rng(app)), "sample"
        else:
            if not 1 <= rank <= min(len(candidates), 5):
                raise UserError("error.unknown_action")
            index, how = rank - 1, "pick"
        last.chosen, last.how = index, how
        last.temperature = record.temperature if how == "sample" else None
        chose = True
        chosen += 1
        if candidates[index].token in END_TOKENS or chosen >= settings.max_steps:
            if not await repo.save_steps(run_id, steps, stored, app.clock()):
                raise await _moved_on(repo, run_id)
            yield await reply(finished=candidates[index].token in END_TOKENS)
            return

    async def keep_the_choice() -> None:
        """The step could not be asked: the chosen token is stored, so the text so far stays and
        the retry button asks again."""
        if chose and not await repo.save_steps(run_id, steps, stored, app.clock()):
            raise await _moved_on(repo, run_id)

    # Ask for the distribution after the text so far (also the retry of a step that failed).
    profile = resolve_profile(app.settings, "" if record.profile == "default" else record.profile)
    asking = Asking(app, request, profile, (record.platform, record.workspace_id))
    generated = record.generation.generated.decode("utf-8", errors="ignore")  # a trailing byte fragment can't be sent
    role, prompt = record.generation.role, record.generation.prompt
    try:
        await asking.reserve([(role, prompt, generated)], used=record.used_today)
    except UserError as refusal:
        await keep_the_choice()
        if refusal.key == "next.too_long":  # the run has filled the model's context: a retry would be refused too
            yield await reply(error=t(lang, "next.context_full", **refusal.values), can_retry=False)
        else:
            yield await reply(error=t(lang, refusal.key, **refusal.values))
        return
    try:
        call = asking.start(role, prompt, generated)
        async for position, seconds in asking.wait([call]):
            yield queued_reply(lang, position, seconds)
        try:
            distribution = await asking.settle(*call, record=False)
        except LlmError as exc:
            await keep_the_choice()
            yield await reply(error=llm_error_text(exc, lang, profile))
            return
    finally:
        asking.release()
    steps.append(Step(distribution))
    usage = None if call[1] else (record.platform, record.workspace_id, distribution.prompt_tokens + 1)
    # One write: the choice, the new step and the tokens spent. The reply is drawn meanwhile (its
    # worker thread beside the database's: the two waits for a core overlap, bench/next.py); it
    # is shown only once the write succeeded, and dropped when a concurrent click won.
    drawing = asyncio.ensure_future(reply())
    drawing.add_done_callback(lambda done: done.cancelled() or done.exception())  # not shown: not logged either
    try:
        saved = await repo.save_steps(run_id, steps, stored, app.clock(), usage=usage)
    except BaseException:
        drawing.cancel()
        raise
    if not saved:
        drawing.cancel()
        if usage is not None:  # its step is dropped, but the provider call was made: the budget counts it
            await UsageRepository(app.db).record(app.clock(), *usage)
        raise await _moved_on(repo, run_id)
    yield await drawing


async def _moved_on(repo: NextRepository, run_id: int) -> UserError:
    """A concurrent click stored its step first: the refusal says how many steps the run has now
    (read again: a rare path), not how many this click read."""
    record = await repo.get(run_id)
    steps = record.generation.steps if record is not None else []
    return UserError("next.stale", steps=sum(1 for s in steps if s.chosen is not None))


async def _fork(request: Request, app: Aula, record, count: int) -> Reply:
    """A copy of someone's run at the step the button showed, owned by whoever clicked (private)."""
    steps = record.generation.steps[: max(1, count)]
    if steps and len(record.generation.steps) > len(steps):
        steps[-1].chosen, steps[-1].how, steps[-1].temperature = None, "", None
    generation = Generation(record.generation.role, record.generation.model, record.generation.prompt, steps)
    settings = app.settings.next
    run_id = await NextRepository(app.db).create(
        at=app.clock(), platform=request.place.platform, workspace_id=request.place.workspace_id,
        channel_id=request.place.channel_id, user_id=request.user.id, user_name=request.user.name,
        profile=record.profile, temperature=record.temperature, generation=generation, forked_from=record.id,
    )  # fmt: skip
    return await rendered(request.locale, generation, run_id=run_id, temperature=record.temperature,
                     temperatures=settings.temperatures, max_steps=settings.max_steps, profile=record.profile,
                     private=True)  # fmt: skip


async def autocomplete(request: Request, app: Aula, option: str, typed: str) -> list[str]:
    if option != "perfil" or not request.user.is_instructor:
        return []
    return [name for name in profile_names(app.settings) if typed.lower() in name.lower()]


command = Command(spec=SPEC, run=run, on_action=on_action, autocomplete=autocomplete, on_startup=on_startup)
