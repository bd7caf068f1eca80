"""The LLM rate limit, the line and the daily budget shared by several processes on one database
(issue 20, bot/llm/shared.py): two apps (or two queues, each with its own connection) on one
SQLite file or one PostgreSQL database (AULA_TEST_POSTGRES; skipped without it, failed under CI) never start more calls a minute than the provider allows, nor hold more of a class's
budget than it has, together; the place a student sees counts the other process's waiters."""

from __future__ import annotations

import asyncio
import sqlite3
from types import SimpleNamespace

import pytest

from bot.app import Aula
from bot.compare import command as compare
from bot.compare.view import error_message
from bot.errors import UserError
from bot.i18n import t
from bot.llm.client import Completion, Sampling, resolve_profile
from bot.llm.live import Budget, admit
from bot.llm.queue import (
    WINDOW_S,
    Cooldowns,
    LlmTraffic,
    ModelQueue,
    SharedCall,
    Ticket,
    TokenBudget,
    Upstream,
)
from bot.llm.shared import WAITER_TTL_S, SharedLimits
from bot.replies import plain_text
from bot.roles.live import live_call_keys, live_text
from bot.roles.templates import Message
from bot.settings import load_settings
from bot.storage.database import StorageUnavailable, open_database
from tests.conftest import make_request
from tests.fake_clock import ManualClock
from tests.fake_llm import API_KEY, FakeLlmServer


class LoggedLimits(SharedLimits):
    """SharedLimits that notes every start it won (the test checks the window over all of them)."""

    def __init__(self, *args, starts: list[float], **kw) -> None:
        super().__init__(*args, **kw)
        self.won = starts

    async def claim(self, queue_key, per_minute, joined_at):
        started = await super().claim(queue_key, per_minute, joined_at)
        if started is not None:
            self.won.append(started)
        return started


def most_in_a_window(starts: list[float]) -> int:
    starts = sorted(starts)
    return max((sum(1 for s in starts if t <= s < t + WINDOW_S) for t in starts), default=0)


async def drive(clock: ManualClock, done, limit_s: float = 3600.0) -> None:
    """Move the hand clock a second at a time, letting the database threads answer in between."""
    spent = 0.0
    while not done() and spent < limit_s:
        for _ in range(5):
            await asyncio.sleep(0.002)
        await clock.advance(1.0)
        spent += 1.0
    assert done(), "the calls did not all start"


@pytest.fixture
async def two_databases(database_url):
    """Two connections (two processes' worth) to one database: a SQLite file, or PostgreSQL."""
    first, second = await open_database(database_url), await open_database(database_url)
    yield first, second
    await first.close()
    await second.close()


async def test_two_processes_start_no_more_than_the_limit_together_and_in_arrival_order(two_databases):
    clock, starts = ManualClock(), []
    queues = [
        ModelQueue(3, clock.now, clock.sleep, LoggedLimits(db, clock.now, starts=starts), ("http://p/v1", "m"))
        for db in two_databases
    ]
    admitted: list[int] = []

    async def call(n: int) -> None:
        await queues[n % 2].wait_turn(Ticket())
        admitted.append(n)

    tasks = []
    for n in range(10):  # alternating between the processes, each joining a little later
        tasks.append(asyncio.create_task(call(n)))
        for _ in range(5):
            await asyncio.sleep(0.002)
        await clock.advance(0.01)
    await drive(clock, lambda: len(admitted) == 10)
    await asyncio.gather(*tasks)
    assert len(starts) == 10 and most_in_a_window(starts) == 3  # 3 a minute, not 3 per process
    assert admitted == list(range(10))  # the oldest waiter goes first, whichever process holds it
    assert await two_databases[0].fetchall("SELECT * FROM llm_queue_waiters") == []


async def test_the_place_counts_the_waiters_of_the_other_process(two_databases):
    clock = ManualClock()
    key = ("http://p/v1", "m")
    a, b = (ModelQueue(1, clock.now, clock.sleep, SharedLimits(db, clock.now), key) for db in two_databases)
    first = Ticket()
    await a.wait_turn(first)  # the minute's one call, from process A
    waiting = [(a, Ticket()), (a, Ticket()), (b, Ticket())]
    tasks = []
    for queue, ticket in waiting:
        tasks.append(asyncio.create_task(queue.wait_turn(ticket)))
        for _ in range(5):
            await asyncio.sleep(0.002)
        await clock.advance(0.01)
    await drive(clock, lambda: b.position(waiting[2][1]) == 3, limit_s=5)
    assert [q.position(t) for q, t in waiting] == [1, 2, 3]
    assert b.estimated_wait(waiting[2][1]) == pytest.approx(3 * WINDOW_S - (clock.now() - first.admitted_at))
    await drive(clock, lambda: all(task.done() for task in tasks))
    assert [t.admitted_at for _, t in waiting] == sorted(t.admitted_at for _, t in waiting)


