"""Who is asking: a Slack user as the core's User, from users.info, cached for a while.

Slack's payloads carry neither the user's language nor their role, so one
users.info call (with include_locale) answers both. Its answer is kept for a
few minutes per user; on any failure the user gets the class's default language
and instructor rights only if listed in the settings, and nothing is cached so
the next request asks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from cachetools import TTLCache
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import normalize_locale
from bot.requests import User
from bot.settings import Settings

log = logging.getLogger("aula.slack")

USER_CACHE_TTL_S = 10 * 60  # a new role or language shows within minutes, without a call per command
USER_CACHE_SIZE = 5000


class UserDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        settings: Settings,
        ttl_s: float = USER_CACHE_TTL_S,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.cache: TTLCache[str, User] = TTLCache(maxsize=USER_CACHE_SIZE, ttl=ttl_s, timer=timer)
        # One users.info call per user at a time: a class clicking at once would otherwise ask
        # Slack hundreds of times in a second (users.info allows about 100 a minute).
        self.in_flight: dict[str, asyncio.Task[User]] = {}

    async def user(self, user_id: str, fallback_name: str = "") -> User:
        cached = self.cache.get(user_id)
        if cached is not None:
            return cached
        lookup = self.in_flight.get(user_id)
        if lookup is None:
            lookup = self.in_flight[user_id] = asyncio.ensure_future(self._look_up(user_id, fallback_name))
            lookup.add_done_callback(lambda _: self.in_flight.pop(user_id, None))
        return await asyncio.shield(lookup)

    async def _look_up(self, user_id: str, fallback_name: str) -> User:
        try:
            response = await self.client.users_info(user=user_id, include_locale=True)
            info = response["user"]
        except Exception as exc:  # API error, network, a malformed answer: all mean "we don't know"
            log.warning("users.info for %s failed (%s); using the default locale", user_id, exc)
            return User(
                id=user_id,
                name=fallback_name or user_id,
                is_instructor=self.listed_instructor(user_id),
                locale=self.settings.default_locale,
            )
        user = User(
            id=user_id,
            name=display_name(info) or fallback_name or user_id,
            is_instructor=self.listed_instructor(user_id)
            or any(info.get(flag) for flag in ("is_admin", "is_owner", "is_primary_owner")),
            locale=normalize_locale(info.get("locale"), self.settings.default_locale),
        )
        self.cache[user_id] = user
        return user

    def known_locale(self, user_id: str) -> str:
        """The user's language if already known; never calls Slack (for error paths)."""
        cached = self.cache.get(user_id)
        return cached.locale if cached else self.settings.default_locale

    def listed_instructor(self, user_id: str) -> bool:
        return user_id in self.settings.slack.instructor_user_ids


def display_name(info: dict) -> str:
    profile = info.get("profile") or {}
    return (
        profile.get("display_name")
        or profile.get("real_name")
        or info.get("real_name")
        or info.get("name")
        or ""
    )
