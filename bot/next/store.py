"""/next storage: step-by-step runs (their buttons work after a restart; a step's provider
tokens go to the class's daily budget, bot.llm.usage, in the same transaction), and the class game's rounds and
guesses (one guess per student and round: the primary key)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.llm.queue import day_start
from bot.next.logic import Candidate, Distribution, Generation, Step

if TYPE_CHECKING:  # the database (aiosqlite) only for the app that opens one
    from bot.storage.database import Database


@dataclass
class RunRecord:
    id: int
    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    user_name: str
    profile: str
    temperature: float
    generation: Generation
    forked_from: int | None
    used_today: int | None = None  # the class's tokens today, when `get` was given `usage_at`


def dump_steps(steps: list[Step]) -> str:
    return json.dumps([
        {"model": s.distribution.model, "role": s.distribution.role, "latency_s": s.distribution.latency_s,
         "prompt_tokens": s.distribution.prompt_tokens, "chosen": s.chosen, "how": s.how,
         "temperature": s.temperature, "candidates": dump_candidates(s.distribution.candidates)}
        for s in steps
    ])  # fmt: skip


def load_steps(text: str) -> list[Step]:
    steps = []
    for item in json.loads(text):
        distribution = Distribution(item["role"], item["model"], load_candidates(item["candidates"]),
                                    item.get("latency_s", 0.0), item.get("prompt_tokens", 0))  # fmt: skip
        steps.append(Step(distribution, item["chosen"], item.get("how", ""), item.get("temperature")))
    return steps


def dump_candidates(candidates: tuple[Candidate, ...]) -> list[list[Any]]:
    return [[c.token, c.data.hex(), c.id, c.logprob] for c in candidates]


def load_candidates(rows: list[list[Any]]) -> tuple[Candidate, ...]:
    return tuple(Candidate(token, bytes.fromhex(data), token_id, logprob) for token, data, token_id, logprob in rows)


_SAVE_WITH_USAGE = (  # PostgreSQL: a data-modifying WITH (SQLite has none)
    "WITH updated AS (UPDATE next_runs SET steps = ?, updated_at = ? WHERE id = ? AND steps = ? RETURNING id),"
    " spent AS (INSERT INTO llm_usage (platform, workspace_id, day, tokens) SELECT ?, ?, ?, ? FROM updated"
    "  ON CONFLICT (platform, workspace_id, day) DO UPDATE SET tokens = llm_usage.tokens + excluded.tokens)"
    " SELECT id FROM updated"
)
_USAGE_IF_UNCHANGED = (  # SQLite, inside the transaction, before the UPDATE
    "INSERT INTO llm_usage (platform, workspace_id, day, tokens) SELECT ?, ?, ?, ? FROM next_runs"
    " WHERE id = ? AND steps = ?"
    " ON CONFLICT (platform, workspace_id, day) DO UPDATE SET tokens = llm_usage.tokens + excluded.tokens"
)


class NextRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- runs --------------------------------------------------------------------------------

    async def create(self, *, at: float, platform: str, workspace_id: str, channel_id: str, user_id: str,
                     user_name: str, profile: str, temperature: float, generation: Generation,
                     forked_from: int | None = None) -> int:  # fmt: skip
        rows = await self.db.execute_returning(
            "INSERT INTO next_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile, role,"
            " prompt, temperature, steps, forked_from, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (at, platform, workspace_id, channel_id, user_id, user_name, profile, generation.role,
             generation.prompt, float(temperature), dump_steps(generation.steps), forked_from, at),
        )  # fmt: skip
        return int(rows[0]["id"])

    async def get(self, run_id: int, usage_at: float | None = None) -> RunRecord | None:
        """The run, or None. With `usage_at` (epoch seconds) the same statement also reads the
        run's class's tokens used that UTC day (bot.llm.usage), as `used_today`: a step needs
        both, and one read is one round trip to the database instead of two."""
        if usage_at is None:
            row = await self.db.fetchone("SELECT *, NULL AS used_today FROM next_runs WHERE id = ?", (run_id,))
        else:
            row = await self.db.fetchone(
                "SELECT r.*, COALESCE((SELECT u.tokens FROM llm_usage u WHERE u.platform = r.platform"
                " AND u.workspace_id = r.workspace_id AND u.day = ?), 0) AS used_today FROM next_runs r WHERE r.id = ?",
                (day_start(usage_at), run_id),
            )
        if row is None:
            return None
        steps = load_steps(row["steps"])
        model = steps[0].distribution.model if steps else ""
        return RunRecord(
            id=row["id"], platform=row["platform"], workspace_id=row["workspace_id"], channel_id=row["channel_id"],
            user_id=row["user_id"], user_name=row["user_name"], profile=row["profile"],
            temperature=row["temperature"], generation=Generation(row["role"], model, row["prompt"], steps),
            forked_from=row["forked_from"], used_today=None if row["used_today"] is None else int(row["used_today"]),
        )  # fmt: skip

    async def save_steps(
        self, run_id: int, steps: list[Step], before: str, at: float, usage: tuple[str, str, int] | None = None
    ) -> bool:
        """Replace a run's steps if they are still `before` (their JSON as read), and with them
        record `usage` (platform, workspace, tokens) in the class's budget, atomically.
        False when a concurrent click changed the steps first: then nothing is written.

        Round trips (each one a crossing to the database's thread or server, bench/next.py):
        without usage one UPDATE; with it, on PostgreSQL one statement (the UPDATE in a WITH,
        the usage added only for the row it updated), on SQLite one transaction whose two
        statements are sent together (the usage is added only while the run still has
        `before`, then the UPDATE: both read the same state under SQLite's write lock)."""
        steps_json = dump_steps(steps)
        tokens = 0 if usage is None else int(usage[2])
        if tokens <= 0:
            changed = await self.db.execute(
                "UPDATE next_runs SET steps = ?, updated_at = ? WHERE id = ? AND steps = ?",
                (steps_json, at, run_id, before),
            )
            return changed == 1
        assert usage is not None
        platform, workspace_id = usage[0], usage[1]
        if self.db.dialect == "postgresql":
            rows = await self.db.execute_returning(_SAVE_WITH_USAGE, (steps_json, at, run_id, before, platform,
                                                                      workspace_id, day_start(at), tokens))  # fmt: skip
            return len(rows) == 1
        async with self.db.transaction() as conn:
            _, cursor = await asyncio.gather(
                conn.execute(_USAGE_IF_UNCHANGED, (platform, workspace_id, day_start(at), tokens, run_id, before)),
                conn.execute("UPDATE next_runs SET steps = ?, updated_at = ? WHERE id = ? AND steps = ?",
                             (steps_json, at, run_id, before)),
            )  # fmt: skip
            return cursor.rowcount == 1

    # --- privacy -----------------------------------------------------------------------------

    async def describe(self, platform: str, user_id: str) -> dict[str, int]:
        row = await self.db.fetchone(
            """SELECT (SELECT COUNT(*) FROM next_runs WHERE platform = ? AND user_id = ?) AS runs,
                      (SELECT COUNT(*) FROM next_guesses WHERE platform = ? AND user_id = ?) AS guesses""",
            (platform, user_id, platform, user_id),
        )
        return {"runs": int(row["runs"]), "guesses": int(row["guesses"])}

    async def forget(self, platform: str, user_id: str) -> int:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM next_guesses WHERE platform = ? AND user_id = ?", (platform, user_id))
            cursor = await conn.execute("DELETE FROM next_runs WHERE platform = ? AND user_id = ?", (platform, user_id))
            return cursor.rowcount

