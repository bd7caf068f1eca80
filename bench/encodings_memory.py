"""Memory and load time of every encoding /tokens and /roles can use, loaded one after another.

    .venv/bin/python bench/encodings_memory.py [--repeats 3]

Each repeat is a fresh interpreter that loads, in order, the seven encodings (each verified
as in production), then openai-harmony's renderer and mistral-common's chat tokenizer (what
/roles comparar:sí needs on top), and prints the resident memory (VmRSS) and the wall time
after each step. The floor is the same interpreter after `import tiktoken` and Aula's
encodings module, before any vocabulary is read. Median over the repeats; also prints the load
average before and after, since this machine is shared. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEPS = r"""
import json, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from bot.tokens import encodings
from bot.roles.templates import Message, render
out = [("floor (tiktoken and Aula's encodings module imported)", rss(), 0.0)]
for name in encodings.ENCODINGS:
    started = time.perf_counter()
    encodings.get_encoding(name)
    out.append((name, rss(), time.perf_counter() - started))
for template, label in (("gpt-oss", "openai-harmony renderer"), ("mistral", "mistral-common chat tokenizer")):
    started = time.perf_counter()
    render([Message("user", "Hola")], template)
    out.append((label, rss(), time.perf_counter() - started))
started = time.perf_counter()
from bot.roles.comparison import comparison_picture, render_all
comparison_picture("es", render_all([Message("system", "Eres un profesor"), Message("user", "Hola")]))
out.append(("comparar:sí reply picture (fonts)", rss(), time.perf_counter() - started))
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    runs = []
    for _ in range(args.repeats):
        done = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True, cwd=ROOT)
        runs.append(json.loads(done.stdout))
    print(f"load average after: {os.getloadavg()}")
    print("| step | resident memory after it | added | load time |")
    print("| --- | ---: | ---: | ---: |")
    previous = None
    for index, (name, _, _) in enumerate(runs[0]):
        rss = statistics.median(run[index][1] for run in runs)
        seconds = statistics.median(run[index][2] for run in runs)
        added = "" if previous is None else f"+{rss - previous:.0f} MB"
        print(f"| {name} | {rss:.0f} MB | {added} | {seconds:.2f} s |")
        previous = rss


if __name__ == "__main__":
    main()
