"""A one-process pool for /tokens' long texts, so that one heavy request never stalls the class.

Encoding a 20,000-character text in seven vocabularies and drawing its picture takes about a
second of CPU. In a worker thread it still holds the GIL for most of that time, and quiz clicks
on the same bot waited up to 20× their idle p99 (bench/tokens_stall.py, issue 16). Texts at or
above `min_work` (characters × encodings) are therefore built in a separate process: one
worker (`concurrent.futures.ProcessPoolExecutor`, "spawn" context, so nothing of the bot's
event loop, sockets or database is inherited), started on the first long text and loading its
vocabularies itself. Shorter texts, the course's examples and nearly every test, stay in a
worker thread of this process and never start it.

A worker that dies (killed, out of memory) breaks the executor: the request it was running
gets `UserError("tokens.error.worker")`, and the next request starts a fresh worker. The pool
is `app.services.tokens_pool`, shut down by `Aula.close`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from bot.errors import UserError

log = logging.getLogger("aula")

T = TypeVar("T")

# Characters × encodings from which a text goes to the worker process: about 40 ms of work
# in-process, more than the worker's round trip (pickling the reply and its picture: ~1 ms).
POOL_MIN_WORK = 10_000


# The worker's CPU priority below the bot's (nice(2) increment): when the cores are busy, the bot's
# event loop (every click and reply of the class) runs first and a long /tokens waits a little.
WORKER_NICENESS = 10


def _start_worker(names: tuple[str, ...], niceness: int = WORKER_NICENESS) -> None:
    """Worker initializer: a lower CPU priority, then the vocabularies a class uses, loaded once."""
    import gc

    from bot.tokens.encodings import get_encoding

    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # no nice() on this platform, or not allowed: same priority
        log.warning("could not lower the /tokens worker's CPU priority")
    for name in names:
        get_encoding(name)
    # The vocabularies stay for the worker's life: out of the collector's full passes, which a
    # long reply's many small objects would otherwise trigger over them (as `aula run` does).
    gc.collect()
    gc.freeze()


class TokensPool:
    """Runs picklable functions in one worker process, started lazily and recreated if it dies.

    `preload` names the encodings the worker loads when it starts; `min_work` is the
    characters × encodings from which `wants(text, names)` says a text should go to the pool.
    """

    def __init__(self, preload: Iterable[str] = (), min_work: int = POOL_MIN_WORK) -> None:
        self.preload = tuple(dict.fromkeys(preload))
        self.min_work = min_work
        self.started = 0  # worker processes started so far (a fresh one after each crash)
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def wants(self, text: str, names: tuple[str, ...]) -> bool:
        """Whether building the reply of `text` in `names` is long enough for the worker."""
        return len(text) * len(names) >= self.min_work

    def _new_executor(self) -> ProcessPoolExecutor:
        self.started += 1
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.preload,),
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in the worker process; its result (both must pickle).

        Raises `UserError("tokens.error.worker")` if the worker dies while running it (the
        next call starts a new worker) or the pool is closed.
        """
        if self._closed:
            raise UserError("tokens.error.worker")
        if self._executor is None:
            self._executor = self._new_executor()
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            try:
                future = loop.run_in_executor(executor, function, *args)
            except BrokenProcessPool:
                # The worker died while idle (found out by this submit): nothing of this
                # request ran yet, so it goes to a fresh worker.
                self._discard(executor)
                executor = self._executor = self._new_executor()
                future = loop.run_in_executor(executor, function, *args)
            return await future
        except BrokenProcessPool:
            log.warning("the /tokens worker process died; starting a new one on the next request")
            self._discard(executor)
            raise UserError("tokens.error.worker") from None

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the worker (waiting for the request it is running, if any)."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
