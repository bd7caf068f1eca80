"""/privacy: what Aula stores about you on this platform, and a button to delete it.

Deleting takes two clicks ("privacy:delete" asks, "privacy:confirm" deletes); the ids
name no one, because whoever clicks only ever deletes their own data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bot.privacy.areas as privacy
from bot.actions import PRIVACY_CANCEL, PRIVACY_CONFIRM, PRIVACY_DELETE
from bot.command import Command, CommandSpec
from bot.errors import UserError
from bot.i18n import t
from bot.replies import BulletList, Button, ButtonStyle, Heading, Paragraph, Reply, Span
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula

SPEC = CommandSpec(name="privacy", description="privacy.description")
PLATFORM_NAMES = {"discord": "Discord", "slack": "Slack", "console": "console"}


async def run(request: Request, app: Aula) -> Reply:
    lang = request.locale
    platform = request.place.platform
    found = await privacy.describe(app, platform, request.user.id)
    items = [
        Paragraph.of(
            t(lang, f"privacy.area.{name}", **{k: t(lang, f"privacy.n.{name}.{k}", count=n) for k, n in counts.items()})
        )
        for name, counts in found
    ]
    return Reply.private(
        Heading(t(lang, "privacy.title", platform=PLATFORM_NAMES.get(platform, platform))),
        BulletList(tuple(items)),
        Paragraph.of(t(lang, "privacy.not_stored")),
        Paragraph.of(Span(t(lang, "privacy.deletion_means"), italic=True)),
        buttons=(Button(PRIVACY_DELETE.id(), t(lang, "privacy.button_delete"), ButtonStyle.DANGER),),
    )


async def on_action(request: Request, app: Aula) -> Reply:
    lang = request.locale
    if PRIVACY_DELETE.parse(request.action) is not None:
        return Reply.private(
            Paragraph.of(Span(t(lang, "privacy.confirm_question"), bold=True)),
            Paragraph.of(t(lang, "privacy.deletion_means")),
            buttons=(
                Button(PRIVACY_CONFIRM.id(), t(lang, "privacy.button_confirm"), ButtonStyle.DANGER),
                Button(PRIVACY_CANCEL.id(), t(lang, "privacy.button_cancel")),
            ),
        )
    if PRIVACY_CONFIRM.parse(request.action) is not None:
        await privacy.forget(app, request.place.platform, request.user.id)
        return Reply.private(
            Paragraph.of(t(lang, "privacy.deleted")),
            Paragraph.of(Span(t(lang, "privacy.deleted_remains"), italic=True)),
        )
    if PRIVACY_CANCEL.parse(request.action) is not None:
        return Reply.private(Paragraph.of(t(lang, "privacy.cancelled")))
    raise UserError("privacy.unknown_button")


command = Command(spec=SPEC, run=run, on_action=on_action)
