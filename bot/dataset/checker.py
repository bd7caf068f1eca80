"""Checking a fine-tuning file before paying for training: errors per line, statistics, cost.

Input: a binary stream of JSON Lines, one training example per line, in one of three shapes
(`FORMATS`):

- "openai": OpenAI's chat fine-tuning format, `{"messages": [{"role", "content",
  "weight"?}, ...]}`; `weight` (0 or 1) only on assistant messages, 0 leaving that
  message out of the loss (https://platform.openai.com/docs/guides/supervised-fine-tuning).
- "prompt-completion": `{"prompt": str, "completion": str}` pairs, read as a user message
  and the assistant's answer (TRL's prompt-completion dataset type).
- "sharegpt": `{"conversations": [{"from": "system"|"human"|"gpt", "value": str}, ...]}`
  (the form Axolotl and LLaMA-Factory read as "sharegpt").
- "auto": the shape of the first example that parses decides for the whole file.

The stream is read line by line with a bounded `readline`, so memory holds one line (at
most `Limits.max_line_bytes`), one digest per example for the duplicate check, and one
length per example for the statistics: never the whole file. `check` is synchronous and
CPU-bound (JSON parsing, tokenizing, rendering); the bot runs it in a worker thread.

Each example is rendered as a training example in the chosen chat template
(bot.roles.templates, no generation prompt after the last message) and its loss mask
computed by `loss_mask` (assistant content and end-of-turn token, weight 0 excluded).

Errors are `Problem(line, field, kind, values)`; `kind` is one of `KINDS`. A wrong_type
problem's values are `expected` (line, messages, message or text: what the field should
hold) and `found` (`type_name`), worded for students by bot.dataset.display. The report keeps
the first `Limits.max_errors` in order and counts every kind. A file over the size or line
limit, binary, or a JSON array instead of JSON Lines is refused as a whole (`Refused`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from bot.roles.templates import Message, Rendered, loss_mask, piece_mask, render, special_token_ids

Format = Literal["auto", "openai", "prompt-completion", "sharegpt"]
FORMATS: tuple[Format, ...] = ("auto", "openai", "prompt-completion", "sharegpt")

# Per-line problems, in the order a report lists their counts.
KINDS = (
    "not_utf8",
    "not_json",
    "line_too_long",
    "wrong_type",
    "unknown_role",
    "empty_content",
    "no_assistant",
    "system_not_first",
    "role_order",
    "bad_weight",
    "control_tokens",
    "too_long",
    "duplicate",
)
# Whole-file refusals.
REFUSALS = ("too_large", "too_many_lines", "binary", "utf16", "json_array", "unreadable")

SHAREGPT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}
CHAT_ROLES = ("system", "user", "assistant")
BINARY_SNIFF_BYTES = 8192
BOM = b"\xef\xbb\xbf"
PRESCAN_BLOCK = 1024 * 1024  # bytes read at a time by the first pass that counts lines


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_lines: int = 100_000
    max_line_bytes: int = 1024 * 1024
    max_errors: int = 100  # errors listed one by one; every one is counted


@dataclass(frozen=True)
class Options:
    format: Format = "auto"
    template: str = "llama-3.1"
    context: int = 8192  # tokens a training sequence may hold; longer ones are truncated
    epochs: int = 3
    price_per_million: float = 25.0  # USD per million trained tokens
    provider: str = ""
    price_date: str = ""
    limits: Limits = Limits()


@dataclass(frozen=True)
class Problem:
    line: int
    field: str | None
    kind: str
    values: dict[str, Any] = field(default_factory=dict)  # fill the kind's message


class Refused(Exception):
    """The whole file is refused; `kind` is one of REFUSALS, `values` fill its message."""

    def __init__(self, kind: str, **values: Any) -> None:
        super().__init__(kind)
        self.kind = kind
        self.values = values


@dataclass(frozen=True)
class Example:
    """One valid example: its line, messages, and the assistant weights (None: default)."""

    line: int
    messages: tuple[Message, ...]
    weights: tuple[int | None, ...]


@dataclass
class Report:
    format: Format
    template: str
    context: int
    lines: int = 0  # lines read, blank ones included
    examples: int = 0  # non-blank lines: each one an example, valid or not
    valid: int = 0  # examples rendered (no structural error)
    parsed: int = 0  # lines read as JSON: none means no line could tell the format
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    messages_per_example: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # rendered tokens per valid example
    trained_tokens: int = 0
    truncated: int = 0
    crlf: bool = False
    bom: bool = False
    shown: Example | None = None  # the example rendered with its mask: the shortest valid one
    shown_tokens: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.counts.values())

    def tokens(self) -> dict[str, int] | None:
        """min, median, p95, max of rendered lengths (nearest-rank percentiles), None if no example rendered."""
        if not self.lengths:
            return None
        ordered = sorted(self.lengths)
        return {
            "min": ordered[0],
            "median": percentile(ordered, 50),
            "p95": percentile(ordered, 95),
            "max": ordered[-1],
        }


def percentile(ordered: list[int], p: float) -> int:
    """Nearest-rank percentile of an ascending list: the smallest value with p% at or below it."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def estimated_cost(report: Report, options: Options) -> dict[str, Any]:
    """trained tokens × epochs × price per million, with where the price comes from."""
    usd = report.trained_tokens * options.epochs * options.price_per_million / 1_000_000
    return {
        "usd": round(usd, 6),
        "trained_tokens": report.trained_tokens,
        "epochs": options.epochs,
        "price_per_million": options.price_per_million,
        "provider": options.provider,
        "price_date": options.price_date,
    }


