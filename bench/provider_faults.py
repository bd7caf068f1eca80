"""A provider that misbehaves on purpose (issue 13, item 7): what one /compare costs the bot.

    .venv/bin/python bench/provider_faults.py

Against the loopback OpenAI-compatible server (tests/fake_llm.py), one /compare per fault
(both sides get it), max_tokens 64 and a 4 s total timeout, with another student's /tokens
sent 0.3 s in: wall time of the comparison, peak traced Python memory (tracemalloc), the
characters each side kept (the cap is 64 × 32 + 4096), the bytes the server got to send
before the client hung up, and the other /tokens' latency. The floor is a well-behaved
server's /compare in the same run. Load average printed before and after.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Aula  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.conftest import make_request, replies_of  # noqa: E402
from tests.fake_llm import API_KEY, FakeLlmServer, Fault  # noqa: E402

FAULTS = {
    "well-behaved (floor)": None,
    "endless text, ignores max_tokens": dict(endless=True),
    "1 byte / 5 ms, no line end": dict(trickle_s=0.005),
    "one 50 MB line": dict(huge_line_bytes=50_000_000),
}


async def one(name: str, fault: dict | None, folder: str) -> tuple:
    async with FakeLlmServer() as server:
        if fault:
            server.faults += [Fault(**fault), Fault(**fault)]
        environ = {
            "AULA_DATABASE": f"{folder}/{len(name)}.sqlite3", "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__MAX_TOKENS": "64", "AULA__LLM__TOTAL_TIMEOUT_S": "4",
            "AULA__LLM__REQUESTS_PER_MINUTE": "100",
        }  # fmt: skip
        app = Aula(load_settings(environ=environ, dotenv_path=None))
        await app.start()
        try:
            await replies_of(app, make_request("tokens", user_id="calienta", args={"texto": "x"}))  # encodings warm
            tracemalloc.start()
            started = time.perf_counter()
            task = asyncio.create_task(replies_of(app, make_request("compare", args={"prompt": "Hola"})))
            await asyncio.sleep(0.3)
            asked = time.perf_counter()
            await replies_of(app, make_request("tokens", user_id="otra", args={"texto": "Hola mundo"}))
            other = time.perf_counter() - asked
            await task
            wall = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows = await app.db.fetchall("SELECT length(text) AS n FROM compare_outputs")
            kept = max((r["n"] for r in rows), default=0)
        finally:
            await app.close()
        return name, wall, peak, kept, server.misbehaved_bytes, other


async def main() -> None:
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        rows = [await one(name, fault, folder) for name, fault in FAULTS.items()]
    print("| provider | /compare wall | peak traced memory | chars stored (longer side) | bytes sent | other /tokens |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, wall, peak, kept, sent, other in rows:
        print(f"| {name} | {wall:.2f} s | {peak / 1e6:.1f} MB | {kept:,} | {sent:,} | {other * 1000:.0f} ms |")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
