"""An answer storm on a live quiz, through the core (`aula.handle`, as every adapter calls it), on
SQLite and on PostgreSQL, with one Aula process and with two sharing the database.

    .venv/bin/python bench/quiz_storm.py [--students 300] [--rate 1000] [--seconds 5]
        [--databases sqlite,postgresql] [--processes 1,2] [--postgres URL] [--no-freeze]

For each database and each number of processes, on a fresh database (SQLite: a WAL file in a
temporary folder; PostgreSQL: a new database on the server `--postgres`, default
$AULA_BENCH_POSTGRES or $AULA_TEST_POSTGRES, dropped afterwards), an instructor starts a quiz,
then each phase runs in that many fresh OS processes, each an Aula on the same database taking
every P-th student (so the clicks of both interleave), started at one agreed instant:

1. Storm: `--students` students click within one second (uniformly spread start times),
   one in ten clicking twice; every answer must be recorded exactly once.
2. Sustained: clicks arrive at `--rate` per second for `--seconds` (a distinct student each,
   on the next question), whatever the core's speed: the latency under that load.
3. Flat out: the same students all click at one instant: the most the core can take.
4. Floor: the same number of coroutines at one instant, split over the same processes, each
   sending one bare `INSERT … ON CONFLICT … DO UPDATE … RETURNING` of an answer (SQLite: one
   aiosqlite connection per process, WAL, synchronous NORMAL, as the bot opens it; PostgreSQL:
   an asyncpg pool of `database_pool_size` connections per process): the least a recorded
   click can cost. Product ÷ floor = flat out's answers/s ÷ the floor's.
Latency is the acknowledgement a student waits for: from the click reaching the core to its
private reply. The timer loop runs; posts go to a no-op messenger. Answers per second count
from the agreed start to the last reply of any process. The load average is printed before
and after each database × processes run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import Aula  # noqa: E402
from bot.i18n import t  # noqa: E402
from bot.replies import Reply  # noqa: E402
from bot.requests import Place, Request, User  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.uploads import Upload  # noqa: E402

PLACE = Place("console", "bench", "storm")


class NullMessenger:
    """Posts go nowhere: the benchmark measures the core, not a platform."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, place: Place, reply: Reply) -> str:
        self.count += 1
        return str(self.count)

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        pass

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        return place

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        pass


def request(command_user: User, **fields) -> Request:
    return Request(command="quiz", user=command_user, place=PLACE, **fields)


async def one(aula: Aula, req: Request) -> tuple[float, Reply]:
    started = time.perf_counter()
    replies = [r async for r in aula.handle(req)]
    return (time.perf_counter() - started) * 1000, replies[-1]


def accepted(reply: Reply, locale: str, shown: str) -> bool:
    """Whether the click's private note confirms a stored answer ("recorded" or "changed").
    A refusal (too late, the same answer again, a change the rule forbids) is not an error
    reply either: counting only `reply.error` would take it for a success. `shown` is the
    option as the note names it ("B · b")."""
    first = reply.parts[0].text if reply.parts and hasattr(reply.parts[0], "text") else ""
    return any(first == t(locale, key, option=shown) for key in ("quiz.recorded", "quiz.changed"))


