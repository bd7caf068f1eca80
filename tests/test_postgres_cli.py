"""`aula db upgrade` and `aula doctor` on PostgreSQL (AULA_DATABASE=postgresql://…): the server's
version, the connection, the pool, pending migrations; the password never printed."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from adapters.cli import main
from bot.doctor import Level
from bot.storage.database import migrations
from tests.pg_support import free_port

SECRET_VARS = ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
               "HYPERBOLIC_API_KEY", "AULA_LLM_API_KEY", "AULA_CONFIG")  # fmt: skip


def with_password(url: str, password: str) -> str:
    """The test server trusts loopback, so any password connects: enough to see where it shows."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"))


def environment(monkeypatch, tmp_path, database: str) -> None:
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AULA_DATABASE", database)
    monkeypatch.setenv("AULA_LOCALE", "en")
    monkeypatch.setenv("AULA_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens


def database_findings(out: str) -> str:
    return out.split("\n\n")[2]  # title, settings, database, ...


def test_doctor_then_db_upgrade_then_doctor_on_an_empty_postgresql_database(empty_postgres_url, tmp_path, monkeypatch, capsys):
    url = with_password(empty_postgres_url, "s3cret-pw")
    environment(monkeypatch, tmp_path, url)
    main(["doctor", "--lang", "en"])
    out = capsys.readouterr().out
    names = ", ".join(name for _, name, _ in migrations("postgresql"))
    assert "connected to PostgreSQL 1" in out and f"migrations pending: {names}" in out, out
    assert "each process opens up to 10 connections (database_pool_size)" in out
    assert "s3cret-pw" not in out and "****@127.0.0.1" in out

    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    version = max(v for v, _, _ in migrations("postgresql"))
    assert f"version {version}" in out and "0001_core.sql" in out and "s3cret-pw" not in out
    assert main(["db", "upgrade"]) == 0
    assert "applied now: -" in capsys.readouterr().out  # nothing left to do

    monkeypatch.setenv("AULA__DATABASE_POOL_SIZE", "3")
    main(["doctor", "--lang", "en"])
    out = capsys.readouterr().out
    assert f"schema up to date (version {version})" in out and "up to 3 connections" in out, out
    assert "✗" not in database_findings(out)


async def test_doctor_names_an_unreachable_server_without_its_password():
    from bot.doctor import check_postgres

    findings = await check_postgres(f"postgresql://aula:s3cret-pw@127.0.0.1:{free_port()}/aula", 5)
    assert [(f.level, f.key) for f in findings] == [(Level.PROBLEM, "doctor.pg_unreachable")]
    assert "s3cret-pw" not in str(findings[0].values) and "****@127.0.0.1" in findings[0].values["address"]


async def test_a_pool_larger_than_the_server_allows_is_a_warning(postgres_url):
    from bot.doctor import check_postgres

    findings = await check_postgres(postgres_url, 100_000)
    assert [f.key for f in findings if f.level is Level.WARNING] == ["doctor.pg_pool_small"]
    assert findings[-1].key == "doctor.db_migrated"


async def test_two_processes_upgrading_an_empty_database_at_once_migrate_it_once(empty_postgres_url, tmp_path):
    """Two `aula db upgrade` started together: one applies every migration, the other waits on the
    advisory lock and then finds nothing to do; each migration is recorded once."""
    import asyncio
    import os
    import sys

    from bot.storage.postgres import PostgresDatabase

    environment = {k: v for k, v in os.environ.items() if k not in SECRET_VARS and not k.startswith("AULA")}
    environment |= {"PYTHONPATH": os.getcwd(), "AULA_DATABASE": empty_postgres_url, "AULA_LOCALE": "en"}

    async def upgrade() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "db", "upgrade", env=environment, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode, out.decode()

    results = await asyncio.gather(upgrade(), upgrade())
    assert [code for code, _ in results] == [0, 0], results
    names = ", ".join(name for _, name, _ in migrations("postgresql"))
    assert sorted("applied now: -" in out for _, out in results) == [False, True], results
    assert any(f"applied now: {names})" in out for _, out in results), results
    db = await PostgresDatabase(empty_postgres_url).open(migrate=False)
    try:
        rows = await db.fetchall("SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version")
    finally:
        await db.close()
    assert [(r["version"], r["n"]) for r in rows] == [(v, 1) for v, _, _ in migrations("postgresql")]


def with_user(url: str, user: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}"))


async def _as_admin(url: str, *statements: str) -> None:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        for statement in statements:
            await con.execute(statement)
    finally:
        await con.close()


async def test_doctor_names_what_the_role_lacks_and_a_role_that_reads_and_writes_starts(postgres_url, empty_postgres_url):
    """A role with SELECT only passed every doctor check, then Aula failed at start ('a migration
    failed: permission denied for schema public': the up-to-date database was still sent DDL) or
    at the first save. Now doctor names the missing grants, and an up-to-date database opens for
    a role that may read and write but not create."""
    import uuid

    from bot.doctor import check_postgres
    from bot.i18n import t
    from bot.storage.database import open_database

    role = f"aula_tester_{uuid.uuid4().hex[:8]}"
    await _as_admin(postgres_url, f"CREATE ROLE {role} LOGIN", f"GRANT USAGE ON SCHEMA public TO {role}",
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")  # fmt: skip
    try:
        findings = await check_postgres(with_user(postgres_url, role), 5)
        [lacking] = [f for f in findings if f.level is Level.PROBLEM]
        assert lacking.key == "doctor.pg_cannot_write" and lacking.values["user"] == role
        for lang in ("es", "en"):
            assert role in t(lang, lacking.key, **lacking.values) and "GRANT" in t(lang, lacking.key, **lacking.values).upper()
        findings = await check_postgres(with_user(empty_postgres_url, role), 5)  # nothing migrated, no CREATE
        assert "doctor.pg_cannot_migrate" in [f.key for f in findings if f.level is Level.PROBLEM]
        await _as_admin(postgres_url, f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")  # fmt: skip
        findings = await check_postgres(with_user(postgres_url, role), 5)
        assert [f.key for f in findings if f.level is Level.PROBLEM] == []
        db = await open_database(with_user(postgres_url, role))  # migrate=True: nothing to apply
        try:
            await db.execute(
                "INSERT INTO users (platform, user_id, display_name, locale, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                ("console", "ana", "Ana", "es", 1.0, 1.0),
            )
        finally:
            await db.close()
    finally:
        await _as_admin(postgres_url, f"DROP OWNED BY {role}")
        await _as_admin(empty_postgres_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.mark.parametrize("password", ["Zq7@Wk9#Xy3", "Zq7/Wk9", "Zq7?Wk9", "Zq7#Wk9"])
async def test_a_password_with_a_reserved_character_is_refused_without_quoting_any_piece_of_it(password, tmp_path, monkeypatch, capsys):
    """An unencoded `/` made the URL parser read the password's start as a port and its error
    quoted it ("invalid literal for int() with base 10: 'Zq'"); `?` quoted the rest as a query
    field; `@` and `#` showed a piece as the host. No server is needed: nothing connects."""
    import asyncio

    from bot.doctor import check_postgres
    from bot.i18n import t
    from bot.settings import masked_url

    url = f"postgresql://aula:{password}@127.0.0.1:{free_port()}/aula"
    pieces = {p for p in re.split(r"[@/?#]", password) if p}
    assert masked_url(url).startswith("postgresql://****@127.0.0.1:")
    [finding] = await check_postgres(url, 5)
    assert finding.key == "doctor.pg_unreachable" and "%40" in finding.values["error"]
    for lang in ("es", "en"):
        text = t(lang, finding.key, **finding.values)
        assert not any(piece in text for piece in pieces), text
    environment(monkeypatch, tmp_path, url)
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert t("en", "cli.database_error", error="\0").split("\0")[0] in err
    assert "%40" in err and not any(piece in err for piece in pieces), err
