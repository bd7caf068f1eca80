"""The LLM client against a real HTTP server on loopback: streaming, retries, faults."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bot.llm.client import (
    ConnectionFailed,
    EndpointDecommissioned,
    InvalidApiKey,
    LlmClient,
    LlmTimeout,
    MalformedResponse,
    MissingApiKey,
    ModelNotFound,
    PromptTooLong,
    RateLimited,
    Sampling,
    UnknownProfile,
    UpstreamError,
    count_tokens,
    is_loopback,
    resolve_profile,
)
from bot.settings import load_settings
from tests.fake_llm import API_KEY, BASE_MODEL, DECOMMISSIONED, INSTRUCT_MODEL, FakeLlmServer, Fault


def make_settings(base_url: str, **env: str):
    environ = {"AULA_LLM_BASE_URL": base_url, "AULA_LLM_API_KEY": API_KEY, "AULA_DATABASE": ":memory:"} | env
    return load_settings(environ=environ, dotenv_path=None)


class RecordingSleep:
    """Retries wait through this: it records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def server():
    async with FakeLlmServer() as running:
        yield running


@pytest.fixture
async def client_for():
    clients: list[LlmClient] = []

    def build(server: FakeLlmServer, jitter: float = 1.0, **env: str) -> LlmClient:
        settings = make_settings(server.base_url, **env)
        client = LlmClient(settings.llm, resolve_profile(settings), sleep=RecordingSleep(), jitter=lambda: jitter)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def test_base_model_gets_the_raw_prompt_and_streams_growing_text(server, client_for):
    client = client_for(server)
    snapshots = [s async for s in client.stream_completion("La inteligencia artificial es")]
    path, body = server.calls[0]
    assert path == "/v1/completions"
    assert body["prompt"] == "La inteligencia artificial es"  # no template around it
    assert body["model"] == BASE_MODEL and body["stream"] is True and body["max_tokens"] == 200
    texts = [s.text for s in snapshots]
    assert len(texts) > 3 and all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert all(s.finish_reason is None for s in snapshots[:-1])
    last = snapshots[-1]
    assert last.text.startswith("La inteligencia artificial es un campo")
    assert last.finish_reason == "stop"
    assert last.usage is not None and not last.usage.estimated
    assert last.usage.completion_tokens == len(last.text.split(" "))
    assert last.latency_s > 0


async def test_instruct_model_gets_messages(server, client_for):
    client = client_for(server)
    answer = await client.chat(
        [{"role": "user", "content": "¿Qué es la IA?"}],
        sampling=Sampling.from_settings(client.settings, max_tokens=50, temperature=0.1, stop=["\n"]),
    )
    path, body = server.calls[0]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": "¿Qué es la IA?"}]
    assert body["model"] == INSTRUCT_MODEL
    assert body["temperature"] == 0.1 and body["stop"] == ["\n"] and body["top_p"] == 0.9
    assert answer.text.startswith("¡Claro! Sobre «¿Qué es la IA?»")
    assert answer.model == INSTRUCT_MODEL


async def test_message_chunks_instead_of_delta_are_read(client_for):
    async with FakeLlmServer(delta_field="message") as server:
        answer = await client_for(server).chat([{"role": "user", "content": "Hola"}])
    assert answer.text.startswith("¡Claro!")


async def test_max_tokens_cut_is_reported_as_length(server, client_for):
    client = client_for(server)
    answer = await client.complete("El capital de Francia es", sampling=Sampling.from_settings(client.settings, max_tokens=4))
    assert answer.finish_reason == "length"
    assert server.calls[0][1]["max_tokens"] == 4


async def test_usage_is_counted_with_the_llama_tokenizer_when_the_server_omits_it(client_for):
    async with FakeLlmServer(send_usage=False) as server:
        answer = await client_for(server).complete("Hola")
    assert answer.usage is not None and answer.usage.estimated
    assert answer.usage.prompt_tokens == 2  # "Hola" + <|begin_of_text|>
    assert 0 < answer.usage.completion_tokens


