"""Does a long /tokens stall the rest of the class? Quiz acknowledgements with and without one running.

    .venv/bin/python bench/tokens_stall.py [--clicks 300] [--rate 100] [--chars 20000] [--no-pool]

Product: quiz answer clicks paced at `--rate` per second through `aula.handle` while, on the same
bot, /tokens requests with the heaviest text the chat allows (`--chars` emoji characters,
`modelo:todos`, every encoding) run back to back, each a different text (no cached reply).
Floor: the same clicks with nothing else running (idle), in the same process. Reported: the
acknowledgement p50 / p99 / max of each and the ratio of the p99s (target, issue 16: at most 2×).
Load average printed before and after: the machine is shared. `--no-pool` builds every reply in
a worker thread of the bot's process, as before bot/tokens/pool.py (the comparison).
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

from quiz_storm import PLACE, NullMessenger, one, percentile, request  # noqa: E402

from bot.app import Aula  # noqa: E402
from bot.requests import Request, User  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.uploads import Upload  # noqa: E402

EMOJI = "🍕☕👩‍💻🇪🇸👍🏽❤️🎉🤖 "


async def paced_clicks(aula: Aula, users: list[User], session: int, position: int, rate: float) -> list[float]:
    latencies: list[float] = []

    async def click(user: User) -> None:
        latency, reply = await one(aula, request(user, action=f"quiz:answer:{session}:{position}:B"))
        assert not reply.error, reply
        latencies.append(latency)

    tasks = []
    started = time.perf_counter()
    for index, user in enumerate(users):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(click(user)))
    await asyncio.gather(*tasks)
    return latencies


async def tokens_load(aula: Aula, chars: int, stop: asyncio.Event) -> int:
    done = 0
    while not stop.is_set():
        text = (f"{done} " + EMOJI * (chars // len(EMOJI) + 1))[:chars]  # a new text each time: no cached reply
        req = Request(command="tokens", user=User("t", "T"), place=PLACE, args={"texto": text, "modelo": "todos"})
        [_ async for _ in aula.handle(req)]
        done += 1
    return done


def line(name: str, lat: list[float]) -> str:
    return f"| {name} | {len(lat)} | {statistics.median(lat):.1f} | {percentile(lat, 99):.1f} | {max(lat):.1f} |"


async def main(clicks: int, rate: float, chars: int, pool: bool = True) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aula-stall-"))
    settings = load_settings(environ={"AULA_DATABASE": str(folder / "aula.sqlite3")}, dotenv_path=None)
    aula = Aula(settings)
    aula.messengers[PLACE.platform] = NullMessenger()
    if not pool:
        aula.services.tokens_pool.min_work = sys.maxsize
    await aula.start()
    try:
        instructor = User("profe", "Profe", is_instructor=True)
        bank = "questions:\n" + "".join(
            f"  - question: P{i}\n    options: [a, b]\n    answer: A\n    time: 3600\n" for i in range(3)
        )
        for setup in (
            request(instructor, subcommand="import", attachments=(Upload.of_bytes("stall.yaml", bank.encode()),)),
            request(instructor, subcommand="start", args={"banco": "stall"}),
        ):
            _, reply = await one(aula, setup)
            assert not reply.error, reply
        session = (await aula.db.fetchone("SELECT MAX(id) AS id FROM quiz_sessions"))["id"]
        for texto in ("hola", "warm " + EMOJI * (chars // len(EMOJI))):
            warm = Request(command="tokens", user=User("t", "T"), place=PLACE, args={"texto": texto, "modelo": "todos"})
            replies = [_ async for _ in aula.handle(warm)]
            assert not replies[-1].error, replies[-1]
        # every encoding loaded before measuring, in this process and in /tokens' worker process
        gc.collect()
        gc.freeze()
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        idle = await paced_clicks(aula, [User(f"a{i}", "A") for i in range(clicks)], session, 0, rate)
        await one(aula, request(instructor, subcommand="next"))
        stop = asyncio.Event()
        load = asyncio.create_task(tokens_load(aula, chars, stop))
        await asyncio.sleep(0.2)
        busy = await paced_clicks(aula, [User(f"b{i}", "B") for i in range(clicks)], session, 1, rate)
        stop.set()
        replies = await load
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("| clicks | n | ack p50 ms | ack p99 ms | max ms |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(line("idle (floor)", idle))
        print(line(f"while /tokens of {chars:,} emoji characters, modelo:todos, runs ({replies} replies, {'worker process' if pool else 'worker thread'})", busy))
        print(f"p99 ratio: {percentile(busy, 99) / percentile(idle, 99):.1f}× (target ≤ 2×)")
    finally:
        await aula.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--no-pool", action="store_true", help="every reply in a worker thread (the comparison)")
    options = parser.parse_args()
    asyncio.run(main(options.clicks, options.rate, options.chars, pool=not options.no_pool))