async def test_a_dead_processs_waiters_stop_holding_the_line(two_databases):
    clock = ManualClock()
    key = "line"
    dead = SharedLimits(two_databases[0], clock.now, process="dead")
    await dead.join(key, "orphan", clock.now() - 1)  # joined first, then its process was killed
    alive = ModelQueue(5, clock.now, clock.sleep, SharedLimits(two_databases[1], clock.now), key)
    ticket = Ticket()
    task = asyncio.create_task(alive.wait_turn(ticket))
    await drive(clock, task.done, limit_s=WAITER_TTL_S + 5)
    assert ticket.admitted_at - 1_000_000.0 >= WAITER_TTL_S - 1  # it waited for the orphan's expiry, no longer


async def test_two_processes_never_hold_more_than_the_budget_together(two_databases):
    clock = ManualClock()
    limits = [SharedLimits(db, clock.now) for db in two_databases]
    which = ("slack", "T1")
    attempts = [limits[n % 2].reserve(which, 30, 100, ttl_s=600) for n in range(10)]
    holds = await asyncio.gather(*attempts)
    granted = [h for h in holds if isinstance(h, str)]
    assert len(granted) == 3 and await limits[1].held(which) == 90
    refused = [h for h in holds if not isinstance(h, str)]
    assert all(r.used + r.held + r.needed > 100 for r in refused)
    await limits[0].release(granted[0])
    assert await limits[1].held(which) == 60
    await clock.advance(601)  # a hold whose process died before releasing it stops counting
    assert await limits[0].held(which) == 0
    assert isinstance(await limits[1].reserve(which, 100, 100, ttl_s=600), str)


@pytest.fixture
async def server():
    async with FakeLlmServer(chunk_delay_s=0.001) as running:
        yield running


async def test_two_apps_on_one_database_share_the_class_budget_and_the_rate(database_url, server):
    """Two Aula processes' worth of /compare on one SQLite file: the class's daily budget and
    the provider's per-minute limit hold for both together."""
    clock, starts = ManualClock(), []
    environ = {
        "AULA_DATABASE": database_url,
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__STREAM_UPDATE_S": "0",
        "AULA__LLM__REQUESTS_PER_MINUTE": "2",
        "AULA__LLM__MAX_TOKENS": "20",
        "AULA__LLM__DAILY_TOKEN_BUDGET": "400",
        "AULA__LLM__SHARED_LIMITS": "true",
    }
    apps = []
    for _ in range(2):
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
        app.clock = clock.now
        await app.start()
        shared = LoggedLimits(app.db, clock.now, starts=starts)
        app.services.llm_traffic = LlmTraffic(
            Upstream(clock.now, clock.sleep, shared=shared), Cooldowns(0, clock.now), TokenBudget(400), shared=shared
        )
        apps.append(app)
    finals: list = []

    async def student(n: int) -> None:
        request = make_request("compare", user_id=f"s{n}", args={"prompt": f"Pregunta número {n}"})
        replies = [reply async for reply in apps[n % 2].handle(request)]
        finals.append(replies[-1])

    try:
        tasks = [asyncio.create_task(student(n)) for n in range(12)]
        await drive(clock, lambda: len(finals) == 12)
        await asyncio.gather(*tasks)
        used = (await apps[0].db.fetchone("SELECT tokens FROM llm_usage"))[0]
        served = [f for f in finals if not f.error]
        assert 0 < used <= 400 and len(served) < 12  # the budget ran out for both apps at once
        assert all("tokens de hoy" in plain_text(f) for f in finals if f.error)
        calls = server.upstream_calls("/v1/completions") + server.upstream_calls("/v1/chat/completions")
        assert calls == len(starts) == 2 * len(served)  # every call claimed its slot
        assert most_in_a_window(starts) <= 4  # two models, 2 a minute each, for both apps together
        await asyncio.gather(*(app.services.llm_traffic.aclose() for app in apps))  # background releases
        assert await apps[1].db.fetchall("SELECT hold FROM llm_budget_holds") == []  # every hold given back
    finally:
        for app in apps:
            await app.close()


