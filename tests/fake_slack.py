"""A Slack Web API (and Socket Mode endpoint) on 127.0.0.1 for tests: no network.

It records every call with its method name and payload and answers `{"ok": true, ...}`
with plausible fields, as Bolt's own test suite does with its mock server:

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.users["U1"] = {"locale": "en-US", "is_admin": True}
        slack.failures["chat.postMessage"] = "not_in_channel"   # every such call fails until removed
        slack.rate_limits["chat.update"] = [1, 0]   # the next two such calls: HTTP 429, Retry-After 1, 0
        await slack.wait_for(lambda: slack.calls_to("chat.postMessage"))

Besides Web API methods, calls are recorded as "response_url" (a POST to a slash command's
or a click's response_url), "upload" (the file bytes of files_upload_v2) and "socket_ack"
(an envelope acknowledgement over Socket Mode).

Slack's documented limits are enforced as Slack enforces them: Block Kit sizes (`invalid_blocks`),
and the text of all blocks of one message together (`msg_blocks_too_long`, past
MESSAGE_BLOCKS_TEXT characters), for chat.* methods and response_url posts alike. A rate-limited
call answers HTTP 429 `ratelimited` with `Retry-After`, as Slack's Web API does; it is
recorded with status 429.

Also here: Slack-signed requests (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`) for Bolt.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
TEAM_ID = "T0AULA"
CHANNEL_ID = "C0CLASS"
JSON_FIELDS = ("blocks", "view", "files", "attachments")  # sent form-encoded as JSON strings by some methods
# Slack refuses a message whose blocks hold more text than this in all (msg_blocks_too_long):
# slackapi/bolt-js#2509 measured about 13,200 characters of markdown blocks, less with other
# blocks; Slack staff quote "12,000 text characters with a buffer". The stricter figure is used.
MESSAGE_BLOCKS_TEXT = 12000


@dataclass
class Call:
    method: str
    payload: dict[str, Any]
    status: int = 200  # 429 when the call was rate limited


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}  # user id -> fields merged into users.info's user
        self.failures: dict[str, str] = {}  # method -> Slack error code it answers with
        self.rate_limits: dict[str, list[int]] = {}  # method -> Retry-After seconds of its next 429s
        self.envelopes: asyncio.Queue[dict] = asyncio.Queue()  # pushed to Socket Mode clients
        self.sockets: dict[web.WebSocketResponse, web.Request] = {}  # Socket Mode connections open now
        self.files: dict[str, bytes] = {}  # name -> bytes served at file_url(name) to the bot token only
        self.shared: list[dict[str, Any]] = []  # file objects files.list answers with (see share_file)
        self.served: dict[str, int] = {}  # name -> bytes of that file written to the wire so far
        self._numbers = itertools.count(1)
        self._server: TestServer | None = None

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files/{name}", self._file)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._server.close()

    @property
    def api_url(self) -> str:
        return str(self._server.make_url("/api/"))

    def response_url(self, name: str = "r1") -> str:
        return str(self._server.make_url(f"/response/{name}"))

    def file_url(self, name: str) -> str:
        """Where a shared file is downloaded from (its url_private_download)."""
        return str(self._server.make_url(f"/files/{name}"))

    def share_file(
        self, name: str, data: bytes, user: str, channel: str = CHANNEL_ID, created: float | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """A file `user` shared in `channel` (at `created`, epoch seconds; now by default), as
        files.list and a message's `files` describe it. size: what Slack declares (a lie if you like)."""
        self.files[name] = data
        file = {
            "id": f"F{len(self.shared) + 1:06d}",
            "name": name,
            "user": user,
            "channels": [channel],
            "created": int(time.time() if created is None else created),
            "size": len(data) if size is None else size,
            "mode": "hosted",
            "url_private": self.file_url(name),
            "url_private_download": self.file_url(name),
        }
        self.shared.append(file)
        return file

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, condition: Callable[[], Any], seconds: float = 5.0) -> Any:
        """Poll the recorded calls until condition() is truthy; returns its value."""
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)

    # --- handlers ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            payload.update(await request.json())
        elif request.can_read_body:
            payload.update(await request.post())
        for key in JSON_FIELDS:
            if isinstance(payload.get(key), str):
                payload[key] = json.loads(payload[key])
        waits = self.rate_limits.get(method)
        if waits:
            retry_after = waits.pop(0)
            self.calls.append(Call(method, payload, status=429))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
            )
        self.calls.append(Call(method, payload))
        if method in self.failures:
            return web.json_response({"ok": False, "error": self.failures[method]})
        problems = block_kit_problems(method, payload)
        if problems:  # as Slack does: the call fails, nothing is posted
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": problems})
        if method in MESSAGE_METHODS and blocks_text_size(payload.get("blocks") or []) > MESSAGE_BLOCKS_TEXT:
            return web.json_response({"ok": False, "error": "msg_blocks_too_long"})
        return web.json_response({"ok": True, **self._answer(method, payload)})

    def _answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        n = next(self._numbers)
        ts = f"1700000000.{n:06d}"
        match method:
            case "auth.test":
                return {
                    "url": "https://aula.slack.com/",
                    "team": "Aula",
                    "team_id": TEAM_ID,
                    "user_id": "UBOT",
                    "bot_id": "B1",
                }
            case "users.info":
                user_id = payload["user"]
                user = {
                    "id": user_id,
                    "name": user_id.lower(),
                    "real_name": f"Persona {user_id}",
                    "profile": {"display_name": f"persona-{user_id.lower()}"},
                    "is_admin": False,
                    "is_owner": False,
                }
                extra = dict(self.users.get(user_id, {}))
                locale = extra.pop("locale", "es-ES")
                if str(payload.get("include_locale")).lower() in ("1", "true"):  # as Slack: only when asked
                    user["locale"] = locale
                return {"user": user | extra}
            case "chat.postMessage":
                return {"channel": payload["channel"], "ts": ts, "message": {"text": payload.get("text", "")}}
            case "chat.update":
                return {"channel": payload["channel"], "ts": payload["ts"]}
            case "chat.delete":
                return {"channel": payload["channel"], "ts": payload["ts"]}
            case "chat.postEphemeral":
                return {"message_ts": ts}
            case "conversations.open":
                return {"channel": {"id": "D" + payload["users"]}}
            case "views.open":
                return {"view": {"id": f"V{n}", **payload["view"]}}
            case "files.getUploadURLExternal":
                return {"upload_url": str(self._server.make_url(f"/upload/F{n}")), "file_id": f"F{n}"}
            case "files.completeUploadExternal":
                return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in payload["files"]]}
            case "files.list":  # newest first, as Slack lists them
                found = [
                    f for f in self.shared
                    if (not payload.get("channel") or payload["channel"] in f["channels"])
                    and (not payload.get("user") or payload["user"] == f["user"])
                    and f["created"] >= int(payload.get("ts_from") or 0)
                ]
                found.sort(key=lambda f: f["created"], reverse=True)
                return {"files": found[: int(payload.get("count") or 100)]}
            case "apps.connections.open":
                return {"url": str(self._server.make_url("/socket")).replace("http://", "ws://")}
        return {}

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"], "data": data}))
        return web.Response(text=f"OK - {len(data)}")

    async def _file(self, request: web.Request) -> web.Response:
        """A file's bytes, as Slack serves url_private_download: the bot token in Authorization."""
        name = request.match_info["name"]
        self.calls.append(Call("download", {"name": name, "authorization": request.headers.get("Authorization", "")}))
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.Response(status=403)
        if name not in self.files:
            return web.Response(status=404)
        # Streamed in 16 KB pieces with no Content-Length (chunked), as a large download may come:
        # a reader must count what arrives, not trust a declared size.
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = self.files[name]
        try:
            for start in range(0, len(data), 16 * 1024):
                piece = data[start : start + 16 * 1024]
                await response.write(piece)
                self.served[name] = self.served.get(name, 0) + len(piece)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the reader let go early (an oversized file refused)
        return response

    async def _response_url(self, request: web.Request) -> web.Response:
        payload = await request.json()
        blocks = payload.get("blocks") or []
        problems = message_block_problems(blocks, max_blocks=50)
        too_long = blocks_text_size(blocks) > MESSAGE_BLOCKS_TEXT
        status = 400 if problems or too_long else 200
        self.calls.append(Call("response_url", {"url_name": request.match_info["name"], **payload}, status))
        if status != 200:  # Slack answers a refused response_url post with an HTTP error and a word
            return web.Response(status=status, text="msg_blocks_too_long" if too_long else "invalid_blocks")
        return web.Response(text="ok")

    async def drop_sockets(self, abrupt: bool = False) -> None:
        """Slack's side ends every Socket Mode connection: with a close frame, as Slack does when
        it moves a connection, or `abrupt`ly (the TCP connection just goes, as in a network cut)."""
        for ws, request in list(self.sockets.items()):
            if abrupt:
                request.transport.abort()
            else:
                await ws.close(code=1001, message=b"going away")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets[ws] = request
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})

        async def push() -> None:
            while True:
                await ws.send_json(await self.envelopes.get())

        pusher = asyncio.create_task(push())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.calls.append(Call("socket_ack", json.loads(message.data)))
        finally:
            pusher.cancel()
            self.sockets.pop(ws, None)
        return ws


