"""`aula db copy SOURCE TARGET`: a class's rows, or a whole database, from one database to another
(SQLite ↔ PostgreSQL, either direction, or SQLite → SQLite), verified and safe to run again.

- The tables, their columns, keys and foreign keys are read from the schema the migrations build
  (both dialects end with the same tables and columns: tests/test_storage_dialects.py); the
  target is migrated first and the source must be up to date (`aula db upgrade` on it first).
- Tables go in foreign-key order, each read in batches of COPY_BATCH rows ordered by its key
  (keyset pagination: memory stays bounded however big a table is), inside ONE transaction on the
  target: a refused copy leaves the target as it was.
- Rows keep their ids: the buttons a class already posted carry them (a homework assignment, a
  /roles conversation, a comparison...). Identity sequences (PostgreSQL) and AUTOINCREMENT
  counters (SQLite) are moved past the copied ids and past the source's own counter, so the
  target never hands out an id the source already used.
- Idempotent: a row already in the target with the same values is skipped; re-running copies
  nothing and ends with the same counts. A row in the target with the same key but other values
  (another database's row with that id, or the class changed since the last copy) is a conflict:
  the copy is refused, naming the table and the key, and nothing is written. Exception: `users`
  (one profile per person and platform, shared by every class): a profile already there is kept
  (its name and language are refreshed at the person's next command).
- After copying, each table's rows are counted in both databases (the class's rows for a class
  copy); any difference refuses the copy (the target holds rows of that table the source lacks).

A class is (platform, workspace_id): a table with those columns holds the class's rows; a table
with a foreign key holds the rows of the class's parents (a comparison's outputs and votes, a
quiz's questions, players and answers...); `users` holds the people the class's rows name. The
command log names no class: it is copied with the whole database only. What running processes
hold between them (TRANSIENT: rate-limit slots, waiters, budget holds, job claims) is not copied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.storage.database import Database, DatabaseError, is_postgres, migrations, open_database, sqlite_path

COPY_BATCH = 500  # rows per read and per insert (at most ~20 columns each: far below any parameter limit)
SHARED_TABLES = {"users"}  # rows shared by every class: an existing row is kept, not a conflict
NO_CLASS = {"command_log"}  # names no class: copied with the whole database only
# What running processes hold between them (rate-limit slots, who waits in line, budget held by
# calls in flight, claimed jobs): each row expires within minutes and means nothing to another
# database, so it is never copied. A new table must be listed here or get a class rule
# (tests/test_db_copy.py checks).
TRANSIENT = {
    "llm_rate_slots", "llm_queue_waiters", "llm_budget_holds", "llm_cooldowns", "job_claims", "pending_uploads",
    "platform_deliveries",
}


class CopyRefused(DatabaseError):
    """The copy cannot be done as asked; `key` names the message (cli.db_copy_*) and `values` fill it."""

    def __init__(self, key: str, /, **values: Any) -> None:
        super().__init__(f"{key}: {values}")
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key, or the first unique constraint of a table without one
    identity: bool  # an INTEGER PRIMARY KEY id (PostgreSQL: an identity column)
    autoincrement: bool  # SQLite AUTOINCREMENT: ids never reused
    parents: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (table, our columns, theirs)


@dataclass
class Copied:
    """One table's outcome: rows the source has (of the class), rows copied now, rows the target has."""

    table: str
    source: int = 0
    copied: int = 0
    target: int = 0


@dataclass
class Report:
    tables: list[Copied] = field(default_factory=list)

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables)


async def schema() -> list[Table]:
    """Every table of the current schema (schema_migrations aside), parents before children."""
    db = await Database(":memory:").open()
    try:
        names = [r[0] for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'schema_migrations' ORDER BY rowid"
        )]  # fmt: skip
        tables = {}
        for name in names:
            info = await db.fetchall(f"PRAGMA table_info({name})")
            columns = tuple(r["name"] for r in info)
            key = tuple(r["name"] for r in sorted((r for r in info if r["pk"]), key=lambda r: r["pk"]))
            if not key:
                for index in await db.fetchall(f"PRAGMA index_list({name})"):
                    if index["unique"] and index["origin"] == "u":
                        key = tuple(r["name"] for r in await db.fetchall(f"PRAGMA index_info({index['name']})"))
                        break
            if not key:
                raise DatabaseError(f"table {name} has no key to copy it by")
            identity = key == ("id",) and any(r["name"] == "id" and r["type"].upper() == "INTEGER" for r in info)
            sql = (await db.fetchone("SELECT sql FROM sqlite_master WHERE name = ?", (name,)))[0]
            foreign: dict[int, tuple[str, list[str], list[str]]] = {}
            for r in await db.fetchall(f"PRAGMA foreign_key_list({name})"):
                parent = foreign.setdefault(r["id"], (r["table"], [], []))
                parent[1].append(r["from"])
                parent[2].append(r["to"])
            parents = tuple((t, tuple(a), tuple(b)) for t, a, b in foreign.values())
            tables[name] = Table(name, columns, key, identity, "AUTOINCREMENT" in sql.upper(), parents)
    finally:
        await db.close()
    ordered: list[Table] = []
    done: set[str] = set()
    while len(ordered) < len(tables):
        ready = [t for t in tables.values() if t.name not in done and all(p[0] in done for p in t.parents)]
        if not ready:
            raise DatabaseError("the tables' foreign keys form a cycle")
        for table in ready:
            ordered.append(table)
            done.add(table.name)
    return ordered


