"""A command pays only for the imports it uses (issue 16: every `aula` invocation imported httpx,
Pillow and pydantic and parsed the locale files with the pure-Python YAML loader). Checked by what
a fresh interpreter has in sys.modules after the command, not by timing; the times are in
bench/cold_start.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pydantic", "httpx", "PIL", "discord", "slack_bolt", "slack_sdk", "aiosqlite", "tiktoken", "mistral_common", "numpy")

PROBE = """
import contextlib, io, json, sys
from adapters.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def imported_after(argv: list[str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_imports_none_of_the_heavy_libraries():
    assert imported_after(["--help"]) == set()


@pytest.mark.parametrize("argv", [["tokens", "Hola", "--json"], ["tokens", "Hola", "--encoding", "llama-3.1", "--json"]])
def test_tokens_json_imports_tiktoken_and_nothing_for_the_network_or_pictures(argv):
    assert imported_after(argv) == {"tiktoken"}


def test_tokens_as_text_needs_settings_but_no_storage_network_or_pictures():
    # The console renderer's package no longer brings the app (and so aiosqlite), nor the
    # export writer openpyxl (and Pillow); no picture is drawn.
    assert imported_after(["tokens", "Hola"]) == {"tiktoken", "pydantic"}


@pytest.mark.parametrize("argv", [["roles", "--user", "Hola"], ["dataset", "--help"]])
def test_the_terminal_tools_open_no_database(argv):
    # The repositories import the database for their type annotations only.
    assert "aiosqlite" not in imported_after(argv)


EXAMPLE = '{"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "¡Hola!"}]}\n'

# Each command run for real, and the heavy libraries it may leave loaded: what it uses. `aula roles`
# and `aula dataset` render conversations (tiktoken); neither calls a model (httpx, the LLM client:
# live /roles is bot/roles/live.py), opens a database or, unless a picture is asked for, draws.
RUNS = {
    "roles": (["roles", "--user", "Hola"], {"tiktoken"}),
    "roles --json": (["roles", "--user", "Hola", "--assistant", "¡Hola!", "--json"], {"tiktoken"}),
    # Every format: Mistral's is mistral-common's (with its pydantic and numpy).
    "roles --template all --png": (
        ["roles", "--user", "Hola", "--template", "all", "--png", "{tmp}/roles.png"],
        {"tiktoken", "PIL", "mistral_common", "numpy", "pydantic"},
    ),
    "dataset check": (["dataset", "check", "{tmp}/train.jsonl"], {"tiktoken", "pydantic"}),
    "dataset check --json": (["dataset", "check", "{tmp}/train.jsonl", "--json"], {"tiktoken", "pydantic"}),
    "dataset check --png": (
        ["dataset", "check", "{tmp}/train.jsonl", "--png", "{tmp}/h.png"],
        {"tiktoken", "pydantic", "PIL"},
    ),
    "quiz validate": (["quiz", "validate", "config/quizzes/seccion-2.yaml"], set()),
    "quiz --help": (["quiz", "--help"], set()),
    "config show": (["config", "show"], {"pydantic"}),
    # The LLM client and the class's shared budget (a database); no picture in a terminal.
    "next --help": (["next", "--help"], {"httpx", "pydantic", "tiktoken", "aiosqlite"}),
}


@pytest.mark.parametrize("name", RUNS)
def test_each_command_leaves_loaded_only_the_libraries_it_uses(name, tmp_path):
    (tmp_path / "train.jsonl").write_text(EXAMPLE * 3, encoding="utf-8")
    argv, expected = RUNS[name]
    argv = [word.replace("{tmp}", str(tmp_path)) for word in argv]
    assert imported_after(argv) == expected
    for word in argv:
        if word.endswith(".png"):  # the picture asked for was drawn
            assert Path(word).read_bytes().startswith(b"\x89PNG")


def test_the_locale_files_are_read_with_libyaml_when_pyyaml_has_it():
    import yaml

    from bot.i18n import catalog

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml")
    text = subprocess.run(
        [sys.executable, "-c", "import yaml\nfrom unittest import mock\nfrom bot import i18n\n"
         "with mock.patch.object(yaml, 'SafeLoader', None):\n    print(len(i18n.catalog()))"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert int(text) == len(catalog())
