"""/roles storage: the conversations it rendered, for its buttons (edit, live run, other template).

Button ids only fit a number, so the conversation itself waits here. Rows older than
the retention are deleted whenever a new one is saved; `forget` removes one user's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot.roles.templates import ROLES, Message

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    from bot.storage.database import Database


class RolesConversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(
        self,
        platform: str,
        workspace_id: str,
        user_id: str,
        template: str,
        messages: list[Message],
        now: float,
        keep_s: float,
    ) -> int:
        """Store a conversation and prune expired ones; returns its id.

        Two single writes, not a transaction: the prune need not be atomic with the insert,
        and a class's transactions queue one behind another (bench/class_load.py)."""
        data = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
        await self.db.execute("DELETE FROM roles_conversations WHERE created_at < ?", (now - keep_s,))
        rows = await self.db.execute_returning(
            "INSERT INTO roles_conversations (platform, workspace_id, user_id, template, messages, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (platform, workspace_id, user_id, template, data, now),
        )
        return int(rows[0]["id"])

    async def get(self, conversation_id: int, platform: str, workspace_id: str) -> tuple[str, list[Message]] | None:
        """(template, messages), or None if it expired, never existed or was written in another
        class (platform, workspace_id): a button id names a conversation by number only."""
        row = await self.db.fetchone(
            "SELECT template, messages FROM roles_conversations WHERE id = ? AND platform = ? AND workspace_id = ?",
            (conversation_id, platform, workspace_id),
        )
        if row is None:
            return None
        messages = [Message(role, content) for role, content in json.loads(row["messages"]) if role in ROLES]
        return row["template"], messages

    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        """How much is stored about one user (for /privacy)."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM roles_conversations WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        return {"conversations": int(row["n"]) if row else 0}

    async def forget(self, platform: str, user_id: str) -> int:
        """Delete everything one user wrote here; returns how many conversations."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM roles_conversations WHERE platform = ? AND user_id = ?", (platform, user_id)
            )
            return cursor.rowcount
