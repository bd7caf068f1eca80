"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks: no network.

It answers GET /v1/models (the models it serves; `list_models=False` for a server without
that list), POST /v1/completions (base model: continues the prompt) and
POST /v1/chat/completions (instruct model: answers the last message), streamed as
Server-Sent Events or as one JSON body, with injected latency and faults:

    async with FakeLlmServer(chunk_delay_s=0.01) as server:
        server.faults.append(Fault(status=429, retry_after=2))   # the next request gets this
        settings.llm.base_url = server.base_url

Every request is counted in `server.calls` (path and JSON body).

Asked for log-probabilities without streaming (`logprobs: k` on /completions, `logprobs: true,
top_logprobs: k` on /chat/completions), it answers one token with the top k of a deterministic
distribution (`next_tokens`), in OpenAI's legacy and chat formats; `logprobs=False` makes it
ignore the parameter as some providers do, `byte_level_tokens=True` writes tokens as byte-level
BPE text ("Ġla").
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BASE_MODEL = "meta-llama/Meta-Llama-3.1-405B"
INSTRUCT_MODEL = "meta-llama/Meta-Llama-3.1-405B-Instruct"
API_KEY = "test-key"


@dataclass
class Fault:
    """What to do to one request instead of answering it well."""

    status: int | None = None  # answer with this HTTP status and an error body
    retry_after: str | None = None  # Retry-After header with the status
    body: dict[str, Any] | None = None  # error body (default: OpenAI style)
    disconnect_after: int | None = None  # stream this many chunks, then drop the connection
    malformed_after: int | None = None  # stream this many chunks, then a line that is not JSON
    stall_s: float | None = None  # stream one chunk, then go silent this long
    no_done: bool = False  # end the body cleanly but without data: [DONE]
    # A provider that misbehaves on purpose (each runs until the client hangs up, or the bound):
    endless: bool = False  # ignore max_tokens and stream text chunks as fast as it can, forever
    trickle_s: float | None = None  # send one byte of a line that never ends, every this many seconds
    huge_line_bytes: int | None = None  # one `data:` line of this many bytes, in 64 KiB writes, no newline
    hang_s: float | None = None  # accept the request, then send nothing at all (no headers) this long
    path: str | None = None  # only for requests to this path ("/v1/completions")


DECOMMISSIONED = Fault(
    status=404,
    body={"object": "error", "message": "This inference endpoint has been decommissioned", "code": 40401},
)


# The next-token distribution the server returns: these log-probabilities, most likely first, given
# to these tokens rotated by len(text) % 4 (so successive steps differ). Token strings are as OpenAI
# writes them: " la" has a leading space, "bytes:\\xe2\\x80" is the first two bytes of "—" (a byte
# fragment, not a whole character).
NEXT_TOKENS = (" la", " un", " el", " muy", "\n", ",", "bytes:\\xe2\\x80", " que", " de", " 1", " una", " lo")
NEXT_LOGPROBS = (-0.7, -1.5, -2.3, -2.9, -3.4, -3.9, -4.3, -4.6, -5.0, -5.5, -6.0, -6.5)


def next_tokens(text: str) -> list[tuple[str, bytes, float]]:
    """(token as written, its bytes, logprob) for the text the model reads, most likely first."""
    shift = len(text) % 4
    tokens = NEXT_TOKENS[shift:] + NEXT_TOKENS[:shift]
    out = []
    for token, logprob in zip(tokens, NEXT_LOGPROBS, strict=True):
        data = bytes.fromhex(token[len("bytes:"):].replace("\\x", "")) if token.startswith("bytes:") else token.encode()
        out.append((token, data, logprob))
    return out


