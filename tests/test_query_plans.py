"""Every statement the repositories run uses an index (EXPLAIN QUERY PLAN), and none costs more as
unrelated rows pile up.

The statements are not listed by hand: a scenario calls every public method of every repository
(the test fails when a method is added and not exercised), and every statement sent to SQLite on
the way is recorded with its parameters. Each one's plan must not

- SCAN a table that grows with use (a full scan: cost follows everything stored), except the
  small tables in SMALL_TABLES, or a scan that LIMIT stops after a few rows in index order;
- SEARCH an index on fewer columns than the statement equates for that table (a per-row rescan:
  the standings joined each player with the whole session's answers, a quadratic).

Then the same statements run again, unchanged, after many unrelated rows were added (other
classes, other sessions, other people): the number of SQLite virtual-machine steps each takes
(counted with a progress handler, not timed) must stay the same within a small margin.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sqlite3
import time

import aiosqlite
import pytest

import bot
from bot.compare.store import CompareRepository, OutputRecord
from bot.homework.store import HomeworkQuestion, HomeworkRepository
from bot.llm.shared import SharedLimits
from bot.llm.usage import UsageRepository
from bot.next.game import GameRepository
from bot.next.logic import Candidate, Distribution, Generation, Step
from bot.next.store import NextRepository, dump_steps
from bot.quiz.store import LiveQuestion, QuizRepository
from bot.requests import Place, Request, User
from bot.roles.store import RolesConversations
from bot.roles.templates import Message
from bot.storage import Database
from bot.storage.claims import Claims
from bot.storage.handoffs import Deliveries, PendingUpload, PendingUploads
from bot.storage.users import CommandLog, UserRepository

# Tables that stay small whatever the use (a bank per topic): a full scan of them is fine.
# job_claims holds only the jobs being done right now (each claim is deleted once its job is done);
# llm_queue_waiters and llm_budget_holds only the provider calls waiting or in flight (expired rows
# are swept within seconds); pending_uploads only the /dataset commands of the last half hour.
SMALL_TABLES = {
    "quiz_banks", "quiz_class_banks", "schema_migrations", "job_claims",
    "llm_queue_waiters", "llm_budget_holds", "pending_uploads",
}  # fmt: skip

# Growing tables that still lack an index for a statement, and the migration that must add it (a
# number is assigned per engineer): the statement is reported, not failed, until then.
AWAITING_INDEX: dict[str, str] = {}

NOW = 1_000_000.0
QUESTION = LiveQuestion(id="q", text={"es": "¿?", "en": "?"}, options=({"es": "a"}, {"es": "b"}), correct=(0,), seconds=30, points=100)
OPEN_QUESTION = HomeworkQuestion(id="h", text={"es": "¿?", "en": "?"}, max_length=500)
CANDIDATES = (Candidate(" París", " París".encode(), 12, -0.1), Candidate(" Roma", b" Roma", 13, -2.0))
GENERATION = Generation("base", "m", "La capital de Francia es", [Step(Distribution("base", "m", CANDIDATES), 0, "greedy")])


def repository_classes() -> list[type]:
    """Every class in the bot package whose instances hold the database (a `db` argument)."""
    found = []
    for info in pkgutil.walk_packages(bot.__path__, "bot."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and "db" in inspect.signature(cls.__init__).parameters:
                found.append(cls)
    return found


def public_methods(cls: type) -> set[str]:
    return {n for n, f in inspect.getmembers(cls, inspect.iscoroutinefunction) if not n.startswith("_")}


class Recorder:
    """Records (sql, params) of every statement sent through aiosqlite while `on`."""

    def __init__(self, monkeypatch) -> None:
        self.on = False
        self.statements: list[tuple[str, tuple]] = []
        for name in ("execute", "execute_fetchall", "executemany"):
            original = getattr(aiosqlite.Connection, name)
            monkeypatch.setattr(aiosqlite.Connection, name, self._wrap(original, many=name == "executemany"))

    def _wrap(self, original, many: bool):
        recorder = self

        async def wrapped(conn, sql, parameters=None):
            if recorder.on and not sql.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK")):
                for params in (list(parameters or []) if many else [parameters or ()]):
                    recorder.statements.append((sql, tuple(params)))
            return await original(conn, sql, parameters)

        return wrapped


class Called:
    """Wraps the repositories so the test knows which methods the scenario exercised."""

    def __init__(self, monkeypatch) -> None:
        self.names: set[tuple[str, str]] = set()
        for cls in repository_classes():
            for name in public_methods(cls):
                monkeypatch.setattr(cls, name, self._wrap(cls, name, getattr(cls, name)))

    def _wrap(self, cls, name, original):
        called = self

        async def wrapped(*args, **kwargs):
            called.names.add((cls.__name__, name))
            return await original(*args, **kwargs)

        return wrapped


def request(platform: str, workspace: str, user: str) -> Request:
    return Request(
        command="quiz", place=Place(platform, workspace, "chan"), user=User(user, user.title(), False, "es")
    )


async def fill_class(db: Database, platform: str, workspace: str, players: int, tag: str) -> dict:
    """One class's worth of everything: a finished quiz, an assignment with revisions, comparisons."""
    quiz, homework, compare = QuizRepository(db), HomeworkRepository(db), CompareRepository(db)
    roles, users, log = RolesConversations(db), UserRepository(db, time.time), CommandLog(db, time.time)
    runs, game = NextRepository(db), GameRepository(db)
    place = Place(platform, workspace, f"chan-{tag}")
    round_id = await game.create(at=NOW, place=place, user_id=f"teacher-{tag}", prompt="La capital", model="m",
                                 candidates=CANDIDATES, options=[" París"], closes_at=NOW + 30, locale="es")
    session = await quiz.create_session(place, "bank", {"es": "t"}, [QUESTION] * 3, "es", "free", True, True, False, f"teacher-{tag}", NOW)
    assignment = await homework.create(place, "bank", {"es": "t"}, [OPEN_QUESTION] * 2, "es", NOW + 50, NOW + 100, "at_deadline", False, NOW + 10, f"teacher-{tag}", NOW)
    await homework.set_announcement(assignment, "m")
    for position in range(2):
        await homework.set_thread(assignment, position, f"m{position}", f"t{position}")
    for position in range(3):
        await quiz.open_question(session, position, NOW, NOW + 30)
        for p in range(players):
            await quiz.record_answer(session, position, f"{tag}-u{p}", "U", p % 2, NOW + 1, "free")
        await quiz.close_question(session, position, NOW + 31, lambda answers, history: {a.user_id: (True, 10) for a in answers})
        await quiz.mark_announced(session, position, NOW + 32)
    await quiz.end_session(session, NOW + 40)
    await quiz.mark_final_announced(session, NOW + 41)
    for p in range(players):
        user = f"{tag}-u{p}"
        for _ in range(2):
            await homework.submit(assignment, user, "U", {0: "a", 1: "b"}, NOW + 5, False)
        await homework.record_reminder(assignment, user, NOW + 10)
        await homework.seen(request(platform, workspace, user), NOW)
        await users.seen(request(platform, workspace, user))
        await log.record(request(platform, workspace, user), 1.0, "ok")
        await roles.save(platform, workspace, user, "llama3", [Message("user", "hola")], NOW, 1e9)
        await runs.create(at=NOW, platform=platform, workspace_id=workspace, channel_id="chan", user_id=user,
                          user_name="U", profile="p", temperature=1.0, generation=GENERATION)
        await UsageRepository(db).record(NOW, platform, workspace, 10)
        await game.guess(round_id, platform, user, "U", " París", 0.5, NOW + 1)
        run = await compare.save(
            at=NOW, platform=platform, workspace_id=workspace, channel_id="chan", user_id=user, user_name="U", profile="p",
            outputs=[OutputRecord("base", "m", "p", "t", "stop", prompt_tokens=3), OutputRecord("instruct", "m", "p", "t", "stop")],
            instruct_slot="A",
        )
        await compare.vote(run, platform, user, "A", NOW)
    await homework.mark_deadline_posted(assignment, NOW + 60)
    await homework.mark_reminded(assignment, NOW + 10)
    for answer in await homework.unposted(NOW + 60):
        await homework.mark_posted(answer.id, NOW + 61)
    return {"place": place, "session": session, "assignment": assignment, "run": run}


