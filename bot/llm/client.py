"""An async client for OpenAI-compatible APIs: Hyperbolic by default, or a local server.

The base model is called through POST {base_url}/completions with the raw prompt (no
chat template: it just continues the text); the instruct model through POST
{base_url}/chat/completions with messages. Both stream (Server-Sent Events) and yield
`Completion` snapshots: the text so far, then a last one with why it stopped and the
tokens used. One `httpx.AsyncClient` (one connection pool) serves every profile.

Faults become typed `LlmError`s the commands turn into messages. A stream that breaks
after text arrived is not an error: its last snapshot keeps the text and says it was cut.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import ipaddress
import json
import logging
import os
import random
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.settings import LlmSettings, Settings, split_address
from bot.tokens.encodings import get_encoding

DEFAULT_PROFILE = "default"
log = logging.getLogger("aula.llm")

DECOMMISSIONED_CODE = 40401  # Hyperbolic's answer once its serverless inference was switched off
BACKOFF_BASE_S = 1.0
# What a stream may hold, so a provider that ignores max_tokens, never ends a line or sends
# one huge line cannot fill the memory nor keep the tokenizer and the renderer busy:
MAX_SSE_LINE_BYTES = 256 * 1024  # one SSE line (a chunk with one token is a few hundred bytes)
MAX_JSON_BODY_BYTES = 4 * 1024 * 1024  # a whole non-streamed answer
MAX_CHARS_PER_TOKEN = 32  # text kept: max_tokens of these, plus the margin (real tokens average ~4)
TEXT_MARGIN_CHARS = 4096
TEXT_MARGIN_CHUNKS = 16  # chunks with text kept: one per token for max_tokens, plus these
BACKOFF_CAP_S = 30.0
TEMPLATE_TOKENS = 8  # header and end-of-turn tokens the chat template adds around one message


# --- what a call returns --------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False  # the server did not say; counted with the Llama 3.1 tokenizer

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """A snapshot of one call: while streaming finish_reason is None and text grows.

    finish_reason: "stop" (the model ended), "length" (cut at max_tokens), another value
    the server gave, or "interrupted" (the stream broke; `interruption` says how).
    """

    model: str
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    latency_s: float = 0.0  # from sending the request to the latest chunk
    interruption: str = ""  # "disconnected", "idle_timeout", "total_timeout", "malformed"

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


# --- errors ---------------------------------------------------------------------------


class LlmError(Exception):
    """A call that produced nothing usable. Subclasses say why; the message is for logs."""


class MissingApiKey(LlmError):
    def __init__(self, setting: str) -> None:
        super().__init__(f"no API key: set {setting}")
        self.setting = setting


class InvalidApiKey(LlmError):
    def __init__(self, setting: str, status: int) -> None:
        super().__init__(f"HTTP {status}: the API key was refused (set in {setting})")
        self.setting = setting


class ModelNotFound(LlmError):
    def __init__(self, model: str, base_url: str) -> None:
        self.base_url = public_address(base_url)
        super().__init__(f"HTTP 404: {self.base_url} has no model {model}")
        self.model = model


class EndpointDecommissioned(LlmError):
    def __init__(self, base_url: str, message: str) -> None:
        self.base_url = public_address(base_url)
        self.message = message  # what the server said, to quote it
        super().__init__(f"HTTP 404 code {DECOMMISSIONED_CODE} at {self.base_url}: {message}")


class RateLimited(LlmError):
    def __init__(self, attempts: int) -> None:
        super().__init__(f"HTTP 429 after {attempts} attempts")
        self.attempts = attempts


class UpstreamError(LlmError):
    """5xx after every retry, or a 4xx the server explained."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class ConnectionFailed(LlmError):
    def __init__(self, base_url: str, detail: str) -> None:
        self.base_url = public_address(base_url)
        super().__init__(f"cannot reach {self.base_url}: {detail}")


def public_address(url: str) -> str:
    """A provider address as it may be shown or logged: scheme, host, port and path, without
    the user name and password (`https://user:pass@…`), query (`?api_key=…`) or fragment."""
    parts, host = split_address(url)
    if parts is None:
        return "?"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def normal_address(url: str) -> str:
    """One spelling of a provider's base URL, for telling whether two are the same server:
    scheme and host in lower case, the scheme's default port dropped, no trailing slash, and no
    user name, password, query or fragment ("?" when the URL does not parse)."""
    parts, host = split_address(url)
    if parts is None:
        return "?"
    scheme = parts.scheme.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return urllib.parse.urlunsplit((scheme, host.lower(), parts.path.rstrip("/"), "", ""))


