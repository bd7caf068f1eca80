"""`aula compare` against the loopback server: the JSON, the text, the faults."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import threading

import pytest

from adapters.cli import compare as cli_compare
from tests.fake_llm import API_KEY, BASE_MODEL, DECOMMISSIONED, INSTRUCT_MODEL, FakeLlmServer, Fault


@pytest.fixture
def server():
    """The fake server on its own loop in a thread: the CLI runs its own asyncio.run."""
    started = threading.Event()
    holder: dict = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        fake = FakeLlmServer(chunk_delay_s=0.001)
        loop.run_until_complete(fake.__aenter__())
        holder["server"] = fake
        started.set()
        loop.run_forever()
        loop.run_until_complete(fake.__aexit__(None, None, None))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(5)
    yield holder["server"]
    holder["loop"].call_soon_threadsafe(holder["loop"].stop)
    thread.join(5)


@pytest.fixture
def cli_env(tmp_path, monkeypatch, server):
    monkeypatch.chdir(tmp_path)  # no .env or config/ from the repository's working directory
    monkeypatch.setenv("AULA_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("AULA_DATABASE", str(tmp_path / "aula.sqlite3"))
    monkeypatch.setenv("AULA_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("AULA_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("AULA_LOCALE", "es")
    for var in ("HYPERBOLIC_API_KEY", "AULA_BASE_MODEL", "AULA_INSTRUCT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def run_cli(*argv: str) -> int:
    from adapters.cli import main

    return main(["compare", *argv])


def test_json_has_base_and_instruct(cli_env, server, capsys):
    assert run_cli("La inteligencia artificial es", "--json", "--max-tokens", "6") == 0
    data = json.loads(capsys.readouterr().out)
    base, instruct = data["base"], data["instruct"]
    assert base["model"] == BASE_MODEL and instruct["model"] == INSTRUCT_MODEL
    assert base["text"] == "La inteligencia artificial es un campo"
    assert base["finish_reason"] == "length" and base["latency_s"] > 0
    assert base["usage"] == {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13, "estimated": False}
    assert instruct["text"].startswith("¡Claro!")
    assert {"model", "text", "latency_s", "finish_reason", "usage"} <= set(instruct)
    assert server.calls[0][1]["max_tokens"] == 6
    rows = sqlite3.connect(cli_env / "aula.sqlite3").execute(
        "SELECT r.platform, o.role, o.text FROM compare_runs r JOIN compare_outputs o ON o.run_id = r.id ORDER BY o.role"
    ).fetchall()
    assert [(p, r) for p, r, _ in rows] == [("cli", "base"), ("cli", "instruct")]


def test_text_output_and_the_capital_example(cli_env, server, capsys):
    assert run_cli("--example", "capital") == 0
    out = capsys.readouterr().out
    assert f"== Base · {BASE_MODEL} ==\nEl capital de Francia es" in out
    assert "terminó por sí solo" in out and "Tiempo total" in out
    paths = {path: body for path, body in server.calls}
    assert paths["/v1/chat/completions"]["messages"][0]["content"] == "¿Cuál es la capital de Francia?"


def test_no_key_exits_2_and_says_how(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("AULA_LLM_BASE_URL", "https://api.hyperbolic.xyz/v1")
    monkeypatch.delenv("AULA_LLM_API_KEY")
    assert run_cli("Hola") == 2
    assert "AULA_LLM_API_KEY / HYPERBOLIC_API_KEY" in capsys.readouterr().err


def test_a_failed_side_is_reported_in_the_json(cli_env, server, capsys):
    server.faults.append(Fault(status=404, body=DECOMMISSIONED.body, path="/v1/completions"))
    assert run_cli("Hola", "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["base"]["error"] == "EndpointDecommissioned" and "AULA_LLM_BASE_URL" in data["base"]["message"]
    assert data["instruct"]["text"].startswith("¡Claro!")


def test_prompt_and_example_together_are_refused(cli_env, capsys):
    assert run_cli("Hola", "--example", "capital") == 2
    assert "no los dos" in capsys.readouterr().err


def test_registered_in_the_aula_command():
    from adapters.cli import build_parser

    args = build_parser().parse_args(["compare", "Hola", "--json"])
    assert args.handler is cli_compare.cmd_compare and args.json and isinstance(args, argparse.Namespace)
