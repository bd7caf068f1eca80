"""The three encodings give the published ids: checked against quicktok's own C++ encoder
(an implementation independent of tiktoken), against id sequences published by tiktoken's
and Meta's test suites, and by properties that must hold for any text."""

from __future__ import annotations

import hashlib
import struct
from types import SimpleNamespace

import pytest
import quicktok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.tokens.encodings as tokenizer
from bot.tokens.analysis import analyze
from bot.tokens.encodings import VocabularyError, encode_plain, get_encoding

QUICKTOK_NAMES = {"o200k_base": "o200k_base", "cl100k_base": "cl100k_base", "llama-3.1": "llama3"}
ENCODING_NAMES = tuple(QUICKTOK_NAMES)

CORPUS = [
    "",
    "¡Hola mundo!",
    "Hola, ¿cómo estás?",
    "El año 2024 tiene 366 días",
    "Me gusta la pizza 🍕 y el café ☕",
    'def saludar(nombre):\n    return f"Hola, {nombre}!"',
    "Pingüino, ñandú, acción, Ángel, ¿qué? ¡órale!",
    "La niña comió pequeños trozos de piña en el jardín de la abuela.",
    "👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 ❤️ 👍🏿",  # ZWJ sequences, skin tones, variation selectors
    "🇦🇷🇪🇸🇲🇽 🇨🇴🇨🇱",  # flags: regional indicator pairs
    "机器学习是人工智能的一个分支。日本語のテキスト、한국어 텍스트",
    "مرحبا بالعالم، التعلم الآلي",
    "import numpy as np\nfor i in range(10):\n\tprint(i ** 2)  # cuadrados\n",
    "SELECT * FROM alumnos WHERE nota >= 7.5;",
    "31415926535897932384626433832795 1,234,567.89 0.000001 -42 1e-10",
    "   \t\t  \n\n\n    \r\n  x  ",
    " ",
    "<|endoftext|>",
    "<|eot_id|><|start_header_id|>user<|end_header_id|>",
    "<|begin_of_text|>Hola<|fim_prefix|>",
    "a" * 300,
    "Ελληνικά, русский язык, עברית, हिन्दी",
]


@pytest.fixture(scope="module")
def references():
    return {name: quicktok.get_encoding(q) for name, q in QUICKTOK_NAMES.items()}


@pytest.mark.parametrize("name", ENCODING_NAMES)
@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_ids_equal_quicktoks_independent_encoder(name, text, references):
    ids = encode_plain(name, text)
    assert ids == list(references[name].encode_ordinary(text))
    assert get_encoding(name).decode(ids) == text


def test_published_id_sequences():
    # tiktoken's test suite
    assert encode_plain("cl100k_base", "hello world") == [15339, 1917]
    assert encode_plain("cl100k_base", "👍") == [9468, 239, 235]
    assert encode_plain("o200k_base", "hello world") == [24912, 2375]
    assert encode_plain("cl100k_base", "") == []
    # Meta's llama-models test (bos and eos are 128000 and 128001)
    llama = get_encoding("llama-3.1")
    assert encode_plain("llama-3.1", "This is a test sentence.") == [2028, 374, 264, 1296, 11914, 13]
    assert llama.encode_single_token("<|begin_of_text|>") == 128000
    assert llama.encode_single_token("<|end_of_text|>") == 128001
    assert llama.encode_single_token("<|eot_id|>") == 128009


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_special_token_lookalikes_are_plain_characters(name):
    encoding = get_encoding(name)
    special_ids = {encoding.encode_single_token(s) for s in encoding.special_tokens_set}
    for text in ("<|endoftext|>", "<|eot_id|>", "a <|im_start|> b"):
        ids = encode_plain(name, text)
        assert len(ids) > 1  # never one special id
        assert not set(ids) & special_ids
        assert encoding.decode(ids) == text


def serve_quicktok_file(monkeypatch, filename: str, ranks: dict[bytes, int]) -> None:
    """quicktok's data file `filename` now holds these ranks, in its own format."""
    data = struct.pack("<I", len(ranks)) + b"".join(
        struct.pack("<H", len(token)) + token + struct.pack("<I", rank) for token, rank in ranks.items()
    )
    real = tokenizer._quicktok_data
    monkeypatch.setattr(tokenizer, "_quicktok_data", lambda name: data if name == filename else real(name))


@pytest.mark.parametrize("filename", sorted(tokenizer.QUICKTOK_FILE_SHA256))
def test_a_pinned_quicktok_file_holds_the_published_ranks(filename):
    """The file hash that lets a start skip the conversion stands for ranks with the published hash."""
    data = tokenizer._quicktok_data(filename)
    assert hashlib.sha256(data).hexdigest() == tokenizer.QUICKTOK_FILE_SHA256[filename]
    published = {info.sha256 for info in tokenizer.ENCODINGS.values() if info.vocab_file == filename}
    assert published == {tokenizer.tiktoken_file_sha256(tokenizer.parse_quicktok_ranks(filename, data))}


