"""Next-token distributions: ask a model for one token with its log-probabilities, read the answer.

Two wire formats (both OpenAI's):
  - POST /completions with `logprobs: k` (the legacy format vLLM and llama.cpp's server keep):
    choices[0].logprobs = {"tokens": [str], "token_logprobs": [float],
    "top_logprobs": [{token: logprob, …}], "text_offset": [int]};
  - POST /chat/completions with `logprobs: true, top_logprobs: k`:
    choices[0].logprobs.content[0] = {"token", "logprob", "bytes": [int],
    "top_logprobs": [{"token", "logprob", "bytes"}, …]}.
Log-probabilities are natural logarithms; a probability is exp(logprob).

A token string may be plain text, `bytes:\\xe2\\x80` (OpenAI's legacy form for a token that is
not whole UTF-8), or byte-level BPE text ("Ġla" for " la", GPT-2's byte-to-unicode table) as some
servers return it. `token_bytes` turns each into the token's bytes, and Llama 3.x's encoding
(bot.tokens.encodings) maps those bytes to the model's id; other families get no id.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.llm.client import LlmClient, LlmError, MalformedResponse, Profile, prompt_tokens
from bot.tokens.analysis import visible_inline
from bot.tokens.encodings import get_encoding

ROLES = ("base", "instruct")
TEMPERATURES = (0.2, 0.7, 1.0, 1.5)
MAX_TOP = 20  # OpenAI's and vLLM's default ceiling for top_logprobs
ASK_TEMPERATURE = 1.0  # the call itself samples at 1: its log-probabilities are the model's own


class NoLogprobs(LlmError):
    """The server answered but without log-probabilities (it ignores the parameter)."""

    def __init__(self, profile: str, model: str) -> None:
        super().__init__(f"profile {profile}: {model} returned no log-probabilities")
        self.profile = profile
        self.model = model


@dataclass(frozen=True)
class Candidate:
    """One possible next token. token: its text as the server wrote it; data: its bytes."""

    token: str
    data: bytes
    id: int | None
    logprob: float  # natural log

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)

    @property
    def text(self) -> str:
        """The token's text; a fragment of a character keeps the replacement character."""
        return self.data.decode("utf-8", errors="replace")

    @property
    def is_fragment(self) -> bool:
        try:
            self.data.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    @property
    def json_token(self) -> str:
        """The text, or for a fragment of a character OpenAI's own notation "bytes:\\xe2\\x80"."""
        if self.is_fragment:
            return "bytes:" + "".join(f"\\x{b:02x}" for b in self.data)
        return self.text

    def as_json(self) -> dict[str, Any]:
        return {"token": self.json_token, "id": self.id, "logprob": round(self.logprob, 6),
                "probability": round(self.probability, 6)}  # fmt: skip


@dataclass(frozen=True)
class Distribution:
    """The model's top-k next tokens for one text, most likely first."""

    role: str  # "base" or "instruct"
    model: str
    candidates: tuple[Candidate, ...]
    latency_s: float = 0.0
    prompt_tokens: int = 0

    @property
    def coverage(self) -> float:
        """How much of the probability the k tokens hold (0..1)."""
        return min(1.0, sum(c.probability for c in self.candidates))

    @property
    def rest(self) -> float:
        return max(0.0, 1.0 - self.coverage)

    def at_temperature(self, temperature: float) -> list[float]:
        """Probabilities over these k tokens only at `temperature`: softmax(logprob / T),
        renormalised to sum 1 (the rest of the vocabulary is not returned, so it is left out)."""
        if temperature <= 0:
            best = max(range(len(self.candidates)), key=lambda i: self.candidates[i].logprob)
            return [1.0 if i == best else 0.0 for i in range(len(self.candidates))]
        scaled = [c.logprob / temperature for c in self.candidates]
        top = max(scaled)
        weights = [math.exp(s - top) for s in scaled]
        total = sum(weights)
        return [w / total for w in weights]

    def sample(self, temperature: float, rng: random.Random) -> int:
        """The index of a candidate drawn at `temperature` from the renormalised k."""
        return rng.choices(range(len(self.candidates)), weights=self.at_temperature(temperature))[0]

    def as_json(self) -> list[dict[str, Any]]:
        return [c.as_json() for c in self.candidates]


