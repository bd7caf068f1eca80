"""Aula on Slack: Bolt listeners that turn slash commands, clicks and modals into core Requests.

Every listener acknowledges first (Slack allows 3 seconds) and works after; Bolt
verifies each request's signature before any of this runs. Socket Mode by default,
so a classroom needs no public URL; HTTP mode when settings.slack.mode is "http".

    app = create_app(settings, aula=aula)   # builds offline: no token needed to construct
    await serve(app, settings)              # what `aula run` does
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from cachetools import TTLCache
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.delivery import Origin, PublicReply, ResponseUrl, SlackMessenger, SlackOutput, throttled
from adapters.slack.render import ACTION_PREFIX, modal, render
from adapters.slack.users import UserDirectory
from adapters.starts import start_slots
from bot.actions import command_of
from bot.app import Aula, error_reply
from bot.arguments import missing_required, parse_arguments, split_subcommand
from bot.command import slash_name
from bot.errors import UserError, echo
from bot.limits import SLACK_ACK_DEADLINE_S, SLACK_EDIT_INTERVAL_S
from bot.replies import Form, Reply, plain_text
from bot.requests import Place, Request
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.handoffs import Deliveries, PendingUpload, PendingUploads
from bot.uploads import CHUNK_BYTES, Upload

__all__ = ["create_app", "serve"]

log = logging.getLogger("aula.slack")

# Stand-ins so the app can be built (tests, `aula config`) without credentials; Slack rejects them.
PLACEHOLDER_TOKEN = "xoxb-not-configured"
PLACEHOLDER_SIGNING_SECRET = "not-configured"
EVENTS_PATH = "/slack/events"
VIEW_ACK_BUDGET_S = (
    SLACK_ACK_DEADLINE_S - 1.0
)  # wait this long for a form's verdict; a second for the network
AFTER_ACK_DELAY_S = 0.011  # just past Bolt's 10 ms look for the ack(): see after_ack
DELIVERY_MEMORY_S = 15 * 60  # Slack retries within minutes: remember deliveries a little longer
DELIVERY_MEMORY_SIZE = 10_000
# /dataset: Slack's slash commands carry no files. A file goes with the command in three ways:
#  - the user shares it in the channel (or one of its threads) and runs /dataset there within
#    [dataset] slack_file_minutes: the command takes that user's newest file there (files.list);
#  - the message shortcut "Comprobar con Aula" (FILE_SHORTCUT) on the message that holds it;
#  - with no such file, the command's reply asks for one in its thread: a file shared there
#    within UPLOAD_WAIT_S completes it (remembered in the database too: bot.storage.handoffs).
UPLOAD_WAIT_S = 30 * 60
UPLOAD_COMMANDS = ("dataset",)
FILE_SHORTCUT = "aula_dataset"  # callback_id of the message shortcut in config/slack-manifest.yaml
RECENT_FILES = 20  # files.list page searched for the newest of the user's files in the channel
# A shared file's download: no total deadline (the checker reads it at its own pace), but a
# connection that stalls this long is given up.
DOWNLOAD_TIMEOUT = ClientTimeout(total=None, sock_connect=10, sock_read=60)
# A Web API call answered 429 is tried again after Slack's Retry-After, this many times, before
# the caller sees `ratelimited` (a streamed reply then skips that version: see PublicReply).
RATE_LIMIT_RETRIES = 2


def create_app(
    settings: Settings | None = None,
    aula: Aula | None = None,
    client: AsyncWebClient | None = None,
    *,
    edit_interval_s: float = SLACK_EDIT_INTERVAL_S,
) -> AsyncApp:
    """A Bolt app answering every command of `aula`; also sets aula.messengers["slack"].

    AsyncApp checks its token lazily (auth.test on the first request), so building it
    needs no network and no credentials.
    """
    settings = settings or load_settings()
    aula = aula or Aula(settings)
    token = _secret(settings.secrets.slack_bot_token) or PLACEHOLDER_TOKEN
    if client is None:
        client = AsyncWebClient(token=token)
    elif client.token is None:
        client.token = token
    honour_retry_after(client)
    app = AsyncApp(
        name="aula",
        client=client,
        signing_secret=_secret(settings.secrets.slack_signing_secret) or PLACEHOLDER_SIGNING_SECRET,
    )
    SlackAdapter(app, aula, settings, edit_interval_s).register()
    return app


async def serve(app: AsyncApp, settings: Settings, check_token: bool = False) -> None:
    """Run until cancelled: Socket Mode (outbound WebSocket) or an HTTP endpoint at /slack/events.
    With check_token, Socket Mode first calls auth.test: a refused token raises SlackApiError
    (invalid_auth) here, rather than inside Socket Mode's own reconnect loop."""
    if not _secret(settings.secrets.slack_bot_token):
        raise SettingsError("Slack needs SLACK_BOT_TOKEN (the xoxb- bot token)")
    if check_token and settings.slack.mode != "http":
        await app.client.auth_test()
    if settings.slack.mode == "http":
        if not _secret(settings.secrets.slack_signing_secret):
            raise SettingsError("Slack HTTP mode needs SLACK_SIGNING_SECRET to verify requests")
        web_app = app.web_app(path=EVENTS_PATH, port=settings.slack.port)
        web_app.middlewares.insert(0, refuse_malformed)
        # No aiohttp access line: Aula logs each request once (its command's line, or the
        # refusal's), so a burst of bad requests is one line each, not two.
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host=settings.slack.host, port=settings.slack.port).start()
            log.info("Slack HTTP mode on %s port %d, path %s", settings.slack.host, settings.slack.port, EVENTS_PATH)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
        return
    app_token = _secret(settings.secrets.slack_app_token)
    if not app_token:
        raise SettingsError(
            'Slack Socket Mode needs SLACK_APP_TOKEN (an xapp- token); or set slack.mode = "http"'
        )
    handler = AsyncSocketModeHandler(app, app_token)
    try:
        await handler.start_async()
    finally:
        await handler.close_async()


