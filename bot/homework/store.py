"""Homework storage: assignments (with their deadline), every revision of every answer,
discussion threads, reminders and opt-outs, and the roster of each class.

The database is the only truth: a restarted bot finds what is due to be published or
reminded by comparing stored times with the clock.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.requests import Place, Request

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    from bot.storage.database import Database


@dataclass(frozen=True)
class HomeworkQuestion:
    """An open question as assigned: fixed when the assignment is created."""

    id: str
    text: dict[str, str]
    max_length: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "max_length": self.max_length}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HomeworkQuestion:
        return cls(id=data["id"], text=data["text"], max_length=int(data["max_length"]))


@dataclass(frozen=True)
class Assignment:
    id: int
    place: Place  # the class (platform, workspace) and the channel it was announced in
    bank_name: str
    title: dict[str, str]
    questions: tuple[HomeworkQuestion, ...]
    locale: str
    due_at: float
    closes_at: float
    publish: str  # "on_submit" or "at_deadline"
    anonymous: bool
    remind_at: float | None
    created_by: str
    created_at: float
    message_id: str
    deadline_posted_at: float | None
    reminded_at: float | None

    def accepts(self, now: float) -> bool:
        return now < self.closes_at

    def publishes_now(self, now: float) -> bool:
        return self.publish == "on_submit" or now >= self.due_at


@dataclass(frozen=True)
class Answer:
    """The latest revision of one student's answer to one question."""

    id: int
    assignment_id: int
    position: int
    user_id: str
    user_name: str
    revision: int
    text: str
    submitted_at: float
    late: bool
    posted_at: float | None


@dataclass(frozen=True)
class ClassMember:
    user_id: str
    display_name: str
    locale: str
    is_instructor: bool


SUBMIT_ATTEMPTS = 8  # a submission whose revision another process took meanwhile is tried again
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

LATEST = """SELECT a.* FROM homework_answers a
    WHERE a.revision = (SELECT MAX(b.revision) FROM homework_answers b
        WHERE b.assignment_id = a.assignment_id AND b.position = a.position AND b.user_id = a.user_id)"""


class HomeworkRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._members_seen: set[tuple[str, str, str, str, bool]] = set()

    # --- assignments ----------------------------------------------------------------------
    async def create(
        self,
        place: Place,
        bank_name: str,
        title: dict[str, str],
        questions: list[HomeworkQuestion],
        locale: str,
        due_at: float,
        closes_at: float,
        publish: str,
        anonymous: bool,
        remind_at: float | None,
        created_by: str,
        now: float,
    ) -> int:
        snapshot = json.dumps(
            {"title": title, "questions": [q.to_json() for q in questions]}, ensure_ascii=False
        )
        rows = await self.db.execute_returning(
            """INSERT INTO homework_assignments (platform, workspace_id, channel_id, bank_name, snapshot, locale,
               due_at, closes_at, publish, anonymous, remind_at, created_by, created_at, question_count)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (
                place.platform,
                place.workspace_id,
                place.channel_id,
                bank_name,
                snapshot,
                locale,
                due_at,
                closes_at,
                publish,
                int(anonymous),
                remind_at,
                created_by,
                now,
                len(questions),
            ),
        )
        return int(rows[0]["id"])

    async def delete(self, assignment_id: int) -> None:
        """Undo create when the assignment could not be announced at all."""
        await self.db.execute("DELETE FROM homework_assignments WHERE id = ?", (assignment_id,))

    async def set_announcement(self, assignment_id: int, message_id: str) -> None:
        await self.db.execute(
            "UPDATE homework_assignments SET message_id = ? WHERE id = ?", (message_id, assignment_id)
        )

    async def assignment(self, assignment_id: int) -> Assignment | None:
        row = await self.db.fetchone("SELECT * FROM homework_assignments WHERE id = ?", (assignment_id,))
        return _assignment(row) if row else None

    async def in_class(self, platform: str, workspace_id: str, limit: int = 50) -> list[Assignment]:
        """A class's assignments, newest first."""
        rows = await self.db.fetchall(
            """SELECT * FROM homework_assignments WHERE platform = ? AND workspace_id = ?
               ORDER BY id DESC LIMIT ?""",
            (platform, workspace_id, limit),
        )
        return [_assignment(r) for r in rows]

    async def accepting(self, platform: str, workspace_id: str, now: float) -> list[Assignment]:
        """A class's assignments still taking answers, newest first."""
        rows = await self.db.fetchall(
            """SELECT * FROM homework_assignments WHERE platform = ? AND workspace_id = ? AND closes_at > ?
               ORDER BY id DESC""",
            (platform, workspace_id, now),
        )
        return [_assignment(r) for r in rows]

    async def past_deadline_unnoted(self, now: float) -> list[Assignment]:
        rows = await self.db.fetchall(
            "SELECT * FROM homework_assignments WHERE deadline_posted_at IS NULL AND due_at <= ?", (now,)
        )
        # Sorted here: with ORDER BY id SQLite would read the table in id order rather than the
        # pending rows through their partial index (tests/test_query_plans.py).
        return sorted((_assignment(r) for r in rows), key=lambda a: a.id)

    async def mark_deadline_posted(self, assignment_id: int, now: float) -> None:
        await self.db.execute(
            "UPDATE homework_assignments SET deadline_posted_at = ? WHERE id = ?", (now, assignment_id)
        )

    async def due_for_reminders(self, now: float) -> list[Assignment]:
        rows = await self.db.fetchall(
            """SELECT * FROM homework_assignments WHERE reminded_at IS NULL AND remind_at IS NOT NULL
               AND remind_at <= ? AND due_at > ? ORDER BY id""",
            (now, now),
        )
        return [_assignment(r) for r in rows]

    async def mark_reminded(self, assignment_id: int, now: float) -> None:
        await self.db.execute(
            "UPDATE homework_assignments SET reminded_at = ? WHERE id = ?", (now, assignment_id)
        )

    # --- discussion threads ---------------------------------------------------------------
    async def set_thread(
        self, assignment_id: int, position: int, message_id: str, thread_id: str, now: float = 0.0
    ) -> None:
        """Store a question's post and thread ('' while it could not be opened); the assignment is
        settled (threads_done_at = now) once every question's thread is open."""
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO homework_threads (assignment_id, position, message_id, thread_id) VALUES (?, ?, ?, ?)
                   ON CONFLICT (assignment_id, position) DO UPDATE
                   SET message_id = excluded.message_id, thread_id = excluded.thread_id""",
                (assignment_id, position, message_id, thread_id),
            )
            if thread_id:
                await conn.execute(
                    """UPDATE homework_assignments SET threads_done_at = ? WHERE id = ? AND threads_done_at IS NULL
                       AND question_count <= (SELECT COUNT(*) FROM homework_threads t
                                              WHERE t.assignment_id = ? AND t.thread_id != '')""",
                    (float(now), assignment_id, assignment_id),
                )

    async def threads(self, assignment_id: int) -> dict[int, tuple[str, str]]:
        """position -> (question message id, thread id; '' while it could not be opened)."""
        rows = await self.db.fetchall(
            "SELECT position, message_id, thread_id FROM homework_threads WHERE assignment_id = ?",
            (assignment_id,),
        )
        return {int(r["position"]): (r["message_id"], r["thread_id"]) for r in rows}

    async def missing_threads(self, now: float) -> list[Assignment]:
        """Assignments still taking answers with a question whose thread is not open yet."""
        rows = await self.db.fetchall(
            """SELECT * FROM homework_assignments
               WHERE threads_done_at IS NULL AND closes_at > ? AND message_id != ''""",
            (now,),
        )
        # Sorted here: with ORDER BY id SQLite would read the table in id order (tests/test_query_plans.py).
        return sorted((_assignment(r) for r in rows), key=lambda a: a.id)

    # --- answers --------------------------------------------------------------------------
    async def submit(
        self, assignment_id: int, user_id: str, user_name: str, texts: dict[int, str], now: float, late: bool
    ) -> dict[int, int]:
        """Store one submission (a new revision per question) in one transaction; position -> revision.

        The revision is the student's MAX + 1: two processes storing submissions of one student at
        once (PostgreSQL) may both read the same MAX, and the unique revision refuses the later
        transaction, which wrote nothing: it is tried again, so each submit is its own version."""
        for attempt in range(SUBMIT_ATTEMPTS):
            revisions: dict[int, int] = {}
            try:
                async with self.db.transaction() as conn:
                    for position, text in sorted(texts.items()):
                        rows = await conn.execute_fetchall(
                            """INSERT INTO homework_answers
                               (assignment_id, position, user_id, user_name, revision, text, submitted_at, late)
                               SELECT ?, ?, ?, ?, COALESCE(MAX(revision), 0) + 1, ?, ?, ? FROM homework_answers
                               WHERE assignment_id = ? AND position = ? AND user_id = ?
                               RETURNING revision""",
                            (assignment_id, position, user_id, user_name, text, now, int(late))
                            + (assignment_id, position, user_id),
                        )
                        revisions[position] = int(list(rows)[0]["revision"])
                return revisions
            except sqlite3.IntegrityError:  # PostgreSQL's IntegrityError is a subclass
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def latest_answers(self, assignment_id: int, user_id: str | None = None) -> list[Answer]:
        """The latest revision of each answer (of one student, or of everyone), by question then time."""
        where, params = "assignment_id = ?", [assignment_id]
        if user_id is not None:
            where += " AND user_id = ?"
            params.append(user_id)
        rows = await self.db.fetchall(
            f"SELECT * FROM ({LATEST}) AS latest WHERE {where} ORDER BY position, submitted_at, id", params
        )
        return [_answer(r) for r in rows]

    async def revision_counts(self, assignment_id: int) -> dict[tuple[int, str], int]:
        rows = await self.db.fetchall(
            """SELECT position, user_id, COUNT(*) AS n FROM homework_answers WHERE assignment_id = ?
               GROUP BY position, user_id""",
            (assignment_id,),
        )
        return {(int(r["position"]), r["user_id"]): int(r["n"]) for r in rows}

    async def first_answerers(self, assignment_id: int) -> list[str]:
        """User ids in the order of their first answer (what anonymous labels are numbered by)."""
        rows = await self.db.fetchall(
            """SELECT user_id FROM homework_answers WHERE assignment_id = ?
               GROUP BY user_id ORDER BY MIN(id)""",
            (assignment_id,),
        )
        return [r["user_id"] for r in rows]

    async def unposted(self, now: float) -> list[Answer]:
        """Latest revisions not yet in their thread, of assignments whose answers are shown by now.

        Reads only the unposted rows (a partial index): its cost follows the answers in flight,
        not every answer ever stored."""
        rows = await self.db.fetchall(
            """SELECT a.* FROM homework_answers a
                JOIN homework_assignments h ON h.id = a.assignment_id
                WHERE a.posted_at IS NULL AND (h.publish = 'on_submit' OR h.due_at <= ?)
                AND NOT EXISTS (SELECT 1 FROM homework_answers b
                    WHERE b.assignment_id = a.assignment_id AND b.position = a.position
                    AND b.user_id = a.user_id AND b.revision > a.revision)
                ORDER BY a.assignment_id, a.position, a.submitted_at, a.id""",
            (now,),
        )
        return [_answer(r) for r in rows]

    async def mark_posted(self, answer_id: int, now: float) -> None:
        """The answer is in its thread; earlier revisions never posted are settled with it (they
        were replaced before anyone saw them), so the unposted rows stay the work in flight."""
        await self.db.execute(
            """UPDATE homework_answers SET posted_at = ? WHERE posted_at IS NULL AND id IN (
                   SELECT b.id FROM homework_answers a JOIN homework_answers b
                   ON b.assignment_id = a.assignment_id AND b.position = a.position AND b.user_id = a.user_id
                   AND b.revision <= a.revision AND b.posted_at IS NULL
                   WHERE a.id = ?)""",
            (now, answer_id),
        )

    # --- the class roster, reminders and opt-outs -----------------------------------------
    async def seen(self, request: Request, now: float) -> None:
        """Note who used /quiz in a class (once per process and change: live quizzes click a lot)."""
        place, user = request.place, request.user
        if not place.workspace_id:
            return  # a DM belongs to no class
        key = (
            place.platform,
            place.workspace_id,
            user.id,
            user.name + "\0" + user.locale,
            user.is_instructor,
        )
        if key in self._members_seen:
            return
        await self.db.execute_grouped(  # with the other clicks' (group commit)
            """INSERT INTO homework_students
               (platform, workspace_id, user_id, display_name, locale, is_instructor, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, workspace_id, user_id) DO UPDATE SET display_name = excluded.display_name,
               locale = excluded.locale, is_instructor = excluded.is_instructor, last_seen = excluded.last_seen""",
            (
                place.platform,
                place.workspace_id,
                user.id,
                user.name,
                user.locale,
                int(user.is_instructor),
                now,
            ),
        )
        self._members_seen.add(key)

    async def members(self, platform: str, workspace_id: str) -> list[ClassMember]:
        rows = await self.db.fetchall(
            """SELECT user_id, display_name, locale, is_instructor FROM homework_students
               WHERE platform = ? AND workspace_id = ?""",
            (platform, workspace_id),
        )
        members = [ClassMember(r["user_id"], r["display_name"], r["locale"], bool(r["is_instructor"])) for r in rows]
        # By name, A-Z and a-z alike (SQLite's NOCASE, which PostgreSQL lacks), then id; sorted here
        # so that both databases give the same order whatever their collation.
        return sorted(members, key=lambda m: (m.display_name.translate(_ASCII_LOWER), m.user_id))

    async def is_member(self, platform: str, workspace_id: str, user_id: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM homework_students WHERE platform = ? AND workspace_id = ? AND user_id = ?",
            (platform, workspace_id, user_id),
        )
        return row is not None

    async def reminded(self, assignment_id: int) -> set[str]:
        rows = await self.db.fetchall(
            "SELECT user_id FROM homework_reminders WHERE assignment_id = ?", (assignment_id,)
        )
        return {r["user_id"] for r in rows}

    async def record_reminder(self, assignment_id: int, user_id: str, now: float) -> None:
        await self.db.execute(
            """INSERT INTO homework_reminders (assignment_id, user_id, sent_at) VALUES (?, ?, ?)
               ON CONFLICT (assignment_id, user_id) DO NOTHING""",
            (assignment_id, user_id, now),
        )

    async def set_opt_out(
        self, platform: str, workspace_id: str, user_id: str, out: bool, now: float
    ) -> None:
        if out:
            await self.db.execute(
                """INSERT INTO homework_reminder_optouts (platform, workspace_id, user_id, at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (platform, workspace_id, user_id) DO NOTHING""",
                (platform, workspace_id, user_id, now),
            )
        else:
            await self.db.execute(
                "DELETE FROM homework_reminder_optouts WHERE platform = ? AND workspace_id = ? AND user_id = ?",
                (platform, workspace_id, user_id),
            )

    async def opted_out(self, platform: str, workspace_id: str) -> set[str]:
        rows = await self.db.fetchall(
            "SELECT user_id FROM homework_reminder_optouts WHERE platform = ? AND workspace_id = ?",
            (platform, workspace_id),
        )
        return {r["user_id"] for r in rows}

    # --- privacy ----------------------------------------------------------------------------
    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        """How much is stored about one user on one platform."""
        row = await self.db.fetchone(
            """SELECT
                 (SELECT COUNT(*) FROM homework_answers a JOIN homework_assignments h ON h.id = a.assignment_id
                  WHERE h.platform = ? AND a.user_id = ?) AS revisions,
                 (SELECT COUNT(DISTINCT a.assignment_id) FROM homework_answers a
                  JOIN homework_assignments h ON h.id = a.assignment_id
                  WHERE h.platform = ? AND a.user_id = ?) AS assignments,
                 (SELECT COUNT(*) FROM homework_reminders r JOIN homework_assignments h ON h.id = r.assignment_id
                  WHERE h.platform = ? AND r.user_id = ?) AS reminders,
                 (SELECT COUNT(*) FROM homework_reminder_optouts WHERE platform = ? AND user_id = ?) AS opt_outs,
                 (SELECT COUNT(*) FROM homework_students WHERE platform = ? AND user_id = ?) AS classes""",
            (platform, user_id) * 5,
        )
        return {
            key: int(row[key]) for key in ("revisions", "assignments", "reminders", "opt_outs", "classes")
        }

    async def forget(self, platform: str, user_id: str) -> int:
        """Delete one user's answers (every revision), reminders, opt-outs and roster entries;
        returns how many answer revisions went."""
        on_platform = "SELECT id FROM homework_assignments WHERE platform = ?"
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                f"DELETE FROM homework_answers WHERE user_id = ? AND assignment_id IN ({on_platform})",
                (user_id, platform),
            )
            await conn.execute(
                f"DELETE FROM homework_reminders WHERE user_id = ? AND assignment_id IN ({on_platform})",
                (user_id, platform),
            )
            for table in ("homework_reminder_optouts", "homework_students"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE platform = ? AND user_id = ?", (platform, user_id)
                )
            await conn.execute(  # homework they assigned stays for the class, without their id
                "UPDATE homework_assignments SET created_by = '' WHERE platform = ? AND created_by = ?",
                (platform, user_id),
            )
        self._members_seen = {k for k in self._members_seen if (k[0], k[2]) != (platform, user_id)}
        return cursor.rowcount


def _assignment(row) -> Assignment:
    snapshot = json.loads(row["snapshot"])
    return Assignment(
        id=int(row["id"]),
        place=Place(row["platform"], row["workspace_id"], row["channel_id"]),
        bank_name=row["bank_name"],
        title=snapshot["title"],
        questions=tuple(HomeworkQuestion.from_json(q) for q in snapshot["questions"]),
        locale=row["locale"],
        due_at=row["due_at"],
        closes_at=row["closes_at"],
        publish=row["publish"],
        anonymous=bool(row["anonymous"]),
        remind_at=row["remind_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        message_id=row["message_id"],
        deadline_posted_at=row["deadline_posted_at"],
        reminded_at=row["reminded_at"],
    )


def _answer(row) -> Answer:
    return Answer(
        id=int(row["id"]),
        assignment_id=int(row["assignment_id"]),
        position=int(row["position"]),
        user_id=row["user_id"],
        user_name=row["user_name"],
        revision=int(row["revision"]),
        text=row["text"],
        submitted_at=row["submitted_at"],
        late=bool(row["late"]),
        posted_at=row["posted_at"],
    )
