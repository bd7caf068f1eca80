"""How long an `aula` process takes before it answers, beside what Python and tiktoken alone take.

    .venv/bin/python bench/cold_start.py [--repeats 5]

Each figure is the wall time of a fresh process (min / median / max over the repeats, runs
interleaved so that load from other work falls on product and floor alike):

- `aula --help` beside `python -c pass` (target: at most 0.3 s);
- `aula tokens Hola --encoding all --json` beside FLOOR_SCRIPT, a bare script that imports
  tiktoken (and mistral-common for the two Mistral tokenizers), reads the same vocabulary files
  and builds the same encoders, with none of Aula's checks (target: 1.3×);
- the console's first answer to `/tokens texto:Hola modelo:todos` (the line is piped in, the
  console exits at the end of input) beside the same floor (target: 1.5×).

Also prints the load average before and after: this machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Reads each vocabulary and builds its encoder as plainly as the libraries allow. The patterns of
# Llama 3 and Qwen are not tiktoken's; o200k's stands in for them (compiling one costs the same).
FLOOR_SCRIPT = r"""
import struct
from importlib import resources
from unittest import mock
import tiktoken
from tiktoken_ext import openai_public

def ranks(filename):
    data = resources.files("quicktok").joinpath("data", filename).read_bytes()
    (count,), offset, out = struct.unpack_from("<I", data, 0), 4, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + length)
        out[token], offset = rank, offset + 6 + length
    return out

encoders = []
o200k = ranks("o200k.vocab")
for name, vocab in (("o200k_base", o200k), ("cl100k_base", ranks("cl100k.vocab")), ("o200k_harmony", o200k)):
    with mock.patch.object(openai_public, "load_tiktoken_bpe", return_value=vocab):
        encoders.append(tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]()))
pattern = encoders[0]._pat_str
for name, filename in (("llama-3.1", "llama3.vocab"), ("qwen3", "qwen3.vocab")):
    encoders.append(tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks(filename), special_tokens={}))
for encoder in encoders:
    encoder.encode_ordinary("Hola")

import mistral_common
from pathlib import Path
from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer
from mistral_common.tokens.tokenizers.tekken import Tekkenizer
data = Path(mistral_common.__file__).parent / "data"
Tekkenizer.from_file(str(data / "tekken_240718.json")).encode("Hola", bos=False, eos=False)
SentencePieceTokenizer(str(data / "mistral_instruct_tokenizer_240323.model.v3")).encode("Hola", bos=False, eos=False)
"""


def wall(command: list[str], stdin: str | None = None, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, input=stdin, text=True, capture_output=True, check=True, cwd=ROOT, env=env)
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s"


def ratios(product: list[float], floor: list[float]) -> str:
    values = sorted(p / f for p, f in zip(product, floor, strict=True))
    return f"{values[0]:.2f} / {statistics.median(values):.2f} / {values[-1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    python, aula = str(BIN / "python"), str(BIN / "aula")
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, AULA_DATABASE=str(Path(home) / "aula.sqlite3"), HOME=home)
        runs: dict[str, list[float]] = {k: [] for k in ("pass", "help", "floor", "tokens", "console")}
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        wall([aula, "tokens", "Hola", "--encoding", "all", "--json"], env=env)  # warm the file cache
        wall([python, "-c", FLOOR_SCRIPT])
        for _ in range(args.repeats):
            runs["pass"].append(wall([python, "-c", "pass"]))
            runs["help"].append(wall([aula, "--help"], env=env))
            runs["floor"].append(wall([python, "-c", FLOOR_SCRIPT]))
            runs["tokens"].append(wall([aula, "tokens", "Hola", "--encoding", "all", "--json"], env=env))
            runs["console"].append(wall([aula, "console"], stdin="/tokens texto:Hola modelo:todos\n", env=env))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| process | wall (min / median / max) | floor | floor wall | ratio (min / median / max) | target |")
    print("| --- | ---: | --- | ---: | ---: | --- |")
    print(f"| `aula --help` | {spread(runs['help'])} | `python -c pass` | {spread(runs['pass'])} | "
          f"{ratios(runs['help'], runs['pass'])} | ≤ 0.3 s |")
    print(f"| `aula tokens Hola --encoding all --json` | {spread(runs['tokens'])} | bare tiktoken + mistral-common "
          f"| {spread(runs['floor'])} | {ratios(runs['tokens'], runs['floor'])} | ≤ 1.3× |")
    print(f"| console, first answer (`/tokens … modelo:todos`) | {spread(runs['console'])} | the same | "
          f"{spread(runs['floor'])} | {ratios(runs['console'], runs['floor'])} | ≤ 1.5× |")


if __name__ == "__main__":
    main()
