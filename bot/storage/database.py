"""The storage: SQLite (the default, embedded) or PostgreSQL, chosen by the `database` setting.

`database_for(setting)` gives the backend: a path or `sqlite:///path` is SQLite (this module's
`Database`: WAL, foreign keys, busy timeout); `postgresql://…` is PostgreSQL
(bot/storage/postgres.py, asyncpg). Both have the same methods and run the same statements,
written once with `?` placeholders in the subset both dialects run: `ON CONFLICT … DO
NOTHING/UPDATE`, `RETURNING`, `COALESCE`; no `INSERT OR IGNORE/REPLACE`, no `lastrowid` (use
`RETURNING id`), no `rowid`, no `strftime/julianday/datetime()` (times are the app's clock, as
params), booleans as 0/1. Migrations are numbered files, one folder per dialect with the same
numbers (migrations/ and migrations/postgresql/).

On SQLite one aiosqlite connection is shared by the process; `transaction()` serialises
multi-statement writes so coroutines never interleave inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

SQLITE_HEADER = b"SQLite format 3\x00"
# execute_grouped: from this many rows a batch is one transaction (BEGIN, executemany, COMMIT);
# smaller ones commit row by row in one round trip (bench/quiz_storm.py's sustained run).
GROUP_TRANSACTION_ROWS = 8


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why and names the path."""


class StorageUnavailable(DatabaseError):
    """The database server cannot take a statement now (down, restarting, connection lost, disk
    full, deadlock): nothing of this statement was saved; a later one may succeed."""


# Primary result codes that mean "the storage cannot take a write now", not "this request is wrong":
# another process holds the lock, the disk (or max_page_count) is full, the file cannot be written.
UNAVAILABLE_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}


def storage_unavailable(exc: BaseException) -> bool:
    """True for errors a user can only wait out: SQLite locked, disk full, I/O error; PostgreSQL
    down, restarting or unreachable (StorageUnavailable)."""
    if isinstance(exc, StorageUnavailable):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in UNAVAILABLE_CODES


def migrations(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) for each bot/storage/migrations/NNNN_name.sql (dialect "sqlite") or
    migrations/postgresql/NNNN_name.sql ("postgresql"), in order."""
    found = []
    folder = resources.files("bot.storage").joinpath("migrations")
    if dialect != "sqlite":
        folder = folder.joinpath(dialect)
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise DatabaseError(f"two migrations share a number: {versions}")
    return found


def is_postgres(setting: str | Path) -> bool:
    return str(setting).startswith(("postgresql://", "postgres://"))


def sqlite_path(setting: str | Path) -> str:
    """The file a `database` setting names: a path, or a URL `sqlite:///relative/path`,
    `sqlite:////absolute/path`, `sqlite:///:memory:` (SQLAlchemy's spelling). DatabaseError (the URL
    shown without its password) for `sqlite://host/…` or any other `scheme://` (`mysql://`, a
    misspelt `postgresq://`), which would otherwise become folders named after the URL."""
    from bot.settings import masked_url

    text = str(setting)
    if text.startswith("sqlite:///"):
        return text[len("sqlite:///") :]
    if text.startswith("sqlite://"):
        raise DatabaseError(f"{masked_url(text)}: an SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    if _URL_SCHEME.match(text):  # mysql://…, postgresq://…: not a file name (it would become folders)
        raise DatabaseError(
            f"{masked_url(text)}: not a database Aula opens; use a file path, sqlite:///path or postgresql://…"
        )
    return text


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def database_for(setting: str | Path, pool_size: int = 10):
    """The backend a `database` setting names, not yet opened: `Database` (SQLite) for a path or
    `sqlite:///…`, `PostgresDatabase` for `postgresql://…` (pool_size: its most connections)."""
    if is_postgres(setting):
        from bot.storage.postgres import PostgresDatabase  # asyncpg only for who uses it

        return PostgresDatabase(str(setting), pool_size=pool_size)
    return Database(sqlite_path(setting))


async def open_database(setting: str | Path, pool_size: int = 10, migrate: bool = True):
    """database_for(setting), opened (and migrated unless migrate is False)."""
    return await database_for(setting, pool_size).open(migrate=migrate)


class GroupedWrites:
    """`execute_grouped` for both backends: the rows of one statement that arrive while its previous
    batch is being written go together in the next one; `_write_rows` writes a batch."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}  # execute_grouped's pending rows, per statement

    async def execute_grouped(self, sql: str, params: Iterable[Any] = ()) -> None:
        """One write statement, committed; returns once its row is stored, like `execute`, but
        every call of the same statement made while a round trip is under way goes to the database
        together (one `executemany`: group commit). For the writes most requests make beside
        their own (users seen, the command log, a player joining): a storm of clicks costs one
        round trip per batch for them instead of one per click (bench/quiz_clicks.py). Raises
        what the database raised for the batch its row was in."""
        group = self._groups.get(sql)
        if group is None:
            group = self._groups[sql] = _Group()
        waiter = asyncio.get_running_loop().create_future()
        group.rows.append(tuple(params))
        group.waiters.append(waiter)
        if group.flushing is None:
            group.flushing = asyncio.create_task(self._flush_group(sql, group))
        await waiter

    async def _write_rows(self, sql: str, rows: list[tuple]) -> None:
        raise NotImplementedError

    async def _flush_group(self, sql: str, group: _Group) -> None:
        try:
            while group.rows:
                rows, waiters = group.rows, group.waiters
                group.rows, group.waiters = [], []
                try:
                    await self._write_rows(sql, rows)
                except BaseException as exc:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc if isinstance(exc, Exception) else DatabaseError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            group.flushing = None
            for waiter in group.waiters:  # left behind by a cancelled flush
                if not waiter.done():
                    waiter.set_exception(DatabaseError("the write was cancelled"))
            group.rows, group.waiters = [], []


