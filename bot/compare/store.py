"""/compare storage: each comparison with both outputs, and the votes of blind ones.

Instructors review and export them (CSV). What a comparison really spent (calls shared
with another asker cost nothing) is added to the class's daily budget (bot.llm.usage) in the
same transaction as the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from bot.exports import Sheet
from bot.i18n import iso_moment
from bot.llm.usage import add_usage

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    from bot.storage.database import Database

ROLES = ("base", "instruct")


@dataclass(frozen=True)
class OutputRecord:
    role: str  # "base" or "instruct"
    model: str
    prompt: str
    text: str
    finish_reason: str  # stop, length, interrupted, error
    interruption: str = ""
    error: str = ""  # the message key of what went wrong, when nothing usable came back
    latency_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    shared: bool = False


@dataclass(frozen=True)
class RunRecord:
    id: int
    at: float
    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    user_name: str
    profile: str
    blind: bool
    instruct_slot: str | None
    revealed: bool
    outputs: dict[str, OutputRecord]


EXPORT_COLUMNS = (
    "id", "at", "platform", "workspace_id", "channel_id", "user_id", "user_name", "profile", "blind",
    "role", "model", "prompt", "text", "finish_reason", "interruption", "error", "latency_s",
    "prompt_tokens", "completion_tokens", "usage_estimated", "cost_usd", "shared",
)  # fmt: skip


class CompareRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(
        self,
        *,
        at: float,
        platform: str,
        workspace_id: str,
        channel_id: str,
        user_id: str,
        user_name: str,
        profile: str,
        outputs: list[OutputRecord],
        instruct_slot: str | None = None,
    ) -> int:
        """Store one comparison and its outputs together, and add the tokens of its calls that were
        not shared to the class's daily budget; returns its id."""
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "INSERT INTO compare_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile,"
                " blind, instruct_slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (at, platform, workspace_id, channel_id, user_id, user_name, profile,
                 int(instruct_slot is not None), instruct_slot),
            )  # fmt: skip
            run_id = int(list(rows)[0]["id"])
            for out in outputs:
                await conn.execute(
                    "INSERT INTO compare_outputs (run_id, role, model, prompt, text, finish_reason, interruption,"
                    " error, latency_s, prompt_tokens, completion_tokens, usage_estimated, cost_usd, shared)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, out.role, out.model, out.prompt, out.text, out.finish_reason, out.interruption,
                     out.error, out.latency_s, out.prompt_tokens, out.completion_tokens, int(out.usage_estimated),
                     out.cost_usd, int(out.shared)),
                )  # fmt: skip
            spent = sum(out.prompt_tokens + out.completion_tokens for out in outputs if not out.shared)
            await add_usage(conn, at, platform, workspace_id, spent)
        return run_id

    async def get(self, run_id: int) -> RunRecord | None:
        row = await self.db.fetchone("SELECT * FROM compare_runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        rows = await self.db.fetchall("SELECT * FROM compare_outputs WHERE run_id = ?", (run_id,))
        outputs = {r["role"]: _output(r) for r in rows}
        return RunRecord(
            id=row["id"],
            at=row["at"],
            platform=row["platform"],
            workspace_id=row["workspace_id"],
            channel_id=row["channel_id"],
            user_id=row["user_id"],
            user_name=row["user_name"],
            profile=row["profile"],
            blind=bool(row["blind"]),
            instruct_slot=row["instruct_slot"],
            revealed=bool(row["revealed"]),
            outputs=outputs,
        )

    async def tokens_used_since(self, platform: str, workspace_id: str, since: float) -> int:
        """Tokens a class's comparisons sent upstream since `since` (shared calls not counted twice)."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(o.prompt_tokens + o.completion_tokens), 0) FROM compare_outputs o"
            " JOIN compare_runs r ON r.id = o.run_id"
            " WHERE r.platform = ? AND r.workspace_id = ? AND r.at >= ? AND o.shared = 0",
            (platform, workspace_id, since),
        )
        return int(row[0]) if row else 0

    async def vote(self, run_id: int, platform: str, user_id: str, choice: str, at: float) -> None:
        """One vote per student and comparison; voting again changes it."""
        await self.db.execute(
            "INSERT INTO compare_votes (run_id, platform, user_id, choice, at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, platform, user_id) DO UPDATE SET choice = excluded.choice, at = excluded.at",
            (run_id, platform, user_id, choice, at),
        )

    async def tally(self, run_id: int) -> dict[str, int]:
        rows = await self.db.fetchall(
            "SELECT choice, COUNT(*) FROM compare_votes WHERE run_id = ? GROUP BY choice", (run_id,)
        )
        counts = {"A": 0, "B": 0}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    async def reveal(self, run_id: int) -> bool:
        """Mark a blind comparison revealed; False if it already was (someone else got there first)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute("UPDATE compare_runs SET revealed = 1 WHERE id = ? AND revealed = 0", (run_id,))
            return cursor.rowcount == 1

    async def export_sheet(
        self, platform: str | None = None, workspace_id: str | None = None, since: float = 0.0, zone: str = "UTC"
    ) -> Sheet:
        """Every output of every comparison (one row per model), oldest first; `at` is ISO 8601 in
        `zone` with its offset."""
        where, params = ["r.at >= ?"], [float(since)]
        if platform is not None:
            where.append("r.platform = ?")
            params.append(platform)
        if workspace_id is not None:
            where.append("r.workspace_id = ?")
            params.append(workspace_id)
        rows = await self.db.fetchall(
            "SELECT r.id, r.at, r.platform, r.workspace_id, r.channel_id, r.user_id, r.user_name, r.profile, r.blind,"
            " o.role, o.model, o.prompt, o.text, o.finish_reason, o.interruption, o.error, o.latency_s,"
            " o.prompt_tokens, o.completion_tokens, o.usage_estimated, o.cost_usd, o.shared"
            " FROM compare_runs r JOIN compare_outputs o ON o.run_id = r.id"
            f" WHERE {' AND '.join(where)} ORDER BY r.id, o.role",
            params,
        )
        at = EXPORT_COLUMNS.index("at")
        table = [
            tuple(iso_moment(value, zone) if i == at else value for i, value in enumerate(row)) for row in rows
        ]
        return Sheet(EXPORT_COLUMNS, table, "compare")

    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        """How much is stored about one user (for /privacy): their comparisons and their votes."""
        row = await self.db.fetchone(
            """SELECT (SELECT COUNT(*) FROM compare_runs WHERE platform = ? AND user_id = ?) AS runs,
                      (SELECT COUNT(*) FROM compare_votes WHERE platform = ? AND user_id = ?) AS votes""",
            (platform, user_id, platform, user_id),
        )
        return {"runs": int(row["runs"]), "votes": int(row["votes"])}

    async def forget(self, platform: str, user_id: str) -> int:
        """Delete one user's comparisons (and the votes on them) and their votes; returns how many runs."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM compare_votes WHERE platform = ? AND user_id = ?", (platform, user_id))
            cursor = await conn.execute(
                "DELETE FROM compare_runs WHERE platform = ? AND user_id = ?", (platform, user_id)
            )
            return cursor.rowcount


def _output(row) -> OutputRecord:
    values = {f.name: row[f.name] for f in fields(OutputRecord)}
    values["usage_estimated"] = bool(values["usage_estimated"])
    values["shared"] = bool(values["shared"])
    return OutputRecord(**values)