# --- Block Kit limits, checked as Slack checks them --------------------------------------------


MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")


def blocks_text_size(blocks: list[dict]) -> int:
    """Characters in every text object (`{"type": "mrkdwn"|"plain_text", "text": ...}`) of the
    blocks, wherever it sits: section text and fields, headers, context elements, buttons."""
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") in ("mrkdwn", "plain_text") and isinstance(item.get("text"), str):
                total += len(item["text"])
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(item)
    return total


def block_kit_problems(method: str, payload: dict[str, Any]) -> list[str]:
    if method in MESSAGE_METHODS:
        if not payload.get("text") and not payload.get("blocks"):
            return ["no_text"]
        return message_block_problems(payload.get("blocks") or [], max_blocks=50)
    if method == "views.open":
        view = payload["view"]
        problems = message_block_problems(view.get("blocks", []), max_blocks=100)
        for key in ("title", "submit", "close"):
            if key in view and not 0 < len(view[key]["text"]) <= 24:
                problems.append(f"{key} must be 1-24 chars")
        if len(view.get("callback_id", "")) > 255 or len(view.get("private_metadata", "")) > 3000:
            problems.append("callback_id or private_metadata too long")
        return problems
    return []


def message_block_problems(blocks: list[dict], max_blocks: int) -> list[str]:
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks (max {max_blocks})")
    action_ids: list[str] = []
    for i, block in enumerate(blocks):
        kind = block["type"]
        text = (block.get("text") or {}).get("text")
        if kind == "header" and not 0 < len(text) <= 150:
            problems.append(f"[{i}] header text must be 1-150 chars")
        if kind == "section":
            fields = block.get("fields", [])
            if text is None and not fields:
                problems.append(f"[{i}] section needs text or fields")
            if text is not None and not (text.strip() and len(text) <= 3000):
                problems.append(f"[{i}] section text must be 1-3000 chars")
            if len(fields) > 10 or any(not 0 < len(f["text"]) <= 2000 for f in fields):
                problems.append(f"[{i}] at most 10 fields of 1-2000 chars")
        if kind == "actions":
            elements = block["elements"]
            if not 0 < len(elements) <= 25:
                problems.append(f"[{i}] actions need 1-25 elements")
            for element in elements:
                action_ids.append(element["action_id"])
                if not 0 < len(element["text"]["text"]) <= 75 or len(element["action_id"]) > 255:
                    problems.append(f"[{i}] button text 1-75 chars, action_id up to 255")
        if kind == "context" and not 0 < len(block["elements"]) <= 10:
            problems.append(f"[{i}] context needs 1-10 elements")
        if kind == "input":
            action_ids.append(block["element"]["action_id"])
            if not 0 < len(block["label"]["text"]) <= 2000:
                problems.append(f"[{i}] input label must be 1-2000 chars")
    if len(action_ids) != len(set(action_ids)):
        problems.append("action_ids must be unique")
    return problems


