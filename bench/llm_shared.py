"""What sharing the LLM rate limit and budget across processes costs per call (issue 20).

    .venv/bin/python bench/llm_shared.py [--postgres postgresql://aula@127.0.0.1:54329/aula] [--calls 300]

Times, per provider call, what bot/llm/shared.py adds before the call may start: a place in
line, one slot claimed and the place left (ModelQueue.wait_turn with a limit never reached,
so nothing waits), and a budget reservation checked, held and released (SharedLimits.reserve /
release), on a SQLite file and, with --postgres, on PostgreSQL (a fresh database, dropped
after). The floor beside them is the one-process in-memory path (ModelQueue without
SharedLimits, TokenBudget). Medians of --calls calls, one at a time; also the database round
trips per call. Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.llm.queue import ModelQueue, Ticket, TokenBudget  # noqa: E402
from bot.llm.shared import SharedLimits  # noqa: E402
from bot.storage.database import open_database  # noqa: E402

NEVER_FULL = 10**9  # slots never all used: no call waits, only the bookkeeping is timed
KEY = ("http://provider/v1", "model")


async def median_ms(step, calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await step()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(db, calls: int) -> dict[str, float]:
    shared = SharedLimits(db, time.time)
    queue = ModelQueue(1000, time.time, asyncio.sleep, shared, KEY)  # 1000 slots a minute

    async def one_call() -> None:
        await queue.wait_turn(Ticket())

    async def one_budget() -> None:
        hold = await shared.reserve(("slack", "T1"), 10, NEVER_FULL, ttl_s=600)
        await shared.release(hold)

    before = shared.statements
    call_ms = await median_ms(one_call, min(calls, 999))  # within one minute's 1000 slots
    call_trips = (shared.statements - before) / min(calls, 999)
    before = shared.statements
    budget_ms = await median_ms(one_budget, calls)
    budget_trips = (shared.statements - before) / calls
    return {"call": call_ms, "call_trips": call_trips, "budget": budget_ms, "budget_trips": budget_trips}


async def floor(calls: int) -> dict[str, float]:
    queue = ModelQueue(NEVER_FULL, time.monotonic, asyncio.sleep)
    budget = TokenBudget(NEVER_FULL)

    async def one_call() -> None:
        await queue.wait_turn(Ticket())
        queue.starts.clear()

    async def one_budget() -> None:
        if budget.left(("slack", "T1"), 0) >= 10:
            budget.reserve(("slack", "T1"), 10)
        budget.release(("slack", "T1"), 10)

    return {"call": await median_ms(one_call, calls), "budget": await median_ms(one_budget, calls)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("AULA_TEST_POSTGRES", ""))
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = [("one process, in memory (floor)", await floor(args.calls))]
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(str(Path(tmp) / "aula.sqlite3"))
        try:
            rows.append(("SQLite file, shared", await measure(db, args.calls)))
        finally:
            await db.close()
    if args.postgres:
        import asyncpg

        name = "bench_llm_" + uuid.uuid4().hex[:8]
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = args.postgres.rsplit("/", 1)[0] + "/" + name
        try:
            db = await open_database(url)
            try:
                rows.append(("PostgreSQL, shared", await measure(db, args.calls)))
            finally:
                await db.close()
        finally:
            await admin.execute(f'DROP DATABASE "{name}"')
            await admin.close()
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}; median of {args.calls} calls, one at a time")
    print("| where | a call's place, slot and leaving | round trips | a budget hold and release | round trips |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in rows:
        print(f"| {name} | {row['call']:.3f} ms | {row.get('call_trips', 0):.0f} | {row['budget']:.3f} ms |"
              f" {row.get('budget_trips', 0):.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