@web.middleware
async def refuse_malformed(request: web.Request, handler):
    """400 and one log line for what is no Slack request: a body that is not UTF-8 (Bolt would
    raise decoding it, before checking the signature) or a signed payload Bolt cannot parse.
    Without this each answered 500 with a traceback in the log (200 requests: 279 KB)."""
    body = await request.read()  # aiohttp keeps it for Bolt's own read
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("slack http: refused a body that is not UTF-8 (%d bytes) status=400", len(body))
        return web.Response(status=400, text="bad request")
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # json, form or payload shape
        log.warning("slack http: refused a malformed payload (%s, %d bytes) status=400", type(exc).__name__, len(body))
        return web.Response(status=400, text="bad request")


def honour_retry_after(client: AsyncWebClient) -> None:
    """Every Web API call Aula makes waits out Slack's 429 `Retry-After` and tries again
    (slack_sdk's own handler), as Slack asks of apps (api.slack.com/apis/rate-limits)."""
    if not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))


class SlackAdapter:
    def __init__(self, app: AsyncApp, aula: Aula, settings: Settings, edit_interval_s: float) -> None:
        self.app = app
        self.aula = aula
        self.settings = settings
        self.edit_interval_s = edit_interval_s
        self.out = SlackOutput(app.client)
        self.users = UserDirectory(app.client, settings)
        self.messenger = SlackMessenger(self.out, settings.default_locale)
        self.seen: TTLCache[str, bool] = TTLCache(maxsize=DELIVERY_MEMORY_SIZE, ttl=DELIVERY_MEMORY_S)
        # (channel, message ts) of a command's reply that waits for a file in its thread -> its request
        self.awaiting_file: TTLCache[tuple[str, str], Request] = TTLCache(maxsize=DELIVERY_MEMORY_SIZE, ttl=UPLOAD_WAIT_S)
        # The same two in the database, for the next request that reaches another process
        # (HTTP workers behind a load balancer, several Socket Mode connections).
        self.pending_uploads = PendingUploads(aula.db)
        self.deliveries = Deliveries(aula.db)
        self.starts = start_slots(aula.services)  # every listener ack()s before taking one

    def register(self) -> None:
        # One middleware and one listener for every command: Bolt builds the keyword
        # arguments of each middleware and of each listener it tries, about 0.05 ms apiece,
        # so a class's clicks were matched against every command listener first
        # (bench/class_load.py, all at the same instant).
        self.app.middleware(self.before_listeners)
        self.command_names = {slash_name(self.settings, "slack", name): name for name in self.aula.commands}
        self.app.command(re.compile("^(" + "|".join(map(re.escape, self.command_names)) + ")$"))(
            self.on_command
        )
        self.app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self.on_click)
        self.app.view(re.compile(r"^[^:]+:"))(self.on_form_submit)
        self.app.event("message")(self.on_message)
        if any(name in self.aula.commands for name in UPLOAD_COMMANDS):
            self.app.shortcut(FILE_SHORTCUT)(self.on_file_shortcut)
        self.app.error(self.on_error)
        self.aula.messengers["slack"] = self.messenger

    # --- listeners --------------------------------------------------------------------------

    async def before_listeners(self, body: dict, request: AsyncBoltRequest, next) -> BoltResponse | None:
        """Every verified request passes here first."""
        if self.is_redelivery(body, request):
            return BoltResponse(status=200, body="")
        self.share_connections()
        return await next()

    def is_redelivery(self, body: dict, request: AsyncBoltRequest) -> bool:
        """A retried or repeated delivery gets a plain 200 and no second answer."""
        key = body.get("event_id") or body.get("trigger_id") or ""
        retried = bool(request.headers.get("x-slack-retry-num"))
        if (key and key in self.seen) or (retried and not key):
            log.info("skipping a repeated delivery (%s)", key or "a retry without an id")
            return True
        if key:
            self.seen[key] = True
        return False

    def share_connections(self) -> None:
        """One HTTP session for every Web API call, opened on the first request (it needs the
        running loop): slack_sdk otherwise opens a session, a connection and a TLS handshake per
        call, and a class makes thousands (bench/class_load.py). Closed with the core."""
        client = self.app.client
        if client.session is None or client.session.closed:
            client.session = ClientSession(timeout=ClientTimeout(total=client.timeout))
            self.aula.services.on_close(client.session.close)

    async def on_command(self, ack, body: dict, respond: AsyncRespond) -> None:
        received_at = self.aula.clock()
        await ack()
        name = self.command_names[body["command"]]
        await self.after_ack(self.run_command(name, body, respond, received_at), body, respond)

    async def run_command(self, name: str, body: dict, respond: AsyncRespond, received_at: float) -> None:
        place = Place("slack", body.get("team_id", ""), body.get("channel_id", ""), body.get("thread_ts", ""))
        origin = await self.origin(
            body["user_id"],
            body.get("user_name", ""),
            place,
            respond,
            body.get("trigger_id", ""),
            received_at,
        )
        try:
            request = self.parse(name, body.get("text", ""), origin)
        except UserError as exc:
            await self.send_private(origin, error_reply(origin.user.locale, exc.key, **exc.values))
            return
        awaits_file = None
        if name in UPLOAD_COMMANDS and not request.attachments:
            shared = await self.recent_file(origin)
            if shared is not None:
                request = replace(request, attachments=(shared,))
            else:
                awaits_file = request
        await self.deliver(origin, self.replies(request), awaits_file)

    async def recent_file(self, origin: Origin) -> Upload | None:
        """The newest file this user shared in this channel (or its threads) within [dataset]
        slack_file_minutes, as an Upload; None when there is none or Slack would not list them."""
        since = int(time.time() - self.settings.dataset.slack_file_minutes * 60)
        try:
            answer = await self.app.client.files_list(
                channel=origin.place.channel_id, user=origin.user.id, ts_from=str(since), count=RECENT_FILES
            )
        except SlackApiError as exc:  # e.g. missing_scope on an app created from an older manifest
            log.warning("could not list the files shared for /dataset: %s", exc.response.get("error"))
            return None
        files = [f for f in answer.get("files") or [] if isinstance(f, dict) and f.get("mode") != "tombstone"]
        if not files:
            return None
        return self.upload(max(files, key=lambda f: f.get("created") or f.get("timestamp") or 0))

    async def on_file_shortcut(self, ack, body: dict, respond: AsyncRespond) -> None:
        received_at = self.aula.clock()
        await ack()
        await self.after_ack(self.run_file_shortcut(body, respond, received_at), body, respond)

    async def run_file_shortcut(self, body: dict, respond: AsyncRespond, received_at: float) -> None:
        """"Comprobar con Aula" on a message: /dataset on the message's first file, with any
        options written in the message (modelo:gpt-4o contexto:4096); other words are ignored."""
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        place = Place("slack", _team_id(body), channel, message.get("thread_ts", ""))
        user = body.get("user") or {}
        origin = await self.origin(
            user.get("id", ""), user.get("name", ""), place, respond, body.get("trigger_id", ""), received_at
        )
        files = [f for f in message.get("files") or [] if isinstance(f, dict)]
        if not files:
            await self.send_private(origin, error_reply(origin.user.locale, "dataset.shortcut.no_file"))
            return
        spec = self.aula.commands[UPLOAD_COMMANDS[0]].spec
        try:
            args = parse_arguments(spec, message.get("text", "") or "", origin.user.locale)
        except UserError:
            args = {}  # the message's own words, not options: check the file with the defaults
        request = Request(
            command=spec.name,
            args=args,
            user=origin.user,
            place=place,
            attachments=(self.upload(files[0]),),
            received_at=received_at,
        )
        await self.deliver(origin, self.replies(request))

    async def on_message(self, body: dict, event: dict) -> None:
        """A file shared in the thread of a command's reply that asked for one (/dataset): handed
        to the command as its attachment (an Upload, streamed as the command reads it), with any
        options typed beside it. Other messages are ignored.
        Bolt acknowledges events itself."""
        files = event.get("files") or []
        key = (event.get("channel", ""), event.get("thread_ts", ""))
        if not files or not key[1] or event.get("bot_id"):
            return
        waiting = await self.waiting_for_file(key)
        if waiting is None or not await self.first_delivery(body):
            return
        place = Place("slack", body.get("team_id", "") or waiting.workspace_id, key[0], key[1])
        origin = await self.origin(event.get("user", ""), "", place, None, "", self.aula.clock())
        try:
            upload = self.upload(files[0])
            typed = parse_arguments(
                self.aula.commands[waiting.command].spec, event.get("text", "") or "", origin.user.locale
            )
        except UserError as exc:
            await self.send_private(origin, error_reply(origin.user.locale, exc.key, **exc.values))
            return
        request = Request(
            command=waiting.command,
            args={**waiting.args, **typed},
            user=origin.user,
            place=place,
            attachments=(upload,),
            received_at=origin.received_at,
        )
        await self.after_ack(self.deliver(origin, self.replies(request)), body, None)

    async def waiting_for_file(self, key: tuple[str, str]) -> PendingUpload | None:
        """The command waiting for a file in that thread: asked in this process, or another's."""
        asked = self.awaiting_file.get(key)
        if asked is not None:
            return PendingUpload(asked.command, dict(asked.args), asked.place.workspace_id)
        try:
            return await self.pending_uploads.get("slack", *key, self.aula.clock())
        except Exception:  # the database is down: only this process's memory answers
            log.warning("could not read the commands waiting for a file", exc_info=True)
            return None

    async def first_delivery(self, body: dict) -> bool:
        """False when another process already answered this event (Slack redelivered it there)."""
        event_id = body.get("event_id") or ""
        if not event_id:
            return True
        try:
            return await self.deliveries.claim("slack", event_id, self.aula.clock())
        except Exception:  # the database is down: answer (a double answer beats a lost file)
            log.warning("could not record a delivery", exc_info=True)
            return True

    async def remember_upload(self, place: Place, ts: str, request: Request) -> None:
        key = (place.channel_id, ts)
        if key in self.awaiting_file:
            return
        self.awaiting_file[key] = request
        try:
            await self.pending_uploads.sweep(self.aula.clock())  # one /dataset at a time: cheap
            await self.pending_uploads.put(
                "slack", place.channel_id, ts,
                PendingUpload(request.command, dict(request.args), request.place.workspace_id),
                self.aula.clock() + UPLOAD_WAIT_S,
            )  # fmt: skip
        except Exception:  # this process still remembers it
            log.warning("could not store a command waiting for a file", exc_info=True)

    def upload(self, file: dict) -> Upload:
        """A shared file as an Upload: streamed from Slack's url_private_download with the bot
        token, CHUNK_BYTES at a time, when the command reads it. A file deleted, a link refused
        or a failed download raises UserError("dataset.attach.gone")."""
        name = str(file.get("name") or file.get("title") or "archivo")
        url = file.get("url_private_download") or file.get("url_private")
        declared = file.get("size")
        size = declared if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 0 else None
        token = _secret(self.settings.secrets.slack_bot_token) or self.app.client.token or ""

        async def chunks() -> AsyncIterator[bytes]:
            if not url or file.get("mode") == "tombstone" or file.get("file_access") == "file_not_found":
                raise UserError("dataset.attach.gone", file=echo(name))
            self.share_connections()
            headers = {"Authorization": f"Bearer {token}"}
            try:
                async with self.app.client.session.get(url, headers=headers, timeout=DOWNLOAD_TIMEOUT) as response:
                    if response.status != 200:
                        raise UserError("dataset.attach.gone", file=echo(name))
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        yield chunk
            except (OSError, TimeoutError, ClientError):
                raise UserError("dataset.attach.gone", file=echo(name)) from None

        return Upload(name, chunks, size)

    async def on_click(self, ack, body: dict, action: dict, respond: AsyncRespond) -> None:
        received_at = self.aula.clock()
        await ack()
        await self.after_ack(self.run_click(body, action, respond, received_at), body, respond)

    async def run_click(self, body: dict, action: dict, respond: AsyncRespond, received_at: float) -> None:
        button_id = action["action_id"][len(ACTION_PREFIX) :]
        message = body.get("message") or {}
        thread = (body.get("container") or {}).get("thread_ts") or message.get("thread_ts") or ""
        place = Place("slack", _team_id(body), (body.get("channel") or {}).get("id", ""), thread)
        user = body.get("user") or {}
        origin = await self.origin(
            user.get("id", ""), user.get("name", ""), place, respond, body.get("trigger_id", ""), received_at
        )
        request = Request(
            command=command_of(button_id),
            user=origin.user,
            place=place,
            action=button_id,
            received_at=received_at,
        )
        await self.deliver(origin, self.replies(request))

    async def on_form_submit(self, ack, body: dict, view: dict) -> None:
        """Wait briefly for the core's verdict, so a refusal can show inside the modal itself."""
        work = asyncio.ensure_future(self.first_reply_to_form(body, view, self.aula.clock()))
        done, _ = await asyncio.wait({work}, timeout=VIEW_ACK_BUDGET_S)
        if not done:
            await ack()  # too slow for the modal: the answer comes as a message instead
            await self.after_ack(self.deliver_form_answer(work), body, None)
            return
        origin, first, rest = work.result()
        field_block = next((b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "")
        if first is not None and first.error and field_block:
            await ack(response_action="errors", errors={field_block: plain_text(first)})
            first = None
        elif first is not None and first.form is not None:
            await ack(
                response_action="update",
                view=modal(first.form, origin.user.locale, form_metadata(origin.place)),
            )
            first = None
        else:
            await ack()
        # Deliver (or just drain, so the core logs the request) whatever the handler still yields.
        await self.after_ack(self.deliver(origin, _prepend(first, rest)), body, None)

    async def deliver_form_answer(self, work: asyncio.Future) -> None:
        origin, first, rest = await work
        await self.deliver(origin, _prepend(first, rest))

    async def first_reply_to_form(
        self, body: dict, view: dict, received_at: float
    ) -> tuple[Origin, Reply | None, AsyncIterator[Reply]]:
        metadata = _json_object(view.get("private_metadata", ""))
        place = Place(
            "slack",
            metadata.get("team") or _team_id(body),
            metadata.get("channel", ""),
            metadata.get("thread", ""),
        )
        user = body.get("user") or {}
        origin = await self.origin(
            user.get("id", ""), user.get("name", ""), place, None, body.get("trigger_id", ""), received_at
        )
        form_id = view["callback_id"]
        values = {
            action_id: state.get("value") or ""
            for actions in ((view.get("state") or {}).get("values") or {}).values()
            for action_id, state in actions.items()
        }
        request = Request(
            command=command_of(form_id),
            user=origin.user,
            place=place,
            action=form_id,
            values=values,
            received_at=received_at,
        )
        replies = self.replies(request)
        return origin, await anext(replies, None), replies

    async def after_ack(self, work: Awaitable[None], body: dict, respond: AsyncRespond | None) -> None:
        """Run a listener's post-ack work, sending any failure to on_error ourselves.

        Letting it propagate would reach on_error too, but Bolt then resets the finished
        ack, and its HTTP response may wait for the 3-second ack timeout.

        The work starts once Bolt has returned the acknowledgement: Bolt looks for the ack()
        every 10 ms, and in a class's burst the work started at once ran ahead of hundreds of
        acknowledgements (bench/class_load.py, all at the same instant: ack p99 280-390 ms
        before, 230-270 ms after).
        """
        try:
            await asyncio.sleep(AFTER_ACK_DELAY_S)
        except asyncio.CancelledError:
            getattr(work, "close", lambda: None)()  # never started: no "never awaited" warning
            raise
        try:
            await work
        except Exception as error:
            await self.on_error(error, body, respond)

    async def on_error(self, error: Exception, body: dict, respond: AsyncRespond | None = None) -> None:
        """Anything a listener did not handle: logged, the user told in their language, the app goes on."""
        log.error("a Slack request failed", exc_info=error)
        user_id = body.get("user_id") or (body.get("user") or {}).get("id") or ""
        if not user_id:
            return
        locale = self.users.known_locale(user_id)
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id") or ""
        place = Place("slack", body.get("team_id") or _team_id(body), channel)
        try:
            reply = render(error_reply(locale, "error.internal"), locale)
            await self.out.send_private(place, user_id, reply, locale, ResponseUrl(respond))
        except Exception:
            log.exception("could not tell %s that their request failed", user_id)

    # --- shared steps ---------------------------------------------------------------------

    async def origin(
        self,
        user_id: str,
        user_name: str,
        place: Place,
        respond: AsyncRespond | None,
        trigger_id: str,
        received_at: float,
    ) -> Origin:
        user = await self.users.user(user_id, user_name)
        return Origin(
            place=place,
            user=user,
            response_url=ResponseUrl(respond),
            trigger_id=trigger_id,
            received_at=received_at,
        )

    def replies(self, request: Request) -> AsyncIterator[Reply]:
        who = (request.place.platform, request.user.id)  # each user's fair share of the slots
        return self.starts.first_of(self.aula.handle(request), urgent=bool(request.action), who=who)

    def parse(self, name: str, text: str, origin: Origin) -> Request:
        spec = self.aula.commands[name].spec
        subcommand, rest = split_subcommand(spec, text)
        sub_spec = spec.subcommand(subcommand) if subcommand else spec
        if sub_spec is None:
            raise UserError("error.unknown_subcommand", command=name, subcommand=echo(subcommand))
        args = parse_arguments(sub_spec, rest, origin.user.locale)
        missing = missing_required(sub_spec, args)
        if missing is not None:
            usage = " ".join(
                w for w in (slash_name(self.settings, "slack", name), subcommand, f"{missing.name}:…") if w
            )
            raise UserError("error.missing_argument", option=missing.name, example=usage)
        return Request(
            command=name,
            subcommand=subcommand,
            args=args,
            user=origin.user,
            place=origin.place,
            received_at=origin.received_at,
        )

    async def deliver(
        self, origin: Origin, versions: AsyncIterator[Reply], awaits_file: Request | None = None
    ) -> None:
        """Public versions edit one channel reply in place (throttled); only the last private one is sent.

        awaits_file: a command that takes a file (UPLOAD_COMMANDS) came without one; its public
        reply asks for it, and a file shared in that reply's thread completes the request."""
        public = PublicReply(
            self.out,
            origin.place,
            origin.user.locale,
            requester=origin.user.id,
            response_url=origin.response_url,
        )
        last_private: Reply | None = None
        async for reply in throttled(versions, self.edit_interval_s):
            if reply.form is not None:
                await self.open_form(origin, reply.form)
            elif reply.is_private:
                last_private = reply  # ephemeral messages cannot be edited: send the final one only
            else:
                await public.show(reply)
                if awaits_file is not None and public.ts:  # the reply that asks for the file: its thread takes it
                    await self.remember_upload(origin.place, public.ts[0], awaits_file)
        await public.finish()
        if last_private is not None:
            await self.send_private(origin, last_private)

    async def send_private(self, origin: Origin, reply: Reply) -> None:
        locale = origin.user.locale
        await self.out.send_private(
            origin.place, origin.user.id, render(reply, locale), locale, origin.response_url
        )

    async def open_form(self, origin: Origin, form: Form) -> None:
        view = modal(form, origin.user.locale, form_metadata(origin.place))
        try:
            if not origin.trigger_id:
                raise ValueError("no trigger_id to open a modal with")
            await self.out.open_modal(origin.trigger_id, view)
        except (SlackApiError, ValueError) as exc:  # e.g. expired_trigger_id: over Slack's 3 seconds
            log.warning("could not open form %s: %s", form.id, exc)
            await self.send_private(origin, error_reply(origin.user.locale, "slack.form_unavailable"))


def form_metadata(place: Place) -> dict[str, str]:
    """What a modal carries so its submission knows where it came from (Slack omits the channel)."""
    return {"team": place.workspace_id, "channel": place.channel_id, "thread": place.thread_id}


async def _prepend(first: Reply | None, rest: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
    if first is not None:
        yield first
    async for reply in rest:
        yield reply


def _team_id(body: dict) -> str:
    return (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""