# --- reading lines --------------------------------------------------------------------------


def utf16(start: bytes) -> bool:
    """Whether a file starting with these bytes is UTF-16 text: its byte order mark (FF FE or
    FE FF), or a JSON object's `{` with a NUL beside it (UTF-16 without the mark)."""
    return start[:2] in (b"\xff\xfe", b"\xfe\xff", b"{\x00", b"\x00{")


def read_lines(stream: IO[bytes], limits: Limits) -> Iterator[tuple[int, bytes | None]]:
    """(line number from 1, the line's bytes without its end, or None when it was longer
    than max_line_bytes and skipped). Counts bytes as it goes and refuses past the limits."""
    total = 0
    number = 0
    while True:
        chunk = stream.readline(limits.max_line_bytes + 1)
        if not chunk:
            return
        number += 1
        if number == 1 and utf16(chunk):
            raise Refused("utf16")  # text, but not UTF-8: Windows PowerShell's `>` writes this
        if total < BINARY_SNIFF_BYTES and b"\x00" in chunk[: BINARY_SNIFF_BYTES - total]:
            raise Refused("binary")  # text never holds NUL; images, archives and PDFs do within 8 KB
        if number > limits.max_lines:
            raise Refused("too_many_lines", limit=limits.max_lines)
        total += len(chunk)
        if len(chunk) > limits.max_line_bytes and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):  # skip the rest of the line, a block at a time
                chunk = stream.readline(limits.max_line_bytes)
                total += len(chunk)
                if total > limits.max_bytes:
                    raise Refused("too_large", limit=limits.max_bytes)
            yield number, None
            continue
        if total > limits.max_bytes:
            raise Refused("too_large", limit=limits.max_bytes)
        yield number, chunk


def prescan(stream: IO[bytes], limits: Limits) -> None:
    """A cheap first pass over a seekable stream, before any parsing or tokenizing: count its
    bytes and lines in blocks (stopping at the first one past a limit) and refuse a file over
    either limit, then seek back to where it started. A stream that cannot seek is left to
    `read_lines`, which refuses on the first line past the limit."""
    if not stream.seekable():
        return
    start = stream.tell()
    total = 0
    newlines = 0
    last = b"\n"
    while True:
        block = stream.read(PRESCAN_BLOCK)
        if not block:
            break
        total += len(block)
        if total > limits.max_bytes:
            raise Refused("too_large", limit=limits.max_bytes)
        newlines += block.count(b"\n")
        last = block[-1:]
        if newlines + (last != b"\n") > limits.max_lines:
            raise Refused("too_many_lines", limit=limits.max_lines)
    stream.seek(start)


# --- checking ---------------------------------------------------------------------------------


