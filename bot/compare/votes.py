"""/compare's blind mode: the vote and reveal buttons, the class's votes, and the reveal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import COMPARE_REVEAL, COMPARE_VOTE, first_match
from bot.compare.store import CompareRepository, RunRecord
from bot.errors import UserError
from bot.i18n import percent, t
from bot.replies import Button, ButtonStyle, Columns, Heading, Paragraph, Reply, Span
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula


def vote_buttons(run_id: int, lang: str) -> tuple[Button, ...]:
    return (
        Button(COMPARE_VOTE.id(run=run_id, slot="A"), t(lang, "compare.vote_button", slot="A"), ButtonStyle.PRIMARY),
        Button(COMPARE_VOTE.id(run=run_id, slot="B"), t(lang, "compare.vote_button", slot="B"), ButtonStyle.PRIMARY),
        Button(COMPARE_REVEAL.id(run=run_id), t(lang, "compare.reveal_button"), ButtonStyle.SECONDARY),
    )


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