async def probe(db: Database, platform: str, workspace: str) -> None:
    """Every repository method, as the bot calls it in class, on the class under test."""
    quiz, homework, compare = QuizRepository(db), HomeworkRepository(db), CompareRepository(db)
    roles, users, log = RolesConversations(db), UserRepository(db, time.time), CommandLog(db, time.time)
    place = Place(platform, workspace, "live")
    me = "probe-me"
    # A quiz in play: clicks, changes, refusals, the standings and every tick query.
    await quiz.save_bank((platform, workspace), "bank", "bank.yaml", b"x", me, NOW)
    await quiz.imported_banks((platform, workspace))
    await quiz.imported_banks()
    await quiz.imported_bank((platform, workspace), "bank")
    session = await quiz.create_session(place, "bank", {"es": "t"}, [QUESTION] * 3, "es", "once", True, True, False, me, NOW)
    await quiz.session(session)
    await quiz.running_session(place)
    await quiz.latest_session(place)
    await quiz.recent_sessions(5)
    await quiz.open_question(session, 0, NOW, NOW + 30)
    await quiz.set_message(session, 0, "msg")
    await quiz.record_answer(session, 0, me, "Me", 0, NOW + 1, "once")
    await quiz.record_answer(session, 0, "probe-other", "Other", 1, NOW + 1, "once")
    await quiz.record_answer(session, 0, me, "Me", 1, NOW + 2, "once")  # changed
    await quiz.record_answer(session, 0, me, "Me", 0, NOW + 3, "once")  # refused: nothing written, says why
    await quiz.question(session, 0)
    await quiz.latest_question(session)
    await quiz.questions(session)
    await quiz.open_questions()
    await quiz.due_questions(NOW + 31)
    await quiz.answer_count(session, 0)
    await quiz.answers(session, 0)
    await quiz.close_question(session, 0, NOW + 31, lambda answers, history: {a.user_id: (True, 10) for a in answers})
    await quiz.unannounced_questions()
    await quiz.mark_announced(session, 0, NOW + 32)
    await quiz.standings(session)
    await quiz.all_answers(session)
    await quiz.players(session)
    await quiz.player_ordinal(session, me)
    await quiz.open_question(session, 1, NOW + 40, NOW + 70)
    await quiz.forget_question(session, 1)
    await quiz.end_session(session, NOW + 80)
    await quiz.sessions_awaiting_final()
    await quiz.mark_final_announced(session, NOW + 81)
    # The claims every tick takes before posting (several processes on one database).
    claims = Claims(db, lambda: NOW, 15)
    await claims.claim(f"quiz:question:{session}:0")
    await claims.holder(f"quiz:question:{session}:0")
    await claims.release(f"quiz:question:{session}:0")
    await claims.prune()
    # Homework: an assignment, a submission and its revision, the tick, the roster.
    assignment = await homework.create(place, "bank", {"es": "t"}, [OPEN_QUESTION] * 2, "es", NOW + 50, NOW + 100, "on_submit", False, NOW + 10, me, NOW)
    await homework.set_announcement(assignment, "ann")
    await homework.assignment(assignment)
    await homework.in_class(platform, workspace)
    await homework.accepting(platform, workspace, NOW)
    await homework.missing_threads(NOW)
    await homework.set_thread(assignment, 0, "m0", "t0")
    await homework.threads(assignment)
    await homework.submit(assignment, me, "Me", {0: "uno", 1: "dos"}, NOW + 1, False)
    await homework.submit(assignment, me, "Me", {0: "uno bis"}, NOW + 2, False)
    await homework.latest_answers(assignment)
    await homework.latest_answers(assignment, me)
    await homework.revision_counts(assignment)
    await homework.first_answerers(assignment)
    for answer in await homework.unposted(NOW + 3):
        await homework.mark_posted(answer.id, NOW + 3)
    await homework.past_deadline_unnoted(NOW + 60)
    await homework.mark_deadline_posted(assignment, NOW + 60)
    await homework.due_for_reminders(NOW + 10)
    await homework.reminded(assignment)
    await homework.record_reminder(assignment, me, NOW + 10)
    await homework.mark_reminded(assignment, NOW + 10)
    await homework.seen(request(platform, workspace, me), NOW)
    await homework.members(platform, workspace)
    await homework.is_member(platform, workspace, me)
    await homework.set_opt_out(platform, workspace, me, True, NOW)
    await homework.opted_out(platform, workspace)
    await homework.set_opt_out(platform, workspace, me, False, NOW)
    spare = await homework.create(place, "bank", {"es": "t"}, [OPEN_QUESTION], "es", NOW, NOW, "on_submit", False, None, me, NOW)
    await homework.delete(spare)
    # /compare, /roles, the profile and the command log.
    run = await compare.save(
        at=NOW, platform=platform, workspace_id=workspace, channel_id="live", user_id=me, user_name="Me", profile="p",
        outputs=[OutputRecord("base", "m", "p", "t", "stop"), OutputRecord("instruct", "m", "p", "t", "stop")],
        instruct_slot="B",
    )
    await compare.get(run)
    await compare.tokens_used_since(platform, workspace, NOW - 86400)
    await compare.vote(run, platform, "probe-other", "A", NOW)
    await compare.tally(run)
    await compare.reveal(run)
    await compare.export_sheet(platform, workspace)
    conversation = await roles.save(platform, workspace, me, "llama3", [Message("user", "hola")], NOW, 3600)
    await roles.get(conversation, platform, workspace)
    # /next: a step-by-step run and the class game.
    runs, game = NextRepository(db), GameRepository(db)
    run_id = await runs.create(at=NOW, platform=platform, workspace_id=workspace, channel_id="live", user_id=me,
                               user_name="Me", profile="p", temperature=1.0, generation=GENERATION)
    record = await runs.get(run_id)
    await runs.save_steps(run_id, record.generation.steps, dump_steps(record.generation.steps), NOW + 1)
    # The class's daily budget, read on every /compare, /next step and live /roles run.
    await UsageRepository(db).record(NOW, platform, workspace, 12)
    await UsageRepository(db).used_on(platform, workspace, NOW)
    # The same limits shared by several processes: the rate line, the budget holds, cooldowns.
    shared = SharedLimits(db, lambda: NOW, "probe-process")
    line = ("https://llm.example/v1", "m")
    await shared.join(line, "probe-ticket", NOW)
    await shared.heartbeat(line)
    await shared.claim(line, 3, NOW)
    await shared.recent_starts(line, 3)
    await shared.leave("probe-ticket")
    hold = await shared.reserve((platform, workspace), 10, 1000, 60)
    await shared.held((platform, workspace))
    await shared.release(hold)
    started = await shared.start_cooldown((platform, me), 30)
    await shared.start_cooldown((platform, me), 30)  # refused: the seconds left
    await shared.give_back_cooldown((platform, me), started)
    await shared.sweep()
    # Slack with several workers: a command waiting for its file, an event delivered once.
    uploads, deliveries = PendingUploads(db), Deliveries(db)
    await uploads.put(platform, "live", "m1", PendingUpload(command="dataset", args={}, workspace_id=workspace), NOW + 60)
    await uploads.get(platform, "live", "m1", NOW)
    await uploads.sweep(NOW + 61)
    await deliveries.claim(platform, "ev-1", NOW)
    await deliveries.claim(platform, "ev-1", NOW)  # a redelivery
    round_id = await game.create(at=NOW, place=place, user_id=me, prompt="La capital", model="m",
                                 candidates=CANDIDATES, options=[" París"], closes_at=NOW + 30, locale="es")
    await game.set_message(round_id, "msg")
    await game.get(round_id)
    await game.open_count()
    await game.guess(round_id, platform, me, "Me", " París", 0.5, NOW + 1)
    await game.guess(round_id, platform, me, "Me", " Roma", 0.1, NOW + 2)  # the second is refused
    await game.close_now(round_id, NOW + 3)
    await game.due(NOW + 3)
    await game.guesses(round_id)
    await game.mark_closed(round_id)
    await game.standings(place, 10)
    await game.export(platform, workspace)
    await users.seen(request(platform, workspace, me))
    await users.get(platform, me)
    await log.record(request(platform, workspace, me), 1.0, "ok")
    await log.recent(5)
    # /privacy: what is stored about me, then forget it.
    for repo in (users, compare, roles, quiz, homework, runs):
        await repo.describe(platform, me)
    for repo in (users, compare, roles, quiz, homework, runs):
        await repo.forget(platform, me)


