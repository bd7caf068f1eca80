"""Repositories for what every command touches: the users seen and the command log."""

from __future__ import annotations

from collections.abc import Callable

from bot.requests import Request
from bot.storage.database import Database


class UserRepository:
    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock  # the app's: seconds since the epoch

    async def seen(self, request: Request) -> None:
        now = self.clock()
        await self.db.execute_grouped(  # with the other requests' (group commit)
            """INSERT INTO users (platform, user_id, display_name, locale, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, user_id) DO UPDATE
               SET display_name = excluded.display_name, locale = excluded.locale, last_seen = excluded.last_seen""",
            (request.place.platform, request.user.id, request.user.name, request.user.locale, now, now),
        )

    async def get(self, platform: str, user_id: str):
        return await self.db.fetchone(
            "SELECT * FROM users WHERE platform = ? AND user_id = ?", (platform, user_id)
        )

    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        """How much is stored about one user (for /privacy): a profile and log lines (no content)."""
        row = await self.db.fetchone(
            """SELECT (SELECT COUNT(*) FROM users WHERE platform = ? AND user_id = ?) AS profiles,
                      (SELECT COUNT(*) FROM command_log WHERE platform = ? AND user_id = ?) AS commands""",
            (platform, user_id, platform, user_id),
        )
        return {"profiles": int(row["profiles"]), "commands": int(row["commands"])}

    async def forget(self, platform: str, user_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM users WHERE platform = ? AND user_id = ?", (platform, user_id))
            await conn.execute(
                "DELETE FROM command_log WHERE platform = ? AND user_id = ?", (platform, user_id)
            )


class CommandLog:
    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock  # the app's: seconds since the epoch

    async def record(self, request: Request, latency_ms: float, outcome: str) -> None:
        name = request.command + (f" {request.subcommand}" if request.subcommand else "")
        await self.db.execute_grouped(  # with the other requests' (group commit)
            "INSERT INTO command_log (at, platform, user_id, command, latency_ms, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            (self.clock(), request.place.platform, request.user.id, name, latency_ms, outcome),
        )

    async def recent(self, limit: int = 20):
        return await self.db.fetchall("SELECT * FROM command_log ORDER BY id DESC LIMIT ?", (limit,))
