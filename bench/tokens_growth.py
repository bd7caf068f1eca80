"""/tokens against its floor, and how both grow with the text: no input may make the reply quadratic.

    .venv/bin/python bench/tokens_growth.py [--sizes 1000,10000,20000,100000] [--repeats 5] [--kinds ...]

Product: the whole /tokens reply text (`tokens_reply(..., picture=False)`: pieces, ids, the
observations, the cost table and the attached TSV) for `modelo:all` (or --model). Floor: raw tiktoken
`encode_ordinary` of the same text with every encoding the reply reports a count for, in the
same process, interleaved with the product. Ratio = product ÷ floor per repeat; min/median/max.
Texts: prose (Spanish, the course's kind), code, emoji, one repeated character, digits, and
distinct words, each at every size (the chat limit is 20,000 characters; 100,000 is the CLI's
kind of paste). Growth: product time at each size ÷ at the smallest, beside the size ratio.
A benchmark, not a test: nothing here fails. Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from bot.tokens.command import ALL_ENCODINGS, encodings_for, tokens_reply  # noqa: E402
from bot.tokens.encodings import get_encoding  # noqa: E402

PROSE = (
    "El fine-tuning ajusta un modelo preentrenado con ejemplos de la tarea: en 2024 probamos "
    "con 366 preguntas y respuestas, ¿cuántos tokens cuesta cada una? "
)
CODE = 'def saludar(nombre: str) -> str:\n    return f"Hola, {nombre}!"  # 👋\n\nfor i in range(10):\n    print(saludar(i))\n'
EMOJI = "🍕☕👩‍💻🇪🇸👍🏽❤️🎉🤖 "


def text_of(kind: str, size: int) -> str:
    if kind == "prose":
        return (PROSE * (size // len(PROSE) + 1))[:size]
    if kind == "code":
        return (CODE * (size // len(CODE) + 1))[:size]
    if kind == "emoji":
        return (EMOJI * (size // len(EMOJI) + 1))[:size]
    if kind == "repeated":
        return "a" * size
    if kind == "digits":
        return "".join(str(i % 10) for i in range(size))
    if kind == "words":  # distinct made-up words: every one split, none repeated
        words, i = [], 0
        while sum(len(w) + 1 for w in words) < size:
            n, word = i, ""
            for _ in range(6):
                word += "bcdfgklmnprstvz"[n % 15] + "aeiou"[(n // 15) % 5]
                n //= 7
            words.append(word + str(i))
            i += 1
        return " ".join(words)[:size]
    raise ValueError(kind)


def reported_encodings(settings, names: tuple[str, ...]) -> tuple[str, ...]:
    """The encodings whose counts the reply shows: those analysed and those of the cost table."""
    return tuple(dict.fromkeys([*names, *(m.encoding for m in settings.tokens.models)]))


def measure(text: str, settings, repeats: int, names: tuple[str, ...]) -> tuple[list[float], list[float]]:
    encodings = [get_encoding(name) for name in reported_encodings(settings, names)]
    floors, products = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for encoding in encodings:
            encoding.encode_ordinary(text)
        floors.append(time.perf_counter() - started)
        started = time.perf_counter()
        tokens_reply(text, names, "es", settings.tokens, picture=False)
        products.append(time.perf_counter() - started)
    return floors, products


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,20000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kinds", default="prose,code,emoji,repeated,digits,words")
    parser.add_argument("--model", default="all", help="all (the three encodings) or gpt-4o, gpt-4, llama-3.1")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = load_settings(environ={}, dotenv_path=None)
    names = encodings_for(args.model)
    for name in reported_encodings(settings, names):
        get_encoding(name)
    tokens_reply("warm", ALL_ENCODINGS, "es", settings.tokens, picture=False)
    print(f"modelo:{args.model}: {', '.join(names)} analysed; floor: {', '.join(reported_encodings(settings, names))}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| text | chars | floor (median) | reply text (median) | ratio min / median / max | growth (reply) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.kinds.split(","):
        first = None
        for size in sizes:
            text = text_of(kind, size)
            floors, products = measure(text, settings, args.repeats if size < 100_000 else max(2, args.repeats // 2), names)
            ratios = sorted(p / f for p, f in zip(products, floors, strict=True))
            product = statistics.median(products)
            first = first or (size, product)
            growth = f"{product / first[1]:.1f}× for {size / first[0]:.0f}× chars"
            print(
                f"| {kind} | {size:,} | {statistics.median(floors) * 1000:.1f} ms | {product * 1000:.1f} ms "
                f"| {ratios[0]:.1f} / {statistics.median(ratios):.1f} / {ratios[-1]:.1f} | {growth} |",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
