"""Platform limits and the splitting that keeps every send within them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import limits
from bot.limits import cut_at_word


@given(st.text(max_size=5000), st.integers(min_value=1, max_value=2000))
def test_split_text_keeps_every_chunk_within_the_limit(text, limit):
    chunks = limits.split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    # Nothing is lost: only the newlines we split on are dropped.
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")


def test_split_prefers_line_boundaries():
    text = "a" * 10 + "\n" + "b" * 10
    assert limits.split_text(text, 15) == ["a" * 10, "b" * 10]


def test_split_code_chunks_fit_with_their_fences():
    text = "\n".join(f"line {i}" for i in range(1000))
    chunks = limits.split_code(text, limits.DISCORD_CONTENT, language="ansi")
    assert all(len(c) <= limits.DISCORD_CONTENT for c in chunks)
    assert all(c.startswith("```ansi\n") and c.endswith("\n```") for c in chunks)


def test_known_platform_limits():
    assert limits.DISCORD_CONTENT == 2000
    assert limits.DISCORD_EMBED_DESCRIPTION == 4096
    assert limits.DISCORD_EMBED_FIELDS == 25
    assert limits.DISCORD_EMBEDS_TOTAL == 6000
    assert limits.SLACK_BLOCKS_PER_MESSAGE == 50
    assert limits.SLACK_SECTION_TEXT == 3000


def test_truncate():
    assert limits.truncate("hola", 10) == "hola"
    assert limits.truncate("hola mundo", 5) == "hola…"


CUTS = [
    # text, limit -> (head, rest)
    ("corto", 45, ("corto", "")),
    ("1. ¿Por qué crees que importa entender los tokens?", 45, ("1. ¿Por qué crees que importa entender los…", "tokens?")),
    ("una palabra", 8, ("una…", "palabra")),
    ("Supercalifragilisticoespialidoso es largo", 10, ("Supercali…", "fragilisticoespialidoso es largo")),
    ("a b", 3, ("a b", "")),
]


@pytest.mark.parametrize(("text", "limit", "expected"), CUTS)
def test_cut_at_word(text, limit, expected):
    head, rest = cut_at_word(text, limit)
    assert (head, rest) == expected and len(head) <= limit
