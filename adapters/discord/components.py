"""Buttons and forms: Reply buttons as persistent dynamic items, Reply forms as modals.

A button's custom_id is the core's own button id ("quiz:answer:12:3:B"), which is
stable and at most 100 characters, so one DynamicItem template recognizes every
Aula button, also on messages sent before the bot restarted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.limits import (
    DISCORD_BUTTON_LABEL,
    DISCORD_CUSTOM_ID,
    DISCORD_MODAL_INPUTS,
    DISCORD_MODAL_TITLE,
    DISCORD_TEXT_INPUT_LABEL,
    DISCORD_TEXT_INPUT_PLACEHOLDER,
    DISCORD_TEXT_INPUT_VALUE,
    cut_at_word,
    truncate,
)
from bot.replies import Button, ButtonStyle, Form, FormField

log = logging.getLogger("aula.discord")

# "<command>:<anything>": the shape of every button id in the core contract.
ACTION_TEMPLATE = r"(?P<id>[a-z0-9_-]+:.+)"
PLACEHOLDER_LIMIT = DISCORD_TEXT_INPUT_PLACEHOLDER
# An open modal waits this long for its submission before discord.py forgets it.
MODAL_TIMEOUT_S = 60 * 60

STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}

# (interaction, action id, form values) -> None; the bot answers it like a command.
RunAction = Callable[[discord.Interaction, str, dict[str, str]], Awaitable[None]]
ReportFailure = Callable[[discord.Interaction, BaseException], Awaitable[None]]


def _bot_hooks(interaction: discord.Interaction) -> tuple[RunAction, ReportFailure]:
    client: Any = interaction.client
    return client.run_action, client.report_failure


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=ACTION_TEMPLATE):
    def __init__(
        self, action: str, label: str = "", style: ButtonStyle = ButtonStyle.SECONDARY, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=truncate(label, DISCORD_BUTTON_LABEL) or "…",
                style=STYLES[style],
                custom_id=action,
                disabled=disabled,
            )
        )
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> ActionButton:
        return cls(match["id"], label=item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        run_action, report_failure = _bot_hooks(interaction)
        try:
            await run_action(interaction, self.action, {})
        except Exception as error:  # discord.py would only log it; the user deserves an answer
            await report_failure(interaction, error)


def button_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A view of persistent buttons (five per row, filled by discord.py)."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        if len(button.id) > DISCORD_CUSTOM_ID or ":" not in button.id:
            log.error(
                "button id %r is not '<command>:...' within %d characters; skipped",
                button.id,
                DISCORD_CUSTOM_ID,
            )
            continue
        view.add_item(ActionButton(button.id, button.label, button.style, button.disabled))
    return view if view.children else None


def label_and_placeholder(field: FormField) -> tuple[str, str]:
    """A text input's label holds 45 characters: cut it at a word, and let the placeholder
    (100) go on from the cut; when that does not fit either, it ends saying where the whole
    label is (field.whole_label_at). An uncut label keeps its own placeholder."""
    label, rest = cut_at_word(field.label, DISCORD_TEXT_INPUT_LABEL)
    if not rest:
        return label, cut_at_word(field.placeholder, PLACEHOLDER_LIMIT)[0]
    placeholder, left = cut_at_word("…" + rest, PLACEHOLDER_LIMIT)
    if left and field.whole_label_at:
        pointer = " " + field.whole_label_at
        placeholder = cut_at_word("…" + rest, PLACEHOLDER_LIMIT - len(pointer))[0] + pointer
    return label, placeholder


class FormModal(discord.ui.Modal):
    """A Form as a modal. Its custom_id is random (discord.py's default): modals are
    looked up by custom_id alone, so a shared one would let one student's submit
    close another's open form."""

    def __init__(self, form: Form) -> None:
        super().__init__(title=truncate(form.title, DISCORD_MODAL_TITLE) or "Aula", timeout=MODAL_TIMEOUT_S)
        self.form = form
        if len(form.fields) > DISCORD_MODAL_INPUTS:
            log.error(
                "form %s has %d fields; Discord shows %d", form.id, len(form.fields), DISCORD_MODAL_INPUTS
            )
        for field in form.fields[:DISCORD_MODAL_INPUTS]:
            label, placeholder = label_and_placeholder(field)
            self.add_item(
                discord.ui.TextInput(
                    label=label,
                    custom_id=field.id,
                    style=discord.TextStyle.paragraph if field.multiline else discord.TextStyle.short,
                    required=field.required,
                    max_length=max(1, min(field.max_length, DISCORD_TEXT_INPUT_VALUE)),
                    placeholder=placeholder or None,
                    default=field.value[:DISCORD_TEXT_INPUT_VALUE] or None,
                )
            )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        values = {
            child.custom_id: child.value for child in self.children if isinstance(child, discord.ui.TextInput)
        }
        run_action, _ = _bot_hooks(interaction)
        await run_action(interaction, self.form.id, values)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        _, report_failure = _bot_hooks(interaction)
        await report_failure(interaction, error)


class FormOpener(discord.ui.View):
    """A modal can only be the first answer to an interaction; when a form arrives
    after that (a slow handler), this button opens it instead."""

    def __init__(self, form: Form, label: str) -> None:
        super().__init__(timeout=MODAL_TIMEOUT_S)
        self.form = form
        self.open.label = truncate(label, DISCORD_BUTTON_LABEL)

    @discord.ui.button(style=discord.ButtonStyle.primary)
    async def open(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(FormModal(self.form))

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        _, report_failure = _bot_hooks(interaction)
        await report_failure(interaction, error)