def test_each_encoding_is_loaded_once_and_shared():
    assert get_encoding("gpt-4o") is get_encoding("o200k_base")
    assert get_encoding("llama3") is get_encoding("llama-3.1")


def test_a_vocabulary_with_two_ranks_swapped_is_refused(monkeypatch):
    ranks = tokenizer.read_quicktok_ranks("cl100k.vocab")
    hello, world = b"hello", b" world"
    ranks[hello], ranks[world] = ranks[world], ranks[hello]
    serve_quicktok_file(monkeypatch, "cl100k.vocab", ranks)
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="does not match the published"):
        get_encoding("cl100k_base")


def test_a_truncated_vocabulary_file_is_refused(monkeypatch, tmp_path):
    real = tokenizer.resources.files("quicktok").joinpath("data", "cl100k.vocab").read_bytes()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cl100k.vocab").write_bytes(real[: len(real) // 2])
    monkeypatch.setattr(tokenizer, "resources", SimpleNamespace(files=lambda package: tmp_path))
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="truncated"):
        get_encoding("cl100k_base")


# Any text, including emoji, combining marks and astral characters (no lone surrogates).
# Unassigned code points (Cn) are left out: each regex engine classifies them by its own
# Unicode version (tiktoken's Rust tables and the reference's differ on U+18D09, for one),
# so the two split such text differently and neither is wrong.
any_text = st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=120)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text, name=st.sampled_from(ENCODING_NAMES))
def test_property_ids_decode_back_and_match_the_reference(text, name, references):
    ids = encode_plain(name, text)
    assert get_encoding(name).decode(ids) == text
    assert ids == list(references[name].encode_ordinary(text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text, name=st.sampled_from(ENCODING_NAMES))
def test_property_pieces_concatenate_to_the_text_on_whole_characters(text, name):
    analysis = analyze(text, name)
    assert "".join(p.text for p in analysis.pieces) == text
    assert [i for p in analysis.pieces for i in p.ids] == list(analysis.ids)
    for piece in analysis.pieces:
        assert text[piece.start : piece.end] == piece.text
        assert "\ufffd" not in piece.text or "\ufffd" in text  # no piece ends inside a character


# --- the encodings of issue 18: GPT-OSS, Qwen3, Mistral --------------------------------

QUICKTOK_MORE = {"o200k_harmony": "o200k_harmony", "qwen3": "qwen3"}
PUBLISHED = [
    (name, entry)
    for name in ("qwen3", "mistral-tekken", "mistral-v3")
    for entry in tokenizer.published_ids(name)
]


@pytest.mark.parametrize(("name", "entry"), PUBLISHED, ids=lambda v: v if isinstance(v, str) else v["source"][-40:])
def test_published_ids_of_the_models_own_library(name, entry):
    assert encode_plain(name, entry["text"]) == entry["ids"]


def test_what_the_published_ids_cover():
    # Qwen3 has no published hash: its published texts cover accents, emoji, digits and code.
    # Mistral's files are checked against the hashes of mistral-common's published wheel; its
    # published ids add code, accents (Tekken's "café") and digits (SentencePiece's sums).
    def joined(name):
        return " ".join(e["text"] for e in tokenizer.published_ids(name))

    qwen = joined("qwen3")
    assert "falsé" in qwen and "😊" in qwen and "92000" in qwen and "from_pretrained(" in qwen
    assert "café" in joined("mistral-tekken") and "def f(" in joined("mistral-tekken")
    assert "5 + 5" in joined("mistral-v3") and "def f(" in joined("mistral-v3")
    for name in ("mistral-tekken", "mistral-v3"):
        assert len(tokenizer.ENCODINGS[name].sha256) == 64


@pytest.mark.parametrize("name", tuple(QUICKTOK_MORE))
@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_gpt_oss_and_qwen3_equal_quicktoks_independent_encoder(name, text):
    reference = quicktok.get_encoding(QUICKTOK_MORE[name])
    assert encode_plain(name, text) == list(reference.encode_ordinary(text))


def test_qwen3_normalises_to_nfc_as_its_tokenizer_does():
    decomposed = "cafe\u0301 pin\u0303a"  # e + combining acute, n + combining tilde
    composed = "café piña"
    assert encode_plain("qwen3", decomposed) == encode_plain("qwen3", composed)
    assert encode_plain("qwen3", decomposed) == list(quicktok.get_encoding("qwen3").encode_ordinary(decomposed))
    assert analyze(decomposed, "qwen3").text == composed


def test_special_tokens_of_the_new_encodings_are_single_published_ids():
    harmony = get_encoding("o200k_harmony")
    # openai/harmony docs/format.md: <|start|> 200006, <|end|> 200007, <|message|> 200008,
    # <|channel|> 200005, <|return|> 200002, <|call|> 200012
    expected = {"<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|channel|>": 200005,
                "<|return|>": 200002, "<|call|>": 200012}
    assert {s: harmony.encode_single_token(s) for s in expected} == expected
    # transformers' Qwen2 test: <|im_start|> 151644, <|im_end|> 151645; Qwen3's added <think> 151667
    qwen = get_encoding("qwen3")
    assert qwen.encode_single_token("<|im_start|>") == 151644
    assert qwen.encode_single_token("<|im_end|>") == 151645
    assert qwen.encode_single_token("<think>") == 151667
    assert qwen.encode_single_token("</think>") == 151668
    # mistral-common's v3 expectations: <s> 1, </s> 2, [INST] 3, [/INST] 4 (Tekken and SentencePiece)
    for name in ("mistral-tekken", "mistral-v3"):
        mistral = get_encoding(name)
        assert [mistral.encode_single_token(s) for s in ("<s>", "</s>", "[INST]", "[/INST]")] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", ("o200k_harmony", "qwen3", "mistral-tekken", "mistral-v3"))
def test_typed_special_tokens_stay_text_in_the_new_encodings(name):
    encoding = get_encoding(name)
    special_ids = {encoding.encode_single_token(s) for s in encoding.special_tokens_set}
    for text in ("<|start|>", "<|im_start|>user", "[INST] hola [/INST]", "<s>", "<think>"):
        ids = encode_plain(name, text)
        assert len(ids) > 1  # never one special id
        assert not set(ids) & special_ids
        assert encoding.decode(ids) == text


@pytest.mark.parametrize("name", ("o200k_harmony", "qwen3", "mistral-tekken", "mistral-v3"))
@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_new_encodings_token_bytes_spell_the_text(name, text):
    info = tokenizer.ENCODINGS[name]
    ids = encode_plain(name, text)
    assert b"".join(tokenizer.token_bytes(name, ids)).decode("utf-8") == tokenizer.prepare_text(info, text)
    analysis = analyze(text, name)
    assert "".join(p.text for p in analysis.pieces) == analysis.text
    assert sum(p.token_count for p in analysis.pieces) == len(ids)


def test_aliases_students_type():
    assert tokenizer.MODEL_ALIASES["gpt-oss"] == "o200k_harmony"
    assert tokenizer.MODEL_ALIASES["mistral"] == "mistral-tekken"
    assert get_encoding("qwen3") is get_encoding("qwen")


def test_a_qwen3_vocabulary_with_two_ranks_swapped_is_refused(monkeypatch):
    ranks = tokenizer.read_quicktok_ranks("qwen3.vocab")
    hello, world = b"hello", b" world"
    ranks[hello], ranks[world] = ranks[world], ranks[hello]
    serve_quicktok_file(monkeypatch, "qwen3.vocab", ranks)
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="does not match"):
        get_encoding("qwen3")


