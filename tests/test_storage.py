"""SQLite: WAL, foreign keys, owner-only file, migrations, clear errors for bad paths."""

from __future__ import annotations

import os
import stat

import pytest

from bot.storage import Database, DatabaseError
from bot.storage.database import migrations


async def test_new_database_is_owner_only_wal_and_migrated(tmp_path):
    path = tmp_path / "sub" / "aula.sqlite3"
    db = await Database(path).open()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert db.journal_mode == "wal"
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
        applied = {r["version"] for r in await db.fetchall("SELECT version FROM schema_migrations")}
        assert applied == {v for v, _, _ in migrations()}
        assert await db.upgrade() == []  # idempotent
    finally:
        await db.close()


async def test_data_survives_reopening(tmp_path):
    path = tmp_path / "aula.sqlite3"
    db = await Database(path).open()
    await db.execute(
        "INSERT INTO users VALUES ('console', 'ana', 'Ana', 'es', 1, 1)"
    )
    await db.close()
    db = await Database(path).open()
    try:
        assert (await db.fetchone("SELECT display_name FROM users"))[0] == "Ana"
    finally:
        await db.close()


async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes")
    with pytest.raises(DatabaseError, match="not an SQLite database"):
        await Database(path).open()
    assert path.read_text() == "my precious notes"


async def test_a_directory_or_unwritable_path_is_refused(tmp_path):
    with pytest.raises(DatabaseError, match="directory"):
        await Database(tmp_path).open()
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    with pytest.raises(DatabaseError, match="cannot create the folder"):
        await Database(a_file / "aula.sqlite3").open()


async def test_a_failed_transaction_keeps_what_was_saved(tmp_path):
    db = await Database(tmp_path / "a.sqlite3").open()
    try:
        await db.execute("INSERT INTO users VALUES ('console', 'ana', 'Ana', 'es', 1, 1)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("DELETE FROM users")
                raise RuntimeError("interrupted")
        assert (await db.fetchone("SELECT count(*) FROM users"))[0] == 1
    finally:
        await db.close()
