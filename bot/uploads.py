"""A file that came with a command, read as it arrives rather than held whole.

An `Upload` names a file and opens its bytes as an async iterator of chunks: a Discord
attachment streamed from the CDN, a Slack file from its url_private_download, a local path in
the console, or bytes already in memory (tests). Whoever reads it holds one chunk at a time,
so memory does not grow with the file. `size` is what the platform declared: a hint to refuse
early, never trusted, since a server may send more than it declared or declare nothing.

    data = await upload.read(limit=8 * 1024 * 1024)   # a small file whole (a quiz bank)
    stream = blocking_stream(upload, loop, limit)      # for a worker thread: readline() as bytes arrive

Errors: an adapter's chunks raise `UserError` when the file cannot be fetched (deleted, link
expired); `read` raises UserError("upload.too_large") and a blocking stream raises `TooLarge`
past the limit, either way after reading at most the limit plus one chunk.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import UserError, echo

CHUNK_BYTES = 64 * 1024  # what adapters read at a time: the most a reader holds besides its line
STALL_S = 120.0  # a worker thread waits this long for the next chunk before giving up on the file


class TooLarge(Exception):
    """More bytes arrived than the reader's limit allows (whatever the size declared)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


@dataclass(frozen=True)
class Upload:
    """name: the file's name as the user gave it. chunks: opens the bytes anew on each call,
    as an async iterator of non-empty chunks. size: declared bytes, or None when unknown.
    path: set when the file is on this machine (the console), so a reader may open it itself."""

    name: str
    chunks: Callable[[], AsyncIterator[bytes]]
    size: int | None = None
    path: Path | None = None

    @classmethod
    def of_bytes(cls, name: str, data: bytes, chunk: int = CHUNK_BYTES) -> Upload:
        """Bytes already in memory, served in chunks like a download."""

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), chunk):
                yield data[start : start + chunk]

        return cls(name, chunks, len(data))

    @classmethod
    def of_path(cls, path: Path, chunk: int = CHUNK_BYTES) -> Upload:
        """A local file (the console's `archivo:` path); raises OSError if it cannot be opened."""
        size = path.stat().st_size

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(chunk):
                    yield block

        return cls(path.name, chunks, size, path)

    async def read(self, limit: int) -> bytes:
        """The whole file, for small ones: UserError("upload.too_large") when the declared
        size or the bytes received pass `limit`."""
        if self.size is not None and self.size > limit:
            raise self._too_large(limit)
        parts: list[bytes] = []
        total = 0
        source = self.chunks()
        try:
            async for chunk in source:
                total += len(chunk)
                if total > limit:
                    raise self._too_large(limit)
                parts.append(chunk)
        finally:
            await _close(source)
        return b"".join(parts)

    def _too_large(self, limit: int) -> UserError:
        return UserError("upload.too_large", name=echo(self.name), limit=max(1, round(limit / 1024 / 1024)))


async def _close(source: AsyncIterator[bytes]) -> None:
    close = getattr(source, "aclose", None)
    if close is not None:
        try:
            await close()
        except RuntimeError:  # still running a step for a thread that was abandoned: it ends that way
            pass


class _ChunkPipe(io.RawIOBase):
    """A worker thread's side of an upload: each read takes the next chunk from the event loop,
    so the thread reads as the bytes arrive, holding one chunk, and the download waits for it."""

    def __init__(self, source: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, limit: int | None) -> None:
        self.source = source
        self.loop = loop
        self.limit = limit
        self.received = 0  # bytes that came from the source, counted before any is handed on
        self.pending = memoryview(b"")
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending and not self.done:
            chunk = self._next()
            if not chunk:
                self.done = True
            else:
                self.received += len(chunk)
                if self.limit is not None and self.received > self.limit:
                    self.done = True
                    raise TooLarge(self.limit)
                self.pending = memoryview(chunk)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count

    def _next(self) -> bytes:
        async def step() -> bytes:
            return await anext(self.source, b"")

        future = asyncio.run_coroutine_threadsafe(step(), self.loop)
        try:
            return future.result(timeout=STALL_S)
        except TimeoutError:
            future.cancel()
            raise


def blocking_stream(
    upload: Upload, loop: asyncio.AbstractEventLoop, limit: int | None
) -> tuple[io.BufferedReader, Callable[[], int], Callable[[], Awaitable[None]]]:
    """(a binary stream for a worker thread, bytes received so far, close): the stream's
    readline/read pull chunks from `upload` on `loop` as they are needed and raise TooLarge
    once more than `limit` bytes came, however many were declared. Call close (on the loop,
    awaited) when the thread is done, so the download is let go even if it stopped early."""
    source = upload.chunks()
    pipe = _ChunkPipe(source, loop, limit)
    return io.BufferedReader(pipe, buffer_size=CHUNK_BYTES), lambda: pipe.received, lambda: _close(source)
