"""`aula db copy SOURCE TARGET` (issue 20): a class, or the whole database, between SQLite and
PostgreSQL in both directions, verified per table and safe to re-run.

The data is test_query_plans' `fill_class` (a finished quiz, homework with revisions, comparisons,
/next runs and rounds, /roles conversations, the budget) for two classes. A round trip
SQLite → TARGET → SQLite must give back every row of every table, value and type; the PostgreSQL
cases use the `database_url` fixture (skipped without AULA_TEST_POSTGRES, failed under CI).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.cli import main
from bot.i18n import t
from bot.storage.database import open_database
from bot.storage.transfer import NO_CLASS, TRANSIENT, CopyRefused, class_filters, copy_database, schema
from tests.test_query_plans import fill_class

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"


async def filled(path: Path) -> str:
    db = await open_database(str(path))
    try:
        await fill_class(db, "discord", "guild", players=5, tag="a")
        await fill_class(db, "slack", "T1", players=3, tag="b")
    finally:
        await db.close()
    return str(path)


async def dump(setting: str, owner: tuple[str, str] | None = None) -> dict[str, list[tuple]]:
    """Every table's rows (of the class, when owner is given), by key, each value with its type."""
    tables = await schema()
    filters = class_filters(tables, owner)
    db = await open_database(setting, migrate=False)
    try:
        found = {}
        for table in tables:
            if table.name in filters:
                where, params = filters[table.name]
                rows = await db.fetchall(
                    f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE {where} ORDER BY {', '.join(table.key)}",
                    params,
                )
                found[table.name] = [tuple((type(v).__name__, bytes(v) if isinstance(v, memoryview) else v) for v in r) for r in rows]
        return found
    finally:
        await db.close()


async def test_a_whole_database_goes_there_and_back_with_every_row_and_type(tmp_path, database_url):
    source = await filled(tmp_path / "source.sqlite3")
    before = await dump(source)
    assert sum(map(len, before.values())) > 150 and all(before[t] for t in ("quiz_answers", "homework_answers", "llm_usage"))

    report = await copy_database(source, database_url)
    assert {c.table: (c.source, c.copied, c.target) for c in report.tables} == {
        table: (len(rows), len(rows), len(rows)) for table, rows in before.items()
    }
    assert await dump(database_url) == before

    again = await copy_database(source, database_url)  # idempotent: nothing twice, the same counts
    assert again.copied == 0
    assert [(c.table, c.source, c.target) for c in again.tables] == [(c.table, c.source, c.target) for c in report.tables]

    back = str(tmp_path / "back.sqlite3")
    assert (await copy_database(database_url, back)).copied == report.copied
    assert await dump(back) == before


async def test_the_target_hands_out_new_ids_after_the_copied_ones_and_the_sources_deleted_ones(tmp_path, database_url):
    source = await filled(tmp_path / "source.sqlite3")
    db = await open_database(source)
    try:  # the newest conversation is deleted: its id was handed out and must never come back
        newest = (await db.fetchone("SELECT MAX(id) FROM roles_conversations"))[0]
        await db.execute("DELETE FROM roles_conversations WHERE id = ?", (newest,))
        highest_run = (await db.fetchone("SELECT MAX(id) FROM compare_runs"))[0]
    finally:
        await db.close()
    await copy_database(source, database_url)
    db = await open_database(database_url)
    try:
        rows = await db.execute_returning(
            "INSERT INTO roles_conversations (platform, workspace_id, user_id, template, messages, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            ("discord", "guild", "u", "llama3", "[]", 1.0),
        )
        assert rows[0]["id"] > newest
        rows = await db.execute_returning(
            "INSERT INTO compare_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (1.0, "discord", "guild", "c", "u", "U", "p"),
        )
        assert rows[0]["id"] == highest_run + 1
    finally:
        await db.close()


