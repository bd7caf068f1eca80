"""/tokens' long texts in the worker process (bot/tokens/pool.py): same reply, recovered after a crash.

A heavy /tokens built in a thread held the GIL and stalled quiz clicks (issue 16,
bench/tokens_stall.py); long texts now go to one worker process. These tests check where the work
runs and what the user gets, not how fast.
"""

from __future__ import annotations

import os
import signal

import pytest

from bot.errors import UserError
from bot.tokens.command import tokens_reply
from tests.conftest import make_request, replies_of

EMOJI = "🍕☕👩‍💻🇪🇸👍🏽❤️🎉🤖 "


async def tokens(aula, **args):
    [reply] = await replies_of(aula, make_request("tokens", args=args))
    return reply


def long_text(n: int) -> str:
    return (f"{n} " + EMOJI * 1_500)[:12_000]


async def test_a_short_text_stays_in_this_process(aula):
    reply = await tokens(aula, texto="Hola mundo " * 50, modelo="gpt-4o")
    assert not reply.error
    assert aula.services.tokens_pool.started == 0  # no worker process for the everyday texts


async def test_a_long_text_is_built_in_the_worker_and_equals_the_in_process_reply(aula):
    pool = aula.services.tokens_pool
    text = long_text(1)
    assert pool.wants(text, ("o200k_base",))
    reply = await tokens(aula, texto=text, modelo="gpt-4o")
    assert pool.started == 1
    assert await pool.run(os.getpid) != os.getpid()  # the work ran in another process
    assert reply == tokens_reply(text, ("o200k_base",), "es", aula.settings.tokens)


async def test_the_worker_runs_below_the_bots_cpu_priority_with_its_vocabularies_frozen(aula):
    """When the cores are busy the bot's event loop (the class's clicks) goes first (issue 16)."""
    import gc

    from bot.tokens.pool import WORKER_NICENESS

    pool = aula.services.tokens_pool
    assert not (await tokens(aula, texto=long_text(3), modelo="gpt-4o")).error
    assert await pool.run(os.nice, 0) == min(19, os.nice(0) + WORKER_NICENESS)
    assert await pool.run(gc.get_freeze_count) > 0  # the loaded vocabularies, out of full collections


async def test_a_worker_that_dies_gives_a_clear_error_and_the_next_request_gets_a_new_one(aula):
    pool = aula.services.tokens_pool
    first = await tokens(aula, texto=long_text(1), modelo="gpt-4o")
    assert not first.error
    with pytest.raises(UserError) as crashed:
        await pool.run(os._exit, 1)  # the worker dies in the middle of a job
    assert crashed.value.key == "tokens.error.worker"
    text = long_text(2)
    again = await tokens(aula, texto=text, modelo="gpt-4o")
    assert again == tokens_reply(text, ("o200k_base",), "es", aula.settings.tokens)
    assert pool.started == 2


async def test_a_killed_idle_worker_never_hangs_a_request(aula):
    pool = aula.services.tokens_pool
    assert not (await tokens(aula, texto=long_text(1), modelo="gpt-4o")).error
    os.kill(await pool.run(os.getpid), signal.SIGKILL)
    # Whether the pool has noticed the death yet or not, the request answers (a fresh worker,
    # or the clear error in Spanish), and the one after it is whole again.
    text = long_text(3)
    reply = await tokens(aula, texto=text, modelo="gpt-4o")
    if reply.error:
        assert "No pude terminar de tokenizar este texto largo" in reply.parts[0].text
        reply = await tokens(aula, texto=text, modelo="gpt-4o")
    assert reply == tokens_reply(text, ("o200k_base",), "es", aula.settings.tokens)


async def test_closing_the_app_stops_the_worker(aula):
    pool = aula.services.tokens_pool
    assert not (await tokens(aula, texto=long_text(1), modelo="gpt-4o")).error
    pid = await pool.run(os.getpid)
    await aula.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # shut down and reaped
    with pytest.raises(UserError):
        await pool.run(os.getpid)
