"""The live quiz: open a question, record clicks, close on the stored timer, score, announce.

Every state change goes to SQLite first; what the channel sees follows through the
platform's Messenger. A timer is a `closes_at` column compared with `app.clock()`,
never a sleeping task, so a restarted bot finds it. A background loop calls `tick()`
every `quiz.tick_seconds`; tests call it themselves after moving the clock.

Posting is separate from closing: a question closes (and is scored) even while the
platform is unreachable, and its results are posted (`announced_at`) once it answers.

Several processes on one database each tick. Closing is a conditional UPDATE (`closed_at IS
NULL`), so it happens once, by whichever process comes first, within `quiz.tick_seconds` of
`closes_at`. Posting goes through claims (bot/storage/claims.py): the process that opened a
question holds its timer (`quiz:question:<session>:<position>`, renewed at each countdown
refresh): it alone refreshes the countdown and posts the results, then releases it; a quiz's
final leaderboard is `quiz:final:<session>`. When the holder dies, another process takes the
timer over once the lease expires: a killed holder's question is closed on time by the others,
and its results are taken over within `timers.lease_seconds + quiz.tick_seconds` of the kill
(then posted in the time rendering and posting them takes).
Nothing kept in memory decides anything: the session cache holds what never changes after the
start, and `_refreshed` only spaces this process's own refreshes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING

from bot.errors import UserError
from bot.messenger import Messenger
from bot.quiz.banks import LETTERS, Bank, BankCatalog
from bot.quiz.display import (
    closed_reply,
    confirmation_reply,
    final_reply,
    nickname,
    question_reply,
    rank_reply,
    results_reply,
    shown_names,
)
from bot.quiz.store import (
    AlreadyRunning,
    AnswerRow,
    LiveQuestion,
    QuestionState,
    QuizRepository,
    QuizSession,
)
from bot.replies import Reply
from bot.requests import Request
from bot.ticker import PostRetries, Ticker

if TYPE_CHECKING:
    from bot.app import Aula

log = logging.getLogger("aula.quiz")

# Kahoot's answer-streak bonus: +100 per earlier right answer in a row, up to 500.
STREAK_STEP, STREAK_CAP = 100, 500
CONFIRMATIONS_KEPT = 4096  # confirmation notes remembered (cleared when full)
MAX_POST_ATTEMPTS = 5  # then the results of a question are given up on (logged), not retried forever
WAIT_POLL_SECONDS = 0.2  # /quiz next waiting for the results another process is posting


def question_job(session_id: int, position: int) -> str:
    """The claim key of a question's timer: its countdown refreshes, then its results."""
    return f"quiz:question:{session_id}:{position}"


def final_job(session_id: int) -> str:
    return f"quiz:final:{session_id}"


def speed_points(elapsed: float, limit: float, points: int) -> int:
    """Kahoot's formula: round((1 − (t/T)/2) × P); an instant answer earns P, the last moment P/2."""
    fraction = min(max(elapsed / limit, 0.0), 1.0) if limit > 0 else 0.0
    return round((1 - fraction / 2) * points)


def streak_before(history: list[bool | None]) -> int:
    """How many questions in a row, ending with the previous one, the player got right."""
    count = 0
    for correct in reversed(history):
        if not correct:
            break
        count += 1
    return count


def score_question(question: LiveQuestion, opened_at: float, speed_bonus: bool, streaks: bool):
    def score(answers: list[AnswerRow], history: dict[str, list[bool | None]]) -> dict[str, tuple[bool, int]]:
        scores: dict[str, tuple[bool, int]] = {}
        for answer in answers:
            if answer.choice not in question.correct:
                scores[answer.user_id] = (False, 0)
                continue
            if speed_bonus:
                points = speed_points(answer.answered_at - opened_at, question.seconds, question.points)
            else:
                points = question.points
            if streaks:
                points += min(streak_before(history.get(answer.user_id, [])) * STREAK_STEP, STREAK_CAP)
            scores[answer.user_id] = (True, points)
        return scores

    return score


