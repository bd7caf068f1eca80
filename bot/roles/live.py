"""Live /roles: the conversation and its different-system variant sent to the instruct model.

The only part of /roles that needs the LLM client (and so httpx): `bot.roles.command` imports
this module when a conversation is shown on a platform (whether to offer the button) or the
live button is clicked, so `aula roles` and `aula dataset`, which render conversations, never
load it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.compare.command import used_today
from bot.compare.view import error_message
from bot.errors import UserError
from bot.i18n import t
from bot.llm.client import InvalidApiKey, MissingApiKey, RateLimited, Sampling, prompt_tokens, resolve_profile
from bot.llm.live import Budget, Refusals, admit, changes, longest_wait, student
from bot.llm.queue import SharedCall, Upstream
from bot.llm.usage import UsageRepository
from bot.replies import Columns, Heading, Paragraph, Reply, Span
from bot.requests import Request
from bot.roles.command import other_system
from bot.roles.templates import Message

if TYPE_CHECKING:
    from bot.app import Aula
    from bot.settings import Settings

log = logging.getLogger("aula.roles")


def live_available(settings: Settings) -> bool:
    """A key is set, or the endpoint is a server on this machine (which needs none)."""
    profile = resolve_profile(settings)
    return bool(profile.api_key) or not profile.needs_key


async def live_run(request: Request, app: Aula, messages: list[Message]) -> AsyncIterator[Reply]:
    """The conversation and the different-system variant, sent at once to the instruct model.

    Calls go through the shared upstream queue (bot.llm.queue), so the provider's per-minute limit is
    shared by the whole bot, and identical live runs (a class clicking one button)
    share one call. A student then waits the same cooldown as after /compare.
    """
    lang = request.locale
    if not live_available(app.settings):
        yield Reply.private(Paragraph.of(t(lang, "roles.live.unavailable")))
        return
    if not request.place.workspace_id:  # a DM has no class, so no daily budget to count against
        raise UserError("error.not_in_dm", command="roles")
    state = app.services.llm_traffic
    other_title = f"{t(lang, 'roles.variants.other_system')}: «{t(lang, 'roles.other_system')}»"
    conversations = [(t(lang, "roles.live.yours"), messages), (other_title, other_system(lang, messages))]
    which_class = (request.place.platform, request.place.workspace_id)
    if not request.user.is_instructor and (wait := state.cooldowns.remaining(student(request))) > 0:
        raise UserError(LIVE_REFUSALS.cooldown, seconds=math.ceil(wait))  # before anything awaits
    for _, conversation in conversations:  # other processes' calls in line, when there are
        profile = resolve_profile(app.settings)
        await state.upstream.refresh(live_call_keys(app, conversation)[1], profile.per_minute(profile.instruct_model))
    used = await used_today(app, *which_class)  # the class's one daily budget, with /compare's
    # From here to admit() nothing awaits: the budget left and the reservation are one step.
    longest_wait = max(state.upstream.estimated_wait(*live_call_keys(app, c)) for _, c in conversations)
    max_tokens = Sampling.from_settings(app.settings.llm).max_tokens
    expected = sum(prompt_tokens(messages=_chat(c)) + max_tokens for _, c in conversations)
    budget = Budget(which_class, used, expected)
    with await admit(request, state, app.settings.llm, longest_wait_s=longest_wait, refusals=LIVE_REFUSALS,
               budget=budget) as admission:  # fmt: skip
        started = [(title, *live_call(app, state.upstream, conversation)) for title, conversation in conversations]
        calls = [(title, call) for title, call, _ in started]
        async for _ in changes([call for _, call in calls], app.settings.llm.stream_update_s):
            yield live_reply(lang, app.settings.llm.instruct_model, calls, app.settings.llm.total_timeout_s)
        # What the calls this request started really used counts against the class's budget
        # (a call shared with a classmate's click was counted by whoever started it).
        spent = sum(call.latest.usage.total_tokens for _, call, shared in started
                    if not shared and call.latest is not None and call.latest.usage is not None)  # fmt: skip
        try:
            await UsageRepository(app.db).record(app.clock(), *which_class, spent)
        except Exception:  # the class still sees the answers; only this run's count is lost
            log.exception("could not record a live run's token usage")
        if not any(call.latest is not None and call.latest.text for _, call in calls):
            admission.refund_cooldown()  # only a run that produced text counts
        yield live_reply(lang, app.settings.llm.instruct_model, calls)  # the end


LIVE_REFUSALS = Refusals(
    cooldown="roles.live.cooldown", line_too_long="roles.live.line_too_long", budget="roles.live.budget"
)


def live_call_keys(app: Aula, messages: list[Message]) -> tuple[tuple, tuple]:
    """(what is asked, which queue): the same conversation to the same model is one call for all."""
    profile = resolve_profile(app.settings)
    sampling = Sampling.from_settings(app.settings.llm)
    model = profile.instruct_model
    line = profile.rate_line(model)  # one line per server, API key and model
    return (*line, "roles", tuple((m.role, m.content) for m in messages), sampling), line


def live_call(app: Aula, upstream: Upstream, messages: list[Message]) -> tuple[SharedCall, bool]:
    """(the call, shared): shared when a classmate's identical call was already under way."""
    profile = resolve_profile(app.settings)
    sampling = Sampling.from_settings(app.settings.llm)
    model = profile.instruct_model
    body = [{"role": m.role, "content": m.content} for m in messages]
    client = app.services.llm

    def start():
        return client.stream_chat(body, model=model, profile=profile, sampling=sampling)

    return upstream.call(*live_call_keys(app, messages), profile.per_minute(model), start)


def _chat(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def live_reply(
    lang: str, model: str, calls: list[tuple[str, SharedCall]], total_timeout_s: float | None = None
) -> Reply:
    """The live run as it stands; while a call is under way and `total_timeout_s` is given, with
    the longest the student may wait (bot.llm.live.longest_wait)."""
    parts = [
        Heading(t(lang, "roles.live.title", model=model)),
        Paragraph.of(Span(t(lang, "roles.live.note"), italic=True)),
        Columns(tuple((title, (Paragraph.of(live_text(lang, call)),)) for title, call in calls)),
    ]
    if total_timeout_s is not None and not all(call.done for _, call in calls):
        seconds = longest_wait([call for _, call in calls], total_timeout_s)
        parts.append(Paragraph.of(Span(t(lang, "roles.live.deadline", seconds=seconds), italic=True)))
    return Reply.public(*parts)


def live_text(lang: str, call: SharedCall) -> str:
    latest = call.latest
    if call.done and latest is None:
        return live_error(lang, call.error)
    if not call.admitted:
        return t(lang, "roles.live.queued", position=call.position(), seconds=math.ceil(call.estimated_wait()))
    if latest is None or not latest.text:
        return t(lang, "roles.live.waiting")
    if latest.finish_reason == "length":
        return latest.text + " …"
    if latest.finish_reason == "interrupted":
        return latest.text + " " + t(lang, "roles.live.cut", reason=latest.interruption)
    return latest.text if latest.done else latest.text + " ▌"


def live_error(lang: str, error: BaseException | None) -> str:
    if isinstance(error, MissingApiKey | InvalidApiKey):
        return t(lang, "roles.live.error.key", setting=error.setting)
    if isinstance(error, RateLimited):
        return t(lang, "roles.live.error.busy")
    # The provider's own words may quote the key, and its address may hold credentials: the
    # class reads what kind of failure it was (as /compare says it), the log has the detail.
    if error is not None:
        log.warning("live /roles call failed: %s", error)
    return "⚠️ " + error_message(error, lang)
