"""The provider's rate limit and the class's daily budget, shared by every process on one database.

A provider limits calls per API key, not per process, so when several Aula processes serve one
institution (issue 20) the lines of bot/llm/queue.py and the budget reservations of
bot/llm/live.py must be counted in the database (migration 0016). `SharedLimits` is that
database side; a single process keeps its in-memory fast path (ModelQueue.starts,
TokenBudget) unless `llm.shared_limits` is on (by default: on for PostgreSQL, off for SQLite).

Rate: a line (Profile.rate_line: one server, API key and model) owns `per_minute` rows of llm_rate_slots, each holding when its last call
started. `claim` moves the least recently used slot to now in one conditional UPDATE, only if
that slot's last start is at least a minute old and no older live waiter of another process is
in line; so in any 60 s window each slot starts at most one call, whatever the processes, and
the oldest waiter anywhere goes first. Two processes racing for one slot: the database lets one
UPDATE win, the other's row no longer qualifies (0 rows) and it looks again.

Places in line: every waiting call has a row in llm_queue_waiters (joined_at, epoch seconds);
the place a student sees is the calls of this process ahead of theirs plus those of other
processes that joined earlier and are still alive. A process renews its waiters' expiry
(`heartbeat`) while it waits; a dead process's waiters stop counting after WAITER_TTL_S.

Cooldowns: a student's start is one conditional upsert on llm_cooldowns (it wins only if the
last start is `user_cooldown_s` old), so two processes cannot both let one student through.

Budget: a request reserves its worst case in llm_budget_holds under the class's llm_usage row
lock (INSERT … ON CONFLICT DO UPDATE takes it on PostgreSQL; SQLite's writer lock serializes the
whole transaction), after checking used + held + needed <= the daily budget, so two processes
cannot both slip under it. A hold expires (HOLD_TTL_S past the longest a request can run) if
its process dies before releasing it.

All times are the app's clock (epoch seconds); statements use the portable SQL subset.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.llm.queue import WINDOW_S, day_start

if TYPE_CHECKING:
    from bot.storage.database import Database

log = logging.getLogger("aula")

WAITER_TTL_S = 15.0  # a waiter not renewed for this long belongs to a dead process
HEARTBEAT_S = 1.0  # how often a waiting process renews its waiters and rereads the line
NEVER = -1.0e15  # a slot that never started a call

_NEW_SLOT = "INSERT INTO llm_rate_slots (queue_key, slot, started_at) VALUES (?, ?, ?) ON CONFLICT (queue_key, slot) DO NOTHING"
_CLAIM = (
    "UPDATE llm_rate_slots SET started_at = ?"
    " WHERE queue_key = ? AND started_at <= ? AND slot = ("
    "  SELECT slot FROM llm_rate_slots WHERE queue_key = ? AND slot < ? ORDER BY started_at, slot LIMIT 1)"
    " AND NOT EXISTS (SELECT 1 FROM llm_queue_waiters w WHERE w.queue_key = ? AND w.process <> ?"
    "  AND w.expires_at > ? AND w.joined_at < ?)"
    " RETURNING slot"
)
_STARTS = "SELECT started_at FROM llm_rate_slots WHERE queue_key = ? AND slot < ? AND started_at > ? ORDER BY started_at"
_JOIN = "INSERT INTO llm_queue_waiters (ticket, queue_key, process, joined_at, expires_at) VALUES (?, ?, ?, ?, ?)"
_LEAVE = "DELETE FROM llm_queue_waiters WHERE ticket = ?"
_RENEW = "UPDATE llm_queue_waiters SET expires_at = ? WHERE queue_key = ? AND process = ?"
_OTHERS = "SELECT joined_at FROM llm_queue_waiters WHERE queue_key = ? AND process <> ? AND expires_at > ? ORDER BY joined_at"
_SWEEP_WAITERS = "DELETE FROM llm_queue_waiters WHERE expires_at < ?"

_LOCK_USAGE = (
    "INSERT INTO llm_usage (platform, workspace_id, day, tokens) VALUES (?, ?, ?, 0)"
    " ON CONFLICT (platform, workspace_id, day) DO UPDATE SET tokens = llm_usage.tokens RETURNING llm_usage.tokens"
)
_HELD = (
    "SELECT COALESCE(SUM(tokens), 0) FROM llm_budget_holds"
    " WHERE platform = ? AND workspace_id = ? AND day = ? AND expires_at > ?"
)
_HOLD = (
    "INSERT INTO llm_budget_holds (hold, platform, workspace_id, day, tokens, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_RELEASE = "DELETE FROM llm_budget_holds WHERE hold = ?"
_COOLDOWN = (
    "INSERT INTO llm_cooldowns (platform, user_id, started_at) VALUES (?, ?, ?)"
    " ON CONFLICT (platform, user_id) DO UPDATE SET started_at = excluded.started_at"
    " WHERE llm_cooldowns.started_at <= ? RETURNING llm_cooldowns.started_at"
)
_COOLDOWN_STARTED = "SELECT started_at FROM llm_cooldowns WHERE platform = ? AND user_id = ?"
_COOLDOWN_BACK = "UPDATE llm_cooldowns SET started_at = ? WHERE platform = ? AND user_id = ? AND started_at = ?"
_SWEEP_HOLDS = "DELETE FROM llm_budget_holds WHERE expires_at < ?"


def line_name(queue_key: Hashable) -> str:
    """The stored name of a line: its parts joined by a space, for a call's line
    (Profile.rate_line) the normalised address, the key's fingerprint and the model; never the
    API key itself."""
    if isinstance(queue_key, tuple):
        return " ".join(str(part) for part in queue_key)
    return str(queue_key)


@dataclass(frozen=True)
class Refused:
    """A reservation the budget could not hold: tokens used and held today, what was asked."""

    used: int
    held: int
    needed: int


class SharedLimits:
    """The database side of the rate limit, the line and the budget (see the module docstring).

    `clock()` is the app's clock (epoch seconds): every process must share one time scale.
    Raises what the database raises (bot.storage.database.DatabaseError, sqlite3/asyncpg errors);
    callers decide whether a request fails or waits."""

    def __init__(self, db: Database, clock: Any, process: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self.process = process or uuid.uuid4().hex
        self._slots_ready: set[tuple[str, int]] = set()
        self._left_behind: set[str] = set()  # tickets whose leave failed (the database was down)
        self.statements = 0  # round trips made (tests bound them)

    # --- the rate limit ---------------------------------------------------------------------

    async def _ensure_slots(self, line: str, per_minute: int) -> None:
        if (line, per_minute) in self._slots_ready:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(_NEW_SLOT, [(line, slot, NEVER) for slot in range(per_minute)])
        self.statements += 1
        self._slots_ready.add((line, per_minute))

    async def claim(self, queue_key: Hashable, per_minute: int, joined_at: float) -> float | None:
        """Start a call now if the shared limit allows it and no older live waiter of another
        process is in line: the start time (epoch seconds), else None."""
        line = line_name(queue_key)
        await self._ensure_slots(line, per_minute)
        now = self.clock()
        rows = await self.db.execute_returning(
            _CLAIM, (now, line, now - WINDOW_S, line, per_minute, line, self.process, now, joined_at)
        )
        self.statements += 1
        return now if rows else None

    async def recent_starts(self, queue_key: Hashable, per_minute: int) -> list[float]:
        """Starts of the last minute on this line, every process's, oldest first."""
        self.statements += 1
        rows = await self.db.fetchall(_STARTS, (line_name(queue_key), per_minute, self.clock() - WINDOW_S))
        return [float(row[0]) for row in rows]

    # --- the line ----------------------------------------------------------------------------

    async def join(self, queue_key: Hashable, ticket: str, joined_at: float) -> None:
        self.statements += 1
        await self.db.execute(_JOIN, (ticket, line_name(queue_key), self.process, joined_at, self.clock() + WAITER_TTL_S))

    async def leave(self, ticket: str) -> None:
        """Take a ticket out of the line. If the database fails, the ticket is remembered and
        deleted by this process's next `heartbeat` (before it renews its waiters, so a row left
        behind is never kept alive); if none comes, it stops counting after WAITER_TTL_S."""
        self.statements += 1
        try:
            await self.db.execute(_LEAVE, (ticket,))
        except BaseException:
            self._left_behind.add(ticket)
            raise
        self._left_behind.discard(ticket)

    async def heartbeat(self, queue_key: Hashable) -> list[float]:
        """Renew this process's waiters on the line; returns when the live waiters of the other
        processes joined (epoch seconds, oldest first)."""
        line, now = line_name(queue_key), self.clock()
        for ticket in list(self._left_behind):  # first, or the renewal would keep them counting
            await self.leave(ticket)
        await self.db.execute(_RENEW, (now + WAITER_TTL_S, line, self.process))
        rows = await self.db.fetchall(_OTHERS, (line, self.process, now))
        self.statements += 2
        return [float(row[0]) for row in rows]

    # --- the budget --------------------------------------------------------------------------

    async def reserve(self, which_class: tuple[str, str], tokens: int, daily: int, ttl_s: float) -> str | Refused:
        """Hold `tokens` of the class's budget for today if used + held + tokens <= daily:
        the hold's id (for `release`), else Refused with the figures."""
        platform, workspace_id = which_class
        now = self.clock()
        day = day_start(now)
        hold = uuid.uuid4().hex
        async with self.db.transaction() as conn:
            cursor = await conn.execute(_LOCK_USAGE, (platform, workspace_id, day))
            used = int((await cursor.fetchone())[0])
            cursor = await conn.execute(_HELD, (platform, workspace_id, day, now))
            held = int((await cursor.fetchone())[0])
            if used + held + tokens > daily:
                self.statements += 2
                return Refused(used, held, tokens)
            await conn.execute(_HOLD, (hold, platform, workspace_id, day, int(tokens), now + ttl_s))
        self.statements += 3
        return hold

    async def held(self, which_class: tuple[str, str]) -> int:
        """Tokens of the class's budget held today by calls in flight, every process's."""
        now = self.clock()
        row = await self.db.fetchone(_HELD, (*which_class, day_start(now), now))
        self.statements += 1
        return int(row[0]) if row else 0

    async def release(self, hold: str) -> None:
        self.statements += 1
        await self.db.execute(_RELEASE, (hold,))

    # --- students' cooldowns --------------------------------------------------------------

    async def start_cooldown(self, who: tuple[str, str], seconds: float) -> float | str:
        """Start who's (platform, user id) cooldown now unless one started less than `seconds`
        ago in any process: the start's token (for `give_back_cooldown`), else the seconds left."""
        now = self.clock()
        rows = await self.db.execute_returning(_COOLDOWN, (*who, now, now - seconds))
        self.statements += 1
        if rows:
            return repr(now)
        row = await self.db.fetchone(_COOLDOWN_STARTED, who)
        self.statements += 1
        return max(0.0, float(row[0]) + seconds - now) if row else 0.0

    async def give_back_cooldown(self, who: tuple[str, str], started: str) -> None:
        """Undo a start (the request produced nothing): only if no later one replaced it."""
        await self.db.execute(_COOLDOWN_BACK, (0.0, *who, float(started)))
        self.statements += 1

    async def sweep(self) -> None:
        """Forget expired waiters and holds (they already stopped counting; this keeps tables small)."""
        now = self.clock()
        await self.db.execute(_SWEEP_WAITERS, (now - WAITER_TTL_S,))
        await self.db.execute(_SWEEP_HOLDS, (now,))
        self.statements += 2
