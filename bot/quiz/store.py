"""Quiz storage: imported banks, sessions, questions (with their closing time), answers.

The database is the only truth for a running quiz: a new bot on the same file picks
up open questions, their timers and every answer given so far.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.requests import Place
from bot.storage.database import DatabaseError

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    from bot.storage.database import Database


class AlreadyRunning(Exception):
    """The channel has a running quiz (the unique index said so)."""


@dataclass(frozen=True)
class LiveQuestion:
    """A choice question as it is played: fixed at the quiz's start."""

    id: str
    text: dict[str, str]
    options: tuple[dict[str, str], ...]
    correct: tuple[int, ...]
    seconds: int
    points: int
    explanation: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "options": list(self.options),
            "correct": list(self.correct),
            "seconds": self.seconds,
            "points": self.points,
            "explanation": self.explanation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveQuestion:
        return cls(
            id=data["id"],
            text=data["text"],
            options=tuple(data["options"]),
            correct=tuple(data["correct"]),
            seconds=int(data["seconds"]),
            points=int(data["points"]),
            explanation=data.get("explanation"),
        )


@dataclass(frozen=True)
class QuizSession:
    id: int
    place: Place
    bank_name: str
    title: dict[str, str]
    questions: tuple[LiveQuestion, ...]
    locale: str
    change_rule: str
    speed_bonus: bool
    streaks: bool
    anonymous: bool
    started_by: str
    started_at: float
    ended_at: float | None
    final_announced_at: float | None

    @property
    def running(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class QuestionState:
    session_id: int
    position: int
    opened_at: float
    closes_at: float
    closed_at: float | None
    announced_at: float | None
    message_id: str

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class AnswerRow:
    user_id: str
    choice: int
    answered_at: float
    changes: int
    correct: bool | None
    points: int


@dataclass(frozen=True)
class Recorded:
    """What a click did. status: recorded, changed, same, change_refused, closed."""

    status: str
    choice: int | None  # the answer now on record (None when nothing is)
    changes: int = 0


# How many times an answer may change, per rule (None: until the question closes).
CHANGE_LIMITS: dict[str, int | None] = {"never": 0, "once": 1, "free": None}


# The first row of the answers' VALUES list names its types: PostgreSQL types a VALUES column by
# its rows (untyped parameters alone would be text), SQLite ignores the casts' cost.
TYPED_ANSWER_ROW = "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION))"
ANSWER_BATCH = 500
JOIN_ATTEMPTS = 8  # a join whose ordinal another process took meanwhile is tried again  # answers in one upsert at most: 5 parameters each, far below SQLite's 32,766


@dataclass
class _AnswerBatch:
    """Clicks waiting for the next answer upsert; `done` gets {(session, position, user): (choice, changes)}."""

    rows: list[tuple[int, int, str, int, float]] = field(default_factory=list)
    keys: set[tuple[int, int, str]] = field(default_factory=set)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class QuizRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._players_seen: set[tuple[int, str]] = set()
        self._answer_batches: dict[str, collections.deque[_AnswerBatch]] = {}  # per change rule, in order
        self._answer_senders: dict[str, asyncio.Task] = {}

    # --- imported banks: each belongs to one class (platform, workspace_id) ------------
    async def save_bank(
        self, owner: tuple[str, str], name: str, filename: str, content: bytes, user_id: str, now: float
    ) -> None:
        """Store (or replace) the bank `name` of one class; another class's bank of that name is untouched."""
        await self.db.execute(
            """INSERT INTO quiz_class_banks (platform, workspace_id, name, filename, content, imported_by, imported_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, workspace_id, name) DO UPDATE SET filename = excluded.filename,
               content = excluded.content, imported_by = excluded.imported_by, imported_at = excluded.imported_at""",
            (*owner, name, filename, content, user_id, now),
        )

    async def imported_banks(self, owner: tuple[str, str] | None = None) -> list[tuple[tuple[str, str], str, str, bytes]]:
        """(owner, name, filename, content) of one class's imports, or of every class's (owner None: the CLI)."""
        if owner is None:
            rows = await self.db.fetchall(
                "SELECT * FROM quiz_class_banks ORDER BY name, platform, workspace_id"
            )
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM quiz_class_banks WHERE platform = ? AND workspace_id = ? ORDER BY name", owner
            )
        return [
            ((r["platform"], r["workspace_id"]), r["name"], r["filename"], bytes(r["content"])) for r in rows
        ]

    async def imported_bank(self, owner: tuple[str, str], name: str) -> tuple[str, bytes] | None:
        """(filename, content) of the class's import called name, or None."""
        row = await self.db.fetchone(
            "SELECT filename, content FROM quiz_class_banks WHERE platform = ? AND workspace_id = ? AND name = ?",
            (*owner, name),
        )
        return (row["filename"], bytes(row["content"])) if row else None

    # --- sessions -----------------------------------------------------------------------
    async def create_session(
        self,
        place: Place,
        bank_name: str,
        title: dict[str, str],
        questions: list[LiveQuestion],
        locale: str,
        change_rule: str,
        speed_bonus: bool,
        streaks: bool,
        anonymous: bool,
        started_by: str,
        now: float,
    ) -> int:
        snapshot = json.dumps(
            {"title": title, "questions": [q.to_json() for q in questions]}, ensure_ascii=False
        )
        # The partial unique index (one running quiz per channel) decides; no row back: one runs.
        rows = await self.db.execute_returning(
            """INSERT INTO quiz_sessions (platform, workspace_id, channel_id, thread_id, bank_name, snapshot,
               locale, change_rule, speed_bonus, streaks, anonymous, started_by, started_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, workspace_id, channel_id, thread_id) WHERE ended_at IS NULL DO NOTHING
               RETURNING id""",
            (
                place.platform,
                place.workspace_id,
                place.channel_id,
                place.thread_id,
                bank_name,
                snapshot,
                locale,
                change_rule,
                int(speed_bonus),
                int(streaks),
                int(anonymous),
                started_by,
                now,
            ),
        )
        if not rows:
            raise AlreadyRunning
        return int(rows[0]["id"])

    async def session(self, session_id: int) -> QuizSession | None:
        row = await self.db.fetchone("SELECT * FROM quiz_sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    async def running_session(self, place: Place) -> QuizSession | None:
        row = await self.db.fetchone(
            """SELECT * FROM quiz_sessions WHERE platform = ? AND workspace_id = ? AND channel_id = ?
               AND thread_id = ? AND ended_at IS NULL""",
            (place.platform, place.workspace_id, place.channel_id, place.thread_id),
        )
        return _session(row) if row else None

    async def latest_session(self, place: Place) -> QuizSession | None:
        row = await self.db.fetchone(
            """SELECT * FROM quiz_sessions WHERE platform = ? AND workspace_id = ? AND channel_id = ?
               AND thread_id = ? ORDER BY id DESC LIMIT 1""",
            (place.platform, place.workspace_id, place.channel_id, place.thread_id),
        )
        return _session(row) if row else None

    async def recent_sessions(self, limit: int = 20) -> list[QuizSession]:
        rows = await self.db.fetchall("SELECT * FROM quiz_sessions ORDER BY id DESC LIMIT ?", (limit,))
        return [_session(r) for r in rows]

    async def end_session(self, session_id: int, now: float) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE quiz_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (now, session_id)
            )
        self._players_seen = {key for key in self._players_seen if key[0] != session_id}
        return cursor.rowcount == 1

    async def mark_final_announced(self, session_id: int, now: float) -> None:
        await self.db.execute(
            "UPDATE quiz_sessions SET final_announced_at = ? WHERE id = ?", (now, session_id)
        )

    async def sessions_awaiting_final(self) -> list[QuizSession]:
        rows = await self.db.fetchall(
            "SELECT * FROM quiz_sessions WHERE ended_at IS NOT NULL AND final_announced_at IS NULL ORDER BY id"
        )
        return [_session(r) for r in rows]

    # --- questions ----------------------------------------------------------------------
    async def open_question(self, session_id: int, position: int, opened_at: float, closes_at: float) -> bool:
        """Open a question; False when it was open already (another process opened it first)."""
        rows = await self.db.execute_returning(
            """INSERT INTO quiz_questions (session_id, position, opened_at, closes_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (session_id, position) DO NOTHING RETURNING position""",
            (session_id, position, opened_at, closes_at),
        )
        return bool(rows)

    async def forget_question(self, session_id: int, position: int) -> None:
        """Undo open_question when the question could not be posted at all."""
        await self.db.execute(
            "DELETE FROM quiz_questions WHERE session_id = ? AND position = ?", (session_id, position)
        )

    async def set_message(self, session_id: int, position: int, message_id: str) -> None:
        await self.db.execute(
            "UPDATE quiz_questions SET message_id = ? WHERE session_id = ? AND position = ?",
            (message_id, session_id, position),
        )

    async def question(self, session_id: int, position: int) -> QuestionState | None:
        row = await self.db.fetchone(
            "SELECT * FROM quiz_questions WHERE session_id = ? AND position = ?", (session_id, position)
        )
        return _question(row) if row else None

    async def latest_question(self, session_id: int) -> QuestionState | None:
        row = await self.db.fetchone(
            "SELECT * FROM quiz_questions WHERE session_id = ? ORDER BY position DESC LIMIT 1", (session_id,)
        )
        return _question(row) if row else None

    async def questions(self, session_id: int) -> list[QuestionState]:
        rows = await self.db.fetchall(
            "SELECT * FROM quiz_questions WHERE session_id = ? ORDER BY position", (session_id,)
        )
        return [_question(r) for r in rows]

    async def open_questions(self) -> list[QuestionState]:
        rows = await self.db.fetchall(
            "SELECT * FROM quiz_questions WHERE closed_at IS NULL ORDER BY closes_at"
        )
        return [_question(r) for r in rows]

    async def due_questions(self, now: float) -> list[QuestionState]:
        rows = await self.db.fetchall(
            "SELECT * FROM quiz_questions WHERE closed_at IS NULL AND closes_at <= ? ORDER BY closes_at",
            (now,),
        )
        return [_question(r) for r in rows]

    async def unannounced_questions(self) -> list[QuestionState]:
        rows = await self.db.fetchall(
            """SELECT * FROM quiz_questions WHERE closed_at IS NOT NULL AND announced_at IS NULL
               ORDER BY session_id, position"""
        )
        return [_question(r) for r in rows]

    async def mark_announced(self, session_id: int, position: int, now: float) -> None:
        await self.db.execute(
            "UPDATE quiz_questions SET announced_at = ? WHERE session_id = ? AND position = ?",
            (now, session_id, position),
        )

    async def close_question(
        self,
        session_id: int,
        position: int,
        now: float,
        score: Callable[[list[AnswerRow], dict[str, list[bool | None]]], dict[str, tuple[bool, int]]],
    ) -> bool:
        """Close an open question and score its answers in one transaction; False if it was closed.

        score(answers, history) -> user_id -> (correct, points); history maps a user to
        their earlier questions' correctness, in play order (None: did not answer).
        """
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE quiz_questions SET closed_at = ? WHERE session_id = ? AND position = ? AND closed_at IS NULL",
                (now, session_id, position),
            )
            if cursor.rowcount != 1:
                return False
            rows = await conn.execute_fetchall(
                "SELECT position, user_id, choice, answered_at, changes, correct, points FROM quiz_answers WHERE session_id = ?",
                (session_id,),
            )
            answers = [_answer(r) for r in rows if r["position"] == position]
            history: dict[str, list[bool | None]] = {a.user_id: [None] * position for a in answers}
            for r in rows:
                if r["position"] < position and r["user_id"] in history:
                    history[r["user_id"]][r["position"]] = bool(r["correct"])
            scores = score(answers, history)
            await conn.executemany(
                "UPDATE quiz_answers SET correct = ?, points = ? WHERE session_id = ? AND position = ? AND user_id = ?",
                [(int(c), p, session_id, position, user) for user, (c, p) in scores.items()],
            )
            return True

    # --- answers --------------------------------------------------------------------------
    async def record_answer(
        self,
        session_id: int,
        position: int,
        user_id: str,
        display_name: str,
        choice: int,
        now: float,
        change_rule: str,
    ) -> Recorded:
        """Record one click atomically: only while the question is open, once per student
        (the unique constraint), changed only as the rule allows. One statement, so one
        round trip to SQLite in the usual case: that is what keeps an answer storm fast."""
        await self._join(session_id, user_id, display_name, now)
        returned = await self._upsert_answer(change_rule, (session_id, position, user_id, choice, now))
        if returned is not None:
            choice_now, changes = returned
            return Recorded("changed" if changes else "recorded", choice_now, changes)
        # Nothing written: say why (closed, the same answer again, or a change the rule forbids).
        rows = await self.db.fetchall(
            """SELECT q.closed_at, q.closes_at, a.choice, a.changes FROM quiz_questions q
               LEFT JOIN quiz_answers a ON a.session_id = q.session_id AND a.position = q.position
               AND a.user_id = ? WHERE q.session_id = ? AND q.position = ?""",
            (user_id, session_id, position),
        )
        row = rows[0] if rows else None
        previous = None if row is None or row["choice"] is None else int(row["choice"])
        if row is None or row["closed_at"] is not None or row["closes_at"] <= now:
            return Recorded("closed", previous)
        if previous == choice:
            return Recorded("same", previous, int(row["changes"]))
        return Recorded("change_refused", previous, int(row["changes"]))

    async def _upsert_answer(self, change_rule: str, row: tuple[int, int, str, int, float]) -> tuple[int, int] | None:
        """Write one answer (session_id, position, user_id, choice, answered_at) together with the
        other clicks under the same change rule that arrive while the previous statement is with
        SQLite (group commit: one multi-row upsert, one round trip and one transaction for a
        batch; bench/quiz_clicks.py). Returns (choice, changes) as stored, or None when nothing
        was written; returns only once the batch is committed, and raises what SQLite raised.
        A student's second click never shares a batch with their first: it waits for the next."""
        key = row[:3]
        queue = self._answer_batches.setdefault(change_rule, collections.deque())
        batch = queue[-1] if queue else None
        if batch is None or key in batch.keys or len(batch.rows) >= ANSWER_BATCH:
            batch = _AnswerBatch()  # sent after the ones before it, so a student's clicks keep their order
            queue.append(batch)
        batch.keys.add(key)
        batch.rows.append(row)
        if change_rule not in self._answer_senders:
            self._answer_senders[change_rule] = asyncio.create_task(self._send_answers(change_rule))
        stored = await asyncio.shield(batch.done)
        return stored.get(key)

    async def _send_answers(self, change_rule: str) -> None:
        """Send the waiting batch of one change rule, then the one that gathered meanwhile, until none waits."""
        limit = CHANGE_LIMITS[change_rule]
        may_change = "1 = 0" if limit == 0 else ("1 = 1" if limit is None else f"quiz_answers.changes < {limit}")
        try:
            queue = self._answer_batches.get(change_rule)
            while queue:
                batch = queue.popleft()
                try:
                    returned = await self.db.execute_returning(
                        f"""INSERT INTO quiz_answers (session_id, position, user_id, choice, answered_at)
                            SELECT v.column1, v.column2, v.column3, v.column4, v.column5
                            FROM (VALUES {", ".join([TYPED_ANSWER_ROW] + ["(?, ?, ?, ?, ?)"] * (len(batch.rows) - 1))}) AS v
                            WHERE EXISTS (SELECT 1 FROM quiz_questions q
                                WHERE q.session_id = v.column1 AND q.position = v.column2
                                AND q.closed_at IS NULL AND q.closes_at > v.column5)
                            ON CONFLICT (session_id, position, user_id) DO UPDATE
                            SET choice = excluded.choice, answered_at = excluded.answered_at, changes = quiz_answers.changes + 1
                            WHERE quiz_answers.choice != excluded.choice AND {may_change}
                            RETURNING session_id, position, user_id, choice, changes""",
                        [value for row in batch.rows for value in row],
                    )
                except Exception as exc:
                    batch.done.set_exception(exc)
                    batch.done.exception()  # retrieved: each click re-raises it through its shield
                else:
                    batch.done.set_result(
                        {(int(r["session_id"]), int(r["position"]), r["user_id"]): (int(r["choice"]), int(r["changes"]))
                         for r in returned}  # fmt: skip
                    )
        finally:
            self._answer_senders.pop(change_rule, None)
            for leftover in self._answer_batches.pop(change_rule, ()):  # only when this task was cancelled
                if not leftover.done.done():
                    leftover.done.set_exception(DatabaseError("the answer was not sent"))
                    leftover.done.exception()

    async def _join(self, session_id: int, user_id: str, display_name: str, now: float) -> None:
        """Add the player before their first answer (idempotent; remembered to save a round trip).
        Players who never got an answer in stay off the standings."""
        if (session_id, user_id) in self._players_seen:
            return
        for attempt in range(JOIN_ATTEMPTS):
            try:
                await self.db.execute_grouped(  # with the other players joining (group commit)
                    """INSERT INTO quiz_players (session_id, user_id, display_name, joined_at, ordinal)
                       SELECT ?, ?, ?, ?, COALESCE(MAX(ordinal) + 1, 0) FROM quiz_players WHERE session_id = ?
                       ON CONFLICT (session_id, user_id) DO NOTHING""",
                    (session_id, user_id, display_name, now, session_id),
                )
                break
            except sqlite3.IntegrityError:  # PostgreSQL's IntegrityError is a subclass
                # Another process gave the same next ordinal to its own player first (PostgreSQL
                # runs the two inserts at once; the unique ordinal index refused the later batch,
                # which wrote nothing): read MAX again.
                if attempt == JOIN_ATTEMPTS - 1:
                    raise
        self._players_seen.add((session_id, user_id))

    async def answer_count(self, session_id: int, position: int) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM quiz_answers WHERE session_id = ? AND position = ?",
            (session_id, position),
        )
        return int(row["n"]) if row else 0

    async def answers(self, session_id: int, position: int) -> list[AnswerRow]:
        rows = await self.db.fetchall(
            """SELECT user_id, choice, answered_at, changes, correct, points FROM quiz_answers
               WHERE session_id = ? AND position = ? ORDER BY answered_at""",
            (session_id, position),
        )
        return [_answer(r) for r in rows]

    async def all_answers(self, session_id: int) -> dict[int, list[AnswerRow]]:
        rows = await self.db.fetchall(
            """SELECT position, user_id, choice, answered_at, changes, correct, points FROM quiz_answers
               WHERE session_id = ? ORDER BY position, answered_at""",
            (session_id,),
        )
        by_position: dict[int, list[AnswerRow]] = {}
        for r in rows:
            by_position.setdefault(int(r["position"]), []).append(_answer(r))
        return by_position

    async def players(self, session_id: int) -> list[tuple[str, str, int]]:
        """(user_id, display_name, ordinal) in the order they first answered; ordinal is the
        0-based join order their nickname is drawn from (a forgotten player leaves a gap)."""
        rows = await self.db.fetchall(
            "SELECT user_id, display_name, ordinal FROM quiz_players WHERE session_id = ? ORDER BY ordinal",
            (session_id,),
        )
        return [(r["user_id"], r["display_name"], int(r["ordinal"])) for r in rows]

    async def player_ordinal(self, session_id: int, user_id: str) -> int | None:
        """0-based position of a player in join order (what their nickname is drawn from)."""
        row = await self.db.fetchone(
            "SELECT ordinal FROM quiz_players WHERE session_id = ? AND user_id = ?", (session_id, user_id)
        )
        return int(row["ordinal"]) if row else None

    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        """How much is stored about one user (for /privacy): live-quiz answers, and what they ran."""
        on_platform = "SELECT id FROM quiz_sessions WHERE platform = ?"
        row = await self.db.fetchone(
            f"""SELECT
                 (SELECT COUNT(*) FROM quiz_answers WHERE user_id = ? AND session_id IN ({on_platform})) AS answers,
                 (SELECT COUNT(*) FROM quiz_players WHERE user_id = ? AND session_id IN ({on_platform})) AS quizzes,
                 (SELECT COUNT(*) FROM quiz_sessions WHERE platform = ? AND started_by = ?) AS started""",
            (user_id, platform, user_id, platform, platform, user_id),
        )
        return {key: int(row[key]) for key in ("answers", "quizzes", "started")}

    async def forget(self, platform: str, user_id: str) -> int:
        """Delete one user's live-quiz answers and their place (name) in each quiz; quizzes they ran
        stay for the class, without their id. Returns how many answers went. Scores other players
        earned do not change: points were computed when each question closed."""
        on_platform = "SELECT id FROM quiz_sessions WHERE platform = ?"
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                f"DELETE FROM quiz_answers WHERE user_id = ? AND session_id IN ({on_platform})", (user_id, platform)
            )
            await conn.execute(
                f"DELETE FROM quiz_players WHERE user_id = ? AND session_id IN ({on_platform})", (user_id, platform)
            )
            await conn.execute(
                "UPDATE quiz_sessions SET started_by = '' WHERE platform = ? AND started_by = ?", (platform, user_id)
            )
        self._players_seen = {key for key in self._players_seen if key[1] != user_id}
        return cursor.rowcount

    async def standings(self, session_id: int) -> list[tuple[str, str, int, int, int]]:
        """(user_id, display_name, points, correct, answered), best first; ties by who joined first."""
        rows = await self.db.fetchall(
            """SELECT p.user_id, p.display_name, COALESCE(SUM(a.points), 0) AS points,
                      COALESCE(SUM(a.correct), 0) AS correct, COUNT(a.user_id) AS answered
               FROM quiz_players p LEFT JOIN quiz_answers a
                 ON a.session_id = p.session_id AND a.user_id = p.user_id
               WHERE p.session_id = ?
               GROUP BY p.user_id, p.display_name, p.joined_at, p.ordinal HAVING COUNT(a.user_id) > 0
               ORDER BY points DESC, correct DESC, p.joined_at, p.ordinal""",
            (session_id,),
        )
        return [
            (r["user_id"], r["display_name"], int(r["points"]), int(r["correct"]), int(r["answered"]))
            for r in rows
        ]


