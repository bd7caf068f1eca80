"""Posting replies in Slack: in the channel (edited in place as a reply streams), privately, as files.

Public replies go out with chat.postMessage, so they can be edited (chat.update) and
answered in threads. Where the bot is not a member (a private channel, a DM between
people) the slash command's response_url still works, so the reply goes there.
Private replies are ephemeral: through the response_url when there is one (it works
in any channel), else chat.postEphemeral, else the app's DM with the user. Files
cannot be ephemeral, so private files go to that DM.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field, replace

from cachetools import LRUCache
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import Message, Rendered, Upload, context, render
from bot.i18n import t
from bot.limits import SLACK_RESPONSE_URL_USES
from bot.replies import Reply
from bot.requests import Place, User

log = logging.getLogger("aula.slack")

NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}  # chat.postMessage where the bot may not post
FINAL_ATTEMPTS = 5  # a reply's last version, still rate limited after the client's own retries
DEFAULT_RETRY_AFTER_S = 1.0  # when a 429 names no wait


def rate_limited(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait (its Retry-After), or None if exc is not a rate limit."""
    response = exc.response
    if response.status_code != 429 and response.get("error") != "ratelimited":
        return None
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    value = value[0] if isinstance(value, list) else value
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


class ResponseUrl:
    """A response_url and how many of its five posts are left."""

    def __init__(self, respond: AsyncRespond | None) -> None:
        self.respond = respond if respond is not None and respond.response_url else None
        self.uses = 0

    async def post(self, message: Message, response_type: str) -> bool:
        """True when Slack took it; False when there is no URL, it is used up, or Slack refused."""
        if self.respond is None or self.uses >= SLACK_RESPONSE_URL_USES:
            return False
        self.uses += 1
        result = await self.respond(
            text=message.text, blocks=message.blocks, response_type=response_type, replace_original=False
        )
        if result.status_code != 200:
            log.warning("response_url refused a message: %s %s", result.status_code, result.body)
            return False
        return True


@dataclass(frozen=True)
class Origin:
    """Where a request came from and what Slack gave us to answer it."""

    place: Place
    user: User
    response_url: ResponseUrl = field(default_factory=lambda: ResponseUrl(None))
    trigger_id: str = ""
    received_at: float | None = None  # see Request.received_at


