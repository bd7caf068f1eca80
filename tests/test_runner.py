"""`aula run` as a process: it starts the configured platform and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_stops_a_running_bot_cleanly(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "SLACK_BOT_TOKEN": "xoxb-1-2-test",
        "SLACK_SIGNING_SECRET": "0" * 32,
        "AULA__SLACK__MODE": "http",
        "AULA__SLACK__PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "run"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Serving: an unsigned request is refused (401), which proves Bolt is listening.
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=b"x", method="POST"), timeout=2
                )
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                time.sleep(0.2)
        assert status == 401
        # A second `aula run` on the same database is refused at once, saying why and who holds it.
        second = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "run"], env=env | {"AULA__SLACK__PORT": str(free_port())},
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2
        assert f"Ya hay un `aula run` con la base de datos {tmp_path / 'aula.sqlite3'} (pid {process.pid})" in second.stderr
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "msg=stopped" in err
    # Start-up's objects (vocabularies, modules) are left out of garbage collection.
    frozen = re.search(r"start-up objects frozen: (\d+)", err)
    assert frozen and int(frozen[1]) > 10_000, err
    assert "Traceback" not in err and "Unclosed" not in err


def run_once(tmp_path, **secrets: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3"), **secrets}
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_a_missing_half_of_slacks_credentials_is_named(tmp_path):
    """Issue 14.12: only SLACK_BOT_TOKEN set said "No hay credenciales de ninguna plataforma"."""
    result = run_once(tmp_path, SLACK_BOT_TOKEN="xoxb-1-2-test", AULA_LOCALE="es")
    assert result.returncode == 2
    assert "No hay credenciales de ninguna plataforma" not in result.stderr
    assert "SLACK_APP_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr


def test_tokens_of_the_wrong_shape_are_refused_before_connecting(tmp_path):
    result = run_once(tmp_path, DISCORD_TOKEN="not-a-token", SLACK_BOT_TOKEN="xoxp-user", SLACK_APP_TOKEN="xapp-1")
    assert result.returncode == 2
    assert "DISCORD_TOKEN no tiene forma de token de bot" in result.stderr
    assert "SLACK_BOT_TOKEN empieza por «xoxp-»" in result.stderr
    assert "not-a-token" not in result.stderr  # the token itself is never echoed


async def test_a_failing_platform_backs_off_with_one_line_per_attempt_saying_what_to_fix(caplog):
    import asyncio

    from adapters.runner import RETRY_FIRST_S, RETRY_MAX_S, supervise

    attempts = 0
    waits: list[float] = []

    async def start():
        nonlocal attempts
        attempts += 1
        raise RuntimeError("The request to the Slack API failed.\nThe server responded with: invalid_auth")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 9:
            raise asyncio.CancelledError

    with caplog.at_level("ERROR", logger="aula.run"):
        try:
            await supervise("slack", start, sleep=sleep, clock=lambda: 0.0)
        except asyncio.CancelledError:
            pass
    assert attempts == 9
    assert waits == [min(RETRY_FIRST_S * 2**i, RETRY_MAX_S) for i in range(9)]  # 5, 10, 20 ... 300
    lines = [r for r in caplog.records if r.name == "aula.run"]
    assert len(lines) == 9 and all(r.exc_info is None for r in lines)  # one line each, no traceback
    message = lines[0].getMessage()
    assert "attempt 1" in message and "SLACK_BOT_TOKEN" in message and "next attempt in 5 s" in message
    assert "\n" not in message


def test_the_single_runner_lock_is_beside_the_sqlite_file_and_never_made_of_a_server_url(tmp_path, monkeypatch):
    """A PostgreSQL URL (its password in it) never becomes a folder or a file; processes share the
    server. An SQLite URL's lock is beside its file, as a path's is."""
    from adapters.runner import hold_database, lock_path

    monkeypatch.chdir(tmp_path)
    assert lock_path("sqlite:///data/a.sqlite3") == lock_path("data/a.sqlite3") == Path("data/a.sqlite3.lock")
    first = hold_database("postgresql://aula:leak-pw@db.example:5432/aula")
    second = hold_database("postgresql://aula:leak-pw@db.example:5432/aula")
    assert not isinstance(first, str) and not isinstance(second, str)
    first.close()
    second.close()
    assert list(tmp_path.iterdir()) == []
    held = hold_database("sqlite:///data/a.sqlite3")
    try:
        assert isinstance(hold_database("data/a.sqlite3"), str)  # the same file: refused
    finally:
        held.close()
