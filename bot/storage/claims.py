"""Claims: which Aula process does a job that must happen once (several processes, one database).

Each process that shares a database (several `aula run` on one PostgreSQL server, or on one
SQLite file in WAL mode) ticks the same timers. A job that must happen once (post a question's
results, publish a homework deadline, send its reminders) is first claimed by key in the
`job_claims` table (migration 0015) with one portable atomic statement:

    INSERT INTO job_claims (job, owner, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE job_claims.owner = excluded.owner OR job_claims.expires_at <= ?
    RETURNING owner

It returns a row only to the process that now holds the key: nobody held it, this process
already did (a renewal), or the holder's lease expired (the holder died or stalled). The
database decides, so two processes racing for one key cannot both win (SQLite serialises
writers; PostgreSQL re-checks the WHERE on the row a concurrent upsert committed).

The holder does the job, records it done in the job's own table (the column every process
reads before claiming: `announced_at`, `deadline_posted_at`, ...) and deletes its claim. A
claim is therefore "who is doing it now", never "it was done": whoever claims re-reads that
column first, so a job done by a process that then died before releasing is not done again.

Bound: a holder renews its lease every `lease_seconds / 3` while it works (`hold`). When it is
killed, its claim expires at most `lease_seconds` after its last renewal, and the next tick of
any other process takes the job over: a job held by a killed process is taken over within
`lease_seconds + tick_seconds` of its death, then done in the time the job itself takes (a
question's results: `timers.lease_seconds` + `quiz.tick_seconds`, 15 + 1 s by default, plus
rendering and posting them; tests/test_multiprocess_sigkill.py measures it: 2.7 to 3.2 s with
a 3 s lease and a 0.05 s tick, load average 3 to 6 on two cores).

What the database cannot make exactly once is the platform's side of a post: a process killed
after Discord or Slack accepted a message but before the database recorded it (one round trip)
leaves that post to be made again by the process that takes over. The same holds when a process
stalls (a paused VM) for longer than the lease in the middle of a post.

A process restarted after a crash is a new owner: it, too, waits out the lease of what its
previous life held (a process cannot tell a dead holder from a live one on another machine).

Leases are compared with the app's clock (`app.clock()`, epoch seconds): processes on several
machines need their clocks kept in sync (NTP); a skew of s seconds shortens or lengthens a lease
by s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.database import Database

log = logging.getLogger("aula")

CLAIM = """INSERT INTO job_claims (job, owner, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE job_claims.owner = excluded.owner OR job_claims.expires_at <= ?
    RETURNING owner"""


def process_owner() -> str:
    """An owner id unique to this process and app: host:pid:random (an app restarted in the same
    process, or two apps in one test, are different owners)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Claims:
    """One app's claims on jobs: `claim`, `release`, and `hold` (claim, renew while working, release).

    `lease_seconds` is how long a claim outlives its holder's last renewal; `clock()` gives
    epoch seconds (the app's clock, which tests move by hand).
    """

    def __init__(
        self, db: Database, clock: Callable[[], float], lease_seconds: float, owner: str | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.owner = owner or process_owner()

    async def claim(self, job: str) -> bool:
        """Take or renew the claim on `job` for `lease_seconds`; False while another live process holds it."""
        now = self.clock()
        rows = await self.db.execute_returning(CLAIM, (job, self.owner, now + self.lease_seconds, now))
        return bool(rows)

    async def release(self, job: str) -> None:
        """Give the claim up (only if this process still holds it)."""
        await self.db.execute("DELETE FROM job_claims WHERE job = ? AND owner = ?", (job, self.owner))

    async def holder(self, job: str) -> tuple[str, float] | None:
        """(owner, expires_at) of the claim on `job`, or None when nobody claimed it."""
        row = await self.db.fetchone("SELECT owner, expires_at FROM job_claims WHERE job = ?", (job,))
        return (row["owner"], float(row["expires_at"])) if row else None

    async def prune(self) -> int:
        """Delete expired claims (an expired claim is the same as none: left by dead processes)."""
        rows = await self.db.execute_returning(
            "DELETE FROM job_claims WHERE expires_at <= ? RETURNING job", (self.clock(),)
        )
        return len(rows)

    @contextlib.asynccontextmanager
    async def hold(self, job: str, release: bool = True) -> AsyncIterator[bool]:
        """Claim `job` for the block: yields True when this process holds it (renewed every
        lease/3 seconds while the block runs, released at its end unless `release` is False),
        False when another live process does (the block must then leave the job alone)."""
        if not await self.claim(job):
            yield False
            return
        renewing = asyncio.create_task(self._renew(job), name=f"claim {job}")
        try:
            yield True
        finally:
            renewing.cancel()
            try:
                # Not `await renewing`: its CancelledError would hide this task's own cancellation.
                await asyncio.wait([renewing])  # no renewal may land after the release
            finally:
                if release:
                    try:
                        await self.release(job)
                    except Exception:  # it expires by itself; the job's own table says it was done
                        log.warning("could not release the claim on %s", job, exc_info=True)

    async def _renew(self, job: str) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                if not await self.claim(job):
                    log.warning("lost the claim on %s (this process stalled past its lease)", job)
                    return
            except Exception:  # storage trouble: try again at the next renewal
                log.warning("could not renew the claim on %s", job, exc_info=True)
