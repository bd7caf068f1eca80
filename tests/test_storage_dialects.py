"""Both backends: the same migrations (numbers, names, tables, columns, types, unique constraints),
the same behaviour through the same interface, migrations once under concurrent starts, and the
PostgreSQL layer's own pieces (placeholders, errors, the setting that chooses)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.storage.database import (
    Database,
    DatabaseError,
    StorageUnavailable,
    database_for,
    migrations,
    open_database,
    sqlite_path,
    storage_unavailable,
)
from bot.storage.postgres import IntegrityError, PostgresDatabase, to_postgres

# The PostgreSQL type each SQLite declared type becomes (PG_DESIGN: INTEGER -> BIGINT ...).
TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text", "BLOB": "bytea"}


def test_both_folders_hold_the_same_migrations():
    sqlite = [(v, name) for v, name, _ in migrations()]
    postgres = [(v, name) for v, name, _ in migrations("postgresql")]
    assert sqlite == postgres
    assert sqlite, "no migrations found"


async def sqlite_schema(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        schema = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            columns = [
                (name, TYPES.get(kind.upper(), kind), bool(notnull or pk))
                for _, name, kind, notnull, _, pk in conn.execute(f"PRAGMA table_info({table})")
            ]
            info = list(conn.execute(f"PRAGMA table_info({table})"))
            key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            uniques = {(key, False)} if key else set()  # an INTEGER PRIMARY KEY has no index of its own
            for _, index, unique, _, partial in conn.execute(f"PRAGMA index_list({table})"):
                if unique:
                    cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
                    uniques.add((cols, bool(partial)))
            keys = {}
            for row in conn.execute(f"PRAGMA foreign_key_list({table})"):  # id, seq, table, from, to, ..., on_delete
                found = keys.setdefault(row[0], [row[2], [], [], row[6]])
                found[1].append(row[3])
                found[2].append(row[4])
            foreign = {(ref, tuple(cols), tuple(to), on_delete) for ref, cols, to, on_delete in keys.values()}
            indexes = {
                name: (tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})")), " WHERE " in sql.upper())
                for name, sql in conn.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
                )
            }
            schema[table] = {"columns": columns, "unique": uniques, "foreign": foreign, "indexes": indexes}
        return schema
    finally:
        conn.close()


async def postgres_schema(db: PostgresDatabase) -> dict:
    schema = {}
    rows = await db.fetchall(
        """SELECT c.table_name, c.column_name, c.data_type, c.is_nullable FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
           WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
           ORDER BY c.table_name, c.ordinal_position"""
    )
    for r in rows:
        table = schema.setdefault(r["table_name"], {"columns": [], "unique": set(), "foreign": set(), "indexes": {}})
        table["columns"].append((r["column_name"], r["data_type"], r["is_nullable"] == "NO"))
    indexes = await db.fetchall(
        """SELECT t.relname AS table_name, i.indpred IS NOT NULL AS partial,
                  array_agg(a.attname ORDER BY k.n) AS columns
           FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           WHERE i.indisunique GROUP BY t.relname, i.indexrelid, i.indpred"""
    )
    for r in indexes:
        schema[r["table_name"]]["unique"].add((tuple(r["columns"]), bool(r["partial"])))
    foreign = await db.fetchall(
        """SELECT t.relname AS table_name, r.relname AS ref, c.confdeltype AS on_delete,
                  array_agg(a.attname ORDER BY k.n) AS columns, array_agg(ra.attname ORDER BY k.n) AS ref_columns
           FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
           JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()
           CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, ref_attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           JOIN pg_attribute ra ON ra.attrelid = r.oid AND ra.attnum = k.ref_attnum
           WHERE c.contype = 'f' GROUP BY t.relname, r.relname, c.oid, c.confdeltype"""
    )
    actions = {"c": "CASCADE", "a": "NO ACTION", "r": "RESTRICT", "n": "SET NULL", "d": "SET DEFAULT"}
    for r in foreign:
        schema[r["table_name"]]["foreign"].add(
            (r["ref"], tuple(r["columns"]), tuple(r["ref_columns"]), actions[bytes(r["on_delete"]).decode() if isinstance(r["on_delete"], bytes) else r["on_delete"]])
        )
    named = await db.fetchall(
        """SELECT t.relname AS table_name, x.relname AS name, i.indpred IS NOT NULL AS partial,
                  array_agg(a.attname ORDER BY k.n) AS columns
           FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
           JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           GROUP BY t.relname, x.relname, i.indpred"""
    )
    for r in named:  # indexes a migration created by name (not those behind a constraint)
        schema[r["table_name"]]["indexes"][r["name"]] = (tuple(r["columns"]), bool(r["partial"]))
    return schema


async def test_both_schemas_end_with_the_same_tables_columns_types_keys_and_indexes(tmp_path, postgres_url):
    path = tmp_path / "a.sqlite3"
    await (await Database(path).open()).close()
    expected = await sqlite_schema(path)
    db = await PostgresDatabase(postgres_url).open()
    try:
        found = await postgres_schema(db)
    finally:
        await db.close()
    assert sorted(found) == sorted(expected)
    for table in expected:
        assert found[table]["columns"] == expected[table]["columns"], table
        assert found[table]["unique"] == expected[table]["unique"], table
        assert found[table]["foreign"] == expected[table]["foreign"], table
        assert found[table]["indexes"] == expected[table]["indexes"], table
    # uniqueness the issue names stays the database's: one answer per student and question...
    assert (("session_id", "position", "user_id"), False) in found["quiz_answers"]["unique"]
    assert (("run_id", "platform", "user_id"), False) in found["compare_votes"]["unique"]
    assert (("assignment_id", "position", "user_id", "revision"), False) in found["homework_answers"]["unique"]


async def test_two_processes_starting_at_once_on_an_empty_database_migrate_once(empty_postgres_url):
    """Each open() runs upgrade() on its own pool; the advisory lock lets one migrate, the other
    then finds everything applied (without it: 'relation users already exists')."""
    first, second = PostgresDatabase(empty_postgres_url), PostgresDatabase(empty_postgres_url)
    try:
        await asyncio.gather(first.open(), second.open())
        rows = await first.fetchall("SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version")
        assert {r["version"] for r in rows} == {v for v, _, _ in migrations("postgresql")}
        assert all(r["n"] == 1 for r in rows)
        assert await first.upgrade() == [] and await second.upgrade() == []
        assert await second.schema_version() == max(v for v, _, _ in migrations("postgresql"))
    finally:
        await first.close()
        await second.close()


async def test_the_same_statements_mean_the_same_on_both(database_url):
    db = await open_database(database_url)
    try:
        await db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", ("console", "ana", "Ana", "es", 1.5, 2))
        rows = await db.execute_returning(
            """INSERT INTO compare_runs (at, platform, workspace_id, channel_id, user_id, user_name, profile)
               VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (10.0, "console", "local", "c", "ana", "Ana", "default"),
        )
        run_id = rows[0]["id"]
        assert isinstance(run_id, int)
        # a VALUES list, parameters typed by their Python values (PostgreSQL would call them text)
        found = await db.fetchall(
            """SELECT v.column1 AS n, v.column2 AS name FROM (VALUES (?, ?), (?, ?)) AS v
               JOIN users u ON u.user_id = v.column2 WHERE v.column1 > ? ORDER BY v.column1""",
            (1, "ana", 2, "beto", 0),
        )
        assert [(r["n"], r["name"]) for r in found] == [(1, "ana")]
        total = await db.fetchone("SELECT SUM(first_seen) AS f, SUM(last_seen) AS l, COUNT(*) AS n FROM users")
        assert (total["f"], total["l"], total["n"]) == (1.5, 2, 1)
        assert type(total["n"]) is int
        # a question mark inside a literal is not a parameter
        assert (await db.fetchone("SELECT '?' AS q, ? AS p", ("x",)))["q"] == "?"
        async with db.transaction() as conn:
            cursor = await conn.execute("UPDATE users SET locale = ? WHERE platform = ?", ("en", "console"))
            assert cursor.rowcount == 1
            cursor = await conn.execute("SELECT locale FROM users WHERE user_id = ?", ("ana",))
            assert (await cursor.fetchone())["locale"] == "en"
            await conn.executemany(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                [("console", "beto", "Beto", "es", 3.0, 3.0), ("console", "caro", "Caro", "es", 4.0, None or 4.0)],
            )
            assert len(await conn.execute_fetchall("SELECT * FROM users")) == 3
        await asyncio.gather(
            *(db.execute_grouped("INSERT INTO command_log (at, platform, user_id, command, latency_ms, outcome) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (float(i), "console", "ana", "help", 1.0, "ok"))
              for i in range(20))
        )
        assert (await db.fetchone("SELECT COUNT(*) FROM command_log"))[0] == 20
        with pytest.raises(sqlite3.IntegrityError):  # IntegrityError on PostgreSQL is a subclass
            await db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", ("console", "ana", "A", "es", 1.0, 1.0))
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("DELETE FROM users")
                raise RuntimeError("interrupted")
        assert (await db.fetchone("SELECT COUNT(*) FROM users"))[0] == 3
    finally:
        await db.close()


def test_the_setting_chooses_the_backend():
    assert isinstance(database_for("data/aula.sqlite3"), Database)
    assert database_for("sqlite:///data/a.sqlite3").path == "data/a.sqlite3"
    assert database_for("sqlite:////var/lib/aula/a.sqlite3").path == "/var/lib/aula/a.sqlite3"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    with pytest.raises(DatabaseError):
        sqlite_path("sqlite://host/x")
    for typo in ("mysql://u:s3cret@h/x", "postgresq://u:s3cret@h/x", "postgresql+asyncpg://u:s3cret@h/x"):
        with pytest.raises(DatabaseError) as refused:  # not folders named after the URL, password and all
            database_for(typo)
        assert "s3cret" not in str(refused.value) and "sqlite:///path" in str(refused.value)
    pg = database_for("postgresql://aula:s3cret@db.example:5432/aula", pool_size=7)
    assert isinstance(pg, PostgresDatabase) and pg.pool_size == 7
    assert "s3cret" not in pg.path and "db.example:5432" in pg.path
    assert isinstance(database_for("postgres://u@h/d"), PostgresDatabase)


def test_placeholders_become_numbered_and_typed_outside_quotes_and_comments():
    sql = "SELECT '?', \"a?\" FROM t -- why?\nWHERE a = ? AND b = ? /* ? */ AND c = ? AND d = ?"
    assert to_postgres(sql, (int, str, None, bytes)) == (
        "SELECT '?', \"a?\" FROM t -- why?\nWHERE a = $1::bigint AND b = $2::text /* ? */ AND c = $3 AND d = $4::bytea"
    )
    assert to_postgres("x = ? AND y = ?", (float,)) == "x = $1::float8 AND y = $2"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://aula:s3cret@127.0.0.1:{port}/aula",  # nothing listens
        "postgresql://aula:s3cret@127.0.0.1:notaport/aula",
        "postgresql://aula:s3cret@[::1/aula",
        "postgresql://aula:s3cret@127.0.0.1:{port}/aula?sslmode=bogus&password=s3cret",
        "postgresql://aula:s3cret@nohost.invalid/aula",
    ],
)
async def test_a_server_that_cannot_be_reached_is_a_clear_error_without_the_password(url):
    from tests.pg_support import free_port

    db = PostgresDatabase(url.format(port=free_port()))
    with pytest.raises(DatabaseError) as caught:
        await db.open()
    assert "s3cret" not in str(caught.value) and "cannot connect" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no traceback quoting it


def test_storage_unavailable_covers_the_server_going_away():
    import asyncpg

    from bot.storage.postgres import translated

    for exc in (
        ConnectionRefusedError(111, "refused"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ):
        mapped = translated(exc)
        assert isinstance(mapped, StorageUnavailable) and storage_unavailable(mapped), exc
    assert isinstance(translated(asyncpg.exceptions.UniqueViolationError("dup")), IntegrityError)
    assert translated(asyncpg.exceptions.UndefinedTableError("no such table")) is None
