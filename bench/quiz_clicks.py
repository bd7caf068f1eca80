"""Quiz clicks flat out through the core, beside a bare aiosqlite upsert loop, with more and more stored.

    .venv/bin/python bench/quiz_clicks.py [--students 300] [--repeats 5] [--stored 0,100000]

Product: `--students` answer clicks at one instant through `aula.handle` (the path every adapter
takes: the request, the session lookup, the recorded answer, the private reply), measured as in
bench/quiz_storm.py's flat-out run. Floor, in the same process and SQLite file, interleaved:
the same number of coroutines each sending one `INSERT … ON CONFLICT … DO UPDATE … RETURNING`
over one aiosqlite connection (WAL, synchronous NORMAL, as the bot opens it) — the least a
recorded click can cost. Ratio = product rate ÷ floor rate per repeat (min / median / max);
target (issue 16): at least 60 %. `--stored`: answers of other sessions already in the file
before the run (a click's cost must not depend on them). Load average printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quiz_storm import PLACE, NullMessenger, flat_out, one, request  # noqa: E402

from bot.app import Aula  # noqa: E402
from bot.requests import User  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.uploads import Upload  # noqa: E402

FLOOR_TABLE = """CREATE TABLE IF NOT EXISTS floor_answers (
    session_id INTEGER NOT NULL, position INTEGER NOT NULL, user_id TEXT NOT NULL,
    choice INTEGER NOT NULL, answered_at REAL NOT NULL, changes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (session_id, position, user_id))"""
FLOOR_UPSERT = """INSERT INTO floor_answers (session_id, position, user_id, choice, answered_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (session_id, position, user_id) DO UPDATE SET choice = excluded.choice, changes = changes + 1
    RETURNING choice, changes"""


async def floor(conn, students: int, round_number: int) -> float:
    """Answers per second of the bare upsert loop: every coroutine at once, one connection."""
    started = time.perf_counter()
    await asyncio.gather(
        *(conn.execute_fetchall(FLOOR_UPSERT, (round_number, 0, f"s{i:05}", 1, time.time())) for i in range(students))
    )
    return students / (time.perf_counter() - started)


async def store_other_answers(aula: Aula, count: int) -> None:
    """`count` answers in 100 other (ended) sessions, inserted in bulk."""
    if not count:
        return
    per_session = count // 100
    async with aula.db.transaction() as conn:
        for s in range(100):
            cursor = await conn.execute(
                "INSERT INTO quiz_sessions (platform, workspace_id, channel_id, thread_id, bank_name, snapshot, locale,"
                " change_rule, speed_bonus, streaks, anonymous, started_by, started_at, ended_at, final_announced_at)"
                " VALUES ('console', 'other', ?, '', 'b', '{}', 'es', 'free', 0, 0, 0, 't', 0, 1, 1)", (f"c{s}",)
            )
            session = cursor.lastrowid
            await conn.execute(
                "INSERT INTO quiz_questions (session_id, position, opened_at, closes_at, closed_at, announced_at) VALUES (?, 0, 0, 1, 1, 1)",
                (session,),
            )
            await conn.executemany(
                "INSERT INTO quiz_answers (session_id, position, user_id, choice, answered_at) VALUES (?, 0, ?, 0, 0)",
                [(session, f"o{i}") for i in range(per_session)],
            )
    await aula.db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")


async def run(students: int, repeats: int, stored: int) -> tuple[list[float], list[float], list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="aula-clicks-"))
    settings = load_settings(environ={"AULA_DATABASE": str(folder / "aula.sqlite3")}, dotenv_path=None)
    aula = Aula(settings)
    aula.messengers[PLACE.platform] = NullMessenger()
    await aula.start()
    try:
        await store_other_answers(aula, stored)
        await aula.db.conn.execute(FLOOR_TABLE)
        instructor = User("profe", "Profe", is_instructor=True)
        users = [User(f"s{i:05}", f"Estudiante {i}") for i in range(students)]
        bank = "questions:\n" + "".join(
            f"  - question: P{i}\n    options: [a, b, c, d]\n    answer: A\n    time: 3600\n" for i in range(repeats + 1)
        )
        for setup in (
            request(instructor, subcommand="import", attachments=(Upload.of_bytes("clicks.yaml", bank.encode()),)),
            request(instructor, subcommand="start", args={"banco": "clicks"}),
        ):
            _, reply = await one(aula, setup)
            assert not reply.error, reply
        session = (await aula.db.fetchone("SELECT MAX(id) AS id FROM quiz_sessions"))["id"]
        gc.collect()
        gc.freeze()  # as `aula run` does after start-up
        products, floors, p99s = [], [], []
        for position in range(repeats):
            if position:
                await one(aula, request(instructor, subcommand="next"))
            result = await flat_out(aula, users, session, position)
            # A refusal is no error reply: each click must be confirmed and stored, else say why.
            assert result["recorded"] == result["accepted"] == students, (
                f"{students} clicks, {result['accepted']} confirmed, {result['recorded']} stored "
                f"(session {session}, question {position}); refusals: {dict(result['refused'])}"
            )
            products.append(students / result["elapsed"])
            p99s.append(sorted(result["lat"])[int(0.99 * (len(result["lat"]) - 1))])
            floors.append(await floor(aula.db.conn, students, position))
        return products, floors, p99s
    finally:
        await aula.close()


def spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f} / {max(values):,.{digits}f}"


async def main(students: int, repeats: int, stored_counts: list[int]) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| stored answers | clicks/s (min / median / max) | floor upserts/s | ratio (min / median / max) | ack p99 ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for stored in stored_counts:
        products, floors, p99s = await run(students, repeats, stored)
        ratios = sorted(p / f for p, f in zip(products, floors, strict=True))
        print(f"| {stored:,} | {spread(products)} | {spread(floors)} | "
              f"{ratios[0]:.0%} / {statistics.median(ratios):.0%} / {ratios[-1]:.0%} | {spread(p99s, 1)} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stored", default="0,100000")
    options = parser.parse_args()
    asyncio.run(main(options.students, options.repeats, [int(s) for s in options.stored.split(",")]))
