"""Test-only commands and helpers for the Discord adapter's simcord tests.

The probe commands exercise what real commands may do (typed options, uploads,
streaming, buttons, forms, slowness, failures) without depending on any of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from urllib.parse import unquote

import discord
import httpx
import pytest
import simcord.interactions
from simcord.backend.cdn import CdnStore

import bot.help.command as help_command
from adapters.discord import create_bot
from bot.app import Aula
from bot.command import Command, CommandSpec, Option
from bot.limits import (
    DISCORD_CONTENT,
    DISCORD_EMBED_DESCRIPTION,
    DISCORD_EMBED_FIELD_VALUE,
    DISCORD_EMBED_FIELDS,
    DISCORD_EMBEDS_PER_MESSAGE,
    DISCORD_EMBEDS_TOTAL,
)
from bot.replies import (
    BulletList,
    Button,
    ButtonStyle,
    Code,
    Form,
    FormField,
    Heading,
    Paragraph,
    Reply,
    Span,
    Table,
)

# Every line of the long reply carries a unique marker, so a test can see none was lost.
LONG_LINES = 60
HUGE_LINES = 700


def long_reply(lines: int) -> Reply:
    parts = [Heading("Informe largo")]
    parts += [
        Paragraph.of(f"línea-{i:04d} ", Span("texto de relleno para ocupar espacio " * 2))
        for i in range(lines)
    ]
    parts.append(Code("\n".join(f"código-{i:04d} = {i}" for i in range(lines // 2)), "python"))
    parts.append(Table(("n", "cuadrado"), tuple((f"fila-{i:04d}", str(i * i)) for i in range(lines // 3))))
    return Reply.public(*parts)


async def probe(request, app):
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(request.args.items()))
    where = f"{request.place.channel_id}/{request.place.thread_id or '-'}"
    return Reply.public(Paragraph.of(f"probe[{args}] where={where} instructor={request.user.is_instructor}"))


async def probe_complete(request, app, option, typed):
    return [f"{typed}-{n}" for n in ("uno", "dos", "tres")]


async def probe_file(request, app):
    upload, *_ = request.attachments
    name, data = upload.name, await upload.read(limit=1024 * 1024)
    return Reply.private(Paragraph.of(f"{name} {len(data)} {hashlib.sha256(data).hexdigest()[:12]}"))


async def echo(request, app):
    """User text in every kind of part: none of it may format, ping or escape a code fence."""
    text = request.arg("texto", "")
    return Reply.public(
        Heading(text),
        Paragraph.of(text, Span(text, bold=True), Span(text, code=True)),
        BulletList((Paragraph.of(text),)),
        Code(text),
        Table(("texto",), ((text,),)),
    )


async def long_(request, app):
    return long_reply(HUGE_LINES if request.arg("enorme") else LONG_LINES)


async def boom(request, app):
    raise RuntimeError("a bug in a command")


async def slow(request, app):
    await asyncio.sleep(float(request.arg("segundos", 5)))
    if request.arg("formulario"):
        return Reply.open_form(FORM)
    text = Paragraph.of(f"lento listo para {request.user.name}")
    return Reply.private(text) if request.arg("privado") else Reply.public(text)


async def stream(request, app):
    for version in range(int(request.arg("versiones", 10))):
        yield Reply.public(Paragraph.of(f"versión {version}"))
        pause = float(request.arg("pausa", 0))
        if pause:
            await asyncio.sleep(pause)


async def secret(request, app):
    return Reply.public(Paragraph.of(f"solo instructores: hola {request.user.name}"))


FORM = Form(
    id="forms:send",
    title="Tu respuesta",
    fields=(FormField("nombre", "Nombre"), FormField("texto", "Texto", multiline=True, max_length=500)),
)


async def forms_run(request, app):
    return Reply.open_form(FORM)


async def forms_action(request, app):
    values = request.values
    return Reply.private(Paragraph.of(f"recibido de {values['nombre']}: {values['texto']}"))


async def buttons_run(request, app):
    return Reply.public(
        Paragraph.of("elige"),
        buttons=(
            Button("buttons:pick:7", "Siete", ButtonStyle.PRIMARY),
            Button("buttons:pick:8", "Ocho"),
            Button("buttons:off", "Apagado", disabled=True),
        ),
    )


async def buttons_action(request, app):
    return Reply.private(Paragraph.of(f"clic {request.action} de {request.user.name}"))


PROBE_OPTIONS = (
    Option("texto", "help.description", required=True, name_en="text", autocomplete=True),
    Option("veces", "help.description", kind="integer"),
    Option("escala", "help.description", kind="number"),
    Option("gritar", "help.description", kind="boolean", name_en="shout"),
    Option("modo", "help.description", choices=("a", "b")),
    Option("color", "help.description", choices=tuple(f"c{i:02d}" for i in range(30)), choices_en={"c29": "last"}),
)

PROBE_COMMANDS = [
    help_command.command,
    Command(
        CommandSpec("probe", "help.description", options=PROBE_OPTIONS), probe, autocomplete=probe_complete
    ),
    Command(
        CommandSpec(
            "probe_file",
            "help.description",
            options=(Option("archivo", "help.description", "attachment", True),),
        ),
        probe_file,
    ),
    Command(
        CommandSpec(
            "curso",
            "help.description",
            subcommands=(
                CommandSpec(
                    "alta", "help.description", options=(Option("nombre", "help.description", required=True),)
                ),
                CommandSpec("baja", "help.description", instructor_only=True),
            ),
        ),
        probe,
    ),
    Command(
        CommandSpec(
            "echo", "help.description", options=(Option("texto", "help.description", required=True),)
        ),
        echo,
    ),
    Command(
        CommandSpec("long", "help.description", options=(Option("enorme", "help.description", "boolean"),)),
        long_,
    ),
    Command(CommandSpec("boom", "help.description"), boom),
    Command(
        CommandSpec(
            "slow",
            "help.description",
            options=(
                Option("segundos", "help.description", "number"),
                Option("privado", "help.description", "boolean"),
                Option("formulario", "help.description", "boolean"),
            ),
        ),
        slow,
    ),
    Command(
        CommandSpec(
            "stream",
            "help.description",
            options=(
                Option("versiones", "help.description", "integer"),
                Option("pausa", "help.description", "number"),
            ),
        ),
        stream,
    ),
    Command(CommandSpec("secret", "help.description", instructor_only=True), secret),
    Command(CommandSpec("forms", "help.description"), forms_run, on_action=forms_action),
    Command(CommandSpec("buttons", "help.description"), buttons_run, on_action=buttons_action),
]


def probe_bot(settings):
    return create_bot(settings, aula=Aula(settings, commands=PROBE_COMMANDS))


def speak(monkeypatch: pytest.MonkeyPatch, locale: str) -> None:
    """Make the simulated Discord client send `locale` with every interaction
    (simcord 3.2 always sends en-US)."""
    original = simcord.interactions.base_payload

    def with_locale(*args, **kwargs):
        record, payload = original(*args, **kwargs)
        payload["locale"] = locale
        return record, payload

    monkeypatch.setattr(simcord.interactions, "base_payload", with_locale)


def assert_within_limits(message) -> None:
    assert len(message.content) <= DISCORD_CONTENT
    assert message.content.count("```") % 2 == 0, "a code fence is left open"
    embeds: list[discord.Embed] = message.embeds
    assert len(embeds) <= DISCORD_EMBEDS_PER_MESSAGE
    assert sum(len(e) for e in embeds) <= DISCORD_EMBEDS_TOTAL
    for embed in embeds:
        assert len(embed.description or "") <= DISCORD_EMBED_DESCRIPTION
        assert len(embed.fields) <= DISCORD_EMBED_FIELDS
        assert all(len(f.value) <= DISCORD_EMBED_FIELD_VALUE for f in embed.fields)


def messages_of(result) -> list:
    """The response and every followup of an interaction, in order."""
    return [m for m in [result.response, *result.followups] if m is not None]


_CDN_STORES: weakref.WeakSet[CdnStore] = weakref.WeakSet()  # every simulator's CDN, as made


def route_simcord_cdn(patch: pytest.MonkeyPatch) -> None:
    """From now on every simulator's CDN store is known, and the Discord adapter's httpx client
    fetches attachments from them (tests/conftest.py does this once for the whole run)."""
    from adapters.discord import client

    original = CdnStore.__init__

    def tracked(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        _CDN_STORES.add(self)

    patch.setattr(CdnStore, "__init__", tracked)
    patch.setattr(client, "cdn_transport", lambda: simcord_cdn())


def simcord_cdn(env=None, declared_length: int | None = None, served: dict[str, int] | None = None) -> httpx.MockTransport:
    """Discord's CDN for the adapter's httpx client: attachments from simcord's store (env's, or
    any simulator's), streamed in 16 KB pieces. declared_length: a Content-Length to claim
    instead of the real one (a lying server). served: url -> bytes the client pulled so far."""

    async def handler(request: httpx.Request) -> httpx.Response:
        url = unquote(str(request.url))
        stores = [env.backend.cdn] if env is not None else list(_CDN_STORES)
        blob = next((b for b in (store.get(url) for store in stores) if b is not None), None)
        if blob is None:
            return httpx.Response(404)

        async def pieces():
            for start in range(0, len(blob), 16 * 1024):
                piece = blob[start : start + 16 * 1024]
                if served is not None:
                    served[url] = served.get(url, 0) + len(piece)
                yield piece

        headers = {"content-length": str(declared_length)} if declared_length is not None else {}
        return httpx.Response(200, headers=headers, content=pieces())

    return httpx.MockTransport(handler)
