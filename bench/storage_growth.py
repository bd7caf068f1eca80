"""The queries a class waits on, as what is stored grows: the standings, the homework tick, /privacy.

    .venv/bin/python bench/storage_growth.py [--repeats 5] [--scales 1,10,100]

For each hot path, product and floor run against the same SQLite file (WAL, through
`bot.storage.Database`, as the bot does), interleaved, repeated; ratio = product ÷ floor per
repeat (min / median / max). Growth: the work at 1×, 10× and 100×.

- standings: `QuizRepository.standings` of a session of 30 × scale players who each answered
  10 questions (3,000 players at 100×). Floor: one pass over the same session's answers,
  `SELECT user_id, SUM(points) … WHERE session_id = ? GROUP BY user_id`.
- homework tick: `HomeworkRepository.unposted` with 1,000 × scale answers stored, nearly all
  posted (100,000 at 100×), 20 waiting. Floor: reading those 20 rows by primary key.
- /privacy: `describe` then `forget` of one person, every area, with 1,000 × scale rows in the
  command log and the quiz answers of other people (100,000 at 100×). Floor: the same number of
  statements (one per area, twice), each a primary-key lookup.

Target (issue 16): each product within 50 ms at 100×, and growing with the work, not with the
rows stored. Load average printed before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.homework.store import HomeworkQuestion, HomeworkRepository  # noqa: E402
from bot.privacy import areas  # noqa: E402
from bot.quiz.store import LiveQuestion, QuizRepository  # noqa: E402
from bot.requests import Place  # noqa: E402
from bot.storage import Database  # noqa: E402

NOW = 1_000_000.0
QUESTION = LiveQuestion("q", {"es": "¿?"}, ({"es": "a"}, {"es": "b"}), (0,), 30, 100)


async def timed(coroutine_function, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        await coroutine_function()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def fill_quiz(db: Database, players: int) -> int:
    """A session of `players` who answered 10 questions each, inserted in bulk."""
    repo = QuizRepository(db)
    place = Place("discord", "g", f"c{players}")
    session = await repo.create_session(place, "b", {"es": "t"}, [QUESTION] * 10, "es", "free", True, True, False, "t", NOW)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO quiz_questions (session_id, position, opened_at, closes_at, closed_at) VALUES (?, ?, ?, ?, ?)",
            [(session, p, NOW, NOW + 30, NOW + 30) for p in range(10)],
        )
        await conn.executemany(
            "INSERT INTO quiz_players (session_id, user_id, display_name, joined_at, ordinal) VALUES (?, ?, ?, ?, ?)",
            [(session, f"u{i}", f"U{i}", NOW, i) for i in range(players)],
        )
        await conn.executemany(
            "INSERT INTO quiz_answers (session_id, position, user_id, choice, answered_at, correct, points)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(session, p, f"u{i}", i % 2, NOW + 1, i % 2, (i * 7 + p) % 100) for i in range(players) for p in range(10)],
        )
    return session


async def fill_homework(db: Database, answers: int) -> None:
    repo = HomeworkRepository(db)
    place = Place("discord", "g", "hw")
    assignment = await repo.create(place, "b", {"es": "t"}, [HomeworkQuestion("h", {"es": "¿?"}, 500)] * 5, "es",
                                   NOW + 50, NOW + 100, "on_submit", False, None, "t", NOW)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO homework_answers (assignment_id, position, user_id, user_name, revision, text, submitted_at,"
            " late, posted_at) VALUES (?, ?, ?, ?, 1, 'x', ?, 0, ?)",
            [(assignment, i % 5, f"s{i // 5}", "S", NOW, None if i < 20 else NOW + 1) for i in range(answers)],
        )


async def fill_privacy(db: Database, rows: int) -> None:
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO command_log (at, platform, user_id, command, latency_ms, outcome) VALUES (?, 'discord', ?, 'tokens', 1, 'ok')",
            [(NOW, f"p{i % 1000}") for i in range(rows)],
        )
    await fill_quiz(db, rows // 10)  # rows answers of other people


class App:
    """What bot.privacy.areas asks of the app: the database, the user repository, the services' repos."""

    def __init__(self, db: Database) -> None:
        from bot.storage.users import UserRepository

        self.db, self.users = db, UserRepository(db, time.time)
        self.services = SimpleNamespace(
            quiz=SimpleNamespace(repo=QuizRepository(db)), homework=SimpleNamespace(repo=HomeworkRepository(db))
        )


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


async def measure(scale: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database(Path(folder) / "bench.sqlite3").open()
        try:
            repo = QuizRepository(db)
            session = await fill_quiz(db, 30 * scale)
            await fill_homework(db, 1000 * scale)
            await fill_privacy(db, 1000 * scale)
            # The bulk load's pages would otherwise be checkpointed by the first measured commit.
            await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            homework = HomeworkRepository(db)
            app = App(db)
            waiting = [a.id for a in await homework.unposted(NOW + 10)]

            async def standings_floor():
                await db.fetchall(
                    "SELECT user_id, SUM(points), SUM(correct), COUNT(*) FROM quiz_answers WHERE session_id = ?"
                    " GROUP BY user_id", (session,))

            async def tick_floor():
                for answer_id in waiting:
                    await db.fetchone("SELECT * FROM homework_answers WHERE id = ?", (answer_id,))

            async def privacy():
                await areas.describe(app, "discord", "p7")
                await areas.forget(app, "discord", "p7")

            async def privacy_floor():
                for _ in range(2 * len(areas.AREAS)):
                    await db.fetchone("SELECT * FROM command_log WHERE id = ?", (1,))

            paths = [
                ("standings", f"{30 * scale:,} players × 10 answers", lambda: repo.standings(session), standings_floor),
                ("homework tick", f"{1000 * scale:,} answers", lambda: homework.unposted(NOW + 10), tick_floor),
                ("/privacy describe + forget", f"{1000 * scale:,} log rows + {1000 * scale:,} answers", privacy, privacy_floor),
            ]
            for name, stored, product, floor in paths:
                products, floors = [], []
                for _ in range(repeats):
                    products += await timed(product, 1)
                    floors += await timed(floor, 1)
                ratios = sorted(p / f for p, f in zip(products, floors, strict=True))
                print(f"| {name} | {scale}× | {stored} | {spread(products)} | {spread(floors)} "
                      f"| {ratios[0]:.1f} / {statistics.median(ratios):.1f} / {ratios[-1]:.1f} |", flush=True)
        finally:
            await db.close()


async def main(repeats: int, scales: list[int]) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| path | scale | stored | product ms (min / median / max) | floor ms (min / median / max) | ratio (min / median / max) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scale in scales:
        await measure(scale, repeats)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scales", default="1,10,100")
    options = parser.parse_args()
    asyncio.run(main(options.repeats, [int(s) for s in options.scales.split(",")]))
