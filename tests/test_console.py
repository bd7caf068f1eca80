"""`aula console` as a user runs it: a subprocess with piped stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_console(tmp_path, stdin: bytes, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", *args],
        input=stdin, capture_output=True, env=env, cwd=tmp_path, timeout=60,
    )


def test_help_in_spanish_then_exit_zero_at_end_of_input(tmp_path):
    result = run_console(tmp_path, b"/help\n")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Aula: el bot de la clase de fine-tuning" in out
    assert "/help" in out


def test_help_in_english(tmp_path):
    result = run_console(tmp_path, b"/help\n", "--lang", "en")
    assert "Aula: the fine-tuning class bot" in result.stdout.decode()


def test_bad_lines_get_clear_messages_and_the_console_carries_on(tmp_path):
    stdin = b"/nope\nhola\n\xff\xfe not utf-8\n/help\n"
    result = run_console(tmp_path, stdin)
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "No conozco el comando /nope" in out
    assert "Los comandos empiezan con /" in out
    assert "no es texto UTF-8 válido" in out
    # /help still ran after the three bad lines
    assert out.index("no es texto UTF-8") < out.rindex("Aula: el bot de la clase de fine-tuning")


def test_strict_mode_exits_non_zero_when_a_line_was_refused(tmp_path):
    assert run_console(tmp_path, b"/nope\n", "--strict").returncode == 1
    assert run_console(tmp_path, b"/help\n", "--strict").returncode == 0


def test_a_database_path_that_is_not_sqlite_is_a_clear_cli_error(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    result = run_console(tmp_path, b"/help\n", env_extra={"AULA_DATABASE": str(tmp_path / "notes.txt")})
    assert result.returncode == 2
    assert "not an SQLite database" in result.stderr.decode()
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_run_without_credentials_explains_what_to_set(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "a.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "run"], capture_output=True, env=env, cwd=tmp_path, timeout=60
    )
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in err and "SLACK_BOT_TOKEN" in err and "aula console" in err


def test_version(tmp_path):
    result = subprocess.run([sys.executable, "-m", "adapters.cli", "--version"], capture_output=True, text=True)
    assert result.stdout.startswith("aula 0.")


def test_healthcheck_follows_the_heartbeat(tmp_path, settings):
    import time

    from adapters.runner import healthy, heartbeat_path

    assert not healthy(settings)
    heartbeat_path(settings).parent.mkdir(parents=True, exist_ok=True)
    heartbeat_path(settings).touch()
    assert healthy(settings)
    assert not healthy(settings, now=time.time() + 600)


def test_without_colour_trained_segments_are_bracketed_and_masked_ones_are_not():
    from adapters.console.render import ConsoleRenderer
    from bot.replies import Segment, Segments

    renderer = ConsoleRenderer(colour=False, files_dir=Path("."))
    shown = renderer.part(Segments((Segment("user", 0, trained=False), Segment("Hola\n", 1, trained=True), Segment("x", 2))))
    assert shown == "user|⟦Hola↵\n⟧|x"


def test_tokens_writes_numbers_and_money_the_readers_way(tmp_path):
    """One way per language (CLDR through Babel): "0,00001 US$" and "128.000" in Spanish,
    "$0.00001" and "128,000" in English; never "US$ 0.0000"."""
    spanish = run_console(tmp_path, "/tokens texto:¡Hola mundo! modelo:todos\n".encode()).stdout.decode()
    gpt4o = next(line for line in spanish.splitlines() if line.startswith("GPT-4o  "))
    assert gpt4o.split() == ["GPT-4o", "4", "128.000", "0,0031", "%", "0,00001", "US$"]
    assert "3,00" in spanish and "GPT-4  " in spanish and " 8192 " in spanish  # 4 digits: not grouped
    english = run_console(tmp_path, b"/tokens texto:Hello world! modelo:todos\n", "--lang", "en").stdout.decode()
    gpt4o = next(line for line in english.splitlines() if line.startswith("GPT-4o  "))
    assert gpt4o.split() == ["GPT-4o", "3", "128,000", "0.0023%", "$0.0000075"]


def test_english_option_names_and_choice_values_are_accepted(tmp_path):
    """With --lang en, `/tokens example:emojis model:all` used to answer "«all» is not valid for
    modelo … todos". Both languages are accepted, and a bad value lists the choices in English."""
    accepted = run_console(tmp_path, b"/tokens example:emojis model:all\n", "--lang", "en").stdout.decode()
    assert "is not valid" not in accepted and "GPT-4 (cl100k_base)" in accepted and "Llama 3.1 (llama-3.1)" in accepted
    out = run_console(tmp_path, b"/tokens texto:x model:todo\n/help\n", "--lang", "en").stdout.decode()
    assert "«todo» is not valid for model" in out and "mistral-v3, all" in out
    assert "[model:gpt-4o|gpt-4|llama-3.1|gpt-oss|qwen3|mistral|mistral-v3|all]" in out
    spanish = run_console(tmp_path, b"/help\n").stdout.decode()
    assert "[modelo:gpt-4o|gpt-4|llama-3.1|gpt-oss|qwen3|mistral|mistral-v3|todos]" in spanish
