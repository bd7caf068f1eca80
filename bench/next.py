"""/next: the bot's own time per step against the provider's, on loopback.

    .venv/bin/python bench/next.py

A student's run takes STEPS greedy steps, each a click through Aula.handle: read the run,
store the choice, ask the loopback server for one token with its top 10 log-probabilities
(the server waits PROVIDER_S first, as a 300 ms provider would), parse, map ids with Llama 3.1's
encoding, store the step, render the reply (tables and the bar-chart PNG). The bot's own time per
step is the click's wall time minus PROVIDER_S; target < 5 % of it. Also shown: the same click
against a server that answers at once (the floor: loopback HTTP and the bot's work), and the
parts alone (parse and id mapping, the PNG, the whole reply).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


async def step_times(delay_s: float, folder: str) -> list[float]:
    """Wall time of each greedy step click of one run, in seconds."""
    async with FakeLlmServer(first_chunk_delay_s=delay_s) as server:
        environ = {"AULA_DATABASE": f"{folder}/bench-{delay_s}.sqlite3", "AULA_LLM_BASE_URL": server.base_url,
                   "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "100000",
                   "AULA__LLM__DAILY_TOKEN_BUDGET": "1000000000", "AULA__NEXT__MAX_STEPS": str(STEPS + 1),
                   "AULA__NEXT__TICK_SECONDS": "0"}  # fmt: skip
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[next_command.command])
        await app.start()
        try:
            [reply] = [r async for r in app.handle(Request("next", USER, PLACE, args={"texto": PROMPT}))]
            times = []
            for _ in range(STEPS):
                greedy = next(b.id for b in reply.buttons if b.id.startswith("next:greedy:"))
                started = time.perf_counter()
                [reply] = [r async for r in app.handle(Request("next", USER, PLACE, action=greedy))]
                times.append(time.perf_counter() - started)
                assert not reply.error, reply
            return times
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


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        slow = await step_times(PROVIDER_S, folder)
        fast = await step_times(0.0, folder)
    pieces = parts_times()
    own = [t - PROVIDER_S for t in slow]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{STEPS} greedy steps, provider {PROVIDER_S * 1000:.0f} ms per step (loopback)")
    print(f"  step wall time, median: {statistics.median(slow) * 1000:.1f} ms  (max {max(slow) * 1000:.1f})")
    print(f"  bot's own time per step (wall − provider), median: {statistics.median(own) * 1000:.1f} ms"
          f"  = {100 * statistics.median(own) / PROVIDER_S:.1f} % of the provider's step (target < 5 %)")  # fmt: skip
    print(f"  same step against an instant server (floor: loopback + bot), median: {statistics.median(fast) * 1000:.1f} ms")
    for name, seconds in pieces.items():
        print(f"  {name}: {seconds * 1000:.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