class LlmTimeout(LlmError):
    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(f"{kind} timeout after {seconds:g} s")
        self.kind = kind  # "connect", "idle", "total"
        self.seconds = seconds  # the limit that ran out (the last attempt's)
        # Set by the client when it gives up: what the person waited, retries included, and
        # the deadline (settings.llm.total_timeout_s) that bounds the whole call.
        self.elapsed_s: float | None = None
        self.attempts = 1
        self.deadline_s: float | None = None

    def waited(self, elapsed_s: float, attempts: int, deadline_s: float) -> LlmTimeout:
        self.elapsed_s, self.attempts, self.deadline_s = elapsed_s, attempts, deadline_s
        return self


class MalformedResponse(LlmError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the server's answer is not what the API promises: {detail}")


class PromptTooLong(LlmError):
    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(f"{tokens} prompt tokens leave no room in a {limit}-token context")
        self.tokens = tokens
        self.limit = limit


# --- which server, which models --------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """One OpenAI-compatible server and the two models compared on it."""

    name: str
    base_url: str
    base_model: str
    instruct_model: str
    api_key: str | None
    key_setting: str  # where the key comes from, for messages ("AULA_LLM_API_KEY or HYPERBOLIC_API_KEY")
    requests_per_minute: int
    context_window: int
    price_per_million_input: float
    price_per_million_output: float
    rate_limits: Mapping[str, int] = field(default_factory=dict)  # model -> requests per minute

    @property
    def needs_key(self) -> bool:
        """A server on this machine usually takes no key; anything else does."""
        return not is_loopback(self.base_url)

    def per_minute(self, model: str) -> int:
        return self.rate_limits.get(model, self.requests_per_minute)

    def rate_line(self, model: str) -> tuple[str, str, str]:
        """The provider rate limit a call to `model` counts against, and the line it waits in
        (bot/llm/queue.py in memory, bot/llm/shared.py across processes): a provider limits
        requests per API key and model, so two profiles with different keys on one server have
        a line each, and one key under two spellings of one address shares one.

        (the server's address normalised, the credentials' fingerprint, the model): the address
        as `normal_address` gives it, without user name, password or query; the fingerprint is
        the first 16 hex digits of the SHA-256 of the API key together with any credentials the
        address carries (`https://user:pass@…`, `?api_key=…`), so the key itself is never
        stored in the database nor logged."""
        parts, _ = split_address(self.base_url)
        hidden = self.base_url if parts is None else f"{parts.username or ''}:{parts.password or ''}?{parts.query}"
        secret = f"{self.api_key or ''}\0{hidden}"
        return normal_address(self.base_url), hashlib.sha256(secret.encode()).hexdigest()[:16], model

    def cost_usd(self, usage: Usage | None) -> float:
        if usage is None:
            return 0.0
        return (
            usage.prompt_tokens * self.price_per_million_input
            + usage.completion_tokens * self.price_per_million_output
        ) / 1_000_000


class UnknownProfile(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known


def profile_names(settings: Settings) -> list[str]:
    return [DEFAULT_PROFILE, *settings.llm.profiles]


def resolve_profile(settings: Settings, name: str = "", environ: Mapping[str, str] | None = None) -> Profile:
    """The default profile (settings.llm and its secret key) or a named one from [llm.profiles]."""
    llm = settings.llm
    name = name or DEFAULT_PROFILE
    if name == DEFAULT_PROFILE:
        key = settings.secrets.llm_api_key
        return Profile(
            name=name,
            base_url=llm.base_url.rstrip("/"),
            base_model=llm.base_model,
            instruct_model=llm.instruct_model,
            api_key=key.get_secret_value() if key else None,
            key_setting="AULA_LLM_API_KEY / HYPERBOLIC_API_KEY",
            requests_per_minute=llm.requests_per_minute,
            context_window=llm.context_window,
            price_per_million_input=llm.price_per_million_input,
            price_per_million_output=llm.price_per_million_output,
            rate_limits=dict(llm.rate_limits),
        )
    profile = llm.profiles.get(name)
    if profile is None:
        raise UnknownProfile(name, profile_names(settings))
    env = os.environ if environ is None else environ
    return Profile(
        name=name,
        base_url=profile.base_url.rstrip("/"),
        base_model=profile.base_model,
        instruct_model=profile.instruct_model,
        api_key=(env.get(profile.api_key_env) or None) if profile.api_key_env else None,
        key_setting=profile.api_key_env or f"llm.profiles.{name}.api_key_env",
        requests_per_minute=profile.requests_per_minute or llm.requests_per_minute,
        context_window=profile.context_window or llm.context_window,
        price_per_million_input=profile.price_per_million_input,
        price_per_million_output=profile.price_per_million_output,
        rate_limits=dict(llm.rate_limits),
    )


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- counting tokens (the same tokenizer /tokens shows) ----------------------------------


def count_tokens(text: str) -> int:
    return len(get_encoding("llama-3.1").encode_ordinary(text))


def prompt_tokens(prompt: str | None = None, messages: list[dict[str, str]] | None = None) -> int:
    """Tokens the model reads: the raw prompt, or each message plus its template markers."""
    if messages is not None:
        return sum(count_tokens(m.get("content", "")) + TEMPLATE_TOKENS for m in messages) + 1
    return count_tokens(prompt or "") + 1  # <|begin_of_text|>


def check_context(tokens: int, max_tokens: int, context_window: int) -> None:
    """Refuse a prompt that leaves the model no room to answer."""
    if tokens + max_tokens > context_window:
        raise PromptTooLong(tokens, context_window - max_tokens)


# --- the client ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, llm: LlmSettings, **overrides: Any) -> Sampling:
        values = {"max_tokens": llm.max_tokens, "temperature": llm.temperature, "top_p": llm.top_p}
        values["stop"] = tuple(llm.stop)
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["stop"] = tuple(values["stop"])
        return cls(**values)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.stop:
            body["stop"] = list(self.stop)
        return body


class LlmClient:
    """Shared by every command: `aula.services.llm`, closed with `aclose()`."""

    def __init__(
        self,
        settings: LlmSettings,
        profile: Profile,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.sleep = sleep  # retries wait through this: tests pass one that records instead
        self.jitter = jitter
        self.http = httpx.AsyncClient(
            transport=transport,
            timeout=self._timeout(settings.idle_timeout_s),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            headers={"Accept": "text/event-stream"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def _timeout(self, read_s: float) -> httpx.Timeout:
        # httpx's read timeout bounds each wait for bytes: the silence between two chunks.
        return httpx.Timeout(connect=self.settings.connect_timeout_s, read=read_s, write=30.0, pool=30.0)

    # --- one-shot helpers (for /roles and the CLI) ------------------------------------

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        profile: Profile | None = None,
        sampling: Sampling | None = None,
    ) -> Completion:
        """The instruct model's answer to `messages`: text, usage, latency, finish_reason."""
        return await _last(self.stream_chat(messages, model=model, profile=profile, sampling=sampling))

    async def complete(
        self, prompt: str, *, model: str | None = None, profile: Profile | None = None, sampling: Sampling | None = None
    ) -> Completion:
        """The base model's continuation of `prompt`, with no template around it."""
        return await _last(self.stream_completion(prompt, model=model, profile=profile, sampling=sampling))

    # --- streaming --------------------------------------------------------------------

    def stream_completion(
        self, prompt: str, *, model: str | None = None, profile: Profile | None = None, sampling: Sampling | None = None
    ) -> AsyncIterator[Completion]:
        """Snapshots of the base model's continuation as it streams (the last one is the answer).
        `sampling` defaults to the settings' (Sampling.from_settings)."""
        profile = profile or self.profile
        model = model or profile.base_model
        body = {"model": model, "prompt": prompt}
        return self._stream(profile, "/completions", body, model, sampling, prompt_tokens(prompt=prompt))

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        profile: Profile | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncIterator[Completion]:
        """Snapshots of the instruct model's answer to `messages` as it streams."""
        profile = profile or self.profile
        model = model or profile.instruct_model
        body = {"model": model, "messages": messages}
        return self._stream(profile, "/chat/completions", body, model, sampling, prompt_tokens(messages=messages))

    async def _stream(
        self,
        profile: Profile,
        path: str,
        body: dict[str, Any],
        model: str,
        sampling: Sampling | None,
        counted_prompt_tokens: int,
    ) -> AsyncIterator[Completion]:
        params = sampling or Sampling.from_settings(self.settings)
        check_context(counted_prompt_tokens, params.max_tokens, profile.context_window)
        if profile.needs_key and not profile.api_key:
            raise MissingApiKey(profile.key_setting)
        body = body | params.body() | {"stream": True, "stream_options": {"include_usage": True}}
        headers = {"Authorization": f"Bearer {profile.api_key}"} if profile.api_key else {}
        url = profile.base_url + path

        started = time.perf_counter()
        deadline = started + self.settings.total_timeout_s
        attempt = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise LlmTimeout("total", self.settings.total_timeout_s).waited(
                    time.perf_counter() - started, attempt, self.settings.total_timeout_s
                )
            stream = _Stream(model, started, counted_prompt_tokens, params.max_tokens)
            try:
                request = self.http.build_request(
                    "POST",
                    url,
                    json=body,
                    headers=headers,
                    timeout=self._timeout(min(self.settings.idle_timeout_s, remaining)),
                )
                response = await self.http.send(request, stream=True)
            except httpx.ConnectTimeout as exc:
                failure: LlmError = LlmTimeout("connect", self.settings.connect_timeout_s)
                retry_after = None
                cause: Exception = exc
            except httpx.ReadTimeout as exc:
                failure, retry_after, cause = LlmTimeout("idle", self.settings.idle_timeout_s), None, exc
            except httpx.TransportError as exc:
                failure, retry_after, cause = ConnectionFailed(profile.base_url, _describe(exc)), None, exc
            else:
                try:
                    if response.status_code == 200:
                        async for snapshot in stream.read(response, deadline, self.settings):
                            yield snapshot
                        return
                    await response.aread()
                    failure = _status_error(response, profile, model, attempt + 1)
                    retry_after = _retry_after(response)
                    cause = failure
                except _RetryBeforeText as early:
                    failure, retry_after, cause = early.error, None, early.error
                finally:
                    await response.aclose()
            if isinstance(failure, LlmTimeout):
                failure.waited(time.perf_counter() - started, attempt + 1, self.settings.total_timeout_s)
            if not _retryable(failure) or attempt >= self.settings.max_retries:
                raise failure from (cause if cause is not failure else None)
            delay = self._backoff(attempt, retry_after)
            if time.perf_counter() + delay >= deadline:
                raise failure
            attempt += 1
            await self.sleep(delay)

    async def post_json(self, profile: Profile, path: str, body: dict[str, Any], model: str) -> tuple[dict[str, Any], float]:
        """One non-streamed call (e.g. a single token with its log-probabilities): the answer's
        JSON object and its latency in seconds. Retries 429, 5xx and connection faults like a
        stream does, within total_timeout_s; raises the same typed `LlmError`s."""
        if profile.needs_key and not profile.api_key:
            raise MissingApiKey(profile.key_setting)
        headers = {"Authorization": f"Bearer {profile.api_key}"} if profile.api_key else {}
        started = time.perf_counter()
        deadline = started + self.settings.total_timeout_s
        attempt = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise LlmTimeout("total", self.settings.total_timeout_s).waited(
                    time.perf_counter() - started, attempt, self.settings.total_timeout_s
                )
            retry_after: float | None = None
            try:
                response = await self.http.post(
                    profile.base_url + path,
                    json=body | {"stream": False},
                    headers=headers | {"Accept": "application/json"},
                    timeout=self._timeout(min(self.settings.idle_timeout_s, remaining)),
                )
            except httpx.ConnectTimeout:
                failure: LlmError = LlmTimeout("connect", self.settings.connect_timeout_s)
            except httpx.ReadTimeout:
                failure = LlmTimeout("idle", self.settings.idle_timeout_s)
            except httpx.TransportError as exc:
                failure = ConnectionFailed(profile.base_url, _describe(exc))
            else:
                if response.status_code == 200:
                    try:
                        data = response.json()
                    except ValueError as exc:
                        raise MalformedResponse(f"{len(response.content)} bytes that are not JSON") from exc
                    if not isinstance(data, dict):
                        raise MalformedResponse("the answer is not a JSON object")
                    if "error" in data:
                        raise MalformedResponse(str(data["error"])[:200])
                    return data, time.perf_counter() - started
                failure = _status_error(response, profile, model, attempt + 1)
                retry_after = _retry_after(response)
            if isinstance(failure, LlmTimeout):
                failure.waited(time.perf_counter() - started, attempt + 1, self.settings.total_timeout_s)
            if not _retryable(failure) or attempt >= self.settings.max_retries:
                raise failure
            delay = self._backoff(attempt, retry_after)
            if time.perf_counter() + delay >= deadline:
                raise failure
            attempt += 1
            await self.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; never sooner than the server's Retry-After."""
        backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * self.jitter()
        return max(backoff, retry_after) if retry_after is not None else backoff


class _RetryBeforeText(Exception):
    """The stream broke before any text arrived: safe to try again from scratch."""

    def __init__(self, error: LlmError) -> None:
        self.error = error


class _Stream:
    """Reads one SSE response into snapshots, within bounds: the text stops at about
    max_tokens' worth (the server was asked for no more), a line at MAX_SSE_LINE_BYTES, and
    the deadline holds whether or not lines end (a server may trickle bytes forever)."""

    def __init__(self, model: str, started: float, counted_prompt_tokens: int, max_tokens: int = 0) -> None:
        self.model = model
        self.started = started
        self.counted_prompt_tokens = counted_prompt_tokens
        self.pieces: list[str] = []
        self.chars = 0
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.max_chars = max(max_tokens, 1) * MAX_CHARS_PER_TOKEN + TEXT_MARGIN_CHARS
        self.max_chunks = max(max_tokens, 1) + TEXT_MARGIN_CHUNKS

    def snapshot(self, finish_reason: str | None = None, interruption: str = "", usage: Usage | None = None) -> Completion:
        text = "".join(self.pieces)
        usage = usage or self.usage
        if finish_reason is not None and usage is None:
            usage = Usage(self.counted_prompt_tokens, count_tokens(text), estimated=True)
        return Completion(
            model=self.model,
            text=text,
            finish_reason=finish_reason,
            usage=usage,
            latency_s=time.perf_counter() - self.started,
            interruption=interruption,
        )

    async def final(self, finish_reason: str, interruption: str = "") -> Completion:
        """The last snapshot; the tokens are counted in a worker thread when the server gave no usage."""
        usage = self.usage
        if usage is None:
            count = await asyncio.to_thread(count_tokens, "".join(self.pieces))
            usage = Usage(self.counted_prompt_tokens, count, estimated=True)
        return self.snapshot(finish_reason, interruption, usage)

    @property
    def over(self) -> bool:
        """More text than max_tokens can be: the server ignored it."""
        return self.chars > self.max_chars or len(self.pieces) > self.max_chunks

    async def read(self, response: httpx.Response, deadline: float, settings: LlmSettings) -> AsyncIterator[Completion]:
        if response.headers.get("content-type", "").startswith("application/json"):
            # A server that ignores stream=true answers with one whole JSON body.
            body = bytearray()
            try:
                async for chunk in _before(response.aiter_bytes(), deadline):
                    body += chunk
                    if len(body) > MAX_JSON_BODY_BYTES:
                        raise MalformedResponse(f"a JSON answer over {MAX_JSON_BODY_BYTES} bytes")
            except TimeoutError:
                raise LlmTimeout("total", settings.total_timeout_s) from None
            try:
                self._take(json.loads(bytes(body)))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise MalformedResponse(f"{exc.__class__.__name__} in a JSON answer") from exc
            if self.over:
                yield await self.final("length", interruption="over_max_tokens")
                return
            yield await self.final(self.finish_reason or "stop")
            return
        lines = _sse_lines(_before(response.aiter_bytes(), deadline))
        while True:
            try:
                line = await anext(lines)
            except StopAsyncIteration:
                yield await self._cut("disconnected")  # the body ended without data: [DONE]
                return
            except TimeoutError:
                yield await self._cut("total_timeout", LlmTimeout("total", settings.total_timeout_s))
                return
            except _LineTooLong:
                problem = f"an SSE line over {MAX_SSE_LINE_BYTES} bytes"
                yield await self._cut("malformed", MalformedResponse(problem))
                return
            except httpx.ReadTimeout:
                yield await self._cut("idle_timeout", LlmTimeout("idle", settings.idle_timeout_s))
                return
            except httpx.TransportError as exc:
                where = public_address(str(response.url))
                yield await self._cut("disconnected", ConnectionFailed(where, _describe(exc)))
                return
            data = _sse_data(line)
            if data is None:
                continue
            if data == "[DONE]":
                yield await self.final(self.finish_reason or "stop")
                return
            try:
                changed = self._take(json.loads(data))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                # The chunk's size, not its content: it may hold the model's answer, and this goes to the log.
                problem = f"{exc.__class__.__name__} in a chunk of {len(data)} characters"
                yield await self._cut("malformed", MalformedResponse(problem))
                return
            if self.over:
                log.warning("the server sent more than max_tokens allows: cut at %d characters", self.chars)
                yield await self.final("length", interruption="over_max_tokens")
                return
            if changed:
                yield self.snapshot()

    async def _cut(self, how: str, error: LlmError | None = None) -> Completion:
        """The last snapshot of a broken stream; with no text yet, an error to retry or raise."""
        if not self.pieces:
            raise _RetryBeforeText(error or ConnectionFailed("", "the stream ended before any text"))
        return await self.final("interrupted", interruption=how)

    def _take(self, chunk: dict[str, Any]) -> bool:
        """Fold one streamed chunk in; True if text arrived."""
        if "error" in chunk:
            raise ValueError(str(chunk["error"])[:200])
        if chunk.get("usage"):
            usage = chunk["usage"]
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        got_text = False
        for choice in chunk.get("choices") or ():
            # Chat chunks carry `delta`; some servers send `message`; completions carry `text`.
            piece = (choice.get("delta") or choice.get("message") or {}).get("content") or choice.get("text")
            if piece:
                if not isinstance(piece, str):
                    raise TypeError("content is not text")
                self.pieces.append(piece)
                self.chars += len(piece)
                got_text = True
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return got_text


class _LineTooLong(Exception):
    """An SSE line grew past MAX_SSE_LINE_BYTES without ending."""


async def _before(chunks: AsyncIterator[bytes], deadline: float) -> AsyncIterator[bytes]:
    """The body's chunks until the deadline (time.perf_counter()), then TimeoutError, however
    the bytes arrive: httpx's read timeout only bounds the silence between two of them."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        try:
            async with asyncio.timeout(remaining):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        yield chunk


async def _sse_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """SSE lines (\\n, \\r\\n or \\r endings) from body chunks; _LineTooLong past MAX_SSE_LINE_BYTES.
    A chunk without a line ending is only appended, so bytes trickling one by one cost linear time."""
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk and b"\r" not in chunk:
            if len(pending) > MAX_SSE_LINE_BYTES:
                raise _LineTooLong
            continue
        *complete, rest = bytes(pending).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending = bytearray(rest)
        for line in complete:
            if len(line) > MAX_SSE_LINE_BYTES:
                raise _LineTooLong
            yield line.decode("utf-8", errors="replace")
        if len(pending) > MAX_SSE_LINE_BYTES:
            raise _LineTooLong
    if pending:
        yield pending.decode("utf-8", errors="replace")


def _sse_data(line: str) -> str | None:
    """The payload of an SSE `data:` line; None for blank lines, comments and other fields."""
    if not line.startswith("data:"):
        return None
    return line[5:].strip()


def _status_error(response: httpx.Response, profile: Profile, model: str, attempts: int) -> LlmError:
    status = response.status_code
    code, message = _error_details(response)
    if status in (401, 403):
        return InvalidApiKey(profile.key_setting, status)
    if status == 404 and (code == DECOMMISSIONED_CODE or "decommission" in message.lower()):
        return EndpointDecommissioned(profile.base_url, message)
    if status == 404:
        return ModelNotFound(model, profile.base_url)
    if status == 429:
        return RateLimited(attempts)
    return UpstreamError(status, message or response.reason_phrase)


def _error_details(response: httpx.Response) -> tuple[int | None, str]:
    """(code, message) from an OpenAI-style `{"error": {...}}` or a flat `{"code", "message"}` body."""
    try:
        data = response.json()
    except ValueError:
        return None, response.text[:200]
    if not isinstance(data, dict):
        return None, str(data)[:200]
    detail = data.get("error") if isinstance(data.get("error"), dict) else data
    code = detail.get("code")
    message = detail.get("message") or data.get("detail") or (data.get("error") if isinstance(data.get("error"), str) else "")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    return code, str(message)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header: a number, or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(error: LlmError) -> bool:
    if isinstance(error, RateLimited | ConnectionFailed):
        return True
    if isinstance(error, LlmTimeout):
        return error.kind in ("connect", "idle")
    return isinstance(error, UpstreamError) and error.status >= 500


def _describe(exc: Exception) -> str:
    return str(exc) or exc.__class__.__name__


async def _last(stream: AsyncIterator[Completion]) -> Completion:
    last: Completion | None = None
    async for last in stream:  # noqa: B007 - the final snapshot is the answer
        pass
    if last is None:
        raise MalformedResponse("no answer")
    return last