def class_filters(tables: list[Table], owner: tuple[str, str] | None) -> dict[str, tuple[str, tuple]]:
    """table -> (WHERE condition, its params) selecting the class's rows; every row when owner is
    None. A table without a rule for the class (the command log) is left out."""
    tables = [t for t in tables if t.name not in TRANSIENT]
    if owner is None:
        return {t.name: ("1 = 1", ()) for t in tables}
    filters: dict[str, tuple[str, tuple]] = {}
    by_name = {t.name: t for t in tables}
    for table in tables:
        if {"platform", "workspace_id"} <= set(table.columns):
            filters[table.name] = ("platform = ? AND workspace_id = ?", owner)
        elif table.parents and table.parents[0][0] in filters:
            parent, ours, theirs = table.parents[0]
            where, params = filters[parent]
            left = ours[0] if len(ours) == 1 else f"({', '.join(ours)})"
            filters[table.name] = (f"{left} IN (SELECT {', '.join(theirs)} FROM {parent} WHERE {where})", params)
    if "users" in by_name:  # the people the class's rows name
        named = [(f"SELECT user_id FROM {name} WHERE {where}", params) for name, (where, params) in filters.items()
                 if "user_id" in by_name[name].columns]  # fmt: skip
        union = " UNION ".join(sql for sql, _ in named)
        filters["users"] = (f"platform = ? AND user_id IN ({union})", (owner[0], *(p for _, ps in named for p in ps)))
    return filters


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, memoryview):
        a = bytes(a)
    if isinstance(b, memoryview):
        b = bytes(b)
    return a == b


def _key_condition(key: tuple[str, ...], op: str, count: int = 1) -> str:
    if op == ">":
        if len(key) == 1:
            return f"{key[0]} > ?"
        return f"({', '.join(key)}) > ({', '.join('?' * len(key))})"
    if len(key) == 1:
        return f"{key[0]} IN ({', '.join('?' * count)})"
    row = f"({', '.join('?' * len(key))})"
    return f"({', '.join(key)}) IN (VALUES {', '.join([row] * count)})"


async def _count(db_or_conn, table: str, where: str, params: tuple, in_transaction: bool = False) -> int:
    sql = f"SELECT COUNT(*) FROM {table} WHERE {where}"
    rows = await (db_or_conn.execute_fetchall(sql, params) if in_transaction else db_or_conn.fetchall(sql, params))
    return int(list(rows)[0][0])


def _same_database(source: str, target: str) -> bool:
    if is_postgres(source) or is_postgres(target):
        return source.rstrip("/") == target.rstrip("/")
    return Path(sqlite_path(source)).resolve() == Path(sqlite_path(target)).resolve()


def _missing_file(setting: str) -> bool:
    """An SQLite source that does not exist (opening it would create an empty one)."""
    return not is_postgres(setting) and sqlite_path(setting) != ":memory:" and not Path(sqlite_path(setting)).is_file()


async def copy_database(
    source: str,
    target: str,
    owner: tuple[str, str] | None = None,
    progress: Callable[[Copied], None] | None = None,
    batch: int = COPY_BATCH,
) -> Report:
    """Copy the class `owner` (platform, workspace_id), or everything when None, from the database
    `source` to `target` (each a path, sqlite:///… or postgresql://… URL); see the module's doc.
    Raises CopyRefused (nothing written) or DatabaseError (cannot open)."""
    if _same_database(source, target):
        raise CopyRefused("cli.db_copy_same")
    if _missing_file(source):
        raise CopyRefused("cli.db_copy_no_source", source=source)
    tables = await schema()
    filters = class_filters(tables, owner)
    src = await open_database(source, migrate=False)
    try:
        known = {v for v, _, _ in migrations(src.dialect)}
        if known - await src.applied_migrations():
            raise CopyRefused("cli.db_copy_source_behind", source=shown(source))
        dst = await open_database(target)  # migrated first
        try:
            return await _copy(src, dst, tables, filters, progress, batch)
        finally:
            await dst.close()
    finally:
        await src.close()


