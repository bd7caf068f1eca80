"""The class's daily token budget as stored: what every provider call really used.

One running total per class (platform, workspace id) and UTC day (table llm_usage, migration
0014), added to by /compare, /next, live /roles and the terminal's `aula compare` / `aula next`
(class "cli"/"local"). `used_on` is one primary-key lookup, so checking the budget costs the same
however busy the class was today, and a restart forgets nothing. Calls shared with another
asker are recorded once, by whoever started them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.llm.queue import day_start

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    import aiosqlite

    from bot.storage.database import Database

_ADD = (
    "INSERT INTO llm_usage (platform, workspace_id, day, tokens) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (platform, workspace_id, day) DO UPDATE SET tokens = llm_usage.tokens + excluded.tokens"
)


async def add_usage(conn: aiosqlite.Connection, at: float, platform: str, workspace_id: str, tokens: int) -> None:
    """Add `tokens` (prompt + completion, >= 0) to the class's total for the UTC day of `at`
    (epoch seconds), inside the caller's transaction (so the usage and what it bought are
    stored together)."""
    if tokens > 0:
        await conn.execute(_ADD, (platform, workspace_id, day_start(at), int(tokens)))


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, at: float, platform: str, workspace_id: str, tokens: int) -> None:
        """`add_usage` in a transaction of its own."""
        if tokens > 0:
            await self.db.execute(_ADD, (platform, workspace_id, day_start(at), int(tokens)))

    async def used_on(self, platform: str, workspace_id: str, at: float) -> int:
        """Tokens the class used on the UTC day of `at` (epoch seconds)."""
        row = await self.db.fetchone(
            "SELECT tokens FROM llm_usage WHERE platform = ? AND workspace_id = ? AND day = ?",
            (platform, workspace_id, day_start(at)),
        )
        return int(row[0]) if row else 0