async def test_a_whole_json_answer_is_accepted_too(client_for):
    async with FakeLlmServer(ignore_stream=True) as server:
        answer = await client_for(server).chat([{"role": "user", "content": "x"}])
    assert answer.text.startswith("¡Claro! Sobre «x»") and answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == 7


async def test_429_waits_for_retry_after_then_succeeds(server, client_for):
    server.faults.append(Fault(status=429, retry_after="7"))
    client = client_for(server, jitter=0.1)
    answer = await client.complete("Hola")
    assert answer.finish_reason == "stop"
    assert server.upstream_calls("/v1/completions") == 2
    assert client.sleep.delays == [7.0]  # Retry-After wins over a shorter backoff


async def test_429_every_time_ends_in_rate_limited_after_the_retries(server, client_for):
    server.faults.extend(Fault(status=429) for _ in range(10))
    client = client_for(server, jitter=1.0)
    with pytest.raises(RateLimited):
        await client.complete("Hola")
    assert server.upstream_calls("/v1/completions") == 4  # 1 + max_retries (3)
    assert client.sleep.delays == [1.0, 2.0, 4.0]  # exponential


async def test_backoff_has_jitter(server, client_for):
    server.faults.extend([Fault(status=500), Fault(status=502)])
    client = client_for(server, jitter=0.5)
    await client.complete("Hola")
    assert client.sleep.delays == [0.5, 1.0]


async def test_500_is_retried_and_400_is_not(server, client_for):
    server.faults.append(Fault(status=500))
    assert (await client_for(server).complete("Hola")).text
    server.faults.append(Fault(status=400, body={"error": {"message": "bad top_p"}}))
    with pytest.raises(UpstreamError) as error:
        await client_for(server).complete("Hola")
    assert error.value.status == 400 and "bad top_p" in error.value.detail


async def test_invalid_key_is_401(server, client_for):
    with pytest.raises(InvalidApiKey) as error:
        await client_for(server, AULA_LLM_API_KEY="wrong").complete("Hola")
    assert "AULA_LLM_API_KEY" in error.value.setting
    assert server.upstream_calls("/v1/completions") == 1  # not retried


async def test_unknown_model_is_named(server, client_for):
    with pytest.raises(ModelNotFound) as error:
        await client_for(server, AULA_BASE_MODEL="meta-llama/nope").complete("Hola")
    assert error.value.model == "meta-llama/nope"


async def test_decommissioned_endpoint_is_recognised(server, client_for):
    server.faults.append(DECOMMISSIONED)
    with pytest.raises(EndpointDecommissioned) as error:
        await client_for(server).complete("Hola")
    assert "decommissioned" in str(error.value)
    assert server.upstream_calls("/v1/completions") == 1


async def test_disconnect_mid_stream_keeps_the_text_and_says_it_was_cut(server, client_for):
    server.faults.append(Fault(disconnect_after=3))
    answer = await client_for(server).complete("La inteligencia artificial es")
    assert answer.finish_reason == "interrupted" and answer.interruption == "disconnected"
    assert answer.text == "La inteligencia artificial es un campo"  # the three chunks that arrived
    assert server.upstream_calls("/v1/completions") == 1  # never re-asked: the text would repeat


async def test_disconnect_before_any_text_is_retried(server, client_for):
    server.faults.append(Fault(disconnect_after=0))
    answer = await client_for(server).complete("Hola")
    assert answer.finish_reason == "stop"
    assert server.upstream_calls("/v1/completions") == 2


async def test_stream_without_done_is_cut(server, client_for):
    server.faults.append(Fault(no_done=True))
    answer = await client_for(server).complete("Hola")
    assert answer.finish_reason == "interrupted" and answer.text.startswith("Hola un campo")


async def test_malformed_sse_keeps_the_text_or_fails_clearly(server, client_for):
    server.faults.append(Fault(malformed_after=2))
    answer = await client_for(server).complete("Hola")
    assert answer.interruption == "malformed" and answer.text == "Hola un campo de"
    server.faults.append(Fault(malformed_after=0))
    with pytest.raises(MalformedResponse):
        await client_for(server).complete("Hola")


