"""PostgreSQL restarted mid-quiz, on a throwaway server of this test's own (tests/pg_support.py's
OwnServer: its own data folder and port, stopped and started here): while it is down every
command answers "couldn't save" in the user's language and confirms nothing; every answer
confirmed before is still there after; the pool reconnects by itself (the same Aula, no restart).
Skipped without PostgreSQL's binaries, failed instead under CI."""

from __future__ import annotations

import pytest

from bot.i18n import t
from bot.replies import Table, plain_text
from bot.storage.database import StorageUnavailable
from tests.conftest import make_request
from tests.pg_support import OwnServer
from tests.quiz_support import (
    FakeClock,
    RecordingMessenger,
    click,
    one_reply,
    quiz_command,
    quiz_settings,
    started_aula,
)

UNSAVED = {lang: t(lang, "error.database") for lang in ("es", "en")}  # the "couldn't save" message


@pytest.fixture
def server():
    own = OwnServer()
    try:
        own.start()
        yield own
    finally:
        own.remove()


def answer(session: int, letter: str) -> str:
    return f"quiz:answer:{session}:0:{letter}"


@pytest.mark.parametrize("stop", ["fast", "immediate"])
async def test_a_postgresql_restart_mid_quiz_refuses_clearly_loses_nothing_and_reconnects(server, stop):
    """stop: "fast" ends every session (admin shutdown) and exits; "immediate" quits at once, as a
    crash would (recovery from the write-ahead log at the next start)."""
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started_aula(quiz_settings(server.url, {"AULA__DATABASE_POOL_SIZE": "4"}), clock, messenger)
    try:
        started = await one_reply(app, quiz_command("start", banco="seccion-2"))
        assert not started.error, plain_text(started)
        session = int((await app.db.fetchone("SELECT id FROM quiz_sessions"))["id"])
        for user, letter in (("ana", "B"), ("beto", "A")):
            confirmed = await one_reply(app, click(user, answer(session, letter)))
            assert "Respuesta registrada: " + letter in plain_text(confirmed)

        server.stop(stop)
        for user, lang in (("carl", "es"), ("dana", "en"), ("ana", "es")):
            refused = await one_reply(app, click(user, answer(session, "C"), locale=lang))
            text = plain_text(refused)
            assert refused.error and refused.is_private and UNSAVED[lang] in text, text
            assert "registrada" not in text and "recorded" not in text
        results = await one_reply(app, quiz_command("results"))
        assert results.error and UNSAVED["es"] in plain_text(results)
        help_reply = await one_reply(app, make_request("help", user_id="dana"))  # saves nothing: answers
        assert not help_reply.error and "/quiz" in plain_text(help_reply)
        clock.advance(5)
        with pytest.raises(StorageUnavailable):  # the timer's tick: nothing half-done, tried again later
            await app.services.quiz.tick()

        server.start()  # same data, same port: the pool's connections are new ones
        help_reply = await one_reply(app, make_request("help", user_id="carl"))
        assert not help_reply.error
        again = await one_reply(app, click("carl", answer(session, "C")))
        assert "Respuesta registrada: C" in plain_text(again), plain_text(again)
        kept = await one_reply(app, click("ana", answer(session, "C")))  # never: the first stays
        assert "registrada" not in plain_text(kept) and not kept.error
        rows = await app.db.fetchall("SELECT user_id, choice FROM quiz_answers ORDER BY user_id")
        assert [(r["user_id"], r["choice"]) for r in rows] == [("ana", 1), ("beto", 0), ("carl", 2)]

        clock.advance(app.settings.quiz.seconds_per_question)  # the question's time is up: its timer closes it
        await app.services.quiz.tick()
        question = await app.services.quiz.repo.question(session, 0)
        assert not question.is_open
        posts = len(messenger.sent)
        await app.services.quiz.tick()
        assert len(messenger.sent) == posts  # results posted once
        [question_id] = [mid for _, mid, reply in messenger.sent if plain_text(reply).startswith("Pregunta 1 de")]
        closed = messenger.messages[question_id]  # the question's post as its timer left it
        assert all(button.disabled for button in closed.buttons)
        [table] = [p for p in closed.parts if isinstance(p, Table)]
        assert [row[1] for row in table.rows[:4]] == ["1", "1", "1", "0"]  # A beto, B ana, C carl, D nobody
    finally:
        await app.close()
