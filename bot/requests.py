"""What a command receives: a platform-neutral request (who, where, what)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.uploads import Upload


@dataclass(frozen=True)
class User:
    id: str  # the platform's user id, as text
    name: str  # display name
    is_instructor: bool = False
    locale: str = "es"  # "es" or "en", already normalised by bot.i18n.normalize_locale


@dataclass(frozen=True)
class Place:
    platform: str  # "console", "discord", "slack"
    workspace_id: str = ""  # Discord guild id, Slack team id
    channel_id: str = ""
    thread_id: str = ""  # set when the request comes from inside a thread


@dataclass(frozen=True)
class Request:
    """A slash command, a button click or a form submission.

    command: the command's canonical name ("help", "tokens", "quiz").
    subcommand: "" or e.g. "start" for `/quiz start`.
    args: option name (as in the command's spec) -> value.
    action: for a click or a form, the button/form id ("quiz:answer:12:3:B"), else "".
    values: for a form submission, field id -> text.
    received_at: when the adapter received it, on the app's clock (Aula.handle sets it when an
      adapter did not). A quiz answer counts from here: in a class's burst, requests queue, and
      the wait must not eat anyone's speed bonus nor push an answer past the timer.
    """

    command: str
    user: User
    place: Place
    args: dict[str, Any] = field(default_factory=dict)
    subcommand: str = ""
    action: str = ""
    values: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Upload, ...] = ()  # files that came with the command, read as they arrive
    received_at: float | None = None

    @property
    def locale(self) -> str:
        return self.user.locale

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name)
        return default if value is None or value == "" else value