def test_ids_that_differ_from_the_published_ones_are_refused(monkeypatch):
    entries = [dict(e) for e in tokenizer.published_ids("qwen3")]
    entries[-1]["ids"] = [14990 + 1]
    monkeypatch.setattr(tokenizer, "published_ids", lambda name: entries)
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="differ from those published"):
        get_encoding("qwen3")


def test_an_encoding_with_nothing_published_to_check_is_not_offered(monkeypatch):
    monkeypatch.setattr(tokenizer, "published_ids", lambda name: [])
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="no published ids"):
        get_encoding("mistral-v3")


def test_a_mistral_file_that_is_not_the_published_one_is_refused(monkeypatch):
    import dataclasses

    wrong = dataclasses.replace(tokenizer.ENCODINGS["mistral-v3"], vocab_file="mistral_instruct_tokenizer_240216.model.v2")
    monkeypatch.setitem(tokenizer.ENCODINGS, "mistral-v3", wrong)
    monkeypatch.setattr(tokenizer, "_cache", {})
    monkeypatch.setattr(tokenizer, "_ranks", {})
    with pytest.raises(VocabularyError, match="not the published"):
        get_encoding("mistral-v3")


def test_loading_stays_lazy_only_what_is_asked_for_is_loaded():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bot.tokens import encodings\n"
        "import bot.tokens.command, bot.roles.command\n"
        "encodings.encode_plain('gpt-4o', 'hola')\n"
        "print(sorted(encodings._cache), 'mistral_common' in sys.modules, 'openai_harmony' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['o200k_base']", "False", "False"]


def test_start_up_loads_only_the_default_encodings_not_the_new_families():
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from types import SimpleNamespace\n"
        "from bot.settings import load_settings\n"
        "from bot.tokens import encodings\n"
        "import bot.tokens.command as tokens, bot.roles.command as roles\n"
        "app = SimpleNamespace(settings=load_settings(environ={}, dotenv_path=None))\n"
        "asyncio.run(tokens.on_startup(app)); asyncio.run(roles.on_startup(app))\n"
        "print(sorted(encodings._cache), 'mistral_common' in sys.modules, 'openai_harmony' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['cl100k_base',", "'llama-3.1',", "'o200k_base']", "False", "False"]
