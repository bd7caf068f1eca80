"""Helpers for the quiz tests: a clock tests move by hand and a messenger that remembers posts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from adapters.starts import start_slots
from bot.app import Aula
from bot.replies import Paragraph, Reply, plain_text
from bot.requests import Place, Request, User
from bot.settings import Settings, load_settings

PLACE = Place("console", "local", "aula")
START = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingMessenger:
    """A Messenger that keeps every post and edit; messages[id] is the latest version."""

    sent: list[tuple[Place, str, Reply]] = field(default_factory=list)
    edits: list[tuple[Place, str, Reply]] = field(default_factory=list)
    messages: dict[str, Reply] = field(default_factory=dict)
    fail: bool = False

    async def send(self, place: Place, reply: Reply) -> str:
        if self.fail:
            raise ConnectionError("platform down")
        message_id = f"m{len(self.sent) + 1}"
        self.sent.append((place, message_id, reply))
        self.messages[message_id] = reply
        return message_id

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        if self.fail:
            raise ConnectionError("platform down")
        self.edits.append((place, message_id, reply))
        self.messages[message_id] = reply

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        return place

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        self.sent.append((place, f"dm:{user_id}", reply))

    def texts(self) -> list[str]:
        return [plain_text(reply) for _, _, reply in self.sent]


def quiz_settings(database: str, environ: dict[str, str] | None = None, **quiz: object) -> Settings:
    """Settings on `database`, quiz timers ticked by the test, `quiz` overriding [quiz] keys."""
    env = {"AULA_DATABASE": database, "AULA__QUIZ__TICK_SECONDS": "0", "AULA__HOMEWORK__TICK_SECONDS": "0", **(environ or {})}
    env |= {
        f"AULA__QUIZ__{key.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in quiz.items()
    }
    return load_settings(environ=env, dotenv_path=None)


async def started_aula(settings: Settings, clock: FakeClock, messenger: RecordingMessenger | None) -> Aula:
    app = Aula(settings, clock=clock)
    if messenger is not None:
        app.messengers[PLACE.platform] = messenger
    await app.start()
    return app


def person(user_id: str, instructor: bool = False, locale: str = "es") -> User:
    return User(id=user_id, name=f"Nombre {user_id}", is_instructor=instructor, locale=locale)


def quiz_command(subcommand: str, user: User | None = None, **args: object) -> Request:
    return Request(
        command="quiz",
        subcommand=subcommand,
        args=args,
        user=user or person("profe", instructor=True),
        place=PLACE,
    )


def click(user_id: str, action: str, locale: str = "es") -> Request:
    return Request(command="quiz", action=action, user=person(user_id, locale=locale), place=PLACE)


async def one_reply(app: Aula, request: Request) -> Reply:
    replies = [reply async for reply in app.handle(request)]
    assert len(replies) == 1, replies
    return replies[0]


def hold_every_start_slot(aula: Aula, until: list[asyncio.Event]) -> list[asyncio.Future]:
    """Take the adapters' start slots, as a class's burst ahead of a request would: slot i is
    given back once until[i] is set. Await the returned futures to finish."""
    slots = start_slots(aula.services)

    async def earlier_request(event: asyncio.Event):
        await event.wait()
        yield Reply.private(Paragraph.of("antes"))

    return [asyncio.ensure_future(anext(slots.first_of(earlier_request(event)))) for event in until]