def shown(setting: str) -> str:
    """How a database setting is printed: a URL with its password masked."""
    from bot.settings import masked_url

    return masked_url(setting) if "://" in setting and not setting.startswith("sqlite:") else setting


async def _copy(src, dst, tables: list[Table], filters, progress, batch: int) -> Report:
    report = Report()
    async with dst.transaction() as conn:
        for table in tables:
            if table.name not in filters:
                continue
            where, params = filters[table.name]
            done = Copied(table.name)
            columns = ", ".join(table.columns)
            key_at = [table.columns.index(k) for k in table.key]
            order = ", ".join(table.key)
            insert = f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join('?' * len(table.columns))})"
            last: tuple | None = None
            while True:
                after = f" AND {_key_condition(table.key, '>')}" if last is not None else ""
                rows = await src.fetchall(
                    f"SELECT {columns} FROM {table.name} WHERE ({where}){after} ORDER BY {order} LIMIT ?",
                    (*params, *(last or ()), batch),
                )
                if not rows:
                    break
                rows = [tuple(r) for r in rows]
                last = tuple(rows[-1][i] for i in key_at)
                done.source += len(rows)
                keys = [tuple(r[i] for i in key_at) for r in rows]
                existing = {
                    tuple(r[i] for i in key_at): tuple(r)
                    for r in await conn.execute_fetchall(
                        f"SELECT {columns} FROM {table.name} WHERE {_key_condition(table.key, 'in', len(keys))}",
                        [v for k in keys for v in k],
                    )
                }
                missing = []
                for row, key in zip(rows, keys, strict=True):
                    there = existing.get(key)
                    if there is None:
                        missing.append(row)
                    elif table.name not in SHARED_TABLES and not all(map(_same, row, there)):
                        raise CopyRefused("cli.db_copy_conflict", table=table.name,
                                          row=", ".join(f"{k}={v}" for k, v in zip(table.key, key, strict=True)))  # fmt: skip
                if missing:
                    try:
                        await conn.executemany(insert, missing)
                    except sqlite3.IntegrityError as exc:  # PostgreSQL's IntegrityError is a subclass
                        raise CopyRefused("cli.db_copy_refused_row", table=table.name, error=str(exc)[:300]) from exc
                    done.copied += len(missing)
            report.tables.append(done)
        for done in report.tables:  # once every table is in: a class's people are named by its rows
            where, params = filters[done.table]
            done.target = await _count(conn, done.table, where, params, in_transaction=True)
            if done.target != done.source:
                raise CopyRefused("cli.db_copy_counts", table=done.table, source=done.source, target=done.target)
        await _move_counters(src, dst, conn, tables)
    for done in report.tables:
        if progress is not None:
            progress(done)
    return report


async def _high_water(db, table: str) -> int:
    """The highest id `db` handed out for table (deleted rows included where it keeps track)."""
    if db.dialect == "postgresql":
        row = await db.fetchone(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0)", (table,)
        )
    else:
        row = await db.fetchone("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
    return int(row[0]) if row and row[0] is not None else 0


async def _move_counters(src, dst, conn, tables: list[Table]) -> None:
    """Past the copied ids, and past the ids the source handed out, so none is handed out again."""
    for table in tables:
        if not table.identity:
            continue
        rows = list(await conn.execute_fetchall(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}"))
        floor = max(int(rows[0][0]), await _high_water(src, table.name))
        if dst.dialect == "postgresql":
            current = list(await conn.execute_fetchall(
                "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0)", (table.name,)
            ))[0][0]  # fmt: skip
            if floor > int(current):
                await conn.execute("SELECT setval(pg_get_serial_sequence(?, 'id'), ?)", (table.name, floor))
        elif table.autoincrement and floor > 0:
            updated = await conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?", (floor, table.name, floor)
            )
            if updated.rowcount == 0 and not list(
                await conn.execute_fetchall("SELECT 1 FROM sqlite_sequence WHERE name = ?", (table.name,))
            ):
                await conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table.name, floor))
