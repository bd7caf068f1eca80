"""PostRetries: the one post-retry bookkeeping of the quiz engine and homework (bot/ticker.py)."""

from __future__ import annotations

import logging

from bot.ticker import PostRetries


async def failing() -> None:
    raise ConnectionError("the channel is gone")


async def fine() -> None:
    return None


async def test_the_quiz_rule_counts_a_post_given_up_as_done_so_the_quiz_moves_on(caplog):
    posts = PostRetries(3, given_up_is_done=True)
    with caplog.at_level(logging.ERROR):
        outcomes = [await posts.post(("s", 1), failing(), "quiz %s: posting results failed", 7) for _ in range(3)]
    assert outcomes == [False, False, True]
    assert posts.given_up(("s", 1)) and not posts.given_up(("s", 2))
    assert [r.getMessage() for r in caplog.records][-1] == "quiz 7: posting results failed (attempt 3 of 3)"


async def test_the_homework_rule_leaves_a_post_given_up_undone():
    posts = PostRetries(2, given_up_is_done=False)
    assert [await posts.post("a", failing(), "x") for _ in range(2)] == [False, False]
    assert posts.given_up("a")


async def test_a_success_forgets_the_failures_before_it():
    posts = PostRetries(2, given_up_is_done=False)
    assert not await posts.post("a", failing(), "x")
    assert await posts.post("a", fine(), "x")
    assert not await posts.post("a", failing(), "x") and not posts.given_up("a")