@dataclass
class Step:
    """One step of a run: the distribution seen, and the token chosen from it (None: not yet)."""

    distribution: Distribution
    chosen: int | None = None  # index into distribution.candidates
    how: str = ""  # "greedy", "sample", "pick"
    temperature: float | None = None

    def as_json(self) -> dict[str, Any]:
        chosen = None
        if self.chosen is not None:
            chosen = self.distribution.candidates[self.chosen].as_json() | {"how": self.how}
            if self.temperature is not None:
                chosen["temperature"] = self.temperature
        return {"candidates": self.distribution.as_json(), "chosen": chosen}


@dataclass
class Generation:
    role: str
    model: str
    prompt: str
    steps: list[Step] = field(default_factory=list)

    @property
    def generated(self) -> bytes:
        return b"".join(s.distribution.candidates[s.chosen].data for s in self.steps if s.chosen is not None)

    @property
    def text(self) -> str:
        return self.generated.decode("utf-8", errors="replace")

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "prompt": self.prompt, "steps": [s.as_json() for s in self.steps],
                "text": self.prompt + self.text}  # fmt: skip


# --- token strings -> bytes -> ids ---------------------------------------------------------


def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, reversed: the printable stand-in character -> the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + shifted)
            shifted += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


BYTE_LEVEL = _byte_level_table()
_BYTES_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def token_bytes(token: str, raw: Sequence[int] | None = None) -> bytes:
    """The bytes of a token as a server wrote it (see the module docstring)."""
    if raw is not None:
        try:
            return bytes(raw)
        except (TypeError, ValueError):
            pass
    if token.startswith("bytes:"):
        rest = token[len("bytes:") :]
        out = bytearray()
        index = 0
        while index < len(rest):
            match = _BYTES_ESCAPE.match(rest, index)
            if match:
                out.append(int(match.group(1), 16))
                index = match.end()
            else:
                out += rest[index].encode("utf-8")
                index += 1
        return bytes(out)
    # Byte-level BPE text: every character is in the table and one of them is a shifted stand-in
    # (Ġ for a space, Ċ for a newline...); plain Spanish like "ñ" alone is left as it is.
    if token and all(ch in BYTE_LEVEL for ch in token) and any(ord(ch) >= 256 for ch in token):
        return bytes(BYTE_LEVEL[ch] for ch in token)
    return token.encode("utf-8")


def encoding_for(model: str) -> str | None:
    """The Aula encoding of a model's family, where Aula has it (Llama 3.x), else None."""
    return "llama-3.1" if re.search(r"llama[-_ ]?3", model, re.IGNORECASE) else None


def token_id(data: bytes, encoding: str | None) -> int | None:
    if encoding is None:
        return None
    enc = get_encoding(encoding)
    try:
        return enc.encode_single_token(data)
    except KeyError:
        try:
            return enc.encode_single_token(data.decode("utf-8"))  # special tokens are looked up as text
        except (KeyError, UnicodeDecodeError):
            return None


def shown(candidate: Candidate) -> str:
    """A token's text made visible as /tokens shows it (· space, ↵ newline); bytes that are not a
    whole character are marked ⟨e2 80⟩."""
    return marked(candidate.data, visible_inline) or "∅"


