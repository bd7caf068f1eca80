"""The class's daily budget read (every /compare, /next step and live /roles run) against a busy day.

    .venv/bin/python bench/daily_budget.py

Fills one class's day with N comparisons (2 outputs each) and N /next steps, then times, median
of 200 reads: the stored total Aula reads now (bot.llm.usage, one primary-key row, migration
0014) beside the sums it read before (every comparison output and step row of the day), which
are kept here as the floor's comparison. Prints the load average before and after.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bot.compare.store import CompareRepository, OutputRecord
from bot.llm.usage import UsageRepository
from bot.storage.database import Database

DAY = 20_000 * 86_400.0
OLD_SUM = (
    "SELECT COALESCE(SUM(o.prompt_tokens + o.completion_tokens), 0) FROM compare_outputs o"
    " JOIN compare_runs r ON r.id = o.run_id"
    " WHERE r.platform = ? AND r.workspace_id = ? AND r.at >= ? AND o.shared = 0"
)


async def median_ms(read, runs: int = 200) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| comparisons today | stored total (now) | sum of the day's rows (before) | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (100, 1_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            db = await Database(Path(tmp) / "b.sqlite3").open()
            try:
                repo, usage = CompareRepository(db), UsageRepository(db)
                outputs = [OutputRecord("base", "m", "p", "t", "stop", prompt_tokens=5, completion_tokens=20),
                           OutputRecord("instruct", "m", "p", "t", "stop", prompt_tokens=6, completion_tokens=30)]  # fmt: skip
                for i in range(n):
                    await repo.save(at=DAY + i, platform="discord", workspace_id="g", channel_id="c", user_id=f"u{i}",
                                    user_name="U", profile="p", outputs=outputs)  # fmt: skip
                assert await usage.used_on("discord", "g", DAY) == 61 * n
                now = await median_ms(lambda usage=usage, at=DAY + n: usage.used_on("discord", "g", at))
                before = await median_ms(lambda db=db: db.fetchone(OLD_SUM, ("discord", "g", DAY)))
                print(f"| {n:,} | {now:.3f} ms | {before:.3f} ms | {before / now:.0f}× |")
            finally:
                await db.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