class SlackOutput:
    """The Web API calls that put replies in front of people."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(self, place: Place, message: Message) -> str:
        response = await self.client.chat_postMessage(
            channel=place.channel_id,
            thread_ts=place.thread_id or None,
            blocks=message.blocks,
            text=message.text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return response["ts"]

    async def update(self, place: Place, ts: str, message: Message) -> None:
        await self.client.chat_update(
            channel=place.channel_id, ts=ts, blocks=message.blocks, text=message.text
        )

    async def delete(self, place: Place, ts: str) -> None:
        await self.client.chat_delete(channel=place.channel_id, ts=ts)

    async def upload(self, channel: str, thread_ts: str, upload: Upload) -> None:
        await self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts or None,
            content=upload.data,
            filename=upload.filename,
            title=upload.title,
            alt_txt=upload.alt or None,
        )

    async def direct_channel(self, user_id: str) -> str:
        response = await self.client.conversations_open(users=user_id)
        return response["channel"]["id"]

    async def upload_privately(self, user_id: str, uploads: list[Upload]) -> None:
        channel = await self.direct_channel(user_id)
        for upload in uploads:
            await self.upload(channel, "", upload)

    async def send_private(
        self,
        place: Place,
        user_id: str,
        rendered: Rendered,
        locale: str,
        response_url: ResponseUrl | None = None,
    ) -> None:
        messages = list(rendered.messages)
        if rendered.uploads:
            await self.upload_privately(user_id, rendered.uploads)
            block, text = context(t(locale, "slack.files_in_dm"))
            messages.append(Message([block], text))
        for message in messages:
            if response_url is not None and await response_url.post(message, "ephemeral"):
                continue
            await self.post_ephemeral(place, user_id, message)

    async def post_ephemeral(self, place: Place, user_id: str, message: Message) -> None:
        if place.channel_id:
            try:
                await self.client.chat_postEphemeral(
                    channel=place.channel_id,
                    user=user_id,
                    thread_ts=place.thread_id or None,
                    blocks=message.blocks,
                    text=message.text,
                )
                return
            except SlackApiError as exc:
                if exc.response.get("error") not in NOT_A_MEMBER:
                    raise
        # Nowhere to whisper in the channel: the app's own DM with the user is still private.
        await self.client.chat_postMessage(channel=user_id, blocks=message.blocks, text=message.text)

    async def open_modal(self, trigger_id: str, view: dict) -> None:
        await self.client.views_open(trigger_id=trigger_id, view=view)


class PublicReply:
    """One reply in a channel: posted once, then edited in place; more messages if it grows."""

    def __init__(
        self,
        out: SlackOutput,
        place: Place,
        locale: str,
        requester: str = "",
        response_url: ResponseUrl | None = None,
        ts: tuple[str, ...] = (),
    ) -> None:
        self.out = out
        self.place = place
        self.locale = locale
        self.requester = requester  # who gets the files if the channel refuses them
        self.response_url = response_url
        self.ts: list[str] = list(ts)
        self.shown: list[Message] = []
        self.uploaded: set[bytes] = set()  # a streamed reply repeats its files; upload each once
        self.waiting_for_url: Rendered | None = (
            None  # the channel refused us: post at the end via response_url
        )
        self.unsent: Rendered | None = None  # the latest version, refused for a rate limit
        self.retry_after_s = 0.0

    async def show(self, reply: Reply) -> None:
        """Show this version. One that Slack still rate-limits after the client's retries is
        skipped, not fatal: the next version replaces it, and settle() makes sure the last lands."""
        rendered = render(reply, self.locale)
        if self.waiting_for_url is not None:
            self.waiting_for_url = rendered  # a response_url post cannot be edited: only the last one goes
            return
        try:
            await self.sync(rendered.messages)
        except SlackApiError as exc:
            wait = rate_limited(exc)
            if wait is not None:
                log.info("Slack rate limit: skipping a version (retry after %.1f s)", wait)
                self.unsent, self.retry_after_s = rendered, wait
                return
            if self.ts or exc.response.get("error") not in NOT_A_MEMBER or not self.can_use_response_url():
                raise
            log.info("not a member of %s; answering through the response_url", self.place.channel_id)
            self.waiting_for_url = rendered
            return
        self.unsent = None
        await self.upload(rendered.uploads)

    async def settle(self) -> None:
        """Make sure the latest version is what the channel shows: one skipped for a rate limit
        is sent again after Slack's Retry-After, up to FINAL_ATTEMPTS times; then the error."""
        for attempt in range(FINAL_ATTEMPTS):
            rendered = self.unsent
            if rendered is None:
                return
            await asyncio.sleep(self.retry_after_s)
            try:
                await self.sync(rendered.messages)
            except SlackApiError as exc:
                wait = rate_limited(exc)
                if wait is None or attempt == FINAL_ATTEMPTS - 1:
                    raise
                self.retry_after_s = wait
                continue
            self.unsent = None
            await self.upload(rendered.uploads)

    async def finish(self) -> None:
        await self.settle()
        rendered, self.waiting_for_url = self.waiting_for_url, None
        if rendered is None:
            return
        for message in rendered.messages:
            if not await self.response_url.post(message, "in_channel"):
                raise RuntimeError("the response_url refused the reply")
        if rendered.uploads and self.requester:
            await self.out.upload_privately(self.requester, rendered.uploads)

    async def sync(self, messages: list[Message]) -> None:
        for index, message in enumerate(messages):
            if index < len(self.ts):
                if index >= len(self.shown) or self.shown[index] != message:
                    await self.out.update(self.place, self.ts[index], message)
            else:
                self.ts.append(await self.out.post(self.place, message))
        for ts in self.ts[len(messages) :]:
            await self.out.delete(self.place, ts)
        del self.ts[len(messages) :]
        self.shown = list(messages)

    async def upload(self, uploads: list[Upload]) -> None:
        for upload in uploads:
            digest = hashlib.sha256(upload.filename.encode() + b"\0" + upload.data).digest()
            if digest in self.uploaded:
                continue
            try:
                await self.out.upload(self.place.channel_id, self.place.thread_id, upload)
            except SlackApiError as exc:
                if exc.response.get("error") not in NOT_A_MEMBER or not self.requester:
                    raise
                await self.out.upload_privately(self.requester, [upload])
            self.uploaded.add(digest)

    def can_use_response_url(self) -> bool:
        return self.response_url is not None and self.response_url.respond is not None


async def throttled(versions: AsyncIterable[Reply], interval_s: float) -> AsyncIterator[Reply]:
    """The first version at once, then at most one per interval_s, and always the last one.

    The handler keeps running while a version is being sent; versions that come faster
    than Slack lets us edit a message are skipped, never queued.
    """
    loop = asyncio.get_running_loop()
    iterator = aiter(versions)
    pending: Reply | None = None
    next_send = loop.time()
    pull: asyncio.Future | None = asyncio.ensure_future(anext(iterator, None))
    try:
        while pull is not None or pending is not None:
            wait = None if pending is None else max(0.0, next_send - loop.time())
            if pull is None:
                await asyncio.sleep(wait or 0)
            else:
                done, _ = await asyncio.wait({pull}, timeout=wait)
                if done:
                    reply = pull.result()
                    if reply is None:
                        pull = None
                    else:
                        pending = reply
                        pull = asyncio.ensure_future(anext(iterator, None))
            if pending is not None and loop.time() >= next_send:
                yield pending
                pending = None
                next_send = loop.time() + interval_s
    finally:
        if pull is not None:
            pull.cancel()


class SlackMessenger:
    """bot.messenger.Messenger for Slack: posts nobody asked for (timers, deadlines)."""

    def __init__(self, out: SlackOutput, locale: str) -> None:
        self.out = out
        self.locale = locale
        self.posted: LRUCache[str, PublicReply] = LRUCache(maxsize=1000)  # first ts -> all its messages

    async def send(self, place: Place, reply: Reply) -> str:
        public = PublicReply(self.out, place, self.locale)
        await public.show(reply)
        await public.settle()
        if not public.ts:
            return ""
        self.posted[public.ts[0]] = public
        return public.ts[0]

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        public = self.posted.get(message_id) or PublicReply(self.out, place, self.locale, ts=(message_id,))
        await public.show(reply)
        await public.settle()
        if public.ts:
            self.posted[public.ts[0]] = public

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        # A Slack thread is the replies to a message: it exists as soon as we answer under it.
        return replace(place, thread_id=message_id)

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        await self.out.send_private(place, user_id, render(reply, self.locale), self.locale)