async def test_one_class_moves_alone_and_another_joins_it_later(tmp_path, database_url):
    source = await filled(tmp_path / "source.sqlite3")
    guild, team = ("discord", "guild"), ("slack", "T1")
    report = await copy_database(source, database_url, owner=guild)
    copied = await dump(database_url)
    assert copied == {**await dump(source, guild), "command_log": []}  # the log names no class
    assert {r[2][1] for r in copied["compare_runs"]} == {"discord"} and copied["quiz_answers"]  # (id, at, platform...)
    assert {r[0][1] for r in copied["users"]} == {"discord"}
    assert (await copy_database(source, database_url, owner=guild)).copied == 0
    assert report.copied == sum(map(len, copied.values()))

    await copy_database(source, database_url, owner=team)
    assert await dump(database_url, team) == await dump(source, team)
    assert await dump(database_url, guild) == await dump(source, guild)


async def test_rows_the_target_holds_otherwise_refuse_the_copy_and_nothing_is_written(tmp_path, database_url):
    source = await filled(tmp_path / "source.sqlite3")
    db = await open_database(database_url)
    try:  # another database's comparison holds id 3 there
        for _ in range(3):
            await db.execute_returning(
                "INSERT INTO compare_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (5.0, "discord", "elsewhere", "c", "x", "X", "p"),
            )
    finally:
        await db.close()
    before = await dump(database_url)
    with pytest.raises(CopyRefused) as refused:
        await copy_database(source, database_url)
    assert refused.value.key == "cli.db_copy_conflict"
    assert refused.value.values["table"] == "compare_runs" and refused.value.values["row"] == "id=1"
    assert await dump(database_url) == before


async def test_a_target_with_more_rows_of_a_table_than_the_source_is_refused(tmp_path):
    source = await filled(tmp_path / "source.sqlite3")
    target = str(tmp_path / "target.sqlite3")
    await copy_database(source, target)
    db = await open_database(target)
    try:
        await db.execute("INSERT INTO llm_usage (platform, workspace_id, day, tokens) VALUES (?, ?, ?, ?)", ("slack", "T9", 0.0, 5))
    finally:
        await db.close()
    with pytest.raises(CopyRefused) as refused:
        await copy_database(source, target)
    assert refused.value.key == "cli.db_copy_counts" and refused.value.values["table"] == "llm_usage"


async def test_rows_are_read_in_bounded_batches(tmp_path, monkeypatch):
    """Keyset pagination: every read of the source returns at most `batch` rows, and a batch
    smaller than every table still copies everything (composite keys included)."""
    from bot.storage.database import Database

    source = await filled(tmp_path / "source.sqlite3")
    largest = []
    original = Database.fetchall

    async def fetchall(self, sql, params=()):
        rows = await original(self, sql, params)
        if self.path == source:
            largest.append(len(rows))
        return rows

    monkeypatch.setattr(Database, "fetchall", fetchall)
    target = str(tmp_path / "target.sqlite3")
    report = await copy_database(source, target, batch=3)
    monkeypatch.undo()
    assert max(largest) == 3 and len(largest) > report.copied / 3
    assert await dump(target) == await dump(source)


async def test_the_source_must_be_up_to_date_and_exist(tmp_path):
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as conn:
        conn.executescript((SCHEMAS / "01-c821484.sql").read_text(encoding="utf-8"))
    with pytest.raises(CopyRefused) as refused:
        await copy_database(str(old), str(tmp_path / "t.sqlite3"))
    assert refused.value.key == "cli.db_copy_source_behind"
    with pytest.raises(CopyRefused) as refused:
        await copy_database(str(tmp_path / "missing.sqlite3"), str(tmp_path / "t.sqlite3"))
    assert refused.value.key == "cli.db_copy_no_source"
    assert not (tmp_path / "missing.sqlite3").exists()
    with pytest.raises(CopyRefused) as refused:
        await copy_database(str(old), f"sqlite:///{old}")
    assert refused.value.key == "cli.db_copy_same"


