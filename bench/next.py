"""/next: the bot's own time per step against the provider's, on loopback.

    .venv/bin/python bench/next.py [--repeats 5]

A student's run takes STEPS greedy steps, each a click through Aula.handle: read the run, store
the choice, ask the loopback server for one token with its top 10 log-probabilities (the server
waits PROVIDER_S first, as a 300 ms provider would), parse, map ids with Llama 3.1's encoding,
store the step, render the reply (tables and the bar-chart PNG).

The floor, after each click: the very request that click sent (path and body, as the server
received them) sent again with httpx alone to the same server, and its JSON read. The bot's own
time per step is the click's wall time minus the floor's (target: < 5 % of PROVIDER_S, the
issue's Benchmark section). Each repeat is a new app and server; the figures are the min / median
/ max over repeats of each repeat's median step. Also: the same against a server that answers at
once, and the parts alone (parse and id mapping, the PNG, the whole reply).
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.next.command as next_command  # noqa: E402
from bot.app import Aula  # noqa: E402
from bot.next.display import run_reply  # noqa: E402
from bot.next.logic import Generation, Step, parse  # noqa: E402
from bot.next.picture import distribution_png  # noqa: E402
from bot.requests import Place, Request, User  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.fake_llm import API_KEY, BASE_MODEL, FakeLlmServer  # noqa: E402

PROVIDER_S = 0.300
STEPS = 20
PROMPT = "El capital de Francia es"
PLACE = Place("console", "bench", "bench")
USER = User(id="bench", name="bench")


async def step_times(delay_s: float, folder: str, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """Per greedy step of one run, in seconds: the click's wall time, its floor's, and the
    process's CPU time of the click minus the floor's (the server's work, in this process too,
    is the same for both and cancels; the reply's worker thread is counted)."""
    async with FakeLlmServer(first_chunk_delay_s=delay_s) as server, httpx.AsyncClient() as bare:
        environ = {"AULA_DATABASE": f"{folder}/bench-{delay_s}-{repeat}.sqlite3", "AULA_LLM_BASE_URL": server.base_url,
                   "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
                   "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000", "AULA__NEXT__MAX_STEPS": str(STEPS + 1),
                   "AULA__NEXT__TICK_SECONDS": "0"}  # fmt: skip
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[next_command.command])
        await app.start()
        origin = server.base_url.removesuffix("/v1")
        try:
            [reply] = [r async for r in app.handle(Request("next", USER, PLACE, args={"texto": PROMPT}))]
            times, floors, cpu = [], [], []
            for _ in range(STEPS):
                greedy = next(b.id for b in reply.buttons if b.id.startswith("next:greedy:"))
                started, cpu_started = time.perf_counter(), time.process_time()
                [reply] = [r async for r in app.handle(Request("next", USER, PLACE, action=greedy))]
                times.append(time.perf_counter() - started)
                click_cpu = time.process_time() - cpu_started
                assert not reply.error, reply
                path, body = server.calls[-1]
                started, cpu_started = time.perf_counter(), time.process_time()
                response = await bare.post(origin + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"})
                response.raise_for_status()
                response.json()
                floors.append(time.perf_counter() - started)
                cpu.append(click_cpu - (time.process_time() - cpu_started))
            return times, floors, cpu
        finally:
            await app.close()


def parts_times() -> dict[str, float]:
    """Median seconds of the bot's pieces alone: parse + ids, the PNG, the whole reply."""
    from tests.fake_llm import next_tokens

    data = {"choices": [{"logprobs": {"tokens": [" la"], "token_logprobs": [-0.7], "text_offset": [0],
                                      "top_logprobs": [{t: lp for t, _, lp in next_tokens(PROMPT)[:10]}]}}]}  # fmt: skip
    out: dict[str, list[float]] = {"parse and map ids": [], "bar-chart PNG": [], "whole reply (with PNG)": []}
    for _ in range(30):
        started = time.perf_counter()
        candidates = parse(data, "base", "default", BASE_MODEL)
        out["parse and map ids"].append(time.perf_counter() - started)
        from bot.next.logic import Distribution

        distribution = Distribution("base", BASE_MODEL, candidates)
        started = time.perf_counter()
        distribution_png([(PROMPT, distribution)], "es")
        out["bar-chart PNG"].append(time.perf_counter() - started)
        generation = Generation("base", BASE_MODEL, PROMPT, [Step(distribution)])
        started = time.perf_counter()
        run_reply("es", generation, run_id=1, temperature=1.0, temperatures=[0.2, 0.7, 1.0, 1.5], max_steps=20)
        out["whole reply (with PNG)"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in out.items()}


def spread(values: list[float]) -> str:
    """min / median / max in ms."""
    return " / ".join(f"{v * 1000:.1f}" for v in (min(values), statistics.median(values), max(values)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{repeats} repeats of {STEPS} greedy steps; figures are min / median / max over repeats"
          " of each repeat's median step, in ms")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for delay in (PROVIDER_S, 0.0):
            product, floor, own, own_cpu = [], [], [], []
            for repeat in range(repeats):
                times, floors, cpu = await step_times(delay, folder, repeat)
                own_cpu.append(statistics.median(cpu))
                product.append(statistics.median(times))
                floor.append(statistics.median(floors))
                own.append(statistics.median([t - f for t, f in zip(times, floors, strict=True)]))
            print(f"provider {delay * 1000:.0f} ms per step (loopback):")
            print(f"  step through Aula.handle (product): {spread(product)}")
            print(f"  the same request with httpx alone (floor): {spread(floor)}")
            print(f"  bot's own time per step (product − floor): {spread(own)}")
            print(f"  bot's own CPU time per step (process CPU, product − floor): {spread(own_cpu)}")
            if delay:
                print(f"  = {100 * statistics.median(own) / delay:.1f} % of the provider's {delay * 1000:.0f} ms"
                      f" at the median (target < 5 %); ratio product/floor {statistics.median(product) / statistics.median(floor):.3f}")  # fmt: skip
    pieces = parts_times()
    for name, seconds in pieces.items():
        print(f"  {name} alone, median of 30: {seconds * 1000:.2f} ms")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
