"""The PostgreSQL backend: the same public interface as the SQLite `Database`, over an asyncpg pool.

Statements are written once, with `?` placeholders, in the subset both dialects run (see
bot/storage/database.py); here each `?` becomes `$1…$n`, once per statement and parameter
types (cached). A parameter that is a Python int, float, str or bytes is cast to BIGINT,
DOUBLE PRECISION, TEXT or BYTEA where it stands, so a statement means what it means on SQLite
even where PostgreSQL could not infer a type (`SELECT … FROM (VALUES (?, ?)) AS v`, `? IS NULL`).

Errors: connection loss, a server that is down, starting up or shutting down, a full disk, a
deadlock or a lock timeout raise `StorageUnavailable` (`storage_unavailable()` is true for it:
the user gets the "couldn't save" message); a violated constraint raises `IntegrityError`, a
subclass of sqlite3.IntegrityError, so the repositories catch one exception for both backends.
The pool replaces a closed connection when it is next acquired: after a PostgreSQL restart the
first statements fail with `StorageUnavailable`, the next ones run on new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from bot.storage import database
from bot.storage.database import DatabaseError, GroupedWrites, StorageUnavailable

# pg_advisory_lock key under which migrations run (any process of any Aula on this database).
MIGRATION_LOCK = 0x41756C61_0001  # "Aula", 1
CONNECT_TIMEOUT_S = 5.0
# A statement the server has not answered in this long fails (StorageUnavailable: "couldn't save")
# instead of holding the command forever (a partitioned network, a stopped server host).
STATEMENT_TIMEOUT_S = 30.0
MIGRATION_TIMEOUT_S = 3600.0  # a migration (or waiting for another process's) may take long

_CASTS = {int: "::bigint", bool: "::bigint", float: "::float8", str: "::text", bytes: "::bytea"}
_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable (ConnectionError and socket errors)
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: the connection is gone or was never made
    asyncpg.exceptions.OperatorInterventionError,  # 57: admin shutdown, crash, starting up, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # 53: disk full, out of memory, too many connections
    asyncpg.exceptions.TransactionRollbackError,  # 40: deadlock, serialization failure
    asyncpg.exceptions.LockNotAvailableError,  # 55P03
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby after a failover
    asyncpg.exceptions.DiskFullError if hasattr(asyncpg.exceptions, "DiskFullError") else OSError,
)


class IntegrityError(sqlite3.IntegrityError):
    """A unique, foreign-key, check or not-null constraint refused the write (the PostgreSQL
    error is the __cause__). A subclass of sqlite3.IntegrityError: repositories catch one class."""


def translated(exc: BaseException) -> BaseException | None:
    """The exception Aula raises instead of exc, or None to let exc through unchanged."""
    if isinstance(exc, (StorageUnavailable, IntegrityError)):
        return None
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(str(exc))
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(f"PostgreSQL is unavailable: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return StorageUnavailable(f"PostgreSQL is unavailable: {exc}")
    return None


@contextlib.contextmanager
def mapped_errors():
    """Raise what `translated` makes of an asyncpg error (others pass unchanged)."""
    try:
        yield
    except Exception as exc:
        mapped = translated(exc)
        if mapped is None:
            raise
        raise mapped from exc


_placeholder_cache: dict[tuple[str, tuple], str] = {}
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.S)


def to_postgres(sql: str, types: tuple = ()) -> str:
    """sql with each `?` (outside quotes and comments) as `$n`, cast by the Python type of its
    parameter (types[n-1]; None or another type: no cast). Cached."""
    key = (sql, types)
    found = _placeholder_cache.get(key)
    if found is not None:
        return found
    counter = 0

    def number(match: re.Match) -> str:
        nonlocal counter
        if match.group() != "?":
            return match.group()
        counter += 1
        kind = types[counter - 1] if counter <= len(types) else None
        return f"${counter}{_CASTS.get(kind, '')}"

    found = _TOKENS.sub(number, sql)
    if len(_placeholder_cache) > 4096:  # statements are a fixed set; a bound all the same
        _placeholder_cache.clear()
    _placeholder_cache[key] = found
    return found


def _types(params: Sequence[Any]) -> tuple:
    return tuple(type(p) if p is not None else None for p in params)


def _row_types(rows: Sequence[Sequence[Any]]) -> tuple:
    """Each column's type: its first non-None value's (None when every row has None there)."""
    if not rows:
        return ()
    types = list(_types(rows[0]))
    if None in types:
        for row in rows[1:]:
            for i, value in enumerate(row):
                if types[i] is None and value is not None:
                    types[i] = type(value)
    return tuple(types)


def _values(params: Sequence[Any]) -> tuple:
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


_ROWS_RETURNED = re.compile(r"^\s*(?:SELECT|WITH|VALUES|SHOW|TABLE|EXPLAIN)\b|\bRETURNING\b", re.I)


def returns_rows(sql: str) -> bool:
    return _ROWS_RETURNED.search(sql) is not None


def _rowcount(status: str) -> int:
    """'UPDATE 3' -> 3, 'INSERT 0 1' -> 1; -1 for statements without a count (like sqlite3)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def _numeric(text: str) -> int | float:
    """NUMERIC as SQLite would give it: SUM of BIGINTs is an int, not a Decimal."""
    try:
        return int(text)
    except ValueError:
        return float(text)