async def test_every_table_has_a_rule_for_a_class():
    tables = await schema()
    filters = class_filters(tables, ("discord", "guild"))
    unruled = {t.name for t in tables} - filters.keys() - TRANSIENT
    assert unruled == NO_CLASS, "a new table: give it a class rule in bot/storage/transfer.py, or list it in TRANSIENT"
    assert TRANSIENT.isdisjoint(class_filters(tables, None))
    order = [t.name for t in tables]
    for table in tables:  # parents first
        assert all(order.index(parent) < order.index(table.name) for parent, _, _ in table.parents)


def test_the_command_prints_each_table_in_the_readers_language_and_refuses_clearly(tmp_path, capsys, monkeypatch):
    import asyncio

    source = asyncio.run(filled(tmp_path / "source.sqlite3"))
    target = str(tmp_path / "target.sqlite3")
    monkeypatch.setenv("AULA_LOCALE", "es")
    assert main(["db", "copy", source, target, "--clase", "discord:guild"]) == 0
    out = capsys.readouterr().out
    assert t("es", "cli.db_copy_start", what=t("es", "cli.db_copy_class", owner="discord:guild"), source=source, target=target) in out
    assert "en el origen" in out and "command_log" not in out
    quiz_answers = next(line for line in out.splitlines() if line.startswith("quiz_answers"))
    assert quiz_answers.split()[1:] == ["15", "15", "15"]  # 5 players × 3 questions
    monkeypatch.setenv("AULA_LOCALE", "en")
    assert main(["db", "copy", source, target, "--clase", "discord:guild"]) == 0
    assert t("en", "cli.db_copy_done", count=0) in capsys.readouterr().out
    assert main(["db", "copy", source, source]) == 1
    assert t("en", "cli.db_copy_same") in capsys.readouterr().err
    assert main(["db", "copy", source, target, "--clase", "guild"]) == 2
    assert t("en", "cli.db_copy_bad_class", value="guild") in capsys.readouterr().err


def test_the_command_names_the_conflicting_row_in_the_readers_language(tmp_path, capsys, monkeypatch):
    """The refusal the README documents (a target holding another row under the same id) is a
    message and exit 1, not a traceback: the message's placeholder must not clash with t()'s own
    parameters."""
    import asyncio

    source = asyncio.run(filled(tmp_path / "source.sqlite3"))
    target = str(tmp_path / "target.sqlite3")
    asyncio.run(_another_comparison(target))
    for lang in ("es", "en"):
        monkeypatch.setenv("AULA_LOCALE", lang)
        assert main(["db", "copy", source, target]) == 1
        err = capsys.readouterr().err
        assert t(lang, "cli.db_copy_conflict", table="compare_runs", row="id=1") in err
        assert "Traceback" not in err


async def _another_comparison(path: str) -> None:
    db = await open_database(path)
    try:  # another database's comparison holds id 1 there
        await db.execute_returning(
            "INSERT INTO compare_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (5.0, "discord", "elsewhere", "c", "x", "X", "p"),
        )
    finally:
        await db.close()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_url_aula_does_not_open_is_refused_not_made_into_folders(tmp_path, capsys, monkeypatch, lang):
    """`mysql://…` or a misspelt `postgresq://…` in AULA_DATABASE or as a copy's side used to be
    taken for an SQLite file name: folders named after the URL, password included, and a class on
    a private SQLite file instead of the shared server."""
    import asyncio

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AULA_LOCALE", lang)
    source = asyncio.run(filled(tmp_path / "source.sqlite3"))
    head = t(lang, "cli.database_error", error="\0").split("\0")[0]
    for url in ("mysql://u:s3cret@h/x", "postgresq://u:s3cret@127.0.0.1:1/x"):
        monkeypatch.setenv("AULA_DATABASE", url)
        assert main(["db", "upgrade"]) == 2
        assert main(["db", "copy", source, url]) == 2
        err = capsys.readouterr().err
        assert err.count(head) == 2 and "sqlite:///path" in err and "s3cret" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.sqlite3"]
