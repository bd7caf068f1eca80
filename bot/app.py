"""The core every adapter talks to: settings, storage, commands, and one dispatcher.

An adapter builds a `Request`, iterates `aula.handle(request)` and renders each
Reply it yields (the first is sent, later ones replace it). Whatever goes wrong
inside a command becomes a private message in the user's language, never a crash.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from bot.command import Command, CommandSpec
from bot.errors import UserError
from bot.i18n import t
from bot.logs import PRIVATE, event
from bot.messenger import Messenger
from bot.registry import all_commands
from bot.replies import Paragraph, Reply, Span, Visibility
from bot.requests import Request
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.storage.database import database_for, storage_unavailable
from bot.storage.users import CommandLog, UserRepository

log = logging.getLogger("aula")


class Aula:
    def __init__(
        self,
        settings: Settings | None = None,
        commands: list[Command] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or load_settings()
        self.commands: dict[str, Command] = {c.spec.name: c for c in (commands or all_commands())}
        self.clock = clock  # seconds since the epoch; tests and simulators may replace it
        self.messengers: dict[str, Messenger] = {}  # platform -> messenger, set by adapters
        self.db = database_for(self.settings.database, self.settings.database_pool_size)
        self.users = UserRepository(self.db, lambda: self.clock())  # a test may replace self.clock later
        self.command_log = CommandLog(self.db, lambda: self.clock())
        self.services = Services(self)  # shared clients (LLM, quiz engine...), typed, created on first use
        self._started = False

    async def start(self) -> Aula:
        if self._started:
            return self
        await self.db.open()
        self._started = True
        for command in self.commands.values():
            if command.on_startup:
                try:
                    await command.on_startup(self)
                except Exception:
                    log.exception("startup of /%s failed", command.spec.name)
        return self

    async def close(self) -> None:
        await self.services.aclose()
        await self.db.close()
        self._started = False

    def spec(self, name: str, subcommand: str = "") -> CommandSpec | None:
        command = self.commands.get(name)
        if command is None:
            return None
        return command.spec.subcommand(subcommand) if subcommand else command.spec

    async def handle(self, request: Request) -> AsyncIterator[Reply]:
        """Run a command, click or form; yield its replies. Never raises for the user's input."""
        request = with_storable_name(request)
        if request.received_at is None:
            request = replace(request, received_at=self.clock())
        started = time.perf_counter()
        outcome, reason = "ok", "-"
        last: Reply | None = None
        count = 0
        try:
            async for last in self._run(request):
                count += 1
                yield last
            if last is not None and last.error:
                outcome = "failed"  # the command answered with an error message of its own
        except UserError as exc:
            outcome, reason = "refused", exc.key
            last = error_reply(request.locale, exc.key, **exc.values)
            count += 1
            yield last
        except Exception as exc:
            reason = type(exc).__name__
            if storage_unavailable(exc):  # locked by another process, disk full: nothing was saved
                outcome = "unsaved"
                log.warning("command /%s could not save: %s", self._known(request)[0], exc)
                last = error_reply(request.locale, "error.database")
                count += 1
                yield last
                return
            outcome = "error"
            # The traceback may quote what the user typed (int('...') does): masked in the log line.
            log.exception("command /%s failed", self._known(request)[0], extra={PRIVATE: typed_texts(request)})
            last = error_reply(request.locale, "error.internal")
            count += 1
            yield last
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            command, subcommand = self._known(request)
            event(
                log,
                "command",
                command=command,
                sub=subcommand,
                kind="form" if request.values else "click" if request.action else "command",
                platform=request.place.platform,
                latency_ms=latency_ms,
                outcome=outcome,
                reason=reason,
                shown=shown(last),
                replies=count,
            )
            try:
                await self.command_log.record(request, latency_ms, outcome)
            except Exception as exc:  # a full disk must not turn an answer into a crash
                if storage_unavailable(exc):  # the user was told "couldn't save"; no traceback
                    log.warning("could not record the command log: %s", exc)
                else:
                    log.exception("could not record the command log")

    def _known(self, request: Request) -> tuple[str, str]:
        """The command and subcommand names for the log: a name nobody registered is what the
        user typed, so it is logged as "unknown"."""
        command = self.commands.get(request.command)
        if command is None:
            return "unknown", "-"
        if not request.subcommand:
            return request.command, "-"
        return request.command, request.subcommand if command.spec.subcommand(request.subcommand) else "unknown"

    async def _run(self, request: Request) -> AsyncIterator[Reply]:
        command = self.commands.get(request.command)
        if command is None:
            raise UserError("error.unknown_command", command=request.command)
        spec = command.spec
        if request.subcommand:
            spec = spec.subcommand(request.subcommand) or _raise(
                UserError("error.unknown_subcommand", command=request.command, subcommand=request.subcommand)
            )
        if (command.spec.instructor_only or spec.instructor_only) and not request.user.is_instructor:
            raise UserError("error.instructor_only")
        if not request.place.workspace_id and not (command.spec.in_direct_messages and spec.in_direct_messages):
            raise UserError("error.not_in_dm", command=request.command)
        if not typed_text_is_unicode(request):
            raise UserError("input.not_unicode")
        try:
            await self.users.seen(request)
        except Exception as exc:  # a command that saves nothing still answers while storage is stuck
            if not storage_unavailable(exc):
                raise
            log.warning("could not note that %s was seen: %s", request.user.id, exc)

        handler = command.on_action if request.action else command.run
        if handler is None:
            raise UserError("error.unknown_action")
        result = handler(request, self)
        if inspect.isasyncgen(result):
            async for reply in result:
                yield reply
        else:
            yield await result

    async def complete(self, request: Request, option: str, typed: str) -> list[str]:
        """Suggestions for an option being typed; empty on any problem."""
        command = self.commands.get(request.command)
        if command is None or command.autocomplete is None:
            return []
        try:
            return (await command.autocomplete(request, self, option, typed))[:25]
        except Exception:
            log.exception("autocomplete for /%s failed", request.command)
            return []


def error_reply(locale: str, key: str, **values: object) -> Reply:
    return Reply(
        parts=(Paragraph((Span("⚠️ "), Span(t(locale, key, **values)))),),
        visibility=Visibility.PRIVATE,
        error=True,
    )


def typed_text_is_unicode(request: Request) -> bool:
    """False when an option or form field holds a lone surrogate (JSON can carry one): no
    database, tokenizer or platform accepts it, so it is refused before any command runs."""
    texts = [value for value in request.args.values() if isinstance(value, str)]
    texts += request.values.values()
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(reply: Reply | None) -> str:
    """What the user was last shown, for the log: public, private, form or none."""
    if reply is None:
        return "none"
    if reply.form is not None:
        return "form"
    return "private" if reply.is_private else "public"


def typed_texts(request: Request) -> list[str]:
    """Everything the user typed into this request (options and form fields)."""
    return [v for v in (*request.args.values(), *request.values.values()) if isinstance(v, str)]


def with_storable_name(request: Request) -> Request:
    """A display name holding a lone surrogate (a platform's JSON can carry one) gets U+FFFD in
    its place: names are only shown and stored, and nobody should be locked out by their own."""
    name = re.sub("[\ud800-\udfff]", "\ufffd", request.user.name)
    return request if name == request.user.name else replace(request, user=replace(request.user, name=name))


def _raise(exc: Exception):
    raise exc
