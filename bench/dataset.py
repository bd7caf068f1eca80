"""/dataset's checker against its floor: lines per second, beside a bare json.loads loop.

    .venv/bin/python bench/dataset.py [--examples 20000] [--repeats 3]

Writes a JSON Lines file of chat examples (OpenAI format: a system message in a third of
them, one to three user/assistant turns, Spanish text of varied length, a few weights),
then times, alternating in the same run:
  floor:   `for line in file: json.loads(line)` over the same file (what any checker must do)
  checker: bot.dataset.checker.check with the default options (Llama 3.1 template, size and line limits lifted), which
           also validates, renders every example in the chat template, computes its loss
           mask and hashes it for duplicates.
  streamed: the same check as the bot runs it on a Discord or Slack upload: the file's 64 KB
           chunks come from an async iterator on the event loop and are pulled by the
           checker's worker thread (bot.uploads.blocking_stream), never held whole.
Prints lines/s of each (best of the repeats), their ratios, the peak traced memory of the
checker and of the streamed check, and the load average before and after. Encodings are
loaded before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.dataset.checker import Limits, Options, check  # noqa: E402
from bot.tokens.encodings import get_encoding  # noqa: E402
from bot.uploads import Upload, blocking_stream  # noqa: E402

# The default options, with limits lifted so a bigger file can be timed.
OPTIONS = Options(limits=Limits(max_bytes=1 << 30, max_lines=10_000_000))
WORDS = (
    "el modelo aprende de ejemplos cada token cuesta una fracción de centavo y la plantilla de chat "
    "convierte los roles en un texto con tokens especiales que solo escribe el entrenador ajuste fino "
    "de un modelo base con datos propios requiere limpiar duplicados y revisar la longitud"
).split()


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def write_file(path: Path, examples: int, seed: int = 19) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for index in range(examples):
            messages = []
            if index % 3 == 0:
                messages.append({"role": "system", "content": sentence(rng, 5, 15)})
            for _ in range(rng.randint(1, 3)):
                messages.append({"role": "user", "content": sentence(rng, 5, 30)})
                answer = {"role": "assistant", "content": sentence(rng, 10, 120)}
                if rng.random() < 0.1:
                    answer["weight"] = rng.choice((0, 1))
                messages.append(answer)
            out.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def floor(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
            count += 1
    return count


def checker(path: Path) -> int:
    with path.open("rb") as handle:
        return check(handle, OPTIONS, size=path.stat().st_size).examples


def streamed(path: Path) -> int:
    """The bot's path for an upload: chunks on the loop, the check in a worker thread."""

    async def run() -> int:
        upload = dataclasses.replace(Upload.of_path(path), size=None, path=None)  # as a download: no size, no path
        stream, _, close = blocking_stream(upload, asyncio.get_running_loop(), OPTIONS.limits.max_bytes)
        try:
            return (await asyncio.to_thread(check, stream, OPTIONS)).examples
        finally:
            await close()

    return asyncio.run(run())


def timed(run, path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    lines = run(path)
    return time.perf_counter() - start, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    get_encoding("llama-3.1")
    check(io.BytesIO(b'{"prompt": "a", "completion": "b"}\n'), Options())  # warm caches
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jsonl"
        write_file(path, args.examples)
        size_mb = path.stat().st_size / 1024 / 1024
        best = {"floor": float("inf"), "checker": float("inf"), "streamed": float("inf")}
        for _ in range(args.repeats):
            for name, run in (("floor", floor), ("checker", checker), ("streamed", streamed)):
                seconds, lines = timed(run, path)
                assert lines == args.examples
                best[name] = min(best[name], seconds)
        peaks = {}
        for name, run in (("checker", checker), ("streamed", streamed)):
            tracemalloc.start()
            run(path)
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    load_after = os.getloadavg()
    print(f"file: {args.examples} examples, {size_mb:.1f} MB; best of {args.repeats}")
    for name in ("floor", "checker", "streamed"):
        print(f"{name:8s} {args.examples / best[name]:>10,.0f} lines/s  ({best[name]:.2f} s)")
    print(f"ratio    checker takes {best['checker'] / best['floor']:.0f}× the bare json.loads loop")
    print(f"ratio    streamed takes {best['streamed'] / best['checker']:.2f}× the checker reading the file itself")
    for name, peak in peaks.items():
        print(f"{name} peak traced memory {peak / 1024 / 1024:.1f} MB")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
