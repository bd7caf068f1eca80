"""Everything Aula stores about a person, area by area: what /privacy shows and deletes.

A feature that stores something about users adds one line to AREAS: a message key
(`privacy.area.<name>` in bot/locales/privacy.yaml, filled with the counts) and its
repository's `describe(platform, user_id) -> counts` and `forget(platform, user_id)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.compare.store import CompareRepository
from bot.next.store import NextRepository
from bot.roles.store import RolesConversations

if TYPE_CHECKING:
    from bot.app import Aula


@dataclass(frozen=True)
class Area:
    name: str  # privacy.area.<name> says what it holds, with the counts describe() returns
    repository: Callable[[Aula], Any]  # has describe(platform, user_id) and forget(platform, user_id)


AREAS: tuple[Area, ...] = (
    Area("profile", lambda app: app.users),  # the users row and the command log (no content)
    Area("compare", lambda app: CompareRepository(app.db)),
    Area("next", lambda app: NextRepository(app.db)),
    Area("roles", lambda app: RolesConversations(app.db)),
    Area("quiz", lambda app: app.services.quiz.repo),  # the running service's own: its caches forget too
    Area("homework", lambda app: app.services.homework.repo),
)


async def describe(app: Aula, platform: str, user_id: str) -> list[tuple[str, dict[str, int]]]:
    """(area name, counts) for every area, in AREAS order."""
    return [(area.name, await area.repository(app).describe(platform, user_id)) for area in AREAS]


async def forget(app: Aula, platform: str, user_id: str) -> None:
    """Delete what every area holds about the user on this platform."""
    for area in AREAS:
        await area.repository(app).forget(platform, user_id)
