"""/compare: concurrency, the bot's cost per streamed chunk, and the queue's fairness.

    /work/venv/bin/python bench/compare.py

1. Wall time of a whole /compare (through Aula.handle, storage included) divided by
   the slower of the two calls made alone, with 1 s of injected latency per call on
   the loopback server. Target ≤ 1.1: the two calls overlap.
2. The bot's own overhead per streamed chunk: the same long stream read three ways,
   (a) bare httpx lines, (b) the LlmClient's snapshots, (c) a whole /compare with
   every change rendered (stream_update_s = 0); (b − a) and (c − 2a) per chunk.
3. Fairness of the queue: 30 students ask at once (5 requests/minute per model, each
   call 1 s), simulated on a hand-moved clock: order inversions, the place and wait
   each was shown against when they were really served.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.compare.command as compare  # noqa: E402
from bot.app import Aula  # noqa: E402
from bot.llm.client import Completion, LlmClient, resolve_profile  # noqa: E402
from bot.llm.queue import Upstream  # noqa: E402
from bot.replies import plain_text  # noqa: E402
from bot.requests import Place, Request, User  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.fake_clock import ManualClock, settle  # noqa: E402
from tests.fake_llm import API_KEY, FakeLlmServer  # noqa: E402

RUNS = 5


def settings_for(server: FakeLlmServer, folder: str, **env: str):
    environ = {
        "AULA_DATABASE": f"{folder}/bench.sqlite3",
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__USER_COOLDOWN_S": "0",
        "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
        "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000",
    } | env
    return load_settings(environ=environ, dotenv_path=None)


def request(prompt: str, user: str = "bench") -> Request:
    return Request(
        command="compare",
        user=User(id=user, name=user),
        place=Place("console", "bench", "bench"),
        args={"prompt": prompt},
    )


async def run_compare(app: Aula, prompt: str) -> tuple[float, int]:
    started = time.perf_counter()
    versions = 0
    async for reply in app.handle(request(prompt)):
        versions += 1
        last = reply
    assert not last.error, plain_text(last)
    return time.perf_counter() - started, versions


async def concurrency(folder: str) -> None:
    async with FakeLlmServer(first_chunk_delay_s=1.0, chunk_delay_s=0.002) as server:
        app = Aula(settings_for(server, folder), commands=[compare.command])
        await app.start()
        client = app.services.llm
        ratios, walls, slowest = [], [], []
        try:
            for run in range(RUNS):
                base = (await _timed(client.complete(f"Base {run}")))
                instruct = (await _timed(client.chat([{"role": "user", "content": f"Instruct {run}"}])))
                wall, _ = await run_compare(app, f"Prompt {run}")
                slower = max(base, instruct)
                ratios.append(wall / slower)
                walls.append(wall)
                slowest.append(slower)
        finally:
            await app.close()
    print("## 1. Both calls at once (1 s injected latency per call)")
    print(f"slower single call: median {statistics.median(slowest):.3f} s")
    print(f"whole /compare:     median {statistics.median(walls):.3f} s")
    print(f"ratio:              median {statistics.median(ratios):.3f}, worst {max(ratios):.3f} (target ≤ 1.1)")
    print()


async def _timed(awaitable) -> float:
    started = time.perf_counter()
    await awaitable
    return time.perf_counter() - started


async def per_chunk(folder: str) -> None:
    async with FakeLlmServer(words_per_chunk=1, repeat=60) as server:
        settings = settings_for(server, folder, AULA__LLM__MAX_TOKENS="2000", AULA__LLM__STREAM_UPDATE_S="0")
        client = LlmClient(settings.llm, resolve_profile(settings))
        bare, snapshots, whole = [], [], []
        chunks = 0
        try:
            for run in range(RUNS):
                bare.append(await _timed(_bare_lines(client.http, server.base_url, f"Texto {run}")))
                started = time.perf_counter()
                chunks = 0
                async for _ in client.stream_completion(f"Texto {run}"):
                    chunks += 1
                snapshots.append(time.perf_counter() - started)
            app = Aula(settings, commands=[compare.command])
            await app.start()
            try:
                for run in range(RUNS):
                    wall, versions = await run_compare(app, f"Completo {run}")
                    whole.append(wall)
            finally:
                await app.close()
        finally:
            await client.aclose()
    a, b, c = (statistics.median(x) for x in (bare, snapshots, whole))
    print(f"## 2. Overhead per streamed chunk ({chunks} chunks per call, loopback, no injected latency)")
    print(f"(a) bare httpx lines:        {a * 1000:.1f} ms per call, {a / chunks * 1e6:.1f} µs per chunk")
    print(f"(b) LlmClient snapshots:     {b * 1000:.1f} ms per call; client overhead {(b - a) / chunks * 1e6:.1f} µs per chunk")
    print(f"(c) whole /compare (2 calls, {versions} versions rendered, stored): {c * 1000:.1f} ms;"
          f" bot overhead {(c - 2 * a) / (2 * chunks) * 1e6:.1f} µs per chunk")  # fmt: skip
    print()


async def _bare_lines(http: httpx.AsyncClient, base_url: str, prompt: str) -> int:
    body = {"model": "meta-llama/Meta-Llama-3.1-405B", "prompt": prompt, "max_tokens": 2000, "stream": True}
    async with http.stream(
        "POST", base_url + "/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        return sum([1 async for _ in response.aiter_lines()])


async def fairness(students: int = 30, per_minute: int = 5, call_s: float = 1.0) -> None:
    clock = ManualClock(start=0.0)
    upstream = Upstream(clock.now, clock.sleep)
    shown: dict[int, tuple[int, float]] = {}  # student -> (place, estimated wait) shown on arrival
    served: dict[int, float] = {}  # student -> when both calls had started

    def start_call():
        async def call():
            await clock.sleep(call_s)
            yield Completion(model="m", text="x", finish_reason="stop")

        return call()

    async def student(n: int) -> None:
        calls = [
            upstream.call((model, n), model, per_minute, start_call)[0] for model in ("base", "instruct")
        ]
        shown[n] = (max(c.position() for c in calls), max(c.estimated_wait() for c in calls))
        while not all(c.admitted for c in calls):
            await clock.sleep(0.5)
        served[n] = max(c.ticket.admitted_at for c in calls)

    tasks = [asyncio.create_task(student(n)) for n in range(students)]
    await clock.run_until(lambda: all(t.done() for t in tasks), step=0.5, limit=3600)
    order = sorted(served, key=lambda n: (served[n], n))
    inversions = sum(1 for i, a in enumerate(order) for b in order[i + 1 :] if a > b)
    errors = [abs(served[n] - shown[n][1]) for n in range(students)]
    ideal = [(n // per_minute) * 60.0 for n in range(students)]  # the fastest a 5/min limit allows
    print(f"## 3. Queue fairness: {students} students at once, {per_minute} requests/min per model, {call_s:g} s calls")
    print(f"served in arrival order: {inversions} inversions")
    print(f"places shown: {shown[0][0]}..{shown[students - 1][0]}; last student served after {served[students - 1]:.0f} s")
    print(f"shown wait vs real wait: max error {max(errors):.1f} s, mean {statistics.mean(errors):.2f} s")
    print(f"slower than the limit allows: max {max(served[n] - ideal[n] for n in range(students)):.1f} s")
    print()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await concurrency(folder)
    with tempfile.TemporaryDirectory() as folder:
        await per_chunk(folder)
    await fairness()
    await settle()


if __name__ == "__main__":
    asyncio.run(main())
