"""The three encodings give the published ids: checked against quicktok's own C++ encoder
(an implementation independent of tiktoken), against id sequences published by tiktoken's
and Meta's test suites, and by properties that must hold for any text."""

from __future__ import annotations

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


def test_each_encoding_is_loaded_once_and_shared():
    assert get_encoding("gpt-4o") is get_encoding("o200k_base")
    assert get_encoding("llama3") is get_encoding("llama-3.1")


def test_a_vocabulary_with_two_ranks_swapped_is_refused(monkeypatch):
    ranks = tokenizer.read_quicktok_ranks("cl100k.vocab")
    hello, world = b"hello", b" world"
    ranks[hello], ranks[world] = ranks[world], ranks[hello]
    monkeypatch.setattr(tokenizer, "read_quicktok_ranks", lambda filename: ranks)
    monkeypatch.setattr(tokenizer, "_cache", {})
    with pytest.raises(VocabularyError, match="does not match the published"):
        get_encoding("cl100k_base")


def test_a_truncated_vocabulary_file_is_refused(monkeypatch, tmp_path):
    real = tokenizer.resources.files("quicktok").joinpath("data", "cl100k.vocab").read_bytes()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cl100k.vocab").write_bytes(real[: len(real) // 2])
    monkeypatch.setattr(tokenizer, "resources", SimpleNamespace(files=lambda package: tmp_path))
    monkeypatch.setattr(tokenizer, "_cache", {})
    with pytest.raises(VocabularyError, match="truncated"):
        get_encoding("cl100k_base")


# Any text, including emoji, combining marks and astral characters (no lone surrogates).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=120)


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
