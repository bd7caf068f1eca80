"""Every repository method gives the same answer on SQLite and on PostgreSQL (issue 20).

The scenario is tests/test_query_plans.py's: a class filled with a finished quiz, homework with
revisions and comparisons (`fill_class`), then every public method of every repository called
as the bot calls it in class (`probe`; that test fails when a method is added and not exercised).
Here each call's result is recorded, on a fresh SQLite file and on a fresh PostgreSQL database,
and the two records must be equal: the same ids, rows, order, counts and types (an int stays an
int, a float a float). A statement only SQLite runs fails here on PostgreSQL; one that runs on
both but means something else (an order, a count, a type) differs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
import uuid

import pytest

from bot.storage.database import open_database
from tests import test_query_plans as scenario
from tests.test_query_plans import NOW, fill_class, probe, public_methods, repository_classes


def plain(value):
    """A value with rows, records and dataclasses as plain tuples, dicts and lists, to compare."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if hasattr(value, "keys") and callable(value.keys):  # sqlite3.Row, asyncpg.Record, dict
        return {str(k): plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else (type(value).__name__, items)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def typed(value):
    """plain(value) with each leaf's type beside it (1 and 1.0 compare equal in Python)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], (list, dict)):
        return (value[0], typed(value[1]))
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


async def run_scenario(setting: str, monkeypatch) -> list[tuple[str, str, object]]:
    """(class, method, result) of every repository call of fill_class and probe, in order."""
    calls: list[tuple[str, str, object]] = []
    with monkeypatch.context() as patch:
        for cls in repository_classes():
            for name in public_methods(cls):
                patch.setattr(cls, name, _recording(calls, cls.__name__, name, getattr(cls, name)))
        # The probe's profile and command log take the wall clock, claims a random owner id per
        # process: fixed ones, to compare.
        patch.setattr(scenario, "time", types.SimpleNamespace(time=lambda: NOW))
        patch.setattr("bot.storage.claims.process_owner", lambda: "host:1:owner")
        # Budget holds are named by a random uuid: numbered ones, the same on both runs.
        numbers = iter(range(1, 1_000_000))
        patch.setattr("bot.llm.shared.uuid", types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(numbers))))
        db = await open_database(setting)
        try:
            await fill_class(db, "discord", "guild", players=5, tag="base")
            await fill_class(db, "slack", "other", players=3, tag="other")
            await probe(db, "discord", "guild")
        finally:
            await db.close()
    return calls


def _recording(calls, cls_name, name, original):
    async def wrapped(*args, **kwargs):
        result = await original(*args, **kwargs)
        calls.append((cls_name, name, typed(plain(result))))
        return result

    return wrapped


@pytest.fixture
async def postgres_setting():
    from tests.pg_support import create_database, drop_database

    url, name = await create_database()
    yield url
    await drop_database(name)


async def test_every_repository_method_answers_the_same_on_both(tmp_path, postgres_setting, monkeypatch):
    on_sqlite = await run_scenario(str(tmp_path / "aula.sqlite3"), monkeypatch)
    on_postgres = await run_scenario(postgres_setting, monkeypatch)
    assert len(on_sqlite) > 100
    assert [c[:2] for c in on_postgres] == [c[:2] for c in on_sqlite]
    differing = [(s[0], s[1], s[2], p[2]) for s, p in zip(on_sqlite, on_postgres, strict=True) if s != p]
    assert differing == [], "\n".join(f"{c}.{m}:\n  sqlite   {s}\n  postgres {p}" for c, m, s, p in differing)


async def test_two_processes_joining_players_to_one_quiz_give_each_its_own_ordinal(database_url):
    """Two Aula processes on one database (two connections, two repositories) take clicks of one
    quiz at once: each new player gets the next join ordinal (its anonymous nickname) from
    MAX(ordinal) + 1. On PostgreSQL both processes read the same MAX and the later insert broke
    the unique ordinal (bench/quiz_storm.py with two processes: clicks answered with an error);
    the join is tried again, so every click is stored and the ordinals are 0..n-1, each once."""
    from bot.quiz.store import QuizRepository

    first, second = await open_database(database_url), await open_database(database_url)
    try:
        repos = QuizRepository(first), QuizRepository(second)
        session = await repos[0].create_session(
            scenario.Place("console", "local", "c"), "b", {"es": "t"}, [scenario.QUESTION], "es", "free",
            False, False, True, "profe", NOW,
        )  # fmt: skip
        await repos[0].open_question(session, 0, NOW, NOW + 600)
        students = [f"s{i:03}" for i in range(120)]
        recorded = await asyncio.gather(*(
            repos[i % 2].record_answer(session, 0, user, user, 0, NOW + 1, "free") for i, user in enumerate(students)
        ))  # fmt: skip
        assert {r.status for r in recorded} == {"recorded"}
        players = await repos[1].players(session)
        assert sorted(user for user, _, _ in players) == students
        assert sorted(ordinal for _, _, ordinal in players) == list(range(len(students)))
    finally:
        await first.close()
        await second.close()


async def test_two_processes_storing_one_students_submissions_give_each_its_own_revision(database_url):
    """Homework: one version per submit, numbered MAX + 1. Two processes storing submissions of
    one student at once (a form sent twice, reaching two workers) both read the same MAX on
    PostgreSQL; the later transaction is refused by the unique revision and tried again."""
    from bot.homework.store import HomeworkRepository

    first, second = await open_database(database_url), await open_database(database_url)
    try:
        repos = HomeworkRepository(first), HomeworkRepository(second)
        assignment = await repos[0].create(
            scenario.Place("console", "local", "c"), "b", {"es": "t"}, [scenario.OPEN_QUESTION] * 2, "es",
            NOW + 50, NOW + 100, "on_submit", False, None, "profe", NOW,
        )  # fmt: skip
        submitted = await asyncio.gather(*(
            repos[i % 2].submit(assignment, "ana", "Ana", {0: f"uno {i}", 1: f"dos {i}"}, NOW + i, False)
            for i in range(30)
        ))  # fmt: skip
        assert sorted(r[0] for r in submitted) == sorted(r[1] for r in submitted) == list(range(1, 31))
        counts = await repos[1].revision_counts(assignment)
        assert counts == {(0, "ana"): 30, (1, "ana"): 30}
    finally:
        await first.close()
        await second.close()
