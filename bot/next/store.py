"""/next storage: step-by-step runs (their buttons work after a restart; a step's provider
tokens go to the class's daily budget, bot.llm.usage, in the same transaction), and the class game's rounds and
guesses (one guess per student and round: the primary key)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.llm.usage import add_usage
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

    async def get(self, run_id: int) -> RunRecord | None:
        row = await self.db.fetchone("SELECT * FROM next_runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        steps = load_steps(row["steps"])
        model = steps[0].distribution.model if steps else ""
        return RunRecord(
            id=row["id"], platform=row["platform"], workspace_id=row["workspace_id"], channel_id=row["channel_id"],
            user_id=row["user_id"], user_name=row["user_name"], profile=row["profile"],
            temperature=row["temperature"], generation=Generation(row["role"], model, row["prompt"], steps),
            forked_from=row["forked_from"],
        )  # fmt: skip

    async def save_steps(
        self, run_id: int, steps: list[Step], before: str, at: float, usage: tuple[str, str, int] | None = None
    ) -> bool:
        """Replace a run's steps if they are still `before` (their JSON as read), and with them
        record `usage` (platform, workspace, tokens) in the class's budget, in one transaction.
        False when a concurrent click changed the steps first: then nothing is written."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE next_runs SET steps = ?, updated_at = ? WHERE id = ? AND steps = ?",
                (dump_steps(steps), at, run_id, before),
            )
            if cursor.rowcount != 1:
                return False
            if usage is not None:
                await add_usage(conn, at, *usage)
            return True

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

