"""What an adapter hands from one process to the next: several processes serve one platform
(Slack's HTTP workers behind a load balancer, or several Socket Mode connections that Slack
spreads events across), so the request that continues a conversation may reach another one.

- `PendingUploads`: a command that asked for a file in its reply's thread (/dataset on Slack:
  slash commands carry no files), by (platform, channel, reply's message id), for `ttl_s`.
- `Deliveries`: the platform's delivery ids already answered (Slack's event_id), so an event
  redelivered to another process is answered once. The first `claim` of an id wins, by the
  primary key (INSERT … ON CONFLICT DO NOTHING RETURNING).

Tables pending_uploads and platform_deliveries (migration 0016); times are epoch seconds from
the caller's clock. Methods raise what the database raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.storage.database import Database

DELIVERY_MEMORY_S = 60 * 60  # Slack retries an event for about an hour at most (3 retries, backing off)
SWEEP_EVERY = 200  # claims between two deletions of old delivery ids


@dataclass(frozen=True)
class PendingUpload:
    command: str
    args: dict[str, Any]
    workspace_id: str


class PendingUploads:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(
        self, platform: str, channel_id: str, message_id: str, upload: PendingUpload, expires_at: float
    ) -> None:
        """Remember the command waiting for a file under message_id's thread (once: a later
        version of the same reply changes nothing)."""
        await self.db.execute(
            "INSERT INTO pending_uploads (platform, channel_id, message_id, workspace_id, command, args, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, channel_id, message_id) DO NOTHING",
            (platform, channel_id, message_id, upload.workspace_id, upload.command,
             json.dumps(upload.args, default=str), float(expires_at)),
        )  # fmt: skip

    async def get(self, platform: str, channel_id: str, message_id: str, now: float) -> PendingUpload | None:
        """The command waiting under that thread, unless it expired."""
        row = await self.db.fetchone(
            "SELECT command, args, workspace_id FROM pending_uploads"
            " WHERE platform = ? AND channel_id = ? AND message_id = ? AND expires_at > ?",
            (platform, channel_id, message_id, float(now)),
        )
        if row is None:
            return None
        return PendingUpload(command=row[0], args=json.loads(row[1]), workspace_id=row[2])

    async def sweep(self, now: float) -> None:
        await self.db.execute("DELETE FROM pending_uploads WHERE expires_at <= ?", (float(now),))


class Deliveries:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._claims = 0

    async def claim(self, platform: str, delivery_id: str, now: float) -> bool:
        """True for the first process to claim this delivery id, False for a redelivery."""
        self._claims += 1
        if self._claims % SWEEP_EVERY == 0:
            await self.db.execute("DELETE FROM platform_deliveries WHERE seen_at < ?", (float(now) - DELIVERY_MEMORY_S,))
        rows = await self.db.execute_returning(
            "INSERT INTO platform_deliveries (platform, delivery_id, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, delivery_id) DO NOTHING RETURNING delivery_id",
            (platform, delivery_id, float(now)),
        )
        return bool(rows)
