"""What /compare shows: the comparison being streamed (both sides, their calls) and its
rendering as queued, streaming or final, with the stats line, why each model stopped, and
every provider failure said in the user's language (also used by live /roles and /next)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from bot.compare.votes import vote_buttons
from bot.i18n import money, number, t
from bot.i18n import seconds as seconds_text
from bot.limits import DISCORD_EMBED_FIELD_VALUE
from bot.llm.client import (
    Completion,
    ConnectionFailed,
    EndpointDecommissioned,
    InvalidApiKey,
    LlmTimeout,
    MalformedResponse,
    MissingApiKey,
    ModelNotFound,
    Profile,
    PromptTooLong,
    RateLimited,
    Sampling,
    UpstreamError,
)
from bot.llm.live import longest_wait
from bot.llm.queue import SharedCall
from bot.replies import Attachment, Button, Columns, Heading, Paragraph, Reply, Span
from bot.settings import LlmSettings
from bot.storage.database import storage_unavailable

log = logging.getLogger("aula.compare")


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
    if not final and not all(side.call.done for side in order):
        seconds = longest_wait([side.call for side in order], comparison.settings.total_timeout_s)
        parts.append(Paragraph.of(Span(t(lang, "compare.deadline", seconds=seconds), italic=True)))
    if final:
        if comparison.profile.name != "default":
            parts.append(Paragraph.of(Span(t(lang, "compare.profile_used", profile=comparison.profile.name), italic=True)))
        parts.append(Paragraph.of(Span(t(lang, "compare.wall_time", seconds=_seconds(comparison.wall_s, lang)), italic=True)))
        if any(len(side_text(side)) > DISCORD_EMBED_FIELD_VALUE for side in order):
            parts.append(_full_text(comparison, order, lang))
    buttons: tuple[Button, ...] = ()
    if final and blind and run_id is not None and not all(side.failed for side in order):
        parts.append(Paragraph.of(t(lang, "compare.blind_question", count=votes_needed)))
        buttons = vote_buttons(run_id, lang)
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
            return t(lang, "compare.rate_limited", count=attempts)
        case UpstreamError(status=status):
            return t(lang, "compare.upstream_error", status=status)
        case ConnectionFailed(base_url=base_url):
            return t(lang, "compare.unreachable", base_url=base_url)  # public_address already
        case LlmTimeout(seconds=seconds, elapsed_s=elapsed, attempts=attempts, deadline_s=deadline) if elapsed:
            return t(lang, "compare.timeout_waited", seconds=seconds, elapsed=number(lang, elapsed, 1),
                     count=attempts, deadline=deadline)  # fmt: skip
        case LlmTimeout(seconds=seconds):
            return t(lang, "compare.timeout", seconds=seconds)
        case MalformedResponse():
            return t(lang, "compare.malformed")
        case PromptTooLong(tokens=tokens, limit=limit):
            return t(lang, "compare.too_long", tokens=tokens, limit=limit, model="")
    if error is not None and storage_unavailable(error):
        # The shared rate line (bot/llm/shared.py) could not be read or written: nothing was
        # sent; the class reads the "couldn't save" message the rest of Aula gives.
        log.warning("compare call: the database is unavailable: %s", error)
        return t(lang, "error.database")
    log.error("compare call failed", exc_info=error)
    return t(lang, "compare.failed")


def side_text(side: Side) -> str:
    return side.call.latest.text if side.call.latest else ""


def _full_text(comparison: Comparison, order: list[Side], lang: str) -> Attachment:
    sections = [f"== {_label(comparison, side, lang)} ==\n{side_text(side)}\n" for side in order]
    return Attachment("\n".join(sections).encode("utf-8"), "compare.txt", t(lang, "compare.full_text"))


def _seconds(value: float | None, lang: str) -> str:
    return seconds_text(lang, value or 0)