def refusals(replies: list[tuple[Reply, bool]]) -> Counter:
    """First line of each reply that neither was an error nor confirmed an answer, counted."""
    return Counter(
        (reply.parts[0].text if reply.parts and hasattr(reply.parts[0], "text") else repr(reply))[:80]
        for reply, ok in replies
        if not ok and not reply.error
    )


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def storm(aula: Aula, students: list[User], session: int, position: int) -> dict:
    random.seed(7)
    offsets = sorted(random.random() for _ in students)
    doubles = set(random.sample(range(len(students)), len(students) // 10))
    t0 = time.perf_counter()
    latencies: list[float] = []

    async def student(index: int, offset: float) -> None:
        await asyncio.sleep(max(0.0, offset - (time.perf_counter() - t0)))
        letter = "ABCD"[index % 4]
        action = f"quiz:answer:{session}:{position}:{letter}"
        clicks = 2 if index in doubles else 1
        results = await asyncio.gather(
            *(one(aula, request(students[index], action=action)) for _ in range(clicks))
        )
        for latency, reply in results:
            assert not reply.error, reply
            latencies.append(latency)

    await asyncio.gather(*(student(i, off) for i, off in enumerate(offsets)))
    elapsed = time.perf_counter() - t0
    row = await aula.db.fetchone(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS users FROM quiz_answers WHERE session_id = ? AND position = ?",
        (session, position),
    )
    return {
        "clicks": len(latencies),
        "recorded": row["n"],
        "distinct": row["users"],
        "elapsed": elapsed,
        "lat": latencies,
    }


async def paced(aula: Aula, students: list[User], session: int, position: int, rate: float) -> dict:
    """Clicks arrive at a steady `rate` per second, each student once, whatever the core's speed."""
    latencies: list[float] = []
    outcomes: list[tuple[Reply, bool]] = []
    running: set[asyncio.Task] = set()  # only the clicks still in flight

    async def student(index: int) -> None:
        latency, reply = await one(
            aula, request(students[index], action=f"quiz:answer:{session}:{position}:A")
        )
        assert not reply.error, reply
        outcomes.append((reply, accepted(reply, students[index].locale, "A · a")))
        latencies.append(latency)

    t0 = time.perf_counter()
    for index in range(len(students)):
        delay = t0 + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(student(index))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*running)
    elapsed = time.perf_counter() - t0
    recorded = await aula.db.fetchone(
        "SELECT COUNT(*) AS n FROM quiz_answers WHERE session_id = ? AND position = ?", (session, position)
    )
    return {
        "answers": len(latencies),
        "accepted": sum(ok for _, ok in outcomes),
        "refused": refusals(outcomes),
        "recorded": recorded["n"],
        "elapsed": elapsed,
        "lat": latencies,
    }


async def flat_out(aula: Aula, students: list[User], session: int, position: int) -> dict:
    """Every student clicks at the same instant: the most the core can take."""
    assert len({user.id for user in students}) == len(students), "two students share an id"
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(one(aula, request(user, action=f"quiz:answer:{session}:{position}:B")) for user in students)
    )
    elapsed = time.perf_counter() - t0
    assert not any(reply.error for _, reply in results)
    outcomes = [(reply, accepted(reply, user.locale, "B · b")) for user, (_, reply) in zip(students, results, strict=True)]
    recorded = await aula.db.fetchone(
        "SELECT COUNT(*) AS n FROM quiz_answers WHERE session_id = ? AND position = ?", (session, position)
    )
    return {
        "answers": len(results),
        "accepted": sum(ok for _, ok in outcomes),
        "refused": refusals(outcomes),
        "recorded": recorded["n"],
        "elapsed": elapsed,
        "lat": [lat for lat, _ in results],
    }


def summary(name: str, result: dict) -> str:
    ok = "OK" if result["recorded"] == result["accepted"] == result["answers"] else "WRONG"
    lat = result["lat"]
    refused = "".join(f"; refused ×{n}: {text!r}" for text, n in result["refused"].items())
    return (
        f"{name}: {result['answers']} answers in {result['elapsed']:.2f} s = "
        f"{result['answers'] / result['elapsed']:,.0f} answers/s; {result['accepted']} confirmed, "
        f"{result['recorded']} recorded ({ok}){refused}; "
        f"ack p50 {statistics.median(lat):.1f} ms, p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms"
    )


# --- one phase in one process -------------------------------------------------------------------

STORM_SEED = 7
FLOOR_TABLES = {
    "sqlite": """CREATE TABLE IF NOT EXISTS floor_answers (
        session_id INTEGER NOT NULL, position INTEGER NOT NULL, user_id TEXT NOT NULL,
        choice INTEGER NOT NULL, answered_at REAL NOT NULL, changes INTEGER NOT NULL DEFAULT 0,
        UNIQUE (session_id, position, user_id))""",
    "postgresql": """CREATE TABLE IF NOT EXISTS floor_answers (
        session_id BIGINT NOT NULL, position BIGINT NOT NULL, user_id TEXT NOT NULL,
        choice BIGINT NOT NULL, answered_at DOUBLE PRECISION NOT NULL, changes BIGINT NOT NULL DEFAULT 0,
        UNIQUE (session_id, position, user_id))""",
}
FLOOR_UPSERT = """INSERT INTO floor_answers (session_id, position, user_id, choice, answered_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (session_id, position, user_id) DO UPDATE SET choice = excluded.choice,
    changes = floor_answers.changes + 1 RETURNING choice, changes"""


