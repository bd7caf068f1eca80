"""PostgreSQL for tests: a fresh database per test on the server named by AULA_TEST_POSTGRES.

    AULA_TEST_POSTGRES=postgresql://aula@127.0.0.1:54329/aula   (a role that may CREATE DATABASE)

Each test gets its own database, copied from a migrated template (CREATE DATABASE … TEMPLATE:
milliseconds, where migrating takes a second), and dropped after it. The template's name holds
a hash of the PostgreSQL migrations, so a branch with other migrations builds its own.
Without the variable, or with a server that does not answer, PostgreSQL tests are skipped, unless
CI is set: then they fail (.ci/run starts a server; CI never skips them).

`database_url` (in conftest.py) is the fixture most tests want: parametrized over "sqlite" (a
file in tmp_path) and "postgresql", it gives a setting `database_for()` opens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import uuid
from pathlib import Path

import asyncpg
import pytest

from bot.storage.database import migrations
from bot.storage.postgres import PostgresDatabase

ENV = "AULA_TEST_POSTGRES"
TEMPLATE_LOCK = 0x41756C61_7465  # pg_advisory_lock key while a template is built
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)

_reachable: dict[str, str] = {}  # url -> "" when it answered, else why not


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI is set (CI never skips the PostgreSQL tests)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and PostgreSQL is needed: {reason}")
    pytest.skip(reason)


async def server_url() -> str:
    """AULA_TEST_POSTGRES, checked once per session (skip or fail when unset or unreachable)."""
    url = os.environ.get(ENV, "")
    if not url:
        unavailable(f"{ENV} is not set")
    if url not in _reachable:
        try:
            con = await asyncpg.connect(url, timeout=5)
            await con.close()
            _reachable[url] = ""
        except Exception as exc:  # refused, unknown host, bad password...
            _reachable[url] = f"{type(exc).__name__}: {exc}"
    if _reachable[url]:
        unavailable(f"PostgreSQL at {ENV} does not answer: {_reachable[url]}")
    return url


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def template_name() -> str:
    digest = hashlib.sha256()
    for version, name, sql in migrations("postgresql"):
        digest.update(f"{version}{name}{sql}".encode())
    return "aula_template_" + digest.hexdigest()[:12]


async def _ensure_template(admin: asyncpg.Connection, url: str) -> str:
    name = template_name()
    await admin.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None:
            building = f"{name}_building_{uuid.uuid4().hex[:8]}"
            await admin.execute(f'CREATE DATABASE "{building}"')
            db = await PostgresDatabase(with_database(url, building), pool_size=2).open()
            await db.close()
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    finally:
        await admin.execute("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
    return name


async def create_database(migrated: bool = True) -> tuple[str, str]:
    """(url, name) of a new database on the test server: a copy of the migrated template, or
    empty (migrated=False). Drop it with drop_database(name)."""
    url = await server_url()
    admin = await asyncpg.connect(url, timeout=5)
    try:
        template = await _ensure_template(admin, url) if migrated else "template0"
        name = f"aula_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return with_database(url, name), name


async def drop_database(name: str) -> None:
    url = await server_url()
    admin = await asyncpg.connect(url, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- a server of one's own (fault tests stop and start it) -----------------------------------


def pg_bin(program: str) -> Path | None:
    found = shutil.which(program)
    if found:
        return Path(found)
    for folder in PG_BIN_DIRS:
        if (folder / program).exists():
            return folder / program
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 in a temporary folder: start(), stop(),
    start() again on the same data and port. Run as the `postgres` user when this is root
    (PostgreSQL refuses to run as root). Skipped (failed under CI) when the binaries are missing."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if self.initdb is None or self.pg_ctl is None:
            unavailable("PostgreSQL's initdb/pg_ctl are not installed")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="aula-pg-"))
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self._run(self.initdb, "-D", self.data, "-U", "aula", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql://aula@127.0.0.1:{self.port}/postgres"

    def _run(self, program, *args) -> None:
        command = [*self.as_user, str(program), *map(str, args)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-l", self.folder / "log", "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