async def test_admit_refuses_over_the_shared_budget_and_gives_the_cooldown_back(two_databases):
    clock = ManualClock()
    traffic = [
        LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(30, clock.now), TokenBudget(100), shared=SharedLimits(db, clock.now))
        for db in two_databases
    ]
    settings = load_settings(environ={"AULA__LLM__DAILY_TOKEN_BUDGET": "100"}, dotenv_path=None).llm
    which = ("console", "local")
    first = await admit(make_request("compare", user_id="a"), traffic[0], settings, longest_wait_s=0, budget=Budget(which, 0, 70))
    with pytest.raises(UserError) as refused:
        await admit(make_request("compare", user_id="b"), traffic[1], settings, longest_wait_s=0, budget=Budget(which, 0, 70))
    assert refused.value.key == "compare.budget" and refused.value.values["left"] == 30
    assert traffic[1].cooldowns.remaining(("console", "b")) == 0  # refused: no cooldown started
    first.release()
    await traffic[0].aclose()  # the background release is done
    again = await admit(make_request("compare", user_id="b"), traffic[1], settings, longest_wait_s=0,
                        budget=Budget(which, 0, 70))
    assert again._hold is not None and await traffic[1].shared.held(which) == 70


async def test_an_idle_process_estimates_a_newcomers_wait_from_every_processs_starts(two_databases):
    """The wait a command checks before admitting (Upstream.estimated_wait) counts the calls the
    other process started this minute, at the line's own limit."""
    clock = ManualClock()
    key = ("http://p/v1", "m")
    busy = ModelQueue(3, clock.now, clock.sleep, SharedLimits(two_databases[0], clock.now), key)
    idle = Upstream(clock.now, clock.sleep, shared=SharedLimits(two_databases[1], clock.now))
    await busy.wait_turn(Ticket())
    await busy.wait_turn(Ticket())
    await idle.refresh(key, 3)
    assert idle.estimated_wait("call", key) == 0.0  # 2 of 3 this minute: a newcomer goes at once
    await busy.wait_turn(Ticket())
    await clock.advance(10)
    await idle.refresh(key, 3)
    assert idle.estimated_wait("call", key) == pytest.approx(WINDOW_S - 10)  # the three are the other's


async def test_a_students_cooldown_holds_in_every_process(two_databases):
    """Slack's HTTP workers: a student's second request may reach the other process; it waits
    the same cooldown there, and a request that produced nothing gives it back everywhere."""
    clock = ManualClock()
    traffic = [
        LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(30, clock.now), TokenBudget(10**9),
                   shared=SharedLimits(db, clock.now))
        for db in two_databases
    ]  # fmt: skip
    settings = load_settings(environ={"AULA__LLM__USER_COOLDOWN_S": "30"}, dotenv_path=None).llm
    ana = make_request("compare", user_id="ana")
    first = await admit(ana, traffic[0], settings, longest_wait_s=0)
    await clock.advance(10)
    with pytest.raises(UserError) as refused:
        await admit(ana, traffic[1], settings, longest_wait_s=0)
    assert refused.value.key == "compare.cooldown" and refused.value.values["seconds"] == 20
    other = await admit(make_request("compare", user_id="beto"), traffic[1], settings, longest_wait_s=0)
    assert other is not None  # another student is not held back
    first.refund_cooldown()  # ana's request produced nothing
    await traffic[0].aclose()
    assert await admit(ana, traffic[1], settings, longest_wait_s=0) is not None
    await clock.advance(31)
    assert await admit(ana, traffic[0], settings, longest_wait_s=0) is not None  # the cooldown is over
    teacher = make_request("compare", user_id="profe", instructor=True)
    for process in traffic:
        await admit(teacher, process, settings, longest_wait_s=0)  # instructors have none


class FlakyDatabase:
    """A Database whose next `fail_next` statements raise `error` (the server went down, or
    another process holds SQLite's lock), then answer again; everything else is the real one."""

    def __init__(self, db, error: BaseException) -> None:
        self.db, self.error, self.fail_next, self.skip = db, error, 0, 0

    def _fault(self) -> None:
        if self.fail_next > 0 and self.skip > 0:
            self.skip -= 1  # statements that still answer before the fault
        elif self.fail_next > 0:
            self.fail_next -= 1
            raise self.error

    async def execute(self, *args):
        self._fault()
        return await self.db.execute(*args)

    async def execute_returning(self, *args):
        self._fault()
        return await self.db.execute_returning(*args)

    async def fetchall(self, *args):
        self._fault()
        return await self.db.fetchall(*args)

    async def fetchone(self, *args):
        self._fault()
        return await self.db.fetchone(*args)

    def transaction(self):
        self._fault()
        return self.db.transaction()