def student(index: int) -> User:
    return User(f"s{index:05}", f"Estudiante {index}")


def settings_for(setting: str):
    return load_settings(environ={"AULA_DATABASE": setting}, dotenv_path=None)


async def clicks(aula: Aula, job: dict) -> dict:
    """This process's share of one phase: the students whose index % processes == rank, each
    clicking at its planned instant after job["start"] (wall clock)."""
    session, position, phase = job["session"], job["position"], job["phase"]
    total, rank, processes = job["students"], job["rank"], job["processes"]
    mine = [i for i in range(total) if i % processes == rank]
    rng = random.Random(STORM_SEED)
    offsets = [rng.random() for _ in range(total)]
    doubles = set(rng.sample(range(total), total // 10))
    letter = {"storm": lambda i: "ABCD"[i % 4], "sustained": lambda i: "A", "flat": lambda i: "B"}[phase]
    shown = {"storm": None, "sustained": "A · a", "flat": "B · b"}[phase]
    latencies: list[float] = []
    outcomes: list[tuple[Reply, bool]] = []

    async def click(index: int) -> None:
        user = student(index)
        action = f"quiz:answer:{session}:{position}:{letter(index)}"
        times = 2 if phase == "storm" and index in doubles else 1
        for latency, reply in await asyncio.gather(*(one(aula, request(user, action=action)) for _ in range(times))):
            latencies.append(latency)
            ok = not reply.error if shown is None else accepted(reply, user.locale, shown)
            outcomes.append((reply, ok))

    def planned(index: int) -> float:
        if phase == "storm":
            return offsets[index]
        if phase == "sustained":
            return index / job["rate"]
        return 0.0

    loop = asyncio.get_running_loop()
    base = loop.time() + (job["start"] - time.time())  # the agreed wall-clock instant on this loop's clock
    running: set[asyncio.Task] = set()
    for index in sorted(mine, key=planned):
        delay = base + planned(index) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(click(index))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*running)
    return {
        "end": time.time(),
        "lat": latencies,
        "clicks": len(latencies),
        "accepted": sum(ok for _, ok in outcomes),
        "errors": sum(1 for reply, _ in outcomes if reply.error),
        "refused": dict(refusals(outcomes)),
    }


async def floor_clicks(job: dict) -> dict:
    """This process's share of the floor: bare upserts, all at the agreed instant."""
    total, rank, processes = job["students"], job["rank"], job["processes"]
    mine = [i for i in range(total) if i % processes == rank]
    rows = [(job["session"], job["position"], f"s{i:05}", 1, time.time()) for i in mine]
    if job["database"] == "postgresql":
        import asyncpg

        from bot.storage.postgres import to_postgres

        pool = await asyncpg.create_pool(job["setting"], min_size=job["pool"], max_size=job["pool"])
        sql = to_postgres(FLOOR_UPSERT)
        send, close = (lambda row: pool.fetch(sql, *row)), pool.close
    else:
        import aiosqlite

        conn = await aiosqlite.connect(job["setting"], timeout=5.0, isolation_level=None)
        for pragma in ("PRAGMA busy_timeout = 5000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"):
            await conn.execute(pragma)
        send, close = (lambda row: conn.execute_fetchall(FLOOR_UPSERT, row)), conn.close
    try:
        job["start"] = await ready()
        await asyncio.sleep(max(0.0, job["start"] - time.time()))
        latencies: list[float] = []

        async def timed(row) -> None:
            started = time.perf_counter()
            await send(row)
            latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(timed(row) for row in rows))
        return {"end": time.time(), "lat": latencies, "clicks": len(rows), "accepted": len(rows), "errors": 0, "refused": {}}
    finally:
        await close()


async def ready() -> float:
    """Say this process is set up; return the start instant (wall clock) the parent then sends."""
    print("ready", flush=True)
    return float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))


