"""On PostgreSQL too, every statement the repositories run finds an index: test_query_plans.py's
scenario (every public method of every repository, as in class) on a fresh PostgreSQL database,
each statement it sent recorded as PostgreSQL received it (placeholders numbered and typed), then
planned with sequential scans disabled (`SET enable_seqscan = off`, EXPLAIN, nothing executed):
a Seq Scan left in the plan means no index can serve the statement, so its cost follows
everything stored in that table. The small tables of test_query_plans.SMALL_TABLES may be scanned.
"""

from __future__ import annotations

import json

import asyncpg

from bot.storage.postgres import PostgresDatabase
from tests.test_query_plans import AWAITING_INDEX, SMALL_TABLES, Called, fill_class, probe

SESSION_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "SHOW", "EXPLAIN")


class PgRecorder:
    """Records (query, args) of every statement asyncpg sends while `on`."""

    def __init__(self, monkeypatch) -> None:
        self.on = False
        self.statements: list[tuple[str, tuple]] = []
        for name in ("fetch", "execute", "executemany"):
            original = getattr(asyncpg.connection.Connection, name)
            monkeypatch.setattr(asyncpg.connection.Connection, name, self._wrap(original, many=name == "executemany"))

    def _wrap(self, original, many: bool):
        recorder = self

        async def wrapped(conn, query, *args, **kwargs):
            if recorder.on and not query.lstrip().upper().startswith(SESSION_STATEMENTS):
                for params in (list(args[0]) if many else [args]):
                    recorder.statements.append((query, tuple(params)))
            return await original(conn, query, *args, **kwargs)

        return wrapped


def scanned_tables(plan: dict) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" and "Relation Name" in plan else []
    for child in plan.get("Plans", ()):
        found += scanned_tables(child)
    return found


async def full_scans(db: PostgresDatabase, query: str, params: tuple) -> list[str]:
    async with db.pool.acquire() as con, con.transaction():
        await con.execute("SET LOCAL enable_seqscan = off")
        [row] = await con.fetch(f"EXPLAIN (FORMAT JSON) {query}", *params)
        plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        return [t for t in scanned_tables(plan[0]["Plan"]) if t not in SMALL_TABLES and t not in AWAITING_INDEX]


async def test_no_statement_scans_a_growing_table_on_postgresql(postgres_url, monkeypatch):
    db = await PostgresDatabase(postgres_url).open()
    try:
        recorder, called = PgRecorder(monkeypatch), Called(monkeypatch)
        await fill_class(db, "discord", "guild", players=5, tag="base")
        called.names.clear()
        recorder.on = True
        await probe(db, "discord", "guild")
        recorder.on = False
        statements = dict.fromkeys(recorder.statements)
        assert len(statements) > 50
        problems = {}
        for query, params in statements:
            if ";" in query.strip().rstrip(";"):  # the pool's reset of a released connection
                continue
            scans = await full_scans(db, query, params)
            if scans:
                problems[" ".join(query.split())[:160]] = scans
    finally:
        await db.close()
    assert problems == {}, "\n".join(f"{k}\n    full scan of {v}" for k, v in problems.items())


async def test_the_check_sees_a_full_scan(postgres_url):
    db = await PostgresDatabase(postgres_url).open()
    try:
        assert await full_scans(db, "SELECT COUNT(*) FROM quiz_answers WHERE choice = $1::bigint", (1,)) == ["quiz_answers"]
        assert await full_scans(db, "SELECT * FROM quiz_answers WHERE session_id = $1::bigint AND user_id = $2::text", (1, "u")) == []
    finally:
        await db.close()