async def test_idle_timeout_between_chunks(server, client_for):
    server.faults.append(Fault(stall_s=0.8))
    client = client_for(server)
    client.settings = client.settings.model_copy(update={"idle_timeout_s": 0.2})
    started = time.perf_counter()
    answer = await client.complete("Hola")
    assert time.perf_counter() - started < 0.6  # not the 0.8 s the server stays silent
    assert answer.interruption == "idle_timeout" and answer.text == "Hola un"


async def test_total_timeout_bounds_the_whole_call(client_for):
    async with FakeLlmServer(chunk_delay_s=0.05) as server:
        client = client_for(server)
        client.settings = client.settings.model_copy(update={"total_timeout_s": 0.3})
        started = time.perf_counter()
        answer = await client.complete("Hola")
    assert time.perf_counter() - started < 1.0
    assert answer.interruption == "total_timeout" and answer.text


async def test_connection_refused_is_retried_then_reported(client_for):
    async with FakeLlmServer() as server:
        pass  # closed: nothing listens on its port any more
    client = client_for(server)
    with pytest.raises(ConnectionFailed):
        await client.complete("Hola")
    assert len(client.sleep.delays) == 3


async def test_connect_timeout_is_retried_then_reported(server):
    # Loopback always connects at once, so this one fault comes from a transport that times out.
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    settings = make_settings(server.base_url)
    sleep = RecordingSleep()
    client = LlmClient(settings.llm, resolve_profile(settings), transport=httpx.MockTransport(refuse), sleep=sleep)
    try:
        with pytest.raises(LlmTimeout) as error:
            await client.complete("Hola")
    finally:
        await client.aclose()
    assert error.value.kind == "connect" and len(sleep.delays) == 3


async def test_no_key_is_refused_before_any_request(server):
    settings = load_settings(environ={"AULA_DATABASE": ":memory:"}, dotenv_path=None)
    client = LlmClient(settings.llm, resolve_profile(settings))
    try:
        with pytest.raises(MissingApiKey) as error:
            await client.complete("Hola")
        assert "HYPERBOLIC_API_KEY" in error.value.setting
    finally:
        await client.aclose()
    assert server.calls == []


async def test_prompt_longer_than_the_context_is_refused_before_sending(server, client_for):
    client = client_for(server, AULA__LLM__CONTEXT_WINDOW="300")
    with pytest.raises(PromptTooLong) as error:
        await client.complete("hola " * 150)  # ~300 tokens + 200 max_tokens > 300
    assert error.value.tokens == count_tokens("hola " * 150) + 1 > 100
    assert server.calls == []


async def test_concurrent_calls_share_one_pool(client_for):
    async with FakeLlmServer(chunk_delay_s=0.02) as server:
        client = client_for(server)
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.complete(f"p{i}") for i in range(10)))
        elapsed = time.perf_counter() - started
    assert [a.text.split(" ")[0] for a in answers] == [f"p{i}" for i in range(10)]
    one_call = answers[0].latency_s
    assert elapsed < one_call * 4  # concurrent, not one after another


def test_profiles_from_settings_and_environment():
    settings = load_settings(
        environ={
            "AULA_DATABASE": ":memory:",
            "HYPERBOLIC_API_KEY": "hyper",
            "AULA_LLM_API_KEY": "aula",
            "AULA__LLM__PROFILES": '{local = {base_url = "http://localhost:11434/v1/", base_model = "b", instruct_model = "i"}}',
        },
        dotenv_path=None,
    )
    default = resolve_profile(settings)
    assert default.api_key == "aula"  # AULA_LLM_API_KEY wins over HYPERBOLIC_API_KEY
    assert default.needs_key and default.requests_per_minute == 5
    local = resolve_profile(settings, "local")
    assert local.base_url == "http://localhost:11434/v1" and not local.needs_key
    assert local.cost_usd(None) == 0.0
    with pytest.raises(UnknownProfile):
        resolve_profile(settings, "nope")


def test_loopback_hosts():
    assert is_loopback("http://127.0.0.1:8000/v1") and is_loopback("http://localhost/v1")
    assert not is_loopback("https://api.hyperbolic.xyz/v1")
