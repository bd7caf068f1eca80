"""A provider that misbehaves on purpose, or leaks a secret (issue 13, items 7 and 8).

Through /compare and live /roles on the core, against the loopback OpenAI-compatible server
(tests/fake_llm.py) with its faults: endless text that ignores max_tokens, bytes trickling
without ever ending a line, one 50 MB line; an address with credentials; an error body
quoting the key. Bounds on memory, characters and time are generous: the figures measured
are in bench/README.md ("A provider that misbehaves").
"""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc

import pytest

from bot.app import Aula
from bot.llm.client import MAX_CHARS_PER_TOKEN, MAX_SSE_LINE_BYTES, TEXT_MARGIN_CHARS
from bot.logs import KeyValueFormatter
from bot.replies import Reply, plain_text
from bot.settings import load_settings
from tests.conftest import make_request, replies_of
from tests.fake_llm import API_KEY, FakeLlmServer, Fault
from tests.test_faults_llm import closed_port, panels

MAX_TOKENS = 64
TEXT_CAP = MAX_TOKENS * MAX_CHARS_PER_TOKEN + TEXT_MARGIN_CHARS  # what a side may hold at most
TOTAL_TIMEOUT_S = 4.0


@pytest.fixture
async def aula(tmp_path):
    made: list[Aula] = []

    async def build(base_url: str, **llm: str) -> Aula:
        environ = {
            "AULA_DATABASE": str(tmp_path / "a.sqlite3"),
            "AULA_LLM_BASE_URL": base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__MAX_TOKENS": str(MAX_TOKENS),
            "AULA__LLM__TOTAL_TIMEOUT_S": str(TOTAL_TIMEOUT_S),
            "AULA__LLM__REQUESTS_PER_MINUTE": "100",
        } | {f"AULA__LLM__{k.upper()}": v for k, v in llm.items()}
        app = Aula(load_settings(environ=environ, dotenv_path=None))
        await app.start()
        made.append(app)
        return app

    yield build
    for app in made:
        await app.close()


async def compare(app: Aula, prompt: str = "Hola", user: str = "u1") -> list[Reply]:
    return await replies_of(app, make_request("compare", user_id=user, args={"prompt": prompt}))


async def tokens_latency(app: Aula) -> float:
    """How long another student's /tokens takes while the misbehaving stream is read."""
    started = time.perf_counter()
    [reply] = await replies_of(app, make_request("tokens", user_id="otra", args={"texto": "Hola mundo"}))
    assert not reply.error
    return time.perf_counter() - started


async def misbehaving_compare(app: Aula) -> tuple[list[Reply], float, int, float]:
    """(replies, seconds, peak traced bytes, another /tokens' latency in the middle)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        running = asyncio.create_task(compare(app))
        await asyncio.sleep(0.3)
        other = await tokens_latency(app)
        replies = await asyncio.wait_for(running, 60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return replies, time.perf_counter() - started, peak, other


async def test_endless_text_is_cut_at_about_max_tokens_and_the_class_goes_on(aula):
    async with FakeLlmServer() as server:
        server.faults += [Fault(endless=True), Fault(endless=True)]
        app = await aula(server.base_url)
        replies, seconds, peak, other = await misbehaving_compare(app)
    final = replies[-1]
    base, instruct = panels(final)
    assert all(len(text) < TEXT_CAP + 2_000 for text in (base, instruct))  # the panel's own words too
    assert all("bla bla" in text for text in (base, instruct))
    assert "max_tokens" in plain_text(final) or "64" in plain_text(final)  # cut "at max_tokens"
    assert seconds < TOTAL_TIMEOUT_S + 5  # cut by size, long before the deadline (measured: well under 1 s)
    assert peak < 100_000_000  # bytes (before: 833 MB)
    assert other < 3.0  # seconds (before: 13 s)


async def test_bytes_trickling_without_a_line_end_meet_the_deadline(aula):
    async with FakeLlmServer() as server:
        server.faults += [Fault(trickle_s=0.005), Fault(trickle_s=0.005)]
        app = await aula(server.base_url, idle_timeout_s="2")
        replies, seconds, _, other = await misbehaving_compare(app)
    assert TOTAL_TIMEOUT_S - 1 < seconds < TOTAL_TIMEOUT_S + 5  # the total timeout, not "never" (before: 45 s+)
    final = plain_text(replies[-1])
    assert "(4 s)" in final or "4 s" in final
    assert other < 3.0


async def test_one_huge_line_is_refused_at_the_line_cap(aula):
    async with FakeLlmServer() as server:
        server.faults += [Fault(huge_line_bytes=50_000_000)] * 2
        app = await aula(server.base_url)
        replies, _, peak, other = await misbehaving_compare(app)
        sent = server.misbehaved_bytes
    assert sent < 20_000_000  # the client hung up early: it did not take the 50 MB
    assert peak < 50_000_000  # bytes (before: SIGABRT in the tokenizer under a 3 GB cap)
    assert replies[-1] is not None and other < 3.0
    assert MAX_SSE_LINE_BYTES < 1_000_000


# --- secrets ----------------------------------------------------------------------------------


async def test_credentials_in_the_provider_address_never_reach_the_class(aula, caplog):
    port = closed_port()
    app = await aula(f"http://ana:s3cr3t-pw@127.0.0.1:{port}/v1?api_key=k3y-in-url", max_retries="0")
    with caplog.at_level(logging.INFO):
        replies = await compare(app)
    shown = "\n".join(plain_text(r) for r in replies)
    assert f"http://127.0.0.1:{port}/v1" in shown  # the address, usefully
    assert "s3cr3t-pw" not in shown and "k3y-in-url" not in shown and "ana:" not in shown
    logged = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "s3cr3t-pw" not in logged and "k3y-in-url" not in logged


async def test_an_error_body_quoting_the_key_is_not_posted_by_live_roles(aula, caplog):
    quoted = "Incorrect API key provided: sk-live-0123456789abcdef. You can find your key at ..."
    async with FakeLlmServer() as server:
        server.faults += [Fault(status=400, body={"error": {"message": quoted, "code": 400}})] * 2
        app = await aula(server.base_url)
        [shown] = await replies_of(app, make_request("roles", args={"usuario": "Hola"}))
        live = next(b.id for b in shown.buttons if b.id.startswith("roles:live:"))
        with caplog.at_level(logging.INFO):
            replies = await replies_of(app, make_request("roles", action=live))
    final = plain_text(replies[-1])
    assert "sk-live" not in final and "Incorrect API key" not in final
    assert "400" in final  # what kind of failure: the server refused the request
    logged = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "Incorrect API key" in logged and "sk-live-0123456789abcdef" not in logged  # detail, masked