# --- reading plans -------------------------------------------------------------------------------


def plan(conn: sqlite3.Connection, sql: str, params: tuple) -> list[tuple[int, int, str]]:
    """(id, parent id, detail) of each step."""
    return [(row[0], row[1], row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def aliases(sql: str, tables: set[str]) -> dict[str, str]:
    """alias -> table for every table the statement names (a table is its own alias too)."""
    found = {t: t for t in tables if re.search(rf"\b{t}\b", sql)}
    for table, alias in re.findall(r"\b(\w+)\s+(?:AS\s+)?(\w+)\s*(?:INDEXED BY \w+\s*)?(?:,|JOIN|ON|WHERE|LEFT|\))", sql, re.I):
        if table in tables and alias.upper() not in {"ON", "WHERE", "JOIN", "LEFT", "INDEXED", "AS", "SET", "DO"}:
            found[alias] = table
    return found


def scopes(sql: str) -> list[str]:
    """The statement and each parenthesised part of it, each without the parts nested inside it."""
    found, stack, spans = [], [], []
    for i, ch in enumerate(sql):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            spans.append((stack.pop() + 1, i))
    spans.append((0, len(sql)))
    for start, end in spans:
        text, cut = "", start
        for inner_start, inner_end in sorted(spans):
            if start < inner_start and inner_end < end and inner_start >= cut:
                text += sql[cut:inner_start]
                cut = inner_end
        found.append(text + sql[cut:end])
    return found


def equalities(scope: str) -> list[tuple[str, str, str, str]]:
    """(qualifier, column, other qualifier, other column) of each `x = y` in a scope's conditions;
    the other side is ('', '?') for a parameter, ('', '') for a constant."""
    conditions = re.sub(r"\bSET\b.*?(?=\bWHERE\b|\bRETURNING\b|$)", " ", scope, flags=re.S | re.I)
    conditions = re.sub(r"^.*?(?=\bWHERE\b|\bON\b)", "", conditions, count=1, flags=re.S)
    term = r"(?:(\w+)\.)?(\w+|\?|'[^']*')"
    found = []
    for a_q, a_c, b_q, b_c in re.findall(rf"(?<![.\w']){term}\s*=\s*{term}", conditions):
        for q, c, oq, oc in ((a_q, a_c, b_q, b_c), (b_q, b_c, a_q, a_c)):
            other = "?" if oc == "?" else ("" if oc.startswith("'") else oc)
            found.append((q, c, oq, other))
    return found


def wanted_columns(sql: str, table: str, alias: str, table_columns: set[str], seen: set[str], qualified_only: bool) -> set[str]:
    """Columns of `alias` a lookup of it should be keyed on: those its conditions equate with a
    parameter, or with a column of a table read before it in the plan (an outer loop). Where the
    table is read in several parts of the statement, what every part asks for."""
    asked = []
    for scope in scopes(sql):
        if not re.search(rf"\b{table}\b", scope):
            continue  # the table is read in another part
        columns = set()
        for q, c, oq, oc in equalities(scope):
            mine = q == alias or (not q and not qualified_only)
            if mine and c in table_columns and (oc == "?" or (oq and oq != alias and oq in seen)):
                columns.add(c)
        asked.append(columns)
    return set.intersection(*asked) if asked else set()


def partial_indexes(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'")}


def unique_indexes(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """Unique index name -> its columns: a search on all of them reads at most one row, whatever
    else the statement filters on."""
    found = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute(f"PRAGMA index_list({table})"):
            if row[2]:  # unique
                found[row[1]] = {info[2] for info in conn.execute(f"PRAGMA index_info({row[1]})")}
    return found


def faults(conn: sqlite3.Connection, sql: str, params: tuple, columns: dict[str, set[str]]) -> list[str]:
    steps = plan(conn, sql, params)
    names = aliases(sql, set(columns))
    several = len(names) > 1
    partial = partial_indexes(conn)
    unique = unique_indexes(conn)
    problems, read = [], {}  # read: plan node -> the aliases its loops read
    parents = {node: parent for node, parent, _ in steps}
    for _node, parent, step in steps:
        seen, up = set(), parent
        while up in parents or up == 0:  # what the enclosing loops read: outer rows for this one
            seen |= read.get(up, set())
            if up == 0:
                break
            up = parents[up]
        read.setdefault(parent, set())
        scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", step)
        if scan:
            alias = scan.group(1)
            table = names.get(alias, alias)
            read[parent].add(alias)
            if table in columns and table not in SMALL_TABLES | set(AWAITING_INDEX) and scan.group(2) not in partial:
                bounded = re.search(r"\bLIMIT\b", sql) and not any("TEMP B-TREE" in s for _, _, s in steps)
                if not bounded:
                    problems.append(f"full scan of {table}: {step}")
            continue
        search = re.match(r"SEARCH (\w+) USING (?:COVERING |PRIMARY KEY|INTEGER PRIMARY KEY)?\s*(?:INDEX (\w+) )?\((.*)\)", step)
        if search:
            alias = search.group(1)
            table = names.get(alias, alias)
            used = set(re.findall(r"(\w+)[=<>]", search.group(3)))
            wanted = set()
            one_row = search.group(2) in unique and unique[search.group(2)] <= used  # a whole unique key
            if table in columns and table not in SMALL_TABLES and "rowid" not in used and not one_row:
                wanted = wanted_columns(sql, table, alias, columns[table], seen, qualified_only=several and alias != table)
            read[parent].add(alias)
            if not wanted <= used and table not in AWAITING_INDEX:
                problems.append(f"{table} searched on {sorted(used)}, not on {sorted(wanted - used)}: {step}")
    return problems


def vm_steps(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    """SQLite virtual-machine steps the statement takes (in a savepoint, rolled back)."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0

    conn.execute("SAVEPOINT probe")
    conn.set_progress_handler(tick, 10)
    try:
        conn.execute(sql, params).fetchall()
    except sqlite3.IntegrityError:
        pass  # a row the probe inserted is there again: the lookup that found it still counts
    finally:
        conn.set_progress_handler(None, 0)
        conn.execute("ROLLBACK TO probe")
        conn.execute("RELEASE probe")
    return counted[0] * 10


@pytest.fixture
async def recorded(tmp_path, monkeypatch):
    """(the database path, the statements the probe ran, the methods it called)."""
    path = tmp_path / "plans.sqlite3"
    recorder, called = Recorder(monkeypatch), Called(monkeypatch)
    db = await Database(path).open()
    try:
        await fill_class(db, "discord", "guild", players=5, tag="base")
        called.names.clear()
        recorder.on = True
        await probe(db, "discord", "guild")
        recorder.on = False
    finally:
        await db.close()
    return path, recorder.statements, called.names


async def test_the_probe_exercises_every_repository_method(recorded):
    _, statements, called = recorded
    every = {(cls.__name__, name) for cls in repository_classes() for name in public_methods(cls)}
    assert every - called == set(), "add the new repository methods to probe()"
    assert len(statements) > 50


async def test_no_statement_scans_a_growing_table_or_rescans_per_row(recorded):
    path, statements, _ = recorded
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    problems = {}
    for sql, params in dict.fromkeys(statements):
        found = faults(conn, sql, params, columns)
        if found:
            problems[" ".join(sql.split())[:160]] = found
    conn.close()
    assert problems == {}, "\n".join(f"{k}\n    {v}" for k, v in problems.items())


def test_the_plan_check_catches_a_full_scan_and_a_per_row_rescan():
    """The checker itself: the standings query as 0003 left it, and a scan by an unindexed column."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        """CREATE TABLE players (session_id, user_id, PRIMARY KEY (session_id, user_id));
           CREATE TABLE answers (session_id, position, user_id, points, UNIQUE (session_id, position, user_id));"""
    )
    columns = {"players": {"session_id", "user_id"}, "answers": {"session_id", "position", "user_id", "points"}}
    standings = """SELECT p.user_id, SUM(a.points) FROM players p LEFT JOIN answers a
                   ON a.session_id = p.session_id AND a.user_id = p.user_id WHERE p.session_id = ? GROUP BY p.user_id"""
    assert any("not on ['user_id']" in f for f in faults(conn, standings, (1,), columns))
    assert any("full scan of answers" in f for f in faults(conn, "SELECT COUNT(*) FROM answers WHERE user_id = ?", ("u",), columns))
    conn.execute("CREATE INDEX answers_player ON answers (session_id, user_id)")
    assert faults(conn, standings, (1,), columns) == []
    # A whole unique key reads one row, whatever else is filtered; part of it is a search.
    conn.execute("CREATE TABLE cooldowns (platform, user_id, started_at, UNIQUE (platform, user_id))")
    columns["cooldowns"] = {"platform", "user_id", "started_at"}
    one = "UPDATE cooldowns SET started_at = ? WHERE platform = ? AND user_id = ? AND started_at = ?"
    assert faults(conn, one, (1, "p", "u", 0), columns) == []
    part = "SELECT * FROM cooldowns WHERE platform = ? AND started_at = ?"
    assert any("not on ['started_at']" in f for f in faults(conn, part, ("p", 0), columns))


async def test_no_statement_costs_more_when_unrelated_rows_pile_up(recorded):
    """Other classes, sessions and people: ten times the class under test. A click, a tick, the
    standings and /privacy must not read them (counted in SQLite steps, not timed)."""
    path, statements, _ = recorded
    unique = list(dict.fromkeys(statements))
    conn = sqlite3.connect(path)
    before = [vm_steps(conn, sql, params) for sql, params in unique]
    conn.close()
    db = await Database(path).open()
    try:
        for i in range(10):
            await fill_class(db, "discord" if i % 2 else "slack", f"other-{i}", players=25, tag=f"o{i}")
    finally:
        await db.close()
    conn = sqlite3.connect(path)
    grown = {}
    for (sql, params), old in zip(unique, before, strict=True):
        new = vm_steps(conn, sql, params)
        if new > 2 * old + 200 and not any(re.search(rf"\b{t}\b", sql) for t in AWAITING_INDEX):
            grown[" ".join(sql.split())[:160]] = (old, new)
    conn.close()
    assert grown == {}