def live_questions(
    bank: Bank, default_seconds: int, default_points: int, seconds: int | None
) -> list[LiveQuestion]:
    """The bank's choice questions as they will be played (open ones are for homework)."""
    return [
        LiveQuestion(
            id=q.id,
            text=q.text,
            options=q.options,
            correct=q.correct,
            seconds=seconds or q.time or bank.time or default_seconds,
            points=next(p for p in (q.points, bank.points, default_points) if p is not None),
            explanation=q.explanation,
        )
        for q in bank.choice_questions
    ]


def here(session: QuizSession, request: Request) -> bool:
    """True if a click comes from the quiz's own channel: a button id names a session by number,
    and another class (or channel) must not answer, nor read the standings of, a quiz not its own."""
    mine, theirs = session.place, request.place
    return (mine.platform, mine.workspace_id, mine.channel_id) == (
        theirs.platform,
        theirs.workspace_id,
        theirs.channel_id,
    )


class QuizEngine(Ticker):
    name = "quiz-timers"

    def __init__(self, app: Aula) -> None:
        super().__init__()
        self.app = app
        self.repo = QuizRepository(app.db)
        self.catalog = BankCatalog(app.settings.quiz.banks_dir, self.repo)
        self._lock = asyncio.Lock()  # state changes and posts, one at a time (clicks do not take it)
        self._confirmations: dict[tuple, Reply] = {}  # (locale, session, question, status, choice, nickname)
        self._sessions: dict[int, QuizSession] = {}  # questions and rules never change after the start
        self._refreshed: dict[tuple[int, int], float] = {}  # question -> when its message was last updated
        self._posts = PostRetries(MAX_POST_ATTEMPTS, given_up_is_done=True, logger=log)  # the quiz moves on

    @property
    def settings(self):
        return self.app.settings.quiz

    @property
    def claims(self):
        return self.app.services.claims

    async def start(self) -> None:
        """Forget the claims of processes that died (expired: anyone may take them, so deleting
        them changes nothing but the table's size), then tick as every Ticker does."""
        try:
            await self.claims.prune()
        except Exception:  # a full disk or a locked file: they stay, expired, until the next start
            log.warning("could not delete expired claims", exc_info=True)
        await super().start()

    async def tick(self) -> None:
        """Close every question whose time is up, post pending results, refresh open questions."""
        async with self._lock:
            now = self.app.clock()
            for state in await self.repo.due_questions(now):
                await self._close(state, state.closes_at)
            await self._announce_pending()
            await self._refresh_open(now)

    # --- sessions -----------------------------------------------------------------------
    async def session(self, session_id: int) -> QuizSession | None:
        cached = self._sessions.get(session_id)
        if cached is None:
            cached = await self.repo.session(session_id)
            if cached is not None:
                self._sessions[session_id] = cached
        return cached

    def messenger(self, platform: str) -> Messenger:
        messenger = self.app.messengers.get(platform)
        if messenger is None:
            raise UserError("quiz.no_messenger", platform=platform)
        return messenger

    async def start_quiz(
        self, request: Request, bank: Bank, shuffle: bool, seconds: int | None, anonymous: bool
    ) -> QuizSession:
        settings = self.settings
        questions = live_questions(bank, settings.seconds_per_question, settings.points, seconds)
        if not questions:
            raise UserError("quiz.no_choice_questions", bank=bank.name)
        if shuffle:
            random.shuffle(questions)
        self.messenger(request.place.platform)
        async with self._lock:
            now = self.app.clock()
            try:
                session_id = await self.repo.create_session(
                    request.place,
                    bank.name,
                    bank.title,
                    questions,
                    request.locale,
                    settings.change_rule,
                    settings.speed_bonus,
                    settings.streaks,
                    anonymous,
                    request.user.id,
                    now,
                )
            except AlreadyRunning:
                raise UserError("quiz.already_running") from None
            session = await self.session(session_id)
            assert session is not None
            try:
                await self._open(session, 0)
            except UserError:
                await self.repo.end_session(session_id, now)
                await self.repo.mark_final_announced(session_id, now)
                raise
            return session

    async def advance(self, session: QuizSession) -> int | None:
        """/quiz next: close the open question (results first), then open the next one.
        Returns the position opened, or None when the quiz has just finished."""
        async with self._lock:
            latest = await self.repo.latest_question(session.id)
            if latest is not None and latest.is_open:
                await self._close(latest, min(self.app.clock(), latest.closes_at))
            await self._announce_pending()
            if latest is not None:
                await self._await_results(session.id, latest.position)
            position = 0 if latest is None else latest.position + 1
            if position < len(session.questions):
                await self._open(session, position)
                return position
            await self._finish(session)
            return None

    async def stop(self, session: QuizSession) -> None:
        """/quiz stop: close the open question, post its results and the final leaderboard."""
        async with self._lock:
            latest = await self.repo.latest_question(session.id)
            if latest is not None and latest.is_open:
                await self._close(latest, min(self.app.clock(), latest.closes_at))
            await self._finish(session)

    async def _finish(self, session: QuizSession) -> None:
        await self.repo.end_session(session.id, self.app.clock())
        await self._announce_pending()

    # --- questions ----------------------------------------------------------------------
    async def _open(self, session: QuizSession, position: int) -> None:
        messenger = self.messenger(session.place.platform)
        now = self.app.clock()
        question = session.questions[position]
        if not await self.repo.open_question(session.id, position, now, now + question.seconds):
            return  # another process opened it a moment ago (two /quiz next at once): it posts it
        await self.claims.claim(question_job(session.id, position))  # this process keeps its timer
        state = await self.repo.question(session.id, position)
        assert state is not None
        try:
            message_id = await messenger.send(session.place, question_reply(session, state, 0, now))
        except Exception:
            log.exception("could not post question %s of quiz %s", position + 1, session.id)
            await self.repo.forget_question(session.id, position)
            await self.claims.release(question_job(session.id, position))
            raise UserError("quiz.cannot_post") from None
        await self.repo.set_message(session.id, position, str(message_id or ""))
        self._refreshed[(session.id, position)] = now

    async def _close(self, state: QuestionState, closed_at: float) -> None:
        session = await self.session(state.session_id)
        if session is None:
            return
        question = session.questions[state.position]
        scorer = score_question(question, state.opened_at, session.speed_bonus, session.streaks)
        if await self.repo.close_question(state.session_id, state.position, closed_at, scorer):
            log.info("quiz %s question %s closed", state.session_id, state.position + 1)
        self._refreshed.pop((state.session_id, state.position), None)

    async def _announce_pending(self) -> None:
        """Post what closed but is not yet shown: each question's results, then final leaderboards.
        Each post is claimed first and re-read under the claim: another process may hold it, or
        have posted it since the list was read."""
        waiting: set[int] = set()
        for state in await self.repo.unannounced_questions():
            session = await self.session(state.session_id)
            messenger = self.app.messengers.get(session.place.platform) if session else None
            if session is None or messenger is None:
                waiting.add(state.session_id)
                continue
            async with self.claims.hold(question_job(state.session_id, state.position)) as mine:
                if not mine:  # another live process holds this question's timer: it posts them
                    waiting.add(state.session_id)
                    continue
                current = await self.repo.question(state.session_id, state.position)
                if current is None or current.announced_at is not None:
                    continue  # posted by another process meanwhile
                if not await self._post_results(session, current, messenger):
                    waiting.add(state.session_id)
        for session in await self.repo.sessions_awaiting_final():
            messenger = self.app.messengers.get(session.place.platform)
            if session.id in waiting or messenger is None:
                continue
            async with self.claims.hold(final_job(session.id)) as mine:
                if not mine:
                    continue
                current = await self.repo.session(session.id)
                if current is None or current.final_announced_at is not None:
                    continue
                if any(q.announced_at is None for q in await self.repo.questions(session.id)):
                    continue  # a question another process closed after the list was read: its results first
                standings, names = await self.standings(session)
                if await self._post(
                    session.id,
                    -1,
                    messenger.send(
                        session.place, final_reply(session, standings, names, self.settings.leaderboard_size)
                    ),
                ):
                    await self.repo.mark_final_announced(session.id, self.app.clock())

    async def _await_results(self, session_id: int, position: int) -> None:
        """/quiz next: while another live process is posting this question's results, wait for
        them (the next question must not come first); take them over if that process dies. At
        most `timers.lease_seconds` + 2 ticks; then the quiz moves on, as after a failed post."""
        job = question_job(session_id, position)
        limit = time.monotonic() + self.app.settings.timers.lease_seconds + 2 * max(self.tick_seconds, 1)
        while time.monotonic() < limit:
            state = await self.repo.question(session_id, position)
            if state is None or state.announced_at is not None:
                return
            holder = await self.claims.holder(job)
            if holder is None or holder[0] == self.claims.owner:
                return  # nobody else is at it: this process tried, and the post failed
            await asyncio.sleep(WAIT_POLL_SECONDS)
            await self._announce_pending()  # takes them over once the holder's lease expired
        log.warning("quiz %s: question %s's results still unposted; moving on", session_id, position + 1)

    async def _post_results(self, session: QuizSession, state: QuestionState, messenger: Messenger) -> bool:
        answers = await self.repo.answers(session.id, state.position)
        standings, names = await self.standings(session)

        async def post() -> None:
            if state.message_id:
                await messenger.edit(session.place, state.message_id, closed_reply(session, state, answers))
            size = self.settings.leaderboard_size
            await messenger.send(
                session.place, results_reply(session, state.position, answers, standings, names, size)
            )

        if await self._post(session.id, state.position, post()):
            await self.repo.mark_announced(session.id, state.position, self.app.clock())
            return True
        return False

    async def _post(self, session_id: int, position: int, posting) -> bool:
        """Await a post; True when done, or when it failed too often to keep trying."""
        return await self._posts.post((session_id, position), posting, "quiz %s: posting results failed", session_id)

    async def _refresh_open(self, now: float) -> None:
        """Show how many answered (never what) and the time left, every refresh_seconds."""
        for state in await self.repo.open_questions():
            key = (state.session_id, state.position)
            if state.closes_at <= now or not state.message_id:
                continue
            if now - self._refreshed.get(key, float("-inf")) < self.settings.refresh_seconds:
                continue
            session = await self.session(state.session_id)
            messenger = self.app.messengers.get(session.place.platform) if session else None
            if session is None or messenger is None:
                continue
            self._refreshed[key] = now
            if not await self.claims.claim(question_job(state.session_id, state.position)):
                continue  # another live process keeps this question's timer
            answered = await self.repo.answer_count(state.session_id, state.position)
            try:
                await messenger.edit(
                    session.place, state.message_id, question_reply(session, state, answered, now)
                )
            except Exception:
                log.warning(
                    "quiz %s: could not refresh question %s",
                    state.session_id,
                    state.position + 1,
                    exc_info=True,
                )

    # --- clicks ---------------------------------------------------------------------------
    async def answer(self, request: Request, session_id: int, position: int, letter: str) -> Reply:
        session = await self.session(session_id)
        if session is None or not here(session, request) or not 0 <= position < len(session.questions):
            raise UserError("quiz.unknown_button")
        question = session.questions[position]
        choice = LETTERS.find(letter)
        if not 0 <= choice < len(question.options):
            raise UserError("quiz.unknown_button")
        recorded = await self.repo.record_answer(
            session_id,
            position,
            request.user.id,
            request.user.name,
            choice,
            request.received_at or self.app.clock(),
            session.change_rule,
        )
        if recorded.status == "closed":
            self.tick_soon()
        nick = None
        if session.anonymous:
            ordinal = await self.repo.player_ordinal(session_id, request.user.id)
            nick = nickname(session_id, ordinal) if ordinal is not None else None
        # The same few notes go to a whole class (a question's options × what the click did):
        # built once each, not once per click (bench/quiz_clicks.py). Replies are immutable.
        key = (request.locale, session_id, position, recorded.status, recorded.choice, nick)
        reply = self._confirmations.get(key)
        if reply is None:
            if len(self._confirmations) >= CONFIRMATIONS_KEPT:
                self._confirmations.clear()
            reply = self._confirmations[key] = confirmation_reply(request.locale, session, position, recorded, nick)
        return reply

    async def rank(self, request: Request, session_id: int) -> Reply:
        session = await self.session(session_id)
        if session is None or not here(session, request):
            raise UserError("quiz.unknown_button")
        standings, names = await self.standings(session)
        return rank_reply(request.locale, session, standings, names, request.user.id)

    async def standings(self, session: QuizSession):
        standings = await self.repo.standings(session.id)
        players = await self.repo.players(session.id) if session.anonymous else []
        return standings, shown_names(session, standings, players)