def _locked() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # as sqlite3 raises it
    return error


FAULTS = [StorageUnavailable("PostgreSQL is unavailable: ConnectionRefusedError"), _locked()]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0.002)


@pytest.mark.parametrize("fault", FAULTS, ids=["unavailable", "locked"])
async def test_a_database_fault_while_waiting_ends_in_the_storage_message_and_frees_the_line(two_databases, fault):
    """The database fails while a call waits in a shared line (its heartbeat, then its leave):
    the call ends with the "couldn't save" message in the student's language (never the error's
    Python name), leaves this process's line, and the row it could not delete is removed by the
    next heartbeat instead of being kept alive by it (it would hold the other process back)."""
    clock = ManualClock()
    key = ("http://p/v1", "m")
    flaky = FlakyDatabase(two_databases[1], fault)
    a = ModelQueue(1, clock.now, clock.sleep, SharedLimits(two_databases[0], clock.now), key)
    b = ModelQueue(1, clock.now, clock.sleep, SharedLimits(flaky, clock.now), key)
    await a.wait_turn(Ticket())  # the minute's one call
    stuck = Ticket()
    waiting = asyncio.create_task(b.wait_turn(stuck))
    await settle()
    assert not waiting.done() and b.position(stuck) == 1
    flaky.fail_next = 2  # the heartbeat's renewal, then the leave
    await clock.advance(1.0)
    await settle()
    assert waiting.done()
    error = waiting.exception()
    call = SharedCall(key, b)
    call.finish(error)
    for lang in ("es", "en"):
        assert error_message(error, lang) == t(lang, "error.database")
        assert live_text(lang, call) == "⚠️ " + t(lang, "error.database")
        assert type(error).__name__ not in live_text(lang, call)
    assert b.waiting == []  # the failed waiter left this process's line
    async def rows():
        return [row[0] for row in await two_databases[0].fetchall("SELECT ticket FROM llm_queue_waiters")]

    assert await rows() == [stuck.id]  # the database was down for its leave
    later = Ticket()  # the next call of that process: its heartbeat renews its waiters
    task = asyncio.create_task(b.wait_turn(later))
    await settle()
    await clock.advance(1.0)
    await settle()
    assert await rows() == [later.id]  # the left-behind row is gone, not renewed
    await drive(clock, task.done)
    assert await rows() == []


@pytest.mark.parametrize("fault", FAULTS, ids=["unavailable", "locked"])
async def test_a_hold_and_a_cooldown_that_could_not_be_given_back_expire(two_databases, fault):
    """The database fails after the call, when its budget hold is released and the student's
    cooldown given back: nothing is raised at the student; the hold stops counting at its
    expiry and the cooldown ends at its end."""
    clock = ManualClock()
    flaky = FlakyDatabase(two_databases[0], fault)
    traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(30, clock.now), TokenBudget(100),
                         shared=SharedLimits(flaky, clock.now))  # fmt: skip
    settings = load_settings(environ={"AULA__LLM__DAILY_TOKEN_BUDGET": "100", "AULA__LLM__USER_COOLDOWN_S": "30"},
                             dotenv_path=None).llm  # fmt: skip
    which, ana = ("console", "local"), make_request("compare", user_id="ana")
    admission = await admit(ana, traffic, settings, longest_wait_s=0, budget=Budget(which, 0, 70))
    flaky.fail_next = 2
    admission.refund_cooldown()
    admission.release()
    await traffic.aclose()  # the background give-backs failed quietly
    assert await traffic.shared.held(which) == 70
    with pytest.raises(UserError) as refused:
        await admit(ana, traffic, settings, longest_wait_s=0)
    assert refused.value.key == "compare.cooldown"
    await clock.advance(settings.total_timeout_s + 31 + 60)  # past the hold's expiry and the cooldown
    assert await traffic.shared.held(which) == 0
    assert await admit(ana, traffic, settings, longest_wait_s=0, budget=Budget(which, 0, 100)) is not None


def _profile(base_url: str, api_key: str):
    settings = load_settings(environ={"AULA_LLM_BASE_URL": base_url, "AULA_LLM_API_KEY": api_key}, dotenv_path=None)
    return resolve_profile(settings, environ={})


def _line(profile):
    """The line /compare's instruct call waits in (its key builder, as the command uses it)."""
    return compare._call_keys(profile, Sampling(20, 0.7, 1.0), "instruct", "Hola")[1]