def byte_level(data: bytes) -> str:
    """GPT-2's byte-level BPE spelling of some bytes (a space is Ġ, a newline Ċ)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shifted)
            shifted += 1
    return "".join(table[b] for b in data)


def base_answer(prompt: str) -> str:
    """A base model continues text: it never answers, it goes on."""
    return f"{prompt} un campo de la informática. Según el diccionario, la palabra viene del latín " * 2


def instruct_answer(question: str) -> str:
    return f"¡Claro! Sobre «{question}»: es una pregunta interesante. Aquí tienes tres puntos: uno, dos y tres."


@dataclass
class FakeLlmServer:
    chunk_delay_s: float = 0.0  # silence before each chunk
    first_chunk_delay_s: float = 0.0  # extra silence before the first chunk (time to first token)
    words_per_chunk: int = 2
    send_usage: bool = True
    finish_reason: str = "stop"  # when the answer fits max_tokens; "length" when it is cut
    models: tuple[str, ...] = (BASE_MODEL, INSTRUCT_MODEL)
    api_key: str | None = API_KEY  # None: accept any key or none
    delta_field: str = "delta"  # "delta" (OpenAI) or "message" (some servers)
    ignore_stream: bool = False  # answer one JSON body even when asked to stream
    ignore_max_tokens: bool = False  # send the whole answer past max_tokens, and still say "length"
    repeat: int = 1  # answers are this many times longer (for benchmarks)
    list_models: bool = True  # False: GET /v1/models is a 404, as on servers without it
    logprobs: bool = True  # False: log-probabilities are never returned (the parameter is ignored)
    byte_level_tokens: bool = False  # write token strings as byte-level BPE text ("Ġla")
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    misbehaved_bytes: int = 0  # what the last misbehaving answer sent before the client hung up
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeLlmServer:
        app = web.Application()
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._chat)
        if self.list_models:
            app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # the random port the OS chose
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _misbehave(self, response: web.StreamResponse, fault: Fault, model: str, chat: bool) -> None:
        """Endless text, a trickle of bytes or one huge line, until the client goes (a write fails)."""
        self.misbehaved_bytes = 0
        try:
            if fault.endless:
                choice: dict[str, Any] = {"index": 0, "finish_reason": None}
                choice |= {self.delta_field: {"content": "bla "}} if chat else {"text": "bla "}
                line = f"data: {json.dumps({'model': model, 'choices': [choice]})}\n\n".encode()
                while True:
                    await response.write(line * 64)
                    self.misbehaved_bytes += len(line) * 64
                    await asyncio.sleep(0)
            if fault.trickle_s is not None:
                await response.write(b"data: ")
                while True:
                    await asyncio.sleep(fault.trickle_s)
                    await response.write(b"x")
                    self.misbehaved_bytes += 1
            if fault.huge_line_bytes is not None:
                await response.write(b'data: {"choices": [{"index": 0, "text": "')
                block = b"a" * 65536
                while self.misbehaved_bytes < fault.huge_line_bytes:
                    await response.write(block)
                    self.misbehaved_bytes += len(block)
                await response.write(b'"}]}\n\n')
        except (ConnectionResetError, RuntimeError):
            return  # the client hung up: what a well-behaved client does with such a server

    def upstream_calls(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    # --- handlers -------------------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._answer(request, body, base_answer(body.get("prompt", "")) * self.repeat, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        question = (body.get("messages") or [{}])[-1].get("content", "")
        return await self._answer(request, body, " ".join([instruct_answer(question)] * self.repeat), chat=True)

    def _logprob_answer(self, body: dict, chat: bool) -> dict:
        """One token and the top k of `next_tokens` in OpenAI's chat or legacy completions format."""
        if chat:
            messages = body.get("messages") or [{}]
            text = "".join(m.get("content", "") for m in messages)
            top = int(body.get("top_logprobs") or 0)
        else:
            text = body.get("prompt", "")
            top = int(body.get("logprobs") or 0)
        top_k = next_tokens(text)[:top]
        spelled = [(byte_level(data) if self.byte_level_tokens else token, data, lp) for token, data, lp in top_k]
        first, first_data, first_lp = spelled[0]
        usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
        if chat:
            entries = [{"token": token, "logprob": lp, "bytes": list(data)} for token, data, lp in spelled]
            content = [{"token": first, "logprob": first_lp, "bytes": list(first_data), "top_logprobs": entries}]
            message = {"role": "assistant", "content": first_data.decode("utf-8", "replace")}
            choice = {"index": 0, "message": message, "logprobs": {"content": content}, "finish_reason": "length"}
        else:
            logprobs = {"tokens": [first], "token_logprobs": [first_lp], "text_offset": [len(text)],
                        "top_logprobs": [{token: lp for token, _, lp in spelled}]}  # fmt: skip
            choice = {"index": 0, "text": first_data.decode("utf-8", "replace"), "logprobs": logprobs,
                      "finish_reason": "length"}  # fmt: skip
        return {"model": body.get("model"), "choices": [choice], "usage": usage}

    async def _models(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, {}))
        fault = self._next_fault(request.path)
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Invalid API key", "code": 401}}, status=401)
        if fault and fault.status:
            error = fault.body or {"error": {"message": f"injected {fault.status}", "code": fault.status}}
            return web.json_response(error, status=fault.status)
        data = [{"id": model, "object": "model", "owned_by": "fake"} for model in self.models]
        return web.json_response({"object": "list", "data": data})

    def _next_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.path in (None, path):
                return self.faults.pop(index)
        return None

    async def _answer(self, request: web.Request, body: dict, text: str, chat: bool) -> web.StreamResponse:
        self.calls.append((request.path, body))
        fault = self._next_fault(request.path) or Fault()
        if fault.hang_s is not None:  # a provider that takes the connection and never answers
            await asyncio.sleep(fault.hang_s)
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Invalid API key", "code": 401}}, status=401)
        if fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            error = fault.body or {"error": {"message": f"injected {fault.status}", "code": fault.status}}
            return web.json_response(error, status=fault.status, headers=headers)
        if body.get("model") not in self.models:
            return web.json_response({"error": {"message": f"model {body.get('model')} not found"}}, status=404)

        if not body.get("stream") and body.get("logprobs") and self.logprobs:
            await asyncio.sleep(self.first_chunk_delay_s)  # the provider's time for the one token
            return web.json_response(self._logprob_answer(body, chat))

        words = text.split(" ")
        cut = len(words) > body.get("max_tokens", len(words))
        if not self.ignore_max_tokens:
            words = words[: body.get("max_tokens", len(words))]
        pieces = [" ".join(words[i : i + self.words_per_chunk]) for i in range(0, len(words), self.words_per_chunk)]
        pieces = [p if i == 0 else " " + p for i, p in enumerate(pieces)]
        usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
        finish = "length" if cut else self.finish_reason
        model = body.get("model")

        if not body.get("stream") or self.ignore_stream:
            choice = {"index": 0, "finish_reason": finish}
            choice |= {"message": {"role": "assistant", "content": "".join(pieces)}} if chat else {"text": "".join(pieces)}
            return web.json_response({"model": model, "choices": [choice], "usage": usage})

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await asyncio.sleep(self.first_chunk_delay_s)
        if fault.endless or fault.trickle_s is not None or fault.huge_line_bytes is not None:
            await self._misbehave(response, fault, model, chat)
            return response
        try:
            for index, piece in enumerate(pieces):
                if fault.disconnect_after is not None and index == fault.disconnect_after:
                    request.transport.close()  # mid-stream, with no terminating chunk
                    return response
                if fault.malformed_after is not None and index == fault.malformed_after:
                    await response.write(b"data: {not json\n\n")
                    break
                if fault.stall_s is not None and index == 1:
                    await asyncio.sleep(fault.stall_s)
                await asyncio.sleep(self.chunk_delay_s)
                last = index == len(pieces) - 1
                choice: dict[str, Any] = {"index": 0, "finish_reason": finish if last else None}
                if chat:
                    choice[self.delta_field] = {"content": piece}
                else:
                    choice["text"] = piece
                await response.write(f"data: {json.dumps({'model': model, 'choices': [choice]})}\n\n".encode())
            else:
                if self.send_usage:
                    await response.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                if not fault.no_done:
                    await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            # The client hung up mid-stream (Aula cuts a provider that ignores max_tokens):
            # a real server just stops writing; aiohttp would log it as an error.
            pass
        return response
