"""Every released schema upgrades to the current one with its data kept (issue 13, item 14).

tests/fixtures/schemas/ holds each released database, built from the repository's history by
tests/fixtures/make_schemas.py (one row in every table). Each is written to a file, opened by
the current Database (which migrates), and checked: no migration fails ("table users already
exists" on the first Aula's files), every row is still there, every migration is recorded,
and 0005's AUTOINCREMENT fix (edited into 0005 after its release) reaches old files through 0007.
A file with damaged pages is refused at start with the doctor's advice.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage.database import Database, DatabaseError, migrations

SCHEMAS = sorted((Path(__file__).parent / "fixtures" / "schemas").glob("*.sql"))
RENAMED = {
    "quiz_banks": "quiz_class_banks",  # 0006: imported banks belong to a class
    "next_usage": "llm_usage",  # 0014: every feature's usage in one daily total per class
}


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables if t != "schema_migrations"}


def test_every_release_is_a_fixture():
    assert len(SCHEMAS) >= 7 and SCHEMAS[0].name == "01-c821484.sql"


@pytest.mark.parametrize("schema", SCHEMAS, ids=[s.stem for s in SCHEMAS])
async def test_a_released_schema_upgrades_with_its_data_kept(schema, tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(schema.read_text(encoding="utf-8"))
    before = counts(path)
    assert before and all(n == 1 for n in before.values())

    db = await Database(path).open()
    try:
        applied = {int(r[0]) for r in await db.fetchall("SELECT version FROM schema_migrations")}
        roles_sql = (await db.fetchone("SELECT sql FROM sqlite_master WHERE name = 'roles_conversations'"))[0]
    finally:
        await db.close()
    assert applied == {version for version, _, _ in migrations()}
    after = counts(path)
    for table, rows in before.items():
        assert after[RENAMED.get(table, table)] >= rows, table  # 0006 may give a bank to each class that used it
    assert "AUTOINCREMENT" in roles_sql

    # A second start changes nothing.
    db = await Database(path).open()
    await db.close()
    assert counts(path) == after


async def test_a_damaged_file_is_refused_at_start_with_the_doctors_advice(tmp_path):
    path = tmp_path / "aula.sqlite3"
    db = await Database(path).open()
    await db.execute("CREATE TABLE relleno (texto TEXT)")
    for i in range(200):
        await db.execute("INSERT INTO relleno VALUES (?)", ("x" * 500 + str(i),))
    await db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, min(len(data), 8 * page)):  # scribble over some pages, not the header
        data[offset] = 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match="(?s)damaged .*aula doctor.*backup"):
        await Database(path).open()


async def test_0014_carries_what_each_class_spent_each_day_into_its_daily_total(tmp_path):
    """/compare's unshared outputs and /next's usage rows before 0014 become one total per class
    and UTC day, so an upgrade in the middle of a class day keeps what the class already spent."""
    from bot.llm.usage import UsageRepository

    day = 20_000 * 86_400.0  # a midnight UTC
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
        for version, name, sql in migrations():
            if version < 14:
                conn.executescript(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
        run = "INSERT INTO compare_runs (id, at, platform, workspace_id, channel_id, user_id, user_name, profile) VALUES (?, ?, ?, ?, 'c', 'u', 'U', 'p')"
        out = "INSERT INTO compare_outputs (run_id, role, model, prompt, text, finish_reason, prompt_tokens, completion_tokens, shared) VALUES (?, ?, 'm', 'p', 't', 'stop', ?, ?, ?)"
        conn.execute(run, (1, day + 10, "discord", "g1"))
        conn.execute(out, (1, "base", 5, 20, 0))
        conn.execute(out, (1, "instruct", 6, 30, 1))  # shared: another request's call, not counted twice
        conn.execute(run, (2, day - 10, "discord", "g1"))  # the day before
        conn.execute(out, (2, "base", 100, 100, 0))
        conn.execute("INSERT INTO next_usage VALUES (?, 'discord', 'g1', 8)", (day + 3600,))
        conn.execute("INSERT INTO next_usage VALUES (?, 'discord', 'g2', 8)", (day + 3600,))  # another class
    db = await Database(path).open()
    try:
        usage = UsageRepository(db)
        assert await usage.used_on("discord", "g1", day + 7200) == 25 + 8
        assert await usage.used_on("discord", "g1", day - 1) == 200
        assert await usage.used_on("discord", "g2", day) == 8
        await usage.record(day + 9000, "discord", "g1", 7)  # and it keeps adding
        assert await usage.used_on("discord", "g1", day) == 40
    finally:
        await db.close()