async def worker(job: dict) -> dict:
    """One OS process of a phase: an Aula on the shared database (or the bare floor)."""
    if job["phase"] == "floor":
        return await floor_clicks(job)
    aula = Aula(settings_for(job["setting"]))
    aula.messengers[PLACE.platform] = NullMessenger()
    await aula.start()
    try:
        if job["freeze"]:
            gc.collect()
            gc.freeze()  # as `aula run` does after start-up (--no-freeze shows the difference)
        job["start"] = await ready()
        return await clicks(aula, job)
    finally:
        await aula.close()


# --- the runs -----------------------------------------------------------------------------------


async def setup(setting: str, database: str) -> int:
    """An instructor imports a three-question bank and starts the quiz; the floor's table. Returns the session."""
    aula = Aula(settings_for(setting))
    aula.messengers[PLACE.platform] = NullMessenger()
    await aula.start()
    try:
        instructor = User("profe", "Profe", is_instructor=True)
        bank = "questions:\n" + "".join(
            f"  - question: P{i}\n    options: [a, b, c, d]\n    answer: A\n    time: 3600\n" for i in range(3)
        )
        for step in (
            request(instructor, subcommand="import", attachments=(Upload.of_bytes("storm.yaml", bank.encode()),)),
            request(instructor, subcommand="start", args={"banco": "storm"}),
        ):
            _, reply = await one(aula, step)
            assert not reply.error, reply
        await aula.db.execute(FLOOR_TABLES[database])
        return int((await aula.db.fetchone("SELECT MAX(id) AS id FROM quiz_sessions"))["id"])
    finally:
        await aula.close()


async def next_question(setting: str) -> None:
    aula = Aula(settings_for(setting))
    aula.messengers[PLACE.platform] = NullMessenger()
    await aula.start()
    try:
        _, reply = await one(aula, request(User("profe", "Profe", is_instructor=True), subcommand="next"))
        assert not reply.error, reply
    finally:
        await aula.close()


async def stored(setting: str, table: str, session: int, position: int) -> tuple[int, int]:
    """(rows, distinct students) stored for one question."""
    from bot.storage.database import open_database

    db = await open_database(setting, migrate=False)
    try:
        row = await db.fetchone(
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS users FROM {table} WHERE session_id = ? AND position = ?",
            (session, position),
        )
        return int(row["n"]), int(row["users"])
    finally:
        await db.close()


