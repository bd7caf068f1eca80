"""The fair queue, call sharing, cooldowns and the daily budget, on a hand-moved clock."""

from __future__ import annotations

import asyncio

import pytest

from bot.llm.client import Completion, RateLimited
from bot.llm.queue import Cooldowns, ModelQueue, Ticket, TokenBudget, Upstream, day_start
from tests.fake_clock import ManualClock, settle


async def test_queue_admits_five_a_minute_in_arrival_order():
    clock = ManualClock()
    queue = ModelQueue(5, clock.now, clock.sleep)
    admitted: list[tuple[int, float]] = []

    async def student(n: int) -> None:
        await queue.wait_turn(Ticket())
        admitted.append((n, clock.now() - 1_000_000.0))

    tasks = [asyncio.create_task(student(n)) for n in range(12)]
    await settle()
    assert [n for n, _ in admitted] == [0, 1, 2, 3, 4]
    await clock.run_until(lambda: len(admitted) == 12)
    await asyncio.gather(*tasks)
    assert [n for n, _ in admitted] == list(range(12))  # nobody overtakes
    assert [at for _, at in admitted] == [0] * 5 + [60] * 5 + [120] * 2


async def test_position_and_estimated_wait_are_what_happens():
    clock = ManualClock()
    queue = ModelQueue(2, clock.now, clock.sleep)
    tickets = [Ticket() for _ in range(5)]
    tasks = [asyncio.create_task(queue.wait_turn(t)) for t in tickets]
    await settle()
    waiting = tickets[2:]
    assert [queue.position(t) for t in tickets] == [0, 0, 1, 2, 3]
    predicted = [queue.estimated_wait(t) for t in waiting]
    assert predicted == [60.0, 60.0, 120.0]
    await clock.run_until(lambda: all(t.done() for t in tasks))
    assert [t.admitted_at - 1_000_000.0 for t in waiting] == predicted


async def test_a_student_who_leaves_the_queue_lets_the_others_move_up():
    clock = ManualClock()
    queue = ModelQueue(1, clock.now, clock.sleep)
    moves = []
    first, second, third = Ticket(), Ticket(), Ticket(on_move=lambda: moves.append("third"))
    await queue.wait_turn(first)
    waiting_second = asyncio.create_task(queue.wait_turn(second))
    waiting_third = asyncio.create_task(queue.wait_turn(third))
    await settle()
    assert queue.position(third) == 2
    waiting_second.cancel()
    await settle()
    assert queue.position(third) == 1 and moves == ["third"]
    await clock.advance(60)
    await waiting_third
    assert third.admitted_at == clock.now()


async def snapshots(text: str, calls: list[str]):
    calls.append(text)
    for end in range(1, len(text) + 1):
        await asyncio.sleep(0)
        yield Completion(model="m", text=text[:end], finish_reason="stop" if end == len(text) else None)


async def follow(call) -> Completion | None:
    event = asyncio.Event()
    call.listen(event)
    while not call.done:
        await event.wait()
        event.clear()
    return call.latest


async def test_identical_concurrent_calls_share_one_upstream_call():
    clock = ManualClock()
    upstream = Upstream(clock.now, clock.sleep)
    sent: list[str] = []
    results = []
    for _ in range(30):
        call, shared = upstream.call(("m", "hola"), "m", 5, lambda: snapshots("hola", sent))
        results.append((call, shared))
    assert [shared for _, shared in results] == [False] + [True] * 29
    finals = await asyncio.gather(*(follow(call) for call, _ in results))
    assert sent == ["hola"] and upstream.upstream_calls == 1
    assert {f.text for f in finals} == {"hola"}
    assert results[0][0].followers == 30
    # Once it is over, the same question makes a new call.
    call, shared = upstream.call(("m", "hola"), "m", 5, lambda: snapshots("hola", sent))
    await follow(call)
    assert not shared and sent == ["hola", "hola"]


async def test_different_prompts_are_not_shared_and_queue_together():
    clock = ManualClock()
    upstream = Upstream(clock.now, clock.sleep)
    sent: list[str] = []
    calls = [upstream.call(("m", f"p{i}"), "m", 2, lambda i=i: snapshots(f"p{i}", sent))[0] for i in range(3)]
    await settle()
    assert [c.admitted for c in calls] == [True, True, False]
    assert calls[2].position() == 1 and calls[2].estimated_wait() == 60.0
    await clock.run_until(lambda: all(c.done for c in calls))
    assert sorted(sent) == ["p0", "p1", "p2"] and upstream.upstream_calls == 3


async def test_a_failed_call_tells_every_follower():
    upstream = Upstream()

    async def failing():
        raise RateLimited(4)
        yield  # pragma: no cover - makes this an async generator

    first, _ = upstream.call("k", "m", 5, failing)
    second, shared = upstream.call("k", "m", 5, failing)
    await follow(first)
    assert shared and isinstance(first.error, RateLimited) and second.error is first.error
    assert upstream.calls == {}


async def test_aclose_cancels_calls_in_flight():
    clock = ManualClock()
    upstream = Upstream(clock.now, clock.sleep)

    async def slow():
        await asyncio.Event().wait()
        yield Completion(model="m")

    call, _ = upstream.call("k", "m", 5, slow)
    await settle()
    await upstream.aclose()
    assert call.done and isinstance(call.error, asyncio.CancelledError)


def test_cooldown_per_student():
    clock = ManualClock()
    cooldowns = Cooldowns(30, clock.now)
    assert cooldowns.remaining("ana") == 0
    cooldowns.start("ana")
    clock.time += 10
    assert cooldowns.remaining("ana") == pytest.approx(20)
    assert cooldowns.remaining("luis") == 0
    clock.time += 25
    assert cooldowns.remaining("ana") == 0


def test_budget_counts_calls_in_flight():
    budget = TokenBudget(1000)
    assert budget.left("clase", used_today=600) == 400
    budget.reserve("clase", 300)
    assert budget.left("clase", used_today=600) == 100
    assert budget.left("otra", used_today=0) == 1000
    budget.release("clase", 300)
    assert budget.left("clase", used_today=900) == 100


def test_day_start_is_midnight_utc():
    assert day_start(86_400 * 3 + 5000) == 86_400 * 3


async def test_the_wait_a_newcomer_would_have_and_a_shared_call_has():
    clock = ManualClock()
    upstream = Upstream(clock.now, clock.sleep)
    sent: list[str] = []
    assert upstream.estimated_wait("k0", "m") == 0.0  # nobody in line yet
    calls = [upstream.call(f"k{i}", "m", 2, lambda i=i: snapshots(f"p{i}", sent))[0] for i in range(3)]
    await settle()
    assert upstream.estimated_wait("new", "m") == 60.0  # behind k2, in the next minute's pair
    assert upstream.estimated_wait("k2", "m") == calls[2].estimated_wait() == 60.0  # would share k2
    calls += [upstream.call("k3", "m", 2, lambda: snapshots("p3", sent))[0]]
    assert upstream.estimated_wait("new", "m") == 120.0
    await clock.run_until(lambda: all(c.done for c in calls))
