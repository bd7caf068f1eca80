"""`aula --help` and every subcommand's --help: one language (English, like argparse's own
words), whatever the locale, and grammatical articles."""

from __future__ import annotations

import argparse
import re

import pytest

from adapters.cli import build_parser

# Words only a Spanish sentence has (accents, ñ, ¿¡, common articles and prepositions).
SPANISH = re.compile(r"[áéíóúñ¿¡]|\b(el|la|los|las|del|que|con|por|una|muestra|compara|revisa|siguiente)\b", re.I)
# "a" before a vowel sound ("a assistant", "a example"): "a user" is right, so u is left out.
BAD_ARTICLE = re.compile(r"\ba [aeio]\w", re.I)


def every_parser(parser: argparse.ArgumentParser, path=("aula",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, (*path, name))


@pytest.mark.parametrize("locale", ["es", "en", "C.UTF-8"])
def test_every_help_text_is_english_and_grammatical(monkeypatch, locale):
    monkeypatch.setenv("LANG", locale)
    monkeypatch.setenv("AULA_LOCALE", locale.split(".")[0] if locale != "C.UTF-8" else "")
    found = []
    for path, parser in every_parser(build_parser("")):
        text = parser.format_help()
        found += [(" ".join(path), m.group()) for m in SPANISH.finditer(text)]
        found += [(" ".join(path), m.group()) for m in BAD_ARTICLE.finditer(text)]
    assert found == []
    assert len(list(every_parser(build_parser("")))) > 15  # every tool and its actions were walked
