"""What /tokens costs: cold encoding load, memory, and per-command latency with and without the picture.

    /work/venv/bin/python bench/tokens_bench.py

Cold load and memory are measured in fresh interpreters (median of 3). Latency is the
median of repeated runs with warm encodings and fonts: raw tiktoken `encode_ordinary` of
the text, the whole /tokens reply without the picture (`tokens_reply(picture=False)`,
which also counts the text for every configured model's cost), the picture alone, and
the whole reply with it. The ratio column is reply ÷ raw encode: what analysis and
rendering add on top of tokenizing. A benchmark, not a test: nothing here fails.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from bot.tokens.analysis import analyze  # noqa: E402
from bot.tokens.command import EXAMPLES, picture_png, tokens_reply  # noqa: E402
from bot.tokens.encodings import get_encoding  # noqa: E402

PROSE = (
    "El fine-tuning ajusta un modelo preentrenado con ejemplos de la tarea: en 2024 probamos "
    "con 366 preguntas y respuestas, ¿cuántos tokens cuesta cada una? 🍕 ☕ "
)

COLD_LOAD = """
import json, resource, time
started = time.perf_counter()
from bot.tokens.encodings import get_encoding
for name in ("o200k_base", "cl100k_base", "llama-3.1"):
    get_encoding(name)
seconds = time.perf_counter() - started
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
started = time.perf_counter()
from bot.tokens.command import tokens_reply
from bot.settings import load_settings
tokens_reply("Me gusta la pizza 🍕", ("o200k_base",), "es", load_settings(environ={}, dotenv_path=None).tokens)
first_reply = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_mb": rss_kb / 1024, "first_reply_s": first_reply,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cold_load() -> dict[str, float]:
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", COLD_LOAD], cwd=ROOT, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def median_ms(action, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.node() or 'unknown host'}")
    cold = cold_load()
    print(
        f"cold load of o200k_base + cl100k_base + llama-3.1: {cold['seconds']:.2f} s; "
        f"resident memory {cold['rss_mb']:.0f} MB"
    )
    print(
        f"then the first reply with a picture (fonts load): {cold['first_reply_s']:.2f} s; "
        f"peak resident memory {cold['peak_mb']:.0f} MB"
    )

    settings = load_settings(environ={}, dotenv_path=None).tokens
    texts = {f"ejemplo:{key}": example.es for key, example in EXAMPLES.items()}
    texts["500 characters"] = (PROSE * 10)[:500]
    texts["20,000 characters"] = (PROSE * 200)[:20_000]
    encoding = get_encoding("o200k_base")
    tokens_reply("warm up", ("o200k_base",), "es", settings)  # encodings and fonts, outside the timings

    header = f"{'text':22} {'tokens':>6} {'encode':>9} {'reply text':>11} {'picture':>9} {'reply+pic':>10} {'ratio':>6}"
    print(header)
    for name, text in texts.items():
        repeats = 10 if len(text) > 5000 else 50
        encode_ms = median_ms(lambda t=text: encoding.encode_ordinary(t), repeats)
        reply_ms = median_ms(
            lambda t=text: tokens_reply(t, ("o200k_base",), "es", settings, picture=False), repeats
        )
        analysis = [analyze(text, "o200k_base")]
        picture_ms = median_ms(lambda a=analysis: picture_png(a, "es"), repeats)
        full_ms = median_ms(lambda t=text: tokens_reply(t, ("o200k_base",), "es", settings), repeats)
        print(
            f"{name:22} {len(analysis[0].ids):6} {encode_ms:7.3f}ms {reply_ms:9.3f}ms {picture_ms:7.2f}ms "
            f"{full_ms:8.2f}ms {reply_ms / encode_ms:5.0f}×"
        )
    all_ms = median_ms(
        lambda: tokens_reply(
            texts["500 characters"], ("o200k_base", "cl100k_base", "llama-3.1"), "es", settings
        ),
        20,
    )
    print(f"modelo:todos, 500 characters, with picture: {all_ms:.2f} ms")


if __name__ == "__main__":
    main()