def check(stream: IO[bytes], options: Options, size: int | None = None) -> Report:
    """Check a JSON Lines stream; raises Refused for a file refused as a whole.

    size: the file's size in bytes when known beforehand (a stat, an upload's declared
    size), so an oversized file is refused before reading it.
    """
    limits = options.limits
    if size is not None and size > limits.max_bytes:
        raise Refused("too_large", limit=limits.max_bytes)
    prescan(stream, limits)
    report = Report(options.format, options.template, options.context)
    specials = special_token_ids(options.template)
    special_pattern = re.compile("|".join(map(re.escape, sorted(specials, key=len, reverse=True)))) if specials else None
    seen: dict[bytes, int] = {}  # digest of an example -> its first line
    shape: Format = options.format
    first_content = True
    for number, raw in read_lines(stream, limits):
        report.lines = number
        if raw is None:
            report.examples += 1
            add(report, limits, Problem(number, None, "line_too_long", {"limit": limits.max_line_bytes}))
            continue
        if first_content:
            if raw.startswith(BOM):
                report.bom = True
                raw = raw[len(BOM) :]
        if raw.endswith(b"\r\n"):
            report.crlf = True
        text_bytes = raw.strip()
        if not text_bytes:
            continue  # a blank line (the file's last newline, a gap): no example
        if first_content:
            first_content = False
            if text_bytes.startswith(b"["):
                raise Refused("json_array")
        report.examples += 1
        try:
            text = text_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            add(report, limits, Problem(number, None, "not_utf8", {"position": exc.start + 1}))
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            column = getattr(exc, "colno", 0)
            add(report, limits, Problem(number, None, "not_json", {"column": column}))
            continue
        lone = lone_surrogate(text)
        if lone is not None:  # valid JSON, but half a character: no tokenizer or trainer encodes it
            add(report, limits, Problem(number, None, "not_utf8", {"position": lone}))
            continue
        report.parsed += 1
        if shape == "auto":
            shape = detect(data) or "auto"
            report.format = shape
        example, problems = parse_example(number, data, shape)
        for problem in problems:
            add(report, limits, problem)
        if example is None:
            continue
        for index, message in enumerate(example.messages):
            found = special_pattern.search(message.content) if special_pattern else None
            if found:
                name = content_field(shape, index)
                add(report, limits, Problem(number, name, "control_tokens", {"token": found.group()}))
        digest = example_digest(example)
        first = seen.get(digest)
        if first is not None:
            add(report, limits, Problem(number, None, "duplicate", {"first": first}))
        else:
            seen[digest] = number
        measure(report, options, example)
    return report


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate(line: str) -> int | None:
    """The 1-based byte of the line where a `\\uD800`-`\\uDFFF` escape stands alone (half of a
    character; JSON parses it, but the text cannot be written as UTF-8 and tokenizers, trainers
    and the bot's own output fail on it), or None. A high surrogate escape followed by a low one
    is one character (how JSON escapes an emoji) and fine. Costs nothing on lines without such
    escapes."""
    if "\\u" not in line:
        return None
    skip_to = -1
    for found in SURROGATE_ESCAPE.finditer(line):
        start = found.start()
        if start < skip_to or _escaped_backslash(line, start):
            continue
        code = int(found.group()[2:], 16)
        after = SURROGATE_ESCAPE.match(line, found.end())
        if code < 0xDC00 and after is not None and int(after.group()[2:], 16) >= 0xDC00:
            skip_to = after.end()
            continue
        return len(line[:start].encode("utf-8", "surrogatepass")) + 1
    return None


