"""An answer storm on a live quiz, through the core (`aula.handle`, as every adapter calls it).

    /work/venv/bin/python bench/quiz_storm.py [--students 300] [--rate 1000] [--seconds 5] [--no-freeze]

1. Storm: `--students` students click within one second (uniformly spread start times),
   one in ten clicking twice; every answer must be recorded exactly once.
2. Sustained: clicks arrive at `--rate` per second for `--seconds` (a distinct student each,
   on the next question), whatever the core's speed: the latency under that load.
3. Flat out: the same students all click at one instant: the most the core can take.
Latency is the acknowledgement a student waits for: from the click reaching the core to
its private reply. SQLite in WAL mode on a file in a temporary folder; the timer loop runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.app import Aula
from bot.i18n import t
from bot.replies import Reply
from bot.requests import Place, Request, User
from bot.settings import load_settings

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


async def main(storm_students: int, rate: float, seconds: float, freeze: bool = True) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aula-bench-"))
    settings = load_settings(environ={"AULA_DATABASE": str(folder / "aula.sqlite3")}, dotenv_path=None)
    aula = Aula(settings)
    aula.messengers[PLACE.platform] = NullMessenger()
    await aula.start()
    try:
        instructor = User("profe", "Profe", is_instructor=True)
        paced_count = int(rate * seconds)
        students = [User(f"s{i:05}", f"Estudiante {i}") for i in range(max(storm_students, paced_count))]
        bank = "questions:\n" + "".join(
            f"  - question: P{i}\n    options: [a, b, c, d]\n    answer: A\n    time: 3600\n"
            for i in range(3)
        )
        attachment = (("storm.yaml", bank.encode()),)
        for setup in (
            request(instructor, subcommand="import", attachments=attachment),
            request(instructor, subcommand="start", args={"banco": "storm"}),
        ):
            _, reply = await one(aula, setup)
            assert not reply.error, reply
        if freeze:
            # The harness's thousands of students and the started bot live for the whole run;
            # gc.freeze() keeps full collections from rescanning them (20-100 ms pauses), as a
            # long-running bot can do after start-up. --no-freeze shows the difference.
            gc.collect()
            gc.freeze()
        print(f"SQLite journal mode: {aula.db.journal_mode}; gc.freeze after setup: {freeze}")

        result = await storm(aula, students[:storm_students], 1, 0)
        ok = "OK" if result["recorded"] == result["distinct"] == storm_students else "WRONG"
        lat = result["lat"]
        print(
            f"storm: {result['clicks']} clicks ({result['clicks'] - storm_students} of them double clicks) "
            f"in {result['elapsed']:.2f} s -> {result['recorded']} answers from {result['distinct']} students "
            f"({ok}); ack p50 {statistics.median(lat):.1f} ms, p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms"
        )

        await one(aula, request(instructor, subcommand="next"))
        print(
            summary(
                f"sustained at {rate:,.0f}/s for {seconds:g} s",
                await paced(aula, students[:paced_count], 1, 1, rate),
            )
        )

        await one(aula, request(instructor, subcommand="next"))
        print(summary("flat out (all at once)", await flat_out(aula, students[:paced_count], 1, 2)))
    finally:
        await aula.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300, help="students in the one-second storm")
    parser.add_argument("--rate", type=float, default=1000, help="answers per second in the sustained run")
    parser.add_argument("--seconds", type=float, default=5, help="length of the sustained run")
    parser.add_argument(
        "--no-freeze", dest="freeze", action="store_false", help="leave setup objects to the GC"
    )
    options = parser.parse_args()
    asyncio.run(main(options.students, options.rate, options.seconds, options.freeze))
