"""SQLite: WAL, foreign keys, owner-only file, migrations, clear errors for bad paths; what holds on
both backends (database_url: SQLite and PostgreSQL) runs on both."""

from __future__ import annotations

import os
import stat

import pytest

from bot.storage import Database, DatabaseError
from bot.storage.database import migrations, open_database


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


async def test_data_survives_reopening(database_url):
    db = await open_database(database_url)
    await db.execute(
        "INSERT INTO users VALUES ('console', 'ana', 'Ana', 'es', 1, 1)"
    )
    await db.close()
    db = await open_database(database_url)
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


async def test_a_failed_transaction_keeps_what_was_saved(database_url):
    db = await open_database(database_url)
    try:
        await db.execute("INSERT INTO users VALUES ('console', 'ana', 'Ana', 'es', 1, 1)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("DELETE FROM users")
                raise RuntimeError("interrupted")
        assert (await db.fetchone("SELECT count(*) FROM users"))[0] == 1
    finally:
        await db.close()


async def open_before(setting: str, version: int, monkeypatch):
    """The database (either backend) with only the migrations numbered below `version` applied, as
    a release before that one left it; the next open applies the rest."""
    import bot.storage.database as database

    every = {dialect: database.migrations(dialect) for dialect in ("sqlite", "postgresql")}
    monkeypatch.setattr(database, "migrations", lambda dialect="sqlite": [m for m in every[dialect] if m[0] < version])
    try:
        return await open_database(setting)
    finally:
        monkeypatch.setattr(database, "migrations", lambda dialect="sqlite": every[dialect])


async def test_0008_numbers_existing_players_and_settles_replaced_revisions(empty_database_url, monkeypatch):
    """A database from before 0008: players get their join order (ties by insertion on SQLite, by
    user id on PostgreSQL, which has no rowid), and a revision replaced by one already posted stops
    counting as waiting for its thread."""
    db = await open_before(empty_database_url, 8, monkeypatch)
    await db.execute(
        "INSERT INTO quiz_sessions (id, platform, workspace_id, channel_id, thread_id, bank_name, snapshot, locale,"
        " change_rule, speed_bonus, streaks, anonymous, started_by, started_at) VALUES"
        " (1, 'discord', 'g', 'c', '', 'b', '{}', 'es', 'free', 0, 0, 1, 't', 0),"
        " (2, 'discord', 'g', 'd', '', 'b', '{}', 'es', 'free', 0, 0, 1, 't', 0)"
    )
    for session, user, joined in [(1, "beto", 5.0), (1, "ana", 2.0), (2, "eva", 9.0), (1, "ciro", 5.0)]:  # ciro after beto both ways
        await db.execute(
            "INSERT INTO quiz_players (session_id, user_id, display_name, joined_at) VALUES (?, ?, ?, ?)",
            (session, user, user, joined),
        )
    await db.execute(
        "INSERT INTO homework_assignments (id, platform, workspace_id, channel_id, bank_name, snapshot, locale, due_at,"
        " closes_at, publish, anonymous, created_by, created_at) VALUES (1, 'discord', 'g', 'c', 'b', '{}', 'es', 1, 2,"
        " 'on_submit', 0, 't', 0)"
    )
    for revision, posted in [(1, None), (2, 7.0), (3, None)]:
        await db.execute(
            "INSERT INTO homework_answers (assignment_id, position, user_id, user_name, revision, text, submitted_at,"
            " late, posted_at) VALUES (1, 0, 'ana', 'Ana', ?, 'x', 0, 0, ?)",
            (revision, posted),
        )
    await db.close()
    db = await open_database(empty_database_url)
    try:
        rows = await db.fetchall("SELECT session_id, user_id, ordinal FROM quiz_players ORDER BY session_id, ordinal")
        assert [tuple(r) for r in rows] == [(1, "ana", 0), (1, "beto", 1), (1, "ciro", 2), (2, "eva", 0)]
        rows = await db.fetchall("SELECT revision, posted_at FROM homework_answers ORDER BY revision")
        assert [tuple(r) for r in rows] == [(1, 7.0), (2, 7.0), (3, None)]
    finally:
        await db.close()


async def test_a_players_ordinal_is_kept_when_an_earlier_player_is_forgotten(database_url):
    """An anonymous quiz's nickname comes from the join order stored at the first answer: forgetting
    someone who joined earlier renames nobody (it was a count of earlier players, read per click)."""
    from bot.quiz.store import QuizRepository
    from bot.requests import Place
    from tests.test_query_plans import NOW, QUESTION

    db = await open_database(database_url)
    try:
        repo = QuizRepository(db)
        session = await repo.create_session(Place("discord", "g", "c"), "b", {"es": "t"}, [QUESTION], "es", "free", False, False, True, "t", NOW)
        await repo.open_question(session, 0, NOW, NOW + 30)
        for user in ("ana", "beto", "ciro"):
            await repo.record_answer(session, 0, user, user, 0, NOW + 1, "free")
        assert [await repo.player_ordinal(session, u) for u in ("ana", "beto", "ciro")] == [0, 1, 2]
        await repo.forget("discord", "ana")
        assert await repo.player_ordinal(session, "ana") is None
        assert await repo.players(session) == [("beto", "beto", 1), ("ciro", "ciro", 2)]
        await repo.record_answer(session, 0, "dora", "dora", 1, NOW + 2, "free")
        assert await repo.player_ordinal(session, "dora") == 3
    finally:
        await db.close()


async def test_posting_a_revision_settles_the_ones_it_replaced(database_url):
    """Only work in flight stays unposted (what the homework tick reads through a partial index)."""
    from bot.homework.store import HomeworkRepository
    from bot.requests import Place
    from tests.test_query_plans import NOW, OPEN_QUESTION

    db = await open_database(database_url)
    try:
        repo = HomeworkRepository(db)
        assignment = await repo.create(Place("discord", "g", "c"), "b", {"es": "t"}, [OPEN_QUESTION], "es", NOW + 50, NOW + 100, "at_deadline", False, None, "t", NOW)
        for text in ("uno", "dos", "tres"):
            await repo.submit(assignment, "ana", "Ana", {0: text}, NOW + 1, False)
        assert await repo.unposted(NOW + 10) == []  # not shown before the deadline
        shown = await repo.unposted(NOW + 60)
        assert [(a.text, a.revision) for a in shown] == [("tres", 3)]
        await repo.mark_posted(shown[0].id, NOW + 61)
        assert await repo.unposted(NOW + 62) == []
        rows = await db.fetchall("SELECT revision FROM homework_answers WHERE posted_at IS NULL")
        assert rows == []
    finally:
        await db.close()
