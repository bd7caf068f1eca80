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

from bot.storage.database import Database, DatabaseError, migrations, open_database

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


async def test_0014_carries_what_each_class_spent_each_day_into_its_daily_total(empty_database_url, monkeypatch):
    """/compare's unshared outputs and /next's usage rows before 0014 become one total per class
    and UTC day, so an upgrade in the middle of a class day keeps what the class already spent
    (on both backends: PostgreSQL's migration floors the day where SQLite's CAST truncates)."""
    from bot.llm.usage import UsageRepository
    from tests.test_storage import open_before

    day = 20_000 * 86_400.0  # a midnight UTC
    conn = await open_before(empty_database_url, 14, monkeypatch)
    try:
        run = "INSERT INTO compare_runs (id, at, platform, workspace_id, channel_id, user_id, user_name, profile) VALUES (?, ?, ?, ?, 'c', 'u', 'U', 'p')"
        out = "INSERT INTO compare_outputs (run_id, role, model, prompt, text, finish_reason, prompt_tokens, completion_tokens, shared) VALUES (?, ?, 'm', 'p', 't', 'stop', ?, ?, ?)"
        await conn.execute(run, (1, day + 10, "discord", "g1"))
        await conn.execute(out, (1, "base", 5, 20, 0))
        await conn.execute(out, (1, "instruct", 6, 30, 1))  # shared: another request's call, not counted twice
        await conn.execute(run, (2, day - 10, "discord", "g1"))  # the day before
        await conn.execute(out, (2, "base", 100, 100, 0))
        await conn.execute("INSERT INTO next_usage VALUES (?, 'discord', 'g1', 8)", (day + 3600,))
        await conn.execute("INSERT INTO next_usage VALUES (?, 'discord', 'g2', 8)", (day + 3600,))  # another class
    finally:
        await conn.close()
    db = await open_database(empty_database_url)
    try:
        usage = UsageRepository(db)
        assert await usage.used_on("discord", "g1", day + 7200) == 25 + 8
        assert await usage.used_on("discord", "g1", day - 1) == 200
        assert await usage.used_on("discord", "g2", day) == 8
        await usage.record(day + 9000, "discord", "g1", 7)  # and it keeps adding
        assert await usage.used_on("discord", "g1", day) == 40
    finally:
        await db.close()


async def test_0007_keeps_each_conversations_id_and_new_ones_come_after_the_highest(empty_database_url, monkeypatch):
    """0007 rebuilds roles_conversations with the ids it had: an old button still opens its own
    conversation, and a new one never takes a kept id (PostgreSQL: the identity is moved past them)."""
    from bot.roles.store import RolesConversations
    from bot.roles.templates import Message
    from tests.test_storage import open_before

    db = await open_before(empty_database_url, 7, monkeypatch)
    try:
        for conversation_id in (3, 41):
            await db.execute(
                "INSERT INTO roles_conversations (id, platform, user_id, template, messages, created_at) VALUES (?, 'console', 'ana', 'llama-3.1', '[]', ?)",
                (conversation_id, 100.0),
            )
    finally:
        await db.close()
    db = await open_database(empty_database_url)
    try:
        rows = await db.fetchall("SELECT id, workspace_id FROM roles_conversations ORDER BY id")
        assert [(r["id"], r["workspace_id"]) for r in rows] == [(3, ""), (41, "")]
        new = await RolesConversations(db).save("console", "local", "ana", "llama-3.1", [Message("user", "hola")], 200.0, 3600)
        assert new > 41
    finally:
        await db.close()


async def test_0006_gives_each_class_that_used_an_imported_bank_its_own_copy(empty_database_url, monkeypatch):
    from tests.test_storage import open_before

    db = await open_before(empty_database_url, 6, monkeypatch)
    try:
        for name in ("usado", "suelto"):
            await db.execute(
                "INSERT INTO quiz_banks (name, filename, content, imported_by, imported_at) VALUES (?, ?, ?, 'profe', 1.0)",
                (name, f"{name}.yaml", b"title: x\n"),
            )
        await db.execute(
            "INSERT INTO quiz_sessions (platform, workspace_id, channel_id, thread_id, bank_name, snapshot, locale,"
            " change_rule, speed_bonus, streaks, anonymous, started_by, started_at)"
            " VALUES ('discord', 'g1', 'c', '', 'usado', '{}', 'es', 'never', 0, 0, 0, 'profe', 1.0)"
        )
    finally:
        await db.close()
    db = await open_database(empty_database_url)
    try:
        rows = await db.fetchall("SELECT platform, workspace_id, name, content FROM quiz_class_banks ORDER BY name")
        assert [(r["platform"], r["workspace_id"], r["name"], bytes(r["content"])) for r in rows] == [
            ("", "", "suelto", b"title: x\n"),
            ("discord", "g1", "usado", b"title: x\n"),
        ]
    finally:
        await db.close()
