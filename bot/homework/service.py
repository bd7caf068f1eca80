"""Homework: a bank's open questions assigned to a class, answered on the students' own time.

Every state change goes to SQLite first; the channel follows through the platform's
Messenger. A deadline and a reminder are stored times compared with `app.clock()` by
`tick()` (a background loop every `homework.tick_seconds`, and once at start-up to catch
up on what came due while the bot was down), never a sleeping task holding state.

The class is the assignment's platform and workspace (a Discord server, a Slack
workspace): a request from another one is refused. A DM belongs to no workspace, so it
counts as the class when its author is on the class roster (the reminder's buttons).
The roster is whoever used /quiz in the class: platforms do not hand a bot the member
list without extra permissions, so Aula reminds and counts missing only people it met.

Several processes on one database each tick; every post is claimed first (bot/storage/claims.py:
`homework:threads:<id>`, `homework:answers:<id>`, `homework:deadline:<id>`,
`homework:reminders:<id>`) and what it posts is re-read under the claim, so a deadline is
published once, each reminder sent once (recorded per student as it goes: a process that takes
over from a dead one carries on with the students not yet reminded) and each answer posted once.
A job held by a killed process is taken over within `timers.lease_seconds +
homework.tick_seconds` of the kill.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot import actions
from bot.errors import UserError
from bot.exports import attachments
from bot.homework.deadline import format_moment
from bot.homework.display import (
    FORM_QUESTIONS,
    announcement_reply,
    answer_form,
    answer_posts,
    deadline_reply,
    my_answers_reply,
    question_post_reply,
    reminder_reply,
    review_reply,
    saved_reply,
    shown_name,
    thread_title,
)
from bot.homework.export import answers_sheet
from bot.homework.store import Assignment, HomeworkQuestion, HomeworkRepository
from bot.i18n import t
from bot.messenger import Messenger
from bot.quiz.banks import Bank, BankCatalog
from bot.replies import Button, Form, Paragraph, Reply
from bot.requests import Place, Request
from bot.ticker import PostRetries, Ticker

if TYPE_CHECKING:
    from bot.app import Aula

log = logging.getLogger("aula.homework")

MAX_POST_ATTEMPTS = 5  # then an answer's post is given up on (logged) until the next start


class Homework(Ticker):
    name = "homework-deadlines"

    def __init__(self, app: Aula, catalog: BankCatalog) -> None:
        super().__init__()
        self.app = app
        self.repo = HomeworkRepository(app.db)
        self.catalog = catalog
        self._lock = asyncio.Lock()  # posts to the channel, one at a time
        # A post given up stays unposted in storage: tried again after the next start.
        self._posts = PostRetries(MAX_POST_ATTEMPTS, given_up_is_done=False, logger=log)

    @property
    def settings(self):
        return self.app.settings.homework

    @property
    def claims(self):
        return self.app.services.claims

    async def tick(self) -> None:
        """Open missing threads, post answers that are due, note deadlines, send reminders."""
        async with self._lock:
            now = self.app.clock()
            for assignment in await self.repo.missing_threads(now):
                await self._open_threads(assignment)
            await self._post_answers(now)
            for assignment in await self.repo.past_deadline_unnoted(now):
                await self._note_deadline(assignment)
            for assignment in await self.repo.due_for_reminders(now):
                await self._remind(assignment, now)

    def messenger(self, platform: str) -> Messenger | None:
        return self.app.messengers.get(platform)

    # --- the instructor assigns ------------------------------------------------------------
    async def assign(
        self,
        request: Request,
        bank: Bank,
        due_at: float,
        publish: str,
        anonymous: bool,
        reminder_hours: float,
    ) -> Assignment:
        if not bank.open_questions:
            raise UserError("homework.no_open_questions", bank=bank.name)
        if not request.place.workspace_id:
            raise UserError("homework.assign_in_class")
        messenger = self.messenger(request.place.platform)
        if messenger is None:
            raise UserError("quiz.no_messenger", platform=request.place.platform)
        now = self.app.clock()
        limit = self.settings.max_answer_chars
        questions = [
            HomeworkQuestion(q.id, q.text, min(q.max_length or limit, limit)) for q in bank.open_questions
        ]
        remind_at = due_at - reminder_hours * 3600 if reminder_hours > 0 else None
        if remind_at is not None and remind_at <= now:
            remind_at = None  # a reminder due before the announcement would only repeat it
        place = Place(request.place.platform, request.place.workspace_id, request.place.channel_id)
        async with self._lock:
            assignment_id = await self.repo.create(
                place,
                bank.name,
                bank.title,
                questions,
                request.locale,
                due_at,
                due_at + self.settings.accept_late_hours * 3600,
                publish,
                anonymous,
                remind_at,
                request.user.id,
                now,
            )
            assignment = await self.repo.assignment(assignment_id)
            assert assignment is not None
            try:
                message_id = await messenger.send(
                    place, announcement_reply(assignment, self.settings.timezone)
                )
            except Exception:
                log.exception("could not announce homework %s", assignment_id)
                await self.repo.delete(assignment_id)
                raise UserError("homework.cannot_post") from None
            await self.repo.set_announcement(assignment_id, str(message_id or ""))
            await self._open_threads(assignment)
        return await self.repo.assignment(assignment_id) or assignment

    async def _open_threads(self, assignment: Assignment) -> None:
        """Post each question in the channel and open its discussion thread (what failed is retried)."""
        messenger = self.messenger(assignment.place.platform)
        if messenger is None:
            return
        async with self.claims.hold(f"homework:threads:{assignment.id}") as mine:
            if mine:  # else another process is opening them
                await self._open_threads_held(assignment, messenger)

    async def _open_threads_held(self, assignment: Assignment, messenger: Messenger) -> None:
        threads = await self.repo.threads(assignment.id)
        for position in range(len(assignment.questions)):
            message_id, thread_id = threads.get(position, ("", ""))
            if thread_id:
                continue
            try:
                if not message_id:
                    message_id = str(
                        await messenger.send(assignment.place, question_post_reply(assignment, position))
                    )
                    await self.repo.set_thread(assignment.id, position, message_id, "")
                thread = await messenger.start_thread(
                    assignment.place, message_id, thread_title(assignment, position)
                )
            except Exception:
                log.exception(
                    "homework %s: could not open the thread of question %s", assignment.id, position + 1
                )
                continue
            await self.repo.set_thread(assignment.id, position, message_id, thread.thread_id, self.app.clock())

    # --- publishing and reminders ----------------------------------------------------------
    async def _post_answers(self, now: float) -> None:
        """Post the answers due, one assignment at a time under its claim (re-read under it)."""
        pending = sorted({answer.assignment_id for answer in await self.repo.unposted(now)})
        for assignment_id in pending:
            async with self.claims.hold(f"homework:answers:{assignment_id}") as mine:
                if mine:
                    await self._post_answers_of(assignment_id, now)

    async def _post_answers_of(self, assignment_id: int, now: float) -> None:
        assignments: dict[int, Assignment | None] = {}
        order: dict[int, list[str]] = {}
        threads: dict[int, dict[int, tuple[str, str]]] = {}
        for answer in await self.repo.unposted(now):
            if answer.assignment_id != assignment_id:
                continue
            key = ("answer", answer.id)
            if self._posts.given_up(key):
                continue
            if answer.assignment_id not in assignments:
                assignments[answer.assignment_id] = await self.repo.assignment(answer.assignment_id)
                order[answer.assignment_id] = await self.repo.first_answerers(answer.assignment_id)
                threads[answer.assignment_id] = await self.repo.threads(answer.assignment_id)
            assignment = assignments[answer.assignment_id]
            thread_id = threads[answer.assignment_id].get(answer.position, ("", ""))[1]
            messenger = self.messenger(assignment.place.platform) if assignment else None
            if assignment is None or messenger is None or not thread_id:
                continue  # the thread is retried by the next tick; the answer waits for it
            place = Place(
                assignment.place.platform,
                assignment.place.workspace_id,
                assignment.place.channel_id,
                thread_id,
            )
            author = shown_name(assignment, answer, order[answer.assignment_id], assignment.locale)
            if await self._posts.post(
                key, send_all(messenger, place, answer_posts(assignment, answer, author)),
                "homework %s: posting an answer failed", assignment.id,
            ):  # fmt: skip
                await self.repo.mark_posted(answer.id, self.app.clock())

    async def _note_deadline(self, assignment: Assignment) -> None:
        messenger = self.messenger(assignment.place.platform)
        key = ("deadline", assignment.id)
        if messenger is None or self._posts.given_up(key):
            return
        async with self.claims.hold(f"homework:deadline:{assignment.id}") as mine:
            current = await self.repo.assignment(assignment.id) if mine else None
            if current is not None and current.deadline_posted_at is None:  # else done or being done
                await self._post_deadline(current, messenger, key)

    async def _post_deadline(self, assignment: Assignment, messenger: Messenger, key: tuple) -> None:
        answered = len(await self.repo.first_answerers(assignment.id))
        posting = messenger.send(assignment.place, deadline_reply(assignment, answered))
        if await self._posts.post(key, posting, "homework %s: could not post the deadline", assignment.id):
            await self.repo.mark_deadline_posted(assignment.id, self.app.clock())

    async def _remind(self, assignment: Assignment, now: float) -> None:
        """A private note to each student on the roster with questions left (not opted out)."""
        messenger = self.messenger(assignment.place.platform)
        if messenger is None:
            return
        async with self.claims.hold(f"homework:reminders:{assignment.id}") as mine:
            current = await self.repo.assignment(assignment.id) if mine else None
            if current is not None and current.reminded_at is None:  # else done or being done
                await self._remind_held(current, messenger, now)

    async def _remind_held(self, assignment: Assignment, messenger: Messenger, now: float) -> None:
        platform, workspace = assignment.place.platform, assignment.place.workspace_id
        skip = await self.repo.opted_out(platform, workspace) | await self.repo.reminded(assignment.id)
        answered: dict[str, int] = {}
        for answer in await self.repo.latest_answers(assignment.id):
            answered[answer.user_id] = answered.get(answer.user_id, 0) + 1
        total = len(assignment.questions)
        for member in await self.repo.members(platform, workspace):
            pending = total - answered.get(member.user_id, 0)
            if (
                member.is_instructor
                or member.user_id == assignment.created_by
                or member.user_id in skip
                or not pending
            ):
                continue
            reply = reminder_reply(assignment, pending, member.locale, self.settings.timezone)
            try:
                await messenger.send_direct(Place(platform, workspace, ""), member.user_id, reply)
            except Exception:
                log.warning("homework %s: could not remind %s", assignment.id, member.user_id, exc_info=True)
            await self.repo.record_reminder(assignment.id, member.user_id, now)
        await self.repo.mark_reminded(assignment.id, now)

    # --- students answer ---------------------------------------------------------------------
    async def chosen(self, request: Request, assignment_id: int | None) -> Assignment:
        """The assignment named (in this class), else this class's newest one still taking answers."""
        place = request.place
        if assignment_id is not None:
            assignment = await self.repo.assignment(int(assignment_id))
            if assignment is None:
                raise UserError("homework.unknown_assignment", id=assignment_id)
            await self.ensure_in_class(request, assignment)
            return assignment
        if not place.workspace_id:
            raise UserError("homework.outside_class")
        accepting = await self.repo.accepting(place.platform, place.workspace_id, self.app.clock())
        if accepting:
            return accepting[0]
        latest = await self.repo.in_class(place.platform, place.workspace_id, limit=1)
        if latest:
            return latest[0]
        raise UserError("homework.none_here")

    async def ensure_in_class(self, request: Request, assignment: Assignment) -> None:
        place, home = request.place, assignment.place
        if place.platform == home.platform:
            if place.workspace_id == home.workspace_id:
                return
            if not place.workspace_id and await self.repo.is_member(
                home.platform, home.workspace_id, request.user.id
            ):
                return  # a DM (a reminder's button) from someone the class knows
        raise UserError("homework.outside_class")

    def ensure_accepting(self, assignment: Assignment, lang: str, now: float | None = None) -> None:
        if not assignment.accepts(self.app.clock() if now is None else now):
            raise UserError("homework.closed", id=assignment.id, when=self.moment(assignment.closes_at, lang))

    def moment(self, epoch: float, lang: str) -> str:
        return format_moment(epoch, self.settings.timezone, lang)

    async def form(self, request: Request, assignment_id: int | None, revise: int | None = None) -> Form:
        """The next form: the student's pending questions (five at most), or, with nothing
        pending (or `revise` given), the saved answers to revise."""
        assignment = await self.chosen(request, assignment_id)
        self.ensure_accepting(assignment, request.locale)
        saved = {a.position: a for a in await self.repo.latest_answers(assignment.id, request.user.id)}
        if revise is not None:
            if revise not in saved:
                raise UserError("homework.nothing_to_revise", number=revise + 1)
            positions, revising = [revise], True
        else:
            pending = [p for p in range(len(assignment.questions)) if p not in saved]
            positions, revising = (pending, False) if pending else (sorted(saved), True)
        return answer_form(
            assignment,
            positions[:FORM_QUESTIONS],
            saved,
            request.locale,
            revising,
            self.settings.max_answer_chars,
        )

    async def submit(
        self, request: Request, assignment_id: int, positions: list[int], revising: bool
    ) -> Reply:
        """Store a form's answers: all of them or, if any is refused, none."""
        lang = request.locale
        assignment = await self.repo.assignment(assignment_id)
        if assignment is None:
            raise UserError("homework.unknown_assignment", id=assignment_id)
        await self.ensure_in_class(request, assignment)
        if not positions or any(not 0 <= p < len(assignment.questions) for p in positions):
            raise UserError("quiz.unknown_button")
        texts: dict[int, str] = {}
        for position in positions:
            text = (request.values.get(f"p{position}") or "").strip()
            limit = min(assignment.questions[position].max_length, self.settings.max_answer_chars)
            if len(text) > limit:
                raise UserError("homework.too_long", number=position + 1, length=len(text), limit=limit)
            if not text and revising:
                raise UserError("homework.empty_revision", number=position + 1)
            if text:
                texts[position] = text
        if not texts:
            raise UserError("homework.empty_answer")
        now = request.received_at or self.app.clock()  # sent in time counts, however long it queued
        self.ensure_accepting(assignment, lang, now)
        saved = {a.position: a for a in await self.repo.latest_answers(assignment.id, request.user.id)}
        changed = {p: text for p, text in texts.items() if p not in saved or saved[p].text != text}
        if not changed:
            raise UserError("homework.unchanged")
        await self.repo.seen(request, now)
        revisions = await self.repo.submit(
            assignment.id, request.user.id, request.user.name, changed, now, late=now >= assignment.due_at
        )
        if assignment.publishes_now(now):
            self.tick_soon()
        answered = set(saved) | set(revisions)
        pending = len(assignment.questions) - len(answered)
        return saved_reply(assignment, revisions, pending, now, lang, self.settings.timezone)

    async def my_answers(self, request: Request, assignment_id: int | None) -> Reply:
        assignment = await self.chosen(request, assignment_id)
        answers = await self.repo.latest_answers(assignment.id, request.user.id)
        return my_answers_reply(assignment, answers, self.app.clock(), request.locale, self.settings.timezone)

    async def set_reminders(self, request: Request, assignment_id: int, wanted: bool) -> Reply:
        assignment = await self.repo.assignment(assignment_id)
        if assignment is None:
            raise UserError("homework.unknown_assignment", id=assignment_id)
        await self.ensure_in_class(request, assignment)
        home = assignment.place
        await self.repo.set_opt_out(
            home.platform, home.workspace_id, request.user.id, not wanted, self.app.clock()
        )
        lang = request.locale
        if wanted:
            return Reply.private(Paragraph.of(t(lang, "homework.reminders_on")))
        return Reply.private(
            Paragraph.of(t(lang, "homework.reminders_off")),
            buttons=(Button(actions.HOMEWORK_UNMUTE.id(assignment=assignment.id), t(lang, "homework.button_unmute")),),
        )

    # --- the instructor reviews --------------------------------------------------------------
    async def review(self, request: Request, assignment_id: int | None) -> Reply:
        assignment = await self.chosen(request, assignment_id)
        home = assignment.place
        return review_reply(
            assignment,
            await self.repo.latest_answers(assignment.id),
            await self.repo.revision_counts(assignment.id),
            await self.repo.members(home.platform, home.workspace_id),
            self.app.clock(),
            request.locale,
            self.settings.timezone,
        )

    async def export(self, request: Request, assignment_id: int) -> Reply:
        assignment = await self.chosen(request, assignment_id)
        sheet = answers_sheet(
            assignment,
            await self.repo.latest_answers(assignment.id),
            await self.repo.revision_counts(assignment.id),
            request.locale,
            self.settings.timezone,
        )
        lang = request.locale
        return Reply.private(
            Paragraph.of(t(lang, "homework.exported", id=assignment.id)),
            *attachments(sheet, f"tarea-{assignment.id}-{assignment.bank_name}", t(lang, "homework.export_file")),
        )


async def send_all(messenger: Messenger, place: Place, replies: list[Reply]) -> None:
    """Send replies in order (one answer's posts); the first failure stops and raises."""
    for reply in replies:
        await messenger.send(place, reply)
