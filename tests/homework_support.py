"""Helpers for the homework tests: a messenger with threads, settings, requests and answers."""

from __future__ import annotations

from bot.app import Aula
from bot.replies import Form, Reply, plain_text
from bot.requests import Place, Request, User
from tests.quiz_support import PLACE, FakeClock, RecordingMessenger, person, quiz_settings

QUESTIONS = 4  # the course's four reflection questions in config/quizzes/seccion-2.yaml
DAY = 86400


class ThreadingMessenger(RecordingMessenger):
    """Threads are places with their own id, as on Discord and Slack."""

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        return Place(place.platform, place.workspace_id, place.channel_id, thread_id=f"thread-{message_id}")

    def in_threads(self) -> list[tuple[str, str]]:
        return [(p.thread_id, plain_text(r)) for p, _, r in self.sent if p.thread_id]

    def direct(self) -> list[tuple[str, Reply]]:
        return [(m[3:], r) for _, m, r in self.sent if m.startswith("dm:")]


def homework_settings(tmp_path, environ: dict[str, str] | None = None, **homework):
    """Settings on a file in tmp_path (or on tmp_path itself when it is a str: a `database` setting,
    e.g. conftest's database_url); timers ticked by the tests; `homework` overrides [homework] keys."""
    env = {"AULA__HOMEWORK__TICK_SECONDS": "0", **(environ or {})} | {
        f"AULA__HOMEWORK__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in homework.items()
    }
    database = tmp_path if isinstance(tmp_path, str) else str(tmp_path / "aula.sqlite3")
    return quiz_settings(database, environ=env)


async def started_app(tmp_path, clock: FakeClock, messenger: ThreadingMessenger, **homework) -> Aula:
    aula = Aula(homework_settings(tmp_path, **homework), clock=clock)
    aula.messengers["console"] = messenger
    await aula.start()
    return aula


TEACHER = person("profe", instructor=True)


def quiz(subcommand: str, user: User = TEACHER, place: Place = PLACE, **args) -> Request:
    return Request(command="quiz", subcommand=subcommand, args=args, user=user, place=place)


def submit(user: User, form_id: str, place: Place = PLACE, **values: str) -> Request:
    return Request(command="quiz", action=form_id, values=values, user=user, place=place)


async def ask(app: Aula, request: Request) -> Reply:
    replies = [reply async for reply in app.handle(request)]
    assert len(replies) == 1, replies
    return replies[0]


async def assign(app: Aula, **args) -> Reply:
    reply = await ask(app, quiz("assign", **({"banco": "seccion-2", "vence": "en 3 días"} | args)))
    assert not reply.error, plain_text(reply)
    return reply


async def form_for(app: Aula, user: User, **args) -> Form:
    reply = await ask(app, quiz("answer", user, **args))
    assert reply.form is not None, plain_text(reply)
    return reply.form


async def stored(app: Aula) -> list[tuple]:
    rows = await app.db.fetchall(
        "SELECT user_id, position, revision, text, late FROM homework_answers ORDER BY user_id, position, revision"
    )
    return [tuple(r) for r in rows]