# --- signed requests ------------------------------------------------------------------------


def signed_request(
    body: str,
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    extra_headers: dict[str, str] | None = None,
) -> AsyncBoltRequest:
    """A request as Slack sends it: `X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")`."""
    return AsyncBoltRequest(
        body=body, headers=signed_headers(body, timestamp, secret) | (extra_headers or {})
    )


def signed_headers(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


_triggers = itertools.count(1)


def command_fields(
    command: str, text: str = "", user_id: str = "U0STUDENT", response_url: str = "", **extra
) -> dict:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "aula",
        "channel_id": CHANNEL_ID,
        "channel_name": "clase",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": f"trigger.{next(_triggers)}",
        **extra,
    }


def command_body(
    command: str, text: str = "", user_id: str = "U0STUDENT", response_url: str = "", **extra
) -> str:
    """A slash command's form-encoded body."""
    return urlencode(command_fields(command, text, user_id, response_url, **extra))


def click_body(
    action_id: str,
    user_id: str = "U0STUDENT",
    response_url: str = "",
    message_ts: str = "",
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID,
) -> str:
    """A block_actions payload: someone clicked a button in a message in the class channel
    (team_id and channel_id: another workspace's)."""
    payload = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "aula"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": "A1",
        "trigger_id": f"trigger.{next(_triggers)}",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "channel": {"id": channel_id, "name": "clase"},
        "message": {"ts": message_ts, "text": ""},
        "response_url": response_url,
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b1", "action_ts": "1700000001.000001"}
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def submission_body(view: dict, values: dict[str, str], user_id: str = "U0STUDENT") -> str:
    """A view_submission payload for a modal we opened (`view` as sent to views.open)."""
    state = {
        block["block_id"]: {
            block["element"]["action_id"]: {
                "type": "plain_text_input",
                "value": values.get(block["block_id"]),
            }
        }
        for block in view["blocks"]
        if block["type"] == "input"
    }
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "aula"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A1",
        "trigger_id": f"trigger.{next(_triggers)}",
        "view": {**view, "id": "V1", "team_id": TEAM_ID, "state": {"values": state}},
    }
    return urlencode({"payload": json.dumps(payload)})