def run_processes(jobs: list[dict], lead_s: float) -> list[dict]:
    """Each job in a fresh interpreter; once every one has said it is set up, all are told to
    start `lead_s` from then."""
    running = [
        subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(job)],
                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        for job in jobs
    ]
    for process in running:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker did not start")
    start = time.time() + lead_s
    for process in running:
        process.stdin.write(f"{start}\n")
        process.stdin.flush()
    results = []
    for process in running:
        out, _ = process.communicate(timeout=600)
        if process.returncode:
            raise RuntimeError(f"a worker failed ({process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]) | {"start": start})
    return results


def combined(results: list[dict]) -> dict:
    start = results[0]["start"]
    lat = [x for r in results for x in r["lat"]]
    return {
        "clicks": sum(r["clicks"] for r in results),
        "accepted": sum(r["accepted"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "refused": sum((Counter(r["refused"]) for r in results), Counter()),
        "elapsed": max(r["end"] for r in results) - start,
        "lat": lat or [0.0],
    }


def line(name: str, result: dict, recorded: int, expected: int) -> str:
    lat = result["lat"]
    ok = "OK" if recorded == expected and not result["errors"] else "WRONG"
    refused = "".join(f"; refused ×{n}: {text!r}" for text, n in result["refused"].items())
    return (
        f"  {name}: {result['clicks']} clicks in {result['elapsed']:.2f} s = {result['clicks'] / result['elapsed']:,.0f}/s; "
        f"{recorded} answers stored of {expected} ({ok}){refused}; ack p50 {statistics.median(lat):.1f} ms, "
        f"p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms"
    )


async def fresh_database(database: str, postgres: str | None) -> tuple[str, str | None]:
    """(setting, PostgreSQL database name to drop afterwards)."""
    if database == "sqlite":
        return str(Path(tempfile.mkdtemp(prefix="aula-bench-")) / "aula.sqlite3"), None
    os.environ["AULA_TEST_POSTGRES"] = postgres or ""
    from tests.pg_support import create_database

    return await create_database()


async def drop(name: str | None) -> None:
    if name:
        from tests.pg_support import drop_database

        await drop_database(name)


def one_run(database: str, processes: int, options: argparse.Namespace) -> dict:
    setting, name = asyncio.run(fresh_database(database, options.postgres))
    try:
        session = asyncio.run(setup(setting, database))
        sustained = int(options.rate * options.seconds)
        flat = sustained
        pool = settings_for(setting).database_pool_size
        load_before = os.getloadavg()
        figures = {}

        def phase(kind: str, position: int, students: int, table: str = "quiz_answers") -> None:
            base = {"setting": setting, "database": database, "session": session, "position": position, "phase": kind,
                    "students": students, "processes": processes, "rate": options.rate, "freeze": options.freeze,
                    "pool": pool}  # fmt: skip
            result = combined(run_processes([base | {"rank": r} for r in range(processes)], options.lead))
            rows, users = asyncio.run(stored(setting, table, session, position))
            expected = students
            if rows != users or (kind != "floor" and result["accepted"] < (students if kind == "storm" else expected)):
                expected = -1  # doubled, or a click not confirmed: WRONG below
            figures[kind] = (result, rows, expected)

        phase("storm", 0, options.students)
        asyncio.run(next_question(setting))
        phase("sustained", 1, sustained)
        asyncio.run(next_question(setting))
        phase("flat", 2, flat)
        phase("floor", 0, flat, "floor_answers")
        return {"figures": figures, "load": (load_before, os.getloadavg())}
    finally:
        asyncio.run(drop(name))


def main(options: argparse.Namespace) -> None:
    names = {"storm": f"storm ({options.students} students within 1 s, one in ten clicking twice)",
             "sustained": f"sustained ({options.rate:,.0f} clicks/s offered for {options.seconds:g} s)",
             "flat": "flat out (all at one instant)", "floor": "floor (bare upserts, all at one instant)"}  # fmt: skip
    summary = []
    for database in options.databases:
        if database == "postgresql" and not options.postgres:
            print("postgresql: skipped (no server: --postgres URL, AULA_BENCH_POSTGRES or AULA_TEST_POSTGRES)")
            continue
        for processes in options.processes:
            run = one_run(database, processes, options)
            before, after = run["load"]
            print(f"{database}, {processes} process{'es' if processes > 1 else ''} "
                  f"(load average {before[0]:.2f} -> {after[0]:.2f}):", flush=True)  # fmt: skip
            for kind, (result, rows, expected) in run["figures"].items():
                print(line(names[kind], result, rows, expected))
            product, floor = (run["figures"][k][0] for k in ("flat", "floor"))
            ratio = (product["clicks"] / product["elapsed"]) / (floor["clicks"] / floor["elapsed"])
            print(f"  product ÷ floor (flat out): {ratio:.0%}", flush=True)
            sustained = run["figures"]["sustained"][0]
            summary.append(
                f"| {database} | {processes} | {sustained['clicks'] / sustained['elapsed']:,.0f} | "
                f"{statistics.median(sustained['lat']):.1f} / {percentile(sustained['lat'], 99):.1f} ms | "
                f"{product['clicks'] / product['elapsed']:,.0f} | {floor['clicks'] / floor['elapsed']:,.0f} | {ratio:.0%} | "
                f"{before[0]:.1f} → {after[0]:.1f} |"
            )
    print("\n| database | processes | sustained answers/s | sustained ack p50 / p99 | flat out answers/s "
          "| floor upserts/s | product ÷ floor | load average |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print("\n".join(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300, help="students in the one-second storm")
    parser.add_argument("--rate", type=float, default=1000, help="answers per second in the sustained run")
    parser.add_argument("--seconds", type=float, default=5, help="length of the sustained run")
    parser.add_argument("--databases", default="sqlite,postgresql", type=lambda v: v.split(","))
    parser.add_argument("--processes", default="1,2", type=lambda v: [int(p) for p in v.split(",")])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("AULA_BENCH_POSTGRES") or os.environ.get("AULA_TEST_POSTGRES"),
        help="a PostgreSQL server where the benchmark may create and drop databases",
    )
    parser.add_argument("--lead", type=float, default=0.3, help="seconds from every process being set up to the start")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false", help="leave setup objects to the GC")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one process of one phase: a JSON job
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(asyncio.run(worker(json.loads(options.worker)))))
    else:
        main(options)
