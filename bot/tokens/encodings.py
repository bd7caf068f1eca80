"""The three encodings Aula teaches with, exact and offline.

tiktoken is the encoder. Its vocabulary files normally come from OpenAI's servers,
which classrooms (and these machines) may not reach, so the ranks are read from the
pinned `quicktok-v1` wheel and checked before use: written out in tiktoken's own
file format they must hash to the published sha256. A mismatch raises
`VocabularyError`; ids are never silently different.

Each encoding is loaded lazily, once per process, and shared by every command.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from unittest import mock

import tiktoken
from tiktoken_ext import openai_public


class VocabularyError(RuntimeError):
    """A vocabulary file is missing or is not the one whose hash we trust."""


@dataclass(frozen=True)
class EncodingInfo:
    name: str  # the name used everywhere in Aula: "o200k_base", "cl100k_base", "llama-3.1"
    label: str  # what students see
    models: str  # which models use it
    vocab_file: str  # inside quicktok/data
    sha256: str  # of the ranks in tiktoken's file format


ENCODINGS: dict[str, EncodingInfo] = {
    info.name: info
    for info in (
        EncodingInfo(
            "o200k_base",
            "GPT-4o",
            "GPT-4o, GPT-4.1, GPT-5",
            "o200k.vocab",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
        EncodingInfo(
            "cl100k_base",
            "GPT-4",
            "GPT-4, GPT-3.5",
            "cl100k.vocab",
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        ),
        EncodingInfo(
            "llama-3.1",
            "Llama 3.1",
            "Llama 3.1 (8B, 70B, 405B)",
            "llama3.vocab",
            "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55",
        ),
    )
}

# Short names students type (`modelo:gpt-4o`) -> encoding name.
MODEL_ALIASES: dict[str, str] = {
    "gpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "llama-3.1": "llama-3.1",
    "o200k_base": "o200k_base",
    "cl100k_base": "cl100k_base",
    "llama3": "llama-3.1",
}

# Meta's tokenizer.py for Llama 3 / 3.1 (llama-models), verbatim.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_NUM_BASE_TOKENS = 128_000
LLAMA3_NUM_SPECIAL_TOKENS = 256


def llama31_special_tokens() -> dict[str, int]:
    """The 256 special tokens of Llama 3.1 as its Hugging Face tokenizer names them."""
    named = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|reserved_special_token_2|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
    ]
    reserved = [f"<|reserved_special_token_{i}|>" for i in range(3, 3 + LLAMA3_NUM_SPECIAL_TOKENS - len(named))]
    return {tok: LLAMA3_NUM_BASE_TOKENS + i for i, tok in enumerate(named + reserved)}


def read_quicktok_ranks(filename: str) -> dict[bytes, int]:
    """Parse quicktok's .vocab: u32 count, then per token u16 length, bytes, u32 rank (little-endian)."""
    try:
        data = resources.files("quicktok").joinpath("data", filename).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise VocabularyError(f"vocabulary file quicktok/data/{filename} not found: install quicktok-v1") from exc
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        offset = 4
        ranks: dict[bytes, int] = {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", data, offset)
            offset += 2
            token = data[offset : offset + length]
            offset += length
            (rank,) = struct.unpack_from("<I", data, offset)
            offset += 4
            ranks[token] = rank
    except struct.error as exc:
        raise VocabularyError(f"quicktok/data/{filename} is truncated or not a vocabulary") from exc
    if offset != len(data) or len(ranks) != count:
        raise VocabularyError(f"quicktok/data/{filename} has trailing or duplicate entries")
    return ranks


def tiktoken_file_sha256(ranks: dict[bytes, int]) -> str:
    """sha256 of the ranks written as tiktoken's `base64(token) rank\\n` file, in rank order."""
    # One join and one update instead of one per token: this runs on 450,000 tokens at every start.
    to_base64 = binascii.b2a_base64
    in_order = sorted(ranks.items(), key=_rank)
    lines = [to_base64(token, newline=False) + b" %d\n" % rank for token, rank in in_order]
    return hashlib.sha256(b"".join(lines)).hexdigest()


def _rank(item: tuple[bytes, int]) -> int:
    return item[1]


def _verified_ranks(info: EncodingInfo) -> dict[bytes, int]:
    ranks = read_quicktok_ranks(info.vocab_file)
    actual = tiktoken_file_sha256(ranks)
    if actual != info.sha256:
        raise VocabularyError(
            f"{info.name}: vocabulary hash {actual} does not match the published {info.sha256}; "
            "refusing to tokenize with it (reinstall quicktok-v1==0.4.0)"
        )
    return ranks


def _build(info: EncodingInfo) -> tiktoken.Encoding:
    ranks = _verified_ranks(info)
    if info.name == "llama-3.1":
        return tiktoken.Encoding(
            name="llama-3.1",
            pat_str=LLAMA3_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=llama31_special_tokens(),
        )
    # Reuse tiktoken's own definition (pattern string, special tokens) with the verified
    # ranks in place of the download, so nothing of OpenAI's spec is copied here.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", return_value=ranks):
        spec = openai_public.ENCODING_CONSTRUCTORS[info.name]()
    return tiktoken.Encoding(**spec)


_cache: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The encoding by Aula name or alias, loaded on first use and cached for the process."""
    name = MODEL_ALIASES.get(name, name)
    if name not in ENCODINGS:
        raise KeyError(name)
    encoding = _cache.get(name)
    if encoding is None:
        with _lock:
            encoding = _cache.get(name)
            if encoding is None:
                encoding = _cache[name] = _build(ENCODINGS[name])
    return encoding


async def preload(names: Iterable[str]) -> None:
    """Load encodings in a worker thread, for a command's start-up: a load takes a few hundred
    ms of CPU, which would otherwise stall the event loop on a class's first request."""
    await asyncio.to_thread(lambda: [get_encoding(name) for name in names])


def encode_plain(name: str, text: str) -> list[int]:
    """Token ids of text where special-token look-alikes are plain characters."""
    return get_encoding(name).encode_ordinary(text)
