"""The encodings Aula teaches with, exact and offline.

| name | models | encoder | verified against |
| --- | --- | --- | --- |
| o200k_base | GPT-4o | tiktoken | OpenAI's published sha256 of o200k_base.tiktoken |
| cl100k_base | GPT-4 | tiktoken | OpenAI's published sha256 of cl100k_base.tiktoken |
| llama-3.1 | Llama 3.1 | tiktoken | Meta's published sha256 of tokenizer.model |
| o200k_harmony | GPT-OSS | tiktoken | o200k_base's hash (the same ranks; specials from tiktoken) |
| qwen3 | Qwen3, Qwen2.5 | tiktoken, NFC | ids published by transformers' Qwen2 tokenizer tests |
| mistral-tekken | Mistral NeMo, Small 3 | mistral-common | sha256 of tekken_240718.json in mistral-common 1.13.1's published wheel RECORD, and ids from mistral-common's tests |
| mistral-v3 | Mistral 7B v0.3 | mistral-common (SentencePiece) | the same, for mistral_instruct_tokenizer_240323.model.v3 |

The ranks of the tiktoken encodings are read from the pinned `quicktok-v1` wheel (OpenAI's
servers are not reachable from a classroom) and checked before use: written out in
tiktoken's own file format they must hash to the expected sha256. Encodings verified by
published ids (bot/tokens/published_ids.yaml, each list with its source) encode those texts
when they load and must give exactly those ids. A mismatch raises `VocabularyError`: ids are
never silently different, and an unverified vocabulary is never used.

Each encoding is loaded lazily, once per process, and shared by every command; only what a
request asks for is loaded (mistral-common itself is imported on the first Mistral request).
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import logging
import struct
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol
from unittest import mock

import tiktoken
import yaml
from tiktoken_ext import openai_public


class VocabularyError(RuntimeError):
    """A vocabulary file is missing or is not the one whose hash we trust."""


@dataclass(frozen=True)
class EncodingInfo:
    name: str  # the name used everywhere in Aula: "o200k_base", "cl100k_base", "llama-3.1", ...
    label: str  # what students see
    models: str  # which models use it
    vocab_file: str  # inside quicktok/data, or (family "mistral") inside mistral_common/data
    sha256: str  # of the ranks in tiktoken's file format, or (mistral) of the file itself
    family: str = "openai"  # openai, llama, qwen, mistral: /tokens' Spanish-vs-English table groups by it
    published_ids: bool = False  # also checked against bot/tokens/published_ids.yaml at load
    normalization: str | None = None  # unicodedata form applied before encoding (Qwen's NFC)
    dummy_prefix: bool = False  # SentencePiece: a text encoded alone starts with a "▁" it did not have


class Encoder(Protocol):
    """What Aula asks of an encoding: tiktoken.Encoding's names, which the Mistral adapter also has."""

    name: str

    def encode_ordinary(self, text: str) -> list[int]: ...
    def decode(self, tokens: Sequence[int]) -> str: ...
    def decode_single_token_bytes(self, token: int) -> bytes: ...
    def encode_single_token(self, text: str | bytes) -> int: ...

    @property
    def special_tokens_set(self) -> set[str]: ...


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
            family="llama",
        ),
        EncodingInfo(
            "o200k_harmony",
            "GPT-OSS",
            "gpt-oss-20b, gpt-oss-120b",
            "o200k.vocab",  # o200k_base's ranks; the harmony specials come from tiktoken's definition
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
        EncodingInfo(
            "qwen3",
            "Qwen3",
            "Qwen3 (0.6B-235B), Qwen2.5",
            "qwen3.vocab",
            # Not published: the hash of the ranks whose ids match the published ones below, so
            # a changed file is refused before the (weaker) ids check even runs.
            "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
            family="qwen",
            published_ids=True,
            normalization="NFC",
        ),
        EncodingInfo(
            "mistral-tekken",
            "Mistral (Tekken)",
            "Mistral NeMo, Mistral Small 3, Ministral",
            "tekken_240718.json",
            "eccd1665d2e477697c33cb7f0daa6f6dfefc57a0a6bceb66d4be52952f827516",
            family="mistral",
            published_ids=True,
        ),
        EncodingInfo(
            "mistral-v3",
            "Mistral 7B v0.3",
            "Mistral 7B Instruct v0.3, Mixtral 8x22B, Codestral 22B",
            "mistral_instruct_tokenizer_240323.model.v3",
            "9addc8bdce5988448ae81b729336f43a81262160ae8da760674badab9d4c7d33",
            family="mistral",
            published_ids=True,
            dummy_prefix=True,
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
    "gpt-oss": "o200k_harmony",
    "o200k_harmony": "o200k_harmony",
    "qwen3": "qwen3",
    "qwen": "qwen3",
    "mistral": "mistral-tekken",
    "mistral-tekken": "mistral-tekken",
    "tekken": "mistral-tekken",
    "mistral-v3": "mistral-v3",
}

# Meta's tokenizer.py for Llama 3 / 3.1 (llama-models), verbatim.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# The Split regex of Qwen2/Qwen2.5/Qwen3's tokenizer.json pre_tokenizer (transformers'
# tokenization_qwen2.PRETOKENIZE_REGEX): Llama 3's, but one digit per token.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
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


def _quicktok_data(filename: str) -> bytes:
    try:
        return resources.files("quicktok").joinpath("data", filename).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise VocabularyError(f"vocabulary file quicktok/data/{filename} not found: install quicktok-v1") from exc


def read_quicktok_ranks(filename: str) -> dict[bytes, int]:
    """Parse quicktok's .vocab: u32 count, then per token u16 length, bytes, u32 rank (little-endian)."""
    return parse_quicktok_ranks(filename, _quicktok_data(filename))


def parse_quicktok_ranks(filename: str, data: bytes) -> dict[bytes, int]:
    """read_quicktok_ranks on bytes already read (filename only names it in errors)."""
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


def read_quicktok_specials(filename: str) -> dict[str, int]:
    """Parse quicktok's .special: u32 count, then per token u32 id, u16 length, UTF-8 text."""
    data = _quicktok_data(filename)
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        offset = 4
        specials: dict[str, int] = {}
        for _ in range(count):
            token_id, length = struct.unpack_from("<IH", data, offset)
            offset += 6
            specials[data[offset : offset + length].decode("utf-8")] = token_id
            offset += length
    except (struct.error, UnicodeDecodeError) as exc:
        raise VocabularyError(f"quicktok/data/{filename} is truncated or not a list of special tokens") from exc
    if offset != len(data) or len(specials) != count:
        raise VocabularyError(f"quicktok/data/{filename} has trailing or duplicate entries")
    return specials


def tiktoken_file_bytes(ranks: dict[bytes, int]) -> bytes:
    """The ranks written as tiktoken's `base64(token) rank\\n` file, in rank order."""
    # One join instead of one write per token: this runs on 450,000 tokens at every start.
    to_base64 = binascii.b2a_base64
    in_order = sorted(ranks.items(), key=_rank)
    return b"".join([to_base64(token, newline=False) + b" %d\n" % rank for token, rank in in_order])


def tiktoken_file_sha256(ranks: dict[bytes, int]) -> str:
    """sha256 of the ranks written as tiktoken's `base64(token) rank\\n` file, in rank order."""
    return hashlib.sha256(tiktoken_file_bytes(ranks)).hexdigest()


def _rank(item: tuple[bytes, int]) -> int:
    return item[1]


# sha256 of quicktok-v1 0.4.0's files themselves. Each one's ranks, written in tiktoken's format,
# hash to the published sha256 of its encodings (tests/test_tokens_encodings.py checks that link),
# so the same bytes need not be converted and hashed again at every start (0.2-0.4 s per file):
# hashing the file is enough. Any other file still gets the full check against the published hash.
QUICKTOK_FILE_SHA256 = {
    "cl100k.vocab": "4a945d497c213acde921bc8d69bc8dad9c603ea97c50c014e04ad0fadc09eecb",
    "llama3.vocab": "124bfc185ea93e669e4ce2e1b5aa5733d2e793a910372fa198dfc1597e1220f2",
    "o200k.vocab": "6b17521f79788c7ace48fc75f6edde125637a90b0018427e68f28d051b2ac1fe",
    "qwen3.vocab": "6114087889f61af31f72abe80529bbd09826df4d396753a281a14bcc21abc2fa",
}

# Verified ranks by (file, published hash): GPT-4o and GPT-OSS share o200k's, read once.
_ranks: dict[tuple[str, str], dict[bytes, int]] = {}


def _verified_ranks(info: EncodingInfo) -> dict[bytes, int]:
    key = (info.vocab_file, info.sha256)
    if key not in _ranks:
        _ranks[key] = _read_verified_ranks(info)
    return _ranks[key]


def _read_verified_ranks(info: EncodingInfo) -> dict[bytes, int]:
    data = _quicktok_data(info.vocab_file)
    if hashlib.sha256(data).hexdigest() == QUICKTOK_FILE_SHA256.get(info.vocab_file):
        return parse_quicktok_ranks(info.vocab_file, data)
    ranks = parse_quicktok_ranks(info.vocab_file, data)
    actual = tiktoken_file_sha256(ranks)
    if actual != info.sha256:
        raise VocabularyError(
            f"{info.name}: vocabulary hash {actual} does not match the published {info.sha256}; "
            "refusing to tokenize with it (reinstall quicktok-v1==0.4.0)"
        )
    return ranks


def _build(info: EncodingInfo) -> Encoder:
    if info.family == "mistral":
        encoder: Encoder = MistralEncoding(info)
    else:
        encoder = _build_tiktoken(info)
    if info.published_ids:
        check_published_ids(info.name, encoder)
    return encoder


def _build_tiktoken(info: EncodingInfo) -> tiktoken.Encoding:
    ranks = _verified_ranks(info)
    _token_bytes[info.name] = _by_rank(ranks)
    if info.name == "llama-3.1":
        return tiktoken.Encoding(
            name="llama-3.1",
            pat_str=LLAMA3_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=llama31_special_tokens(),
        )
    if info.name == "qwen3":
        return tiktoken.Encoding(
            name="qwen3",
            pat_str=QWEN_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=read_quicktok_specials("qwen3.special"),
        )
    # Reuse tiktoken's own definition (pattern string, special tokens) with the verified
    # ranks in place of the download, so nothing of OpenAI's spec is copied here.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", return_value=ranks):
        spec = openai_public.ENCODING_CONSTRUCTORS[info.name]()
    return tiktoken.Encoding(**spec)


def published_ids(name: str) -> list[dict]:
    """The (source, text, ids) entries of bot/tokens/published_ids.yaml for one encoding."""
    text = resources.files("bot.tokens").joinpath("published_ids.yaml").read_text(encoding="utf-8")
    return (yaml.safe_load(text) or {}).get(name, [])


def check_published_ids(name: str, encoder: Encoder) -> None:
    """Encode every published text; any id that differs makes the encoding unusable."""
    entries = published_ids(name)
    if not entries:
        raise VocabularyError(f"{name}: no published ids to verify it against")
    info = ENCODINGS[name]
    for entry in entries:
        text = prepare_text(info, entry["text"])
        actual = encoder.encode_ordinary(text)
        if actual != entry["ids"]:
            raise VocabularyError(
                f"{name}: {entry['text'][:40]!r} encodes to ids that differ from those published by "
                f"{entry['source']}; refusing to tokenize with it"
            )


def prepare_text(info: EncodingInfo, text: str) -> str:
    """The text as the model's tokenizer sees it (Qwen normalises to NFC first)."""
    return unicodedata.normalize(info.normalization, text) if info.normalization else text


class MistralEncoding:
    """A mistral-common tokenizer (Tekken or SentencePiece) with the tiktoken names Aula uses.

    The file is the one mistral-common ships, checked against the sha256 that mistral-common's
    published wheel lists for it before mistral-common reads it.
    """

    def __init__(self, info: EncodingInfo) -> None:
        import mistral_common  # here, not at the top: 0.7 s of imports only a Mistral request pays

        path = Path(mistral_common.__file__).parent / "data" / info.vocab_file
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise VocabularyError(f"{path} not found: install mistral-common~=1.13.1") from exc
        if actual != info.sha256:
            raise VocabularyError(
                f"{info.name}: {info.vocab_file} hashes to {actual}, not the published {info.sha256}; "
                "refusing to tokenize with it (reinstall mistral-common~=1.13.1)"
            )
        self.name = info.name
        self.info = info
        # mistral-common logs three INFO lines while loading Tekken ("Adding special tokens …",
        # vocabulary sizes): chatter on `aula tokens`' terminal and in every process's log.
        logging.getLogger("mistral_common").setLevel(logging.WARNING)
        if info.vocab_file.endswith(".json"):
            from mistral_common.tokens.tokenizers.tekken import Tekkenizer

            self.tokenizer = Tekkenizer.from_file(str(path))
            self._sentencepiece = None
        else:
            from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

            self.tokenizer = SentencePieceTokenizer(str(path))
            self._sentencepiece = self.tokenizer._model
        self._specials = {self.tokenizer.id_to_piece(i): i for i in self._special_ids()}

    def _special_ids(self) -> list[int]:
        if self._sentencepiece is None:
            return list(range(self.tokenizer.num_special_tokens))
        sp = self._sentencepiece
        return [i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]

    def encode_ordinary(self, text: str) -> list[int]:
        """Plain text: a typed `[INST]` stays characters, as mistral-common encodes content."""
        return list(self.tokenizer.encode(text, bos=False, eos=False))

    def decode_single_token_bytes(self, token: int) -> bytes:
        if self._sentencepiece is None:
            from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

            return self.tokenizer.id_to_byte_piece(token, SpecialTokenPolicy.KEEP)
        sp = self._sentencepiece
        piece = sp.id_to_piece(token)
        if sp.is_byte(token):  # byte fallback: "<0xF0>"
            return bytes([int(piece[3:5], 16)])
        return piece.replace("\u2581", " ").encode("utf-8")

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ids, special tokens by name (SentencePiece's dummy prefix dropped)."""
        data = b"".join(self.decode_single_token_bytes(i) for i in ids)
        if self.info.dummy_prefix and data.startswith(b" "):
            data = data[1:]
        return data.decode("utf-8", errors="replace")

    def encode_single_token(self, text: str | bytes) -> int:
        key = text.decode("utf-8") if isinstance(text, bytes) else text
        try:
            return self._specials[key]
        except KeyError:
            raise KeyError(text) from None

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self._specials)


def _by_rank(ranks: dict[bytes, int]) -> list[bytes]:
    """The tokens' bytes indexed by id (the ordinary tokens' ids are their ranks)."""
    tokens = list(ranks)
    if list(ranks.values()) == list(range(len(tokens))):  # quicktok's files are in rank order
        return tokens
    table = [b""] * (max(ranks.values()) + 1)
    for token, rank in ranks.items():
        table[rank] = token
    return table


class _BytesOfId(dict):
    """id -> the token's bytes, asked of the tokenizer the first time an id is seen."""

    def __init__(self, decode) -> None:
        super().__init__()
        self._decode = decode

    def __missing__(self, token_id: int) -> bytes:
        value = self[token_id] = self._decode(token_id)
        return value


_cache: dict[str, Encoder] = {}
_token_bytes: dict[str, list[bytes] | _BytesOfId] = {}
_lock = threading.Lock()


def get_encoding(name: str) -> Encoder:
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
    info = ENCODINGS[MODEL_ALIASES.get(name, name)]
    return get_encoding(info.name).encode_ordinary(prepare_text(info, text))


def token_bytes(name: str, ids: Sequence[int]) -> tuple[bytes, ...]:
    """Each token's bytes, so that together they spell the (prepared) text that was encoded.

    SentencePiece's dummy prefix is the one space a text encoded alone gains: it is taken off
    the first token (which may then hold no bytes at all, as "▁" before a digit does).
    """
    chunks = raw_token_bytes(name, ids)
    if chunks and ENCODINGS[MODEL_ALIASES.get(name, name)].dummy_prefix and chunks[0].startswith(b" "):
        chunks[0] = chunks[0][1:]
    return tuple(chunks)


def raw_token_bytes(name: str, ids: Iterable[int]) -> list[bytes]:
    """Each id's bytes in the vocabulary, wherever it stands (no dummy prefix taken off)."""
    encoding = get_encoding(name)
    table = _token_bytes.get(MODEL_ALIASES.get(name, name))
    if table is None:  # not a tiktoken vocabulary: each id asked of the tokenizer once, then kept
        table = _token_bytes.setdefault(encoding.name, _BytesOfId(encoding.decode_single_token_bytes))
    return list(map(table.__getitem__, ids))  # a lookup per id, no call into the tokenizer per id


_harmony = None


def harmony_encoding():
    """openai-harmony's GPT-OSS renderer, given o200k_base's verified ranks instead of a download.

    openai-harmony reads `o200k_base.tiktoken` from the directory in TIKTOKEN_ENCODINGS_BASE
    (and checks its sha256 itself) before it would fetch it from OpenAI's servers. The file
    is written from the same verified ranks as o200k_harmony, into a private temporary
    directory that exists only while it loads; the variable is restored afterwards.
    """
    global _harmony
    if _harmony is not None:
        return _harmony
    import os
    import tempfile

    with _lock:
        if _harmony is not None:
            return _harmony
        from openai_harmony import HarmonyEncodingName, load_harmony_encoding

        data = tiktoken_file_bytes(_verified_ranks(ENCODINGS["o200k_harmony"]))
        previous = os.environ.get("TIKTOKEN_ENCODINGS_BASE")
        with tempfile.TemporaryDirectory(prefix="aula-harmony-") as directory:
            Path(directory, "o200k_base.tiktoken").write_bytes(data)
            os.environ["TIKTOKEN_ENCODINGS_BASE"] = directory
            try:
                _harmony = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
            except Exception as exc:  # the library's own error type: file unreadable or hash refused
                raise VocabularyError(f"openai-harmony refused the verified o200k_base ranks: {exc}") from exc
            finally:
                if previous is None:
                    os.environ.pop("TIKTOKEN_ENCODINGS_BASE", None)
                else:
                    os.environ["TIKTOKEN_ENCODINGS_BASE"] = previous
    return _harmony