def marked(data: bytes, visible: Callable[[str], str] = str) -> str:
    """UTF-8 bytes as text (passed through `visible`), with the bytes that are not a whole
    character marked ⟨e2 80⟩ rather than replaced by U+FFFD."""
    out: list[str] = []
    index = 0
    while index < len(data):
        for end in range(min(len(data), index + 4), index, -1):
            try:
                out.append(visible(data[index:end].decode("utf-8")))
                index = end
                break
            except UnicodeDecodeError:
                continue
        else:
            start = index
            while index < len(data) and not _starts_character(data, index, start):
                index += 1
            out.append("⟨" + " ".join(f"{b:02x}" for b in data[start:index]) + "⟩")
    return "".join(out)


def _starts_character(data: bytes, index: int, start: int) -> bool:
    if index == start:
        return False
    for end in range(min(len(data), index + 4), index, -1):
        try:
            data[index:end].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


# --- asking ------------------------------------------------------------------------------------


def request_body(role: str, model: str, prompt: str, generated: str, top: int) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) for one next-token call. The base model reads prompt+generated as raw
    text; the instruct model gets the prompt as the user's message and continues its own answer
    (vLLM's continue_final_message, once there is one)."""
    if role == "base":
        body = {"model": model, "prompt": prompt + generated, "max_tokens": 1, "logprobs": top,
                "temperature": ASK_TEMPERATURE}  # fmt: skip
        return "/completions", body
    messages = [{"role": "user", "content": prompt}]
    body = {"model": model, "messages": messages, "max_tokens": 1, "logprobs": True, "top_logprobs": top,
            "temperature": ASK_TEMPERATURE}  # fmt: skip
    if generated:
        body["messages"] = [*messages, {"role": "assistant", "content": generated}]
        body |= {"continue_final_message": True, "add_generation_prompt": False}
    return "/chat/completions", body


def counted_tokens(role: str, prompt: str, generated: str) -> int:
    """Prompt tokens of one call, counted with the Llama 3.1 tokenizer before it is sent."""
    if role == "base":
        return prompt_tokens(prompt=prompt + generated)
    messages = [{"role": "user", "content": prompt}]
    if generated:
        messages.append({"role": "assistant", "content": generated})
    return prompt_tokens(messages=messages)


async def fetch(
    client: LlmClient, profile: Profile, role: str, prompt: str, generated: str = "", top: int = 10
) -> Distribution:
    """The model's top-`top` next tokens after prompt+generated. Raises NoLogprobs, LlmError."""
    model = profile.base_model if role == "base" else profile.instruct_model
    path, body = request_body(role, model, prompt, generated, top)
    data, latency = await client.post_json(profile, path, body, model)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    counted = int(usage.get("prompt_tokens") or 0) or counted_tokens(role, prompt, generated)
    candidates = parse(data, role, profile.name, model)
    return Distribution(role, model, candidates, latency, counted)


def parse(data: dict[str, Any], role: str, profile: str, model: str) -> tuple[Candidate, ...]:
    """The candidates of an answer, most likely first. NoLogprobs when it carries none."""
    encoding = encoding_for(model)
    try:
        choice = data["choices"][0]
        logprobs = choice.get("logprobs")
        if not logprobs:
            raise NoLogprobs(profile, model)
        if role == "base":
            tops = logprobs.get("top_logprobs") or []
            if not tops or not tops[0]:
                raise NoLogprobs(profile, model)
            pairs = [(str(token), None, float(lp)) for token, lp in tops[0].items()]
        else:
            content = logprobs.get("content") or []
            if not content or not content[0].get("top_logprobs"):
                raise NoLogprobs(profile, model)
            pairs = [(str(e["token"]), e.get("bytes"), float(e["logprob"])) for e in content[0]["top_logprobs"]]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"{type(exc).__name__} reading log-probabilities") from exc
    candidates = []
    for token, raw, logprob in pairs:
        if math.isnan(logprob) or logprob > 1e-6:
            raise MalformedResponse("a log-probability above 0")
        data_bytes = token_bytes(token, raw)
        candidates.append(Candidate(token, data_bytes, token_id(data_bytes, encoding), min(0.0, logprob)))
    candidates.sort(key=lambda c: -c.logprob)
    return tuple(candidates)