def _session(row) -> QuizSession:
    snapshot = json.loads(row["snapshot"])
    return QuizSession(
        id=int(row["id"]),
        place=Place(row["platform"], row["workspace_id"], row["channel_id"], row["thread_id"]),
        bank_name=row["bank_name"],
        title=snapshot["title"],
        questions=tuple(LiveQuestion.from_json(q) for q in snapshot["questions"]),
        locale=row["locale"],
        change_rule=row["change_rule"],
        speed_bonus=bool(row["speed_bonus"]),
        streaks=bool(row["streaks"]),
        anonymous=bool(row["anonymous"]),
        started_by=row["started_by"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        final_announced_at=row["final_announced_at"],
    )


def _question(row) -> QuestionState:
    return QuestionState(
        session_id=int(row["session_id"]),
        position=int(row["position"]),
        opened_at=row["opened_at"],
        closes_at=row["closes_at"],
        closed_at=row["closed_at"],
        announced_at=row["announced_at"],
        message_id=row["message_id"],
    )


def _answer(row) -> AnswerRow:
    return AnswerRow(
        user_id=row["user_id"],
        choice=int(row["choice"]),
        answered_at=row["answered_at"],
        changes=int(row["changes"]),
        correct=None if row["correct"] is None else bool(row["correct"]),
        points=int(row["points"]),
    )