KEY_A, KEY_B = "sk-first-profile-0123456789", "sk-second-profile-9876543210"


async def test_the_line_is_the_providers_limit_per_api_key_in_every_process(two_databases):
    """A provider limits requests per API key and model: two keys on one server each start their
    minute's call at once, across processes; one key under two spellings of the server's address
    shares one limit. The database holds a fingerprint of the key, never the key."""
    clock = ManualClock()
    first, other_key = _profile("https://api.example.com/v1", KEY_A), _profile("https://api.example.com/v1", KEY_B)
    same_key = _profile("HTTPS://API.Example.com:443/v1/", KEY_A)
    assert _line(first) != _line(other_key) and _line(first) == _line(same_key)

    def queue(db, profile):
        return ModelQueue(1, clock.now, clock.sleep, SharedLimits(db, clock.now), _line(profile))

    await queue(two_databases[0], first).wait_turn(Ticket())
    other = Ticket()
    await asyncio.wait_for(queue(two_databases[1], other_key).wait_turn(other), 5)  # its own limit: no wait
    assert other.admitted_at == clock.now()
    spelled = Ticket()
    task = asyncio.create_task(queue(two_databases[1], same_key).wait_turn(spelled))
    await drive(clock, task.done, limit_s=WINDOW_S + 5)
    assert spelled.admitted_at - 1_000_000.0 == pytest.approx(WINDOW_S, abs=1.0)  # the first key's minute
    stored = " ".join(row[0] for row in await two_databases[0].fetchall("SELECT queue_key FROM llm_rate_slots"))
    assert KEY_A not in stored and KEY_B not in stored and "Example" not in stored


async def test_the_in_memory_line_is_keyed_as_the_shared_one():
    """One process (no shared limits): the same keying, two keys two lines, two spellings one."""
    clock = ManualClock()
    upstream = Upstream(clock.now, clock.sleep)
    first, other_key = _profile("https://api.example.com/v1", KEY_A), _profile("https://api.example.com/v1", KEY_B)
    same_key = _profile("https://api.example.com:443/v1/", KEY_A)

    async def answer():
        yield Completion(model="m", text="ok", finish_reason="stop")

    calls = [upstream.call(("ask", n), _line(p), 1, answer)[0] for n, p in enumerate((first, other_key, same_key))]
    for _ in range(10):
        await asyncio.sleep(0)
    assert [call.admitted for call in calls] == [True, True, False]
    assert calls[2].estimated_wait() == pytest.approx(WINDOW_S)
    assert len(upstream.queues) == 2
    await upstream.aclose()


def test_live_roles_waits_in_the_same_line_as_compare():
    """Live /roles' calls count against the same limit as /compare's on that server, key and model."""
    settings = load_settings(environ={"AULA_LLM_BASE_URL": "https://api.example.com/v1", "AULA_LLM_API_KEY": KEY_A},
                             dotenv_path=None)  # fmt: skip
    line = live_call_keys(SimpleNamespace(settings=settings), [Message("user", "Hola")])[1]
    assert line == _line(resolve_profile(settings, environ={})) and KEY_A not in repr(line)


@pytest.mark.parametrize("fault", FAULTS, ids=["unavailable", "locked"])
@pytest.mark.parametrize("answered", [0, 1, 2], ids=["join", "slots", "claim"])
async def test_a_database_fault_as_a_call_joins_the_line_ends_in_the_storage_message(two_databases, fault, answered):
    """The database fails at the call's first statements (taking its place, creating the line's
    slots, claiming one): the storage message in the student's language, and the line is empty
    behind it (this process's and the database's, once its next heartbeat ran)."""
    clock = ManualClock()
    flaky = FlakyDatabase(two_databases[1], fault)
    queue = ModelQueue(1, clock.now, clock.sleep, SharedLimits(flaky, clock.now), ("http://p/v1", "m"))
    # the statement at `answered`, then the leave (none when taking the place failed: no row was written)
    flaky.skip, flaky.fail_next = answered, 2 if answered else 1
    ticket = Ticket()
    with pytest.raises(type(fault)) as failed:
        await queue.wait_turn(ticket)
    for lang in ("es", "en"):
        assert error_message(failed.value, lang) == t(lang, "error.database")
    assert queue.waiting == []
    again = Ticket()
    await queue.wait_turn(again)  # the database is back: the next call goes at once
    assert again.admitted_at == clock.now()
    await queue.refresh()  # a heartbeat: what the failed leave left behind is gone
    assert await two_databases[0].fetchall("SELECT ticket FROM llm_queue_waiters") == []