class Database(GroupedWrites):
    """Aula's storage in one SQLite file (path; ":memory:" for a throwaway one)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseError("database is not open")
        return self._conn

    async def open(self, migrate: bool = True) -> Database:
        if self.path != ":memory:":
            _prepare_file(Path(self.path))
        try:
            # Autocommit: a lone write is its own transaction (one round trip to SQLite's
            # thread); transaction() opens explicit ones for multi-statement writes.
            self._conn = await aiosqlite.connect(self.path, timeout=5.0, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA busy_timeout = 5000")
            mode = await (await self._conn.execute("PRAGMA journal_mode = WAL")).fetchone()
            await self._conn.execute("PRAGMA foreign_keys = ON")
            await self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise DatabaseError(f"{self.path}: cannot open as SQLite: {exc}") from exc
        self.journal_mode = mode[0] if mode else "?"
        try:
            if self.path != ":memory:":
                await self.check_integrity()
            if migrate:
                await self.upgrade()
        except sqlite3.DatabaseError as exc:  # "database disk image is malformed" while reading
            await self.close()
            raise DatabaseError(
                f"{self.path} is damaged ({exc}): stop Aula, run `aula doctor`, and restore a backup"
            ) from exc
        except DatabaseError:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def schema_version(self) -> int:
        row = await (await self.conn.execute("PRAGMA user_version")).fetchone()
        return int(row[0])

    async def applied_migrations(self) -> set[int]:
        """The migrations this file has. The first versions of Aula kept only `PRAGMA user_version`
        (every migration up to it applied, in order): such a file gets its schema_migrations
        table filled from it, instead of running 0001 again ("table users already exists")."""
        existed = await self.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        if existed is None and (version := await self.schema_version()) > 0:
            await self.conn.executemany(
                "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))",
                [(v, name) for v, name, _ in migrations() if v <= version],
            )
        await self.conn.commit()
        rows = await self.conn.execute_fetchall("SELECT version FROM schema_migrations")
        return {int(r[0]) for r in rows}

    async def check_integrity(self) -> None:
        """PRAGMA quick_check (the pages and their structure, without comparing indexes to their
        tables): a file with damaged pages is refused at start, not found out mid-class."""
        rows = await self.conn.execute_fetchall("PRAGMA quick_check(5)")
        found = [str(r[0]) for r in rows]
        if found != ["ok"]:
            raise DatabaseError(
                f"{self.path} is damaged ({'; '.join(found)[:300]}): stop Aula, run `aula doctor`, "
                "and restore a backup"
            )

    async def upgrade(self) -> list[str]:
        """Apply the migrations this file lacks (features land in any order); returns their names."""
        done = await self.applied_migrations()
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            async with self.transaction() as conn:
                # executescript would COMMIT first; run statement by statement inside our transaction.
                for statement in _statements(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))",
                    (version, name),
                )
                await conn.execute(f"PRAGMA user_version = {max(done | {version})}")
            done.add(version)
            applied.append(name)
        return applied

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                await self.conn.commit()
            except BaseException:
                # Also when COMMIT itself failed: SQLite then keeps the transaction open, and
                # every later autocommit write would join it and be lost with it.
                with contextlib.suppress(sqlite3.Error):
                    await self.conn.rollback()
                raise

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, committed; returns how many rows it changed (an id is read with
        `INSERT … RETURNING id` through `execute_returning`: both dialects have it)."""
        await self._outside_transactions()
        cursor = await self.conn.execute(sql, tuple(params))
        return max(cursor.rowcount, 0)

    async def execute_returning(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """One write statement with a RETURNING clause, committed; the rows it returned."""
        await self._outside_transactions()
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def _write_rows(self, sql: str, rows: list[tuple]) -> None:
        """execute_grouped's batch."""
        if len(rows) < GROUP_TRANSACTION_ROWS:
            await self._outside_transactions()
            await self.conn.executemany(sql, rows)
        else:  # one commit for the batch, not one per row (autocommit would): 3 round trips
            async with self.transaction() as conn:
                await conn.executemany(sql, rows)

    async def _outside_transactions(self) -> None:
        """Wait while another coroutine's transaction is open, so a write never lands inside it.

        The caller submits its statement right after, before awaiting anything else: the
        connection's thread runs statements in the order they were submitted, so any BEGIN
        comes after it. Single writes thus need no lock of their own and go to SQLite
        together, instead of one event-loop round trip after another (bench/class_load.py).
        """
        if self._write_lock.locked():
            async with self._write_lock:
                pass

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.conn.execute_fetchall(sql, tuple(params))
        return rows[0] if rows else None


@dataclass
class _Group:
    """Rows of one statement waiting for the next `executemany`, and who waits for them."""

    rows: list[tuple] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)
    flushing: asyncio.Task | None = None


def _statements(sql: str) -> list[str]:
    parts, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            parts.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        parts.append(buffer.strip())
    return [p for p in parts if p and not all(ln.strip().startswith("--") for ln in p.splitlines())]


def _prepare_file(path: Path) -> None:
    """Create the file owner-only (0600) or check that an existing one is SQLite and writable."""
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the folder {path.parent}: {exc.strerror}") from exc
    if path.exists():
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise DatabaseError(f"{path} is not writable")
        with path.open("rb") as fh:
            header = fh.read(16)
        if header and header != SQLITE_HEADER:
            raise DatabaseError(f"{path} exists and is not an SQLite database")
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as exc:
        raise DatabaseError(f"cannot create {path}: {exc.strerror}") from exc
