"""adapters/starts.py: a few requests start at a time, each holds its slot only until its first reply."""

from __future__ import annotations

import asyncio

from adapters.starts import StartSlots, start_slots
from bot.replies import Paragraph, Reply
from bot.services import Services


def reply(words: str) -> Reply:
    return Reply.public(Paragraph.of(words))


def text(reply: Reply) -> str:
    return reply.parts[0].text


async def test_only_size_requests_start_at_once_and_each_frees_its_slot_at_its_first_reply():
    slots = StartSlots(size=2)
    firsts = [asyncio.Event() for _ in range(4)]
    ends = [asyncio.Event() for _ in range(4)]
    started: list[int] = []

    async def handler(index: int):
        started.append(index)
        await firsts[index].wait()
        yield reply(f"first {index}")
        await ends[index].wait()  # a stream goes on without its slot
        yield reply(f"last {index}")

    async def run(index: int) -> list[str]:
        return [text(r) async for r in slots.first_of(handler(index))]

    runs = [asyncio.create_task(run(i)) for i in range(4)]
    await asyncio.sleep(0.01)
    assert started == [0, 1]  # the others wait, in arrival order
    firsts[1].set()
    await asyncio.sleep(0.01)
    assert started == [0, 1, 2]
    for event in firsts + ends:
        event.set()
    assert await asyncio.gather(*runs) == [[f"first {i}", f"last {i}"] for i in range(4)]


async def test_a_request_stuck_before_its_first_reply_gives_up_its_slot_after_max_hold():
    slots = StartSlots(size=1, max_hold_s=0.05)
    stuck = asyncio.Event()

    async def never_replies():
        await stuck.wait()
        yield reply("late")

    async def quick():
        yield reply("quick")

    blocker = asyncio.create_task(anext(slots.first_of(never_replies())))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(anext(slots.first_of(quick())))
    await asyncio.sleep(0.02)
    assert not waiting.done()  # the slot is still held
    first = await asyncio.wait_for(waiting, timeout=1)
    assert text(first) == "quick"
    stuck.set()
    assert text(await blocker) == "late"  # the stuck one goes on; its late release frees nothing twice
    assert text(await asyncio.wait_for(anext(slots.first_of(quick())), timeout=1)) == "quick"
    assert not slots.full


async def test_closing_early_closes_the_handler_and_frees_the_slot():
    slots = StartSlots(size=1)
    closed = asyncio.Event()

    async def handler():
        try:
            yield reply("one")
            yield reply("two")
        finally:
            closed.set()  # the core logs the command here

    replies = slots.first_of(handler())
    assert text(await anext(replies)) == "one"
    await replies.aclose()
    assert closed.is_set()
    assert (await asyncio.wait_for(anext(slots.first_of(handler())), timeout=1)) is not None


def test_every_platform_of_a_process_shares_the_same_slots():
    services = Services(app=None)  # type: ignore[arg-type]  (the slots need nothing of the app)
    assert start_slots(services) is start_slots(services)


async def test_clicks_and_forms_go_ahead_of_waiting_commands_each_kind_in_arrival_order():
    slots = StartSlots(size=1)
    hold = asyncio.Event()
    started: list[str] = []

    async def handler(name: str):
        started.append(name)
        if name == "holder":
            await hold.wait()
        yield reply(name)

    async def run(name: str, urgent: bool = False) -> None:
        await anext(slots.first_of(handler(name), urgent=urgent))

    runs = [asyncio.create_task(run("holder"))]
    await asyncio.sleep(0)
    for name, urgent in (("tokens 1", False), ("click 1", True), ("tokens 2", False), ("click 2", True)):
        runs.append(asyncio.create_task(run(name, urgent)))
        await asyncio.sleep(0)
    assert slots.full and started == ["holder"]
    hold.set()
    await asyncio.gather(*runs)
    assert started == ["holder", "click 1", "click 2", "tokens 1", "tokens 2"]
    assert not slots.full


async def test_a_request_cancelled_while_waiting_leaves_no_slot_taken():
    slots = StartSlots(size=1)
    hold = asyncio.Event()

    async def slow():
        await hold.wait()
        yield reply("slow")

    async def quick():
        yield reply("quick")

    holder = asyncio.create_task(anext(slots.first_of(slow())))
    await asyncio.sleep(0)
    gone = asyncio.create_task(anext(slots.first_of(quick())))
    await asyncio.sleep(0)
    gone.cancel()  # e.g. the interaction's task stopped at shutdown
    hold.set()
    assert text(await holder) == "slow"
    assert text(await asyncio.wait_for(anext(slots.first_of(quick())), timeout=1)) == "quick"
    assert not slots.full


async def test_a_flooding_user_holds_at_most_their_share_and_users_take_turns():
    """Issue 13.3: first come, first served let one student's forty /tokens delay everyone."""
    slots = StartSlots(size=4, per_user=2)
    release = asyncio.Event()
    started: list[str] = []

    async def handler(name: str):
        started.append(name)
        await release.wait()
        yield reply(name)

    async def run(name: str, who: str) -> str:
        return text(await anext(slots.first_of(handler(name), who=who)))

    flood = [asyncio.create_task(run(f"ana-{i}", "ana")) for i in range(20)]
    await asyncio.sleep(0.01)
    assert started == ["ana-0", "ana-1"]  # her share; two slots stay free for the others
    beto = asyncio.create_task(run("beto-0", "beto"))
    more = [asyncio.create_task(run(f"carla-{i}", "carla")) for i in range(3)]
    await asyncio.sleep(0.01)
    assert started[2:] == ["beto-0", "carla-0"]  # at once, not behind ana's eighteen
    release.set()
    await asyncio.gather(*flood, beto, *more)
    # Once slots free up, ana and carla take turns instead of ana's queue going first.
    after = started[4:]
    assert after[:4] in (["ana-2", "carla-1", "ana-3", "carla-2"], ["carla-1", "ana-2", "carla-2", "ana-3"])
    assert sorted(started) == sorted([f"ana-{i}" for i in range(20)] + ["beto-0"] + [f"carla-{i}" for i in range(3)])