def shortcut_body(files: list[dict], text: str = "", user_id: str = "U0STUDENT", channel: str = CHANNEL_ID) -> str:
    """A message_action payload: someone chose the message shortcut "Comprobar con Aula"
    (callback_id aula_dataset) on a message holding `files` (as share_file returns them)."""
    payload = {
        "type": "message_action",
        "callback_id": "aula_dataset",
        "team": {"id": TEAM_ID, "domain": "aula"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "clase"},
        "api_app_id": "A1",
        "trigger_id": f"trigger.{next(_triggers)}",
        "response_url": "",
        "message_ts": "1700000050.000001",
        "message": {"type": "message", "user": user_id, "ts": "1700000050.000001", "text": text, "files": files},
    }
    return urlencode({"payload": json.dumps(payload)})


def file_share_event(
    name: str, url: str, size: int, thread_ts: str, text: str = "", user_id: str = "U0STUDENT",
    channel: str = CHANNEL_ID,
) -> str:
    """An Events API message with a file, shared in a thread (subtype file_share), as Slack posts it."""
    global _events
    _events += 1
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{_events:08d}",
            "event_time": 1700000000,
            "event": {
                "type": "message",
                "subtype": "file_share",
                "channel": channel,
                "user": user_id,
                "text": text,
                "ts": f"1700000100.{_events:06d}",
                "thread_ts": thread_ts,
                "files": [
                    {"id": f"F{_events}", "name": name, "size": size, "mode": "hosted",
                     "url_private": url, "url_private_download": url}
                ],
            },
        }
    )


_events = 0
