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