def _escaped_backslash(line: str, start: int) -> bool:
    """Whether the backslash at `start` is itself escaped (an odd run of backslashes before it)."""
    run = 0
    while start - run - 1 >= 0 and line[start - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def example_digest(example: Example) -> bytes:
    """16 bytes that are equal for exactly equal examples (roles, contents, weights), whatever
    the line's spacing or key order."""
    digest = hashlib.blake2b(digest_size=16)
    for message, weight in zip(example.messages, example.weights, strict=True):
        digest.update(f"{message.role}\x00{weight}\x00{len(message.content)}\x00".encode())
        digest.update(message.content.encode("utf-8", "surrogatepass"))
    return digest.digest()


def add(report: Report, limits: Limits, problem: Problem) -> None:
    report.counts[problem.kind] += 1
    if len(report.problems) < limits.max_errors:
        report.problems.append(problem)


def measure(report: Report, options: Options, example: Example) -> None:
    """Render the example as a trainer does, count its tokens and trained tokens, flag truncation."""
    rendered: Rendered = render(example.messages, options.template, generation_prompt=False)
    count = rendered.count
    report.valid += 1
    report.messages_per_example.append(len(example.messages))
    report.lengths.append(count)
    if count <= options.context:
        flags = piece_mask(rendered, "assistant", example.weights)
        trained = sum(len(piece.ids) for piece, flag in zip(rendered.pieces, flags, strict=True) if flag)
    else:
        trained = sum(training_mask(rendered, example.weights, options.context))
    report.trained_tokens += trained
    if count > options.context:
        report.truncated += 1
        add(report, options.limits, Problem(example.line, None, "too_long", {"count": count, "limit": options.context}))
    if report.shown is None or count < report.shown_tokens:
        report.shown, report.shown_tokens = example, count


def training_mask(rendered: Rendered, weights: tuple[int | None, ...], context: int) -> tuple[bool, ...]:
    """One boolean per id of `rendered.ids`: True where a trainer computes the loss on this
    example, the one definition the statistics, the cost and the shown example all use.

    As trainers do (TRL's `max_length`, Axolotl's `sequence_len`), the rendered ids are first
    truncated to `context` tokens and the loss mask (`loss_mask`, assistant scope) applied to
    what is left: ids past the context are never trained, so an example whose answer lies
    past the context trains 0 tokens."""
    mask = loss_mask(rendered, "assistant", weights)
    if len(mask) <= context:
        return mask
    return mask[:context] + (False,) * (len(mask) - context)


def detect(data: Any) -> Format | None:
    if isinstance(data, dict):
        if "messages" in data:
            return "openai"
        if "conversations" in data:
            return "sharegpt"
        if "prompt" in data or "completion" in data:
            return "prompt-completion"
    return None


def content_field(shape: Format, index: int) -> str:
    if shape == "prompt-completion":
        return "prompt" if index == 0 else "completion"
    if shape == "sharegpt":
        return f"conversations[{index}].value"
    return f"messages[{index}].content"


def parse_example(line: int, data: Any, shape: Format) -> tuple[Example | None, list[Problem]]:
    """The example in a line's JSON, or None with the problems that make it unusable
    (and problems that do not, such as a bad weight, beside a usable example)."""
    if not isinstance(data, dict):
        return None, [Problem(line, None, "wrong_type", {"expected": "line", "found": type_name(data)})]
    if shape == "prompt-completion":
        return parse_prompt_completion(line, data)
    key, role_key, text_key = ("conversations", "from", "value") if shape == "sharegpt" else ("messages", "role", "content")
    if shape == "auto":  # nothing recognisable so far
        return None, [Problem(line, "messages", "wrong_type", {"expected": "messages", "found": "missing"})]
    turns = data.get(key)
    if not isinstance(turns, list):
        return None, [Problem(line, key, "wrong_type", {"expected": "messages", "found": type_name(turns, key in data)})]
    problems: list[Problem] = []
    messages: list[Message] = []
    weights: list[int | None] = []
    usable = True
    for index, turn in enumerate(turns):
        where = f"{key}[{index}]"
        if not isinstance(turn, dict):
            problems.append(Problem(line, where, "wrong_type", {"expected": "message", "found": type_name(turn)}))
            usable = False
            continue
        role = turn.get(role_key)
        if not isinstance(role, str):
            problems.append(Problem(line, f"{where}.{role_key}", "wrong_type", {"expected": "text", "found": type_name(role, role_key in turn)}))
            usable = False
            continue
        role = SHAREGPT_ROLES.get(role) if shape == "sharegpt" else (role if role in CHAT_ROLES else None)
        if role is None:
            problems.append(Problem(line, f"{where}.{role_key}", "unknown_role", {"role": turn.get(role_key)}))
            usable = False
            continue
        content = turn.get(text_key)
        if not isinstance(content, str):
            problems.append(Problem(line, f"{where}.{text_key}", "wrong_type", {"expected": "text", "found": type_name(content, text_key in turn)}))
            usable = False
            continue
        if not content.strip():
            problems.append(Problem(line, f"{where}.{text_key}", "empty_content", {}))
            usable = False
        weight = turn.get("weight") if "weight" in turn else None
        if "weight" in turn and (role != "assistant" or isinstance(weight, bool) or weight not in (0, 1)):
            problems.append(Problem(line, f"{where}.weight", "bad_weight", {"value": json.dumps(turn.get("weight"))}))
            weight = None
        messages.append(Message(role, content))
        weights.append(int(weight) if weight is not None else None)
    if not usable:
        return None, problems
    problems += order_problems(line, key, messages)
    if not any(m.role == "assistant" for m in messages):
        problems.append(Problem(line, key, "no_assistant", {}))
    if any(p.kind in ("no_assistant", "system_not_first", "role_order") for p in problems) or not messages:
        return None, problems
    return Example(line, tuple(messages), tuple(weights)), problems


def order_problems(line: int, key: str, messages: list[Message]) -> list[Problem]:
    """A system message only first; then user and assistant taking turns, the user first."""
    problems = []
    expected = "user"
    for index, message in enumerate(messages):
        where = f"{key}[{index}]"
        if message.role == "system":
            if index != 0:
                problems.append(Problem(line, where, "system_not_first", {}))
            continue
        if message.role != expected:
            problems.append(Problem(line, where, "role_order", {"role": message.role, "expected": expected}))
            break  # one out-of-order turn shifts the rest: report it once
        expected = "assistant" if expected == "user" else "user"
    return problems


def parse_prompt_completion(line: int, data: dict) -> tuple[Example | None, list[Problem]]:
    problems = []
    values = []
    for key in ("prompt", "completion"):
        value = data.get(key)
        if not isinstance(value, str):
            problems.append(Problem(line, key, "wrong_type", {"expected": "text", "found": type_name(value, key in data)}))
        elif not value.strip():
            problems.append(Problem(line, key, "empty_content", {}))
        values.append(value)
    if problems:
        return None, problems
    return Example(line, (Message("user", values[0]), Message("assistant", values[1])), (None, None)), []


def type_name(value: Any, present: bool = True) -> str:
    """The kind of value a file's author wrote, as `dataset.found.*` names it in the reader's
    words: missing (no such key), null, boolean, number, text, list, object."""
    if not present:
        return "missing"
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "text",
        list: "list",
        dict: "object",
    }.get(type(value), "object")