async def _init_connection(con: asyncpg.Connection) -> None:
    await con.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text")


class Cursor:
    """What `Connection.execute` returns: the rows (for SELECT/RETURNING) and the row count."""

    __slots__ = ("rowcount", "_rows")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self):
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list:
        return list(self._rows)


class Connection:
    """One pooled connection inside `PostgresDatabase.transaction()`, with aiosqlite's methods."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        params = tuple(params)
        with mapped_errors():
            return await _run(self.con, sql, params)

    async def execute_fetchall(self, sql: str, params: Iterable[Any] = ()) -> list:
        params = tuple(params)
        with mapped_errors():
            return await self.con.fetch(to_postgres(sql, _types(params)), *_values(params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        with mapped_errors():
            await self.con.executemany(to_postgres(sql, _row_types(rows)), [_values(r) for r in rows])


async def _run(con: asyncpg.Connection, sql: str, params: tuple) -> Cursor:
    pg = to_postgres(sql, _types(params))
    if returns_rows(sql):
        rows = await con.fetch(pg, *_values(params))
        return Cursor(rows, len(rows))
    return Cursor([], _rowcount(await con.execute(pg, *_values(params))))


class PostgresDatabase(GroupedWrites):
    """Aula's storage on a PostgreSQL server. url: `postgresql://user:password@host:port/db`
    (libpq's parameters, e.g. `?sslmode=require`); pool_size: most connections this process
    opens. Never logs or shows the password (`address` is the URL masked)."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 10) -> None:
        from bot.settings import masked_url

        super().__init__()
        self.url = url
        self.address = masked_url(url)
        self.path = self.address  # what messages name (the SQLite Database's path)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        # One transaction at a time in this process, as on SQLite: a read-then-write inside one
        # is never interleaved with another coroutine's (other processes: the constraints decide).
        self._transaction_lock = asyncio.Lock()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseError("database is not open")
        return self._pool

    async def open(self, migrate: bool = True) -> PostgresDatabase:
        from bot.settings import unencoded_credentials

        if unencoded_credentials(self.url):  # the parser's error would quote pieces of the password
            raise DatabaseError(
                f"{self.address}: the user name or password holds @, /, ? or # as it is; write it"
                " percent-encoded in the URL (@ as %40, / as %2F, ? as %3F, # as %23)"
            )
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=min(2, self.pool_size),
                max_size=self.pool_size,
                init=_init_connection,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=STATEMENT_TIMEOUT_S,
            )
        except Exception as exc:
            raise DatabaseError(f"{self.address}: cannot connect to PostgreSQL: {_describe(exc)}") from None
        try:
            if migrate:
                await self.upgrade()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 10)
            except Exception:
                pool.terminate()

    async def server_version(self) -> str:
        row = await self.fetchone("SHOW server_version")
        return str(row[0])

    async def schema_version(self) -> int:
        return max(await self.applied_migrations(), default=0)

    async def applied_migrations(self) -> set[int]:
        row = await self.fetchone("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        if not row or not row["present"]:
            return set()
        return {int(r[0]) for r in await self.fetchall("SELECT version FROM schema_migrations")}

    async def upgrade(self) -> list[str]:
        """Apply the migrations this database lacks, each in its own transaction, under an advisory
        lock: processes started at once wait for the first one and then find nothing to do."""
        applied = []
        wanted = {version for version, _, _ in database.migrations("postgresql")}
        if wanted <= await self.applied_migrations():
            return applied  # up to date: no lock, no DDL (a role that may only read and write starts)
        try:
            async with self.pool.acquire() as con:
                await con.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT_S)
                try:
                    await con.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
                        "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                    )
                    done = {int(r[0]) for r in await con.fetch("SELECT version FROM schema_migrations")}
                    for version, name, sql in database.migrations("postgresql"):
                        if version in done:
                            continue
                        async with con.transaction():
                            await con.execute(sql, timeout=MIGRATION_TIMEOUT_S)
                            await con.execute(
                                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                                version,
                                name,
                                time.time(),
                            )
                        applied.append(name)
                finally:
                    await con.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        except asyncpg.PostgresError as exc:
            mapped = translated(exc)
            if mapped is not None:
                raise mapped from exc
            raise DatabaseError(f"{self.address}: a migration failed: {exc}") from exc
        return applied

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._transaction_lock:
            with mapped_errors():
                async with self.pool.acquire() as con, con.transaction():
                    yield Connection(con)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, committed; returns the number of rows it changed."""
        params = tuple(params)
        with mapped_errors():
            async with self.pool.acquire() as con:
                return (await _run(con, sql, params)).rowcount

    async def execute_returning(self, sql: str, params: Iterable[Any] = ()) -> list:
        """One write statement with a RETURNING clause, committed; the rows it returned."""
        return await self.fetchall(sql, params)

    async def _write_rows(self, sql: str, rows: list[tuple]) -> None:
        """execute_grouped's batch: one executemany (one transaction, pipelined)."""
        with mapped_errors():
            async with self.pool.acquire() as con:
                await con.executemany(to_postgres(sql, _row_types(rows)), [_values(r) for r in rows])

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list:
        params = tuple(params)
        with mapped_errors():
            return await self.pool.fetch(to_postgres(sql, _types(params)), *_values(params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()):
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
