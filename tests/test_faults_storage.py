"""Storage faults: the database locked by another process, the disk full, a COMMIT that fails.

Whatever happens, a student is told "saved" only for what is in the file, is told clearly
(in their language) when nothing was saved, and nothing saved earlier goes missing.
The bot's busy timeout is shortened on its own connection so a lock is waited out in a
fraction of a second instead of the production five.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from bot.i18n import t
from bot.replies import plain_text
from bot.storage import Database
from tests.conftest import make_request, replies_of
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.quiz_support import (
    START,
    FakeClock,
    RecordingMessenger,
    click,
    one_reply,
    quiz_command,
    quiz_settings,
    started_aula,
)

UNSAVED = {lang: t(lang, "error.database") for lang in ("es", "en")}  # the "couldn't save" message
BUSY_TIMEOUT_MS = 150


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "aula.sqlite3")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(db_path, clock):
    aula = await started_aula(quiz_settings(db_path), clock, RecordingMessenger())
    await aula.db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    yield aula
    await aula.close()


async def start_quiz(app) -> int:
    """The built-in bank, first question open (its right answer is B)."""
    reply = await one_reply(app, quiz_command("start", banco="seccion-2"))
    assert not reply.error, plain_text(reply)
    [row] = await app.db.fetchall("SELECT id FROM quiz_sessions")
    return int(row["id"])


def answer(session: int, letter: str, position: int = 0) -> str:
    return f"quiz:answer:{session}:{position}:{letter}"


async def saved_answers(path: str) -> dict[str, int]:
    """What another process would read from the file right now."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT user_id, choice FROM quiz_answers").fetchall())


@pytest.fixture
def lock_holder(db_path):
    """A second process's connection holding the write lock until released."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def test_a_click_while_another_process_holds_the_lock_is_refused_clearly(app, db_path, lock_holder):
    session = await start_quiz(app)
    confirmed = await one_reply(app, click("ana", answer(session, "B")))
    assert "Respuesta registrada" in plain_text(confirmed)

    lock_holder.execute("BEGIN EXCLUSIVE")
    for user, lang in (("beto", "es"), ("carl", "en")):
        refused = await one_reply(app, click(user, answer(session, "A"), locale=lang))
        text = plain_text(refused)
        assert refused.error and refused.is_private
        assert UNSAVED[lang] in text
        assert "registrada" not in text and "recorded" not in text
    # Reading needs no write lock (WAL): commands that save nothing still answer.
    help_reply = await one_reply(app, make_request("help", user_id="beto"))
    assert not help_reply.error and "/quiz" in plain_text(help_reply)
    lock_holder.execute("ROLLBACK")

    assert await saved_answers(db_path) == {"ana": 1}
    again = await one_reply(app, click("beto", answer(session, "A")))
    assert "Respuesta registrada: A" in plain_text(again)
    assert await saved_answers(db_path) == {"ana": 1, "beto": 0}


async def test_an_instructor_command_during_the_lock_saves_nothing_and_says_so(app, db_path, lock_holder):
    lock_holder.execute("BEGIN EXCLUSIVE")
    refused = await one_reply(app, quiz_command("start", banco="seccion-2"))
    assert refused.error and UNSAVED["es"] in plain_text(refused)
    lock_holder.execute("ROLLBACK")
    await start_quiz(app)  # nothing half-made stands in the way


async def fill_the_disk(app) -> None:
    """Cap the file at its current size, then use up the free room inside it, as a full disk would."""
    [pages] = await app.db.fetchone("PRAGMA page_count")
    await app.db.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for _ in range(10_000):
            await app.db.execute("INSERT INTO command_log (at, platform, user_id, command, latency_ms, outcome) "
                                 "VALUES (0, 'filler', 'filler', ?, 0, 'ok')", ("x" * 500,))  # fmt: skip


async def free_the_disk(app) -> None:
    await app.db.conn.execute("PRAGMA max_page_count = 1073741823")
    await app.db.execute("DELETE FROM command_log WHERE platform = 'filler'")


async def test_disk_full_refuses_clicks_clearly_and_keeps_every_confirmed_answer(app, db_path, clock):
    session = await start_quiz(app)
    await one_reply(app, click("ana", answer(session, "B")))
    await fill_the_disk(app)

    # Rows still fit in the room left in the pages the quiz tables have; every click is either
    # saved and confirmed, or refused and said so, until the pages are full too.
    confirmed, refused = {"ana"}, []
    for number in range(400):
        user, lang = f"student{number}", ("es", "en")[number % 2]
        reply = await one_reply(app, click(user, answer(session, "C"), locale=lang))
        if reply.error:
            assert UNSAVED[lang] in plain_text(reply)
            refused.append(user)
            if len(refused) == 5:
                break
        else:
            assert "registrada" in plain_text(reply) or "recorded" in plain_text(reply)
            confirmed.add(user)
    assert len(refused) == 5, "the full disk never refused a write"
    assert set(await saved_answers(db_path)) == confirmed

    await free_the_disk(app)
    late = await one_reply(app, click(refused[0], answer(session, "C")))
    assert "Respuesta registrada" in plain_text(late)  # room again: the same click now counts
    confirmed.add(refused[0])
    clock.advance(31)
    await app.services.quiz.tick()
    scored = await app.db.fetchall("SELECT user_id, correct FROM quiz_answers")
    assert {row["user_id"] for row in scored} == confirmed
    assert {row["user_id"]: row["correct"] for row in scored}["ana"] == 1
    assert all(row["correct"] is not None for row in scored)


async def test_a_timer_due_during_the_lock_closes_once_it_is_released(app, db_path, clock, lock_holder):
    session = await start_quiz(app)
    await one_reply(app, click("ana", answer(session, "B")))
    engine = app.services.quiz
    lock_holder.execute("BEGIN EXCLUSIVE")
    clock.advance(31)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await engine.tick()  # the background loop logs this and tries again next tick
    assert not app.db.conn.in_transaction
    with sqlite3.connect(db_path) as reader:
        assert reader.execute("SELECT closed_at FROM quiz_questions").fetchall() == [(None,)]
    lock_holder.execute("ROLLBACK")

    await engine.tick()
    [row] = await app.db.fetchall("SELECT correct, points FROM quiz_answers WHERE user_id = 'ana'")
    assert row["correct"] == 1 and row["points"] > 0
    [question] = await app.db.fetchall("SELECT closed_at, announced_at FROM quiz_questions")
    assert question["closed_at"] == START + 30 and question["announced_at"] is not None


async def test_a_failed_commit_leaves_no_transaction_open_behind_it(tmp_path):
    """If COMMIT itself fails, SQLite keeps the transaction open; a later autocommit write
    would then silently join it, be confirmed, and vanish with the connection."""
    path = tmp_path / "commit.sqlite3"
    db = await Database(path).open()
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT
                await conn.execute(
                    "INSERT INTO quiz_answers (session_id, position, user_id, choice, answered_at) "
                    "VALUES (999, 0, 'nobody', 0, ?)",
                    (START,),
                )
        assert not db.conn.in_transaction
        await db.execute(
            "INSERT INTO users (platform, user_id, display_name, locale, first_seen, last_seen) "
            "VALUES ('console', 'ana', 'Ana', 'es', 0, 0)"
        )
        with sqlite3.connect(path) as other:  # another process sees it at once: it was committed
            assert other.execute("SELECT user_id FROM users").fetchall() == [("ana",)]
            assert other.execute("SELECT COUNT(*) FROM quiz_answers").fetchone() == (0,)
        async with db.transaction() as conn:  # and the next transaction starts normally
            await conn.execute("DELETE FROM users")
    finally:
        await db.close()


async def test_a_homework_submission_during_the_lock_is_refused_and_kept_after(app, db_path, lock_holder):
    assigned = await one_reply(app, quiz_command("assign", banco="seccion-2", vence="en 2 horas"))
    assert not assigned.error, plain_text(assigned)
    [row] = await app.db.fetchall("SELECT id FROM homework_assignments")
    form = (await one_reply(app, click("ana", f"quiz:hw-open:{row['id']}"))).form
    assert form is not None

    def submit(user: str, text: str, lang: str = "es"):
        request = click(user, form.id, locale=lang)
        return one_reply(app, replace(request, values={"p0": text}))

    assert "✅ Guardé" in plain_text(await submit("ana", "Primera entrega"))
    lock_holder.execute("BEGIN EXCLUSIVE")
    for user, lang in (("ana", "es"), ("beto", "en")):
        refused = await submit(user, "Durante el bloqueo", lang)
        assert refused.error and UNSAVED[lang] in plain_text(refused)
        assert "Guardé" not in plain_text(refused) and "Saved" not in plain_text(refused)
    lock_holder.execute("ROLLBACK")

    with sqlite3.connect(db_path) as reader:
        assert reader.execute("SELECT user_id, text FROM homework_answers").fetchall() == [
            ("ana", "Primera entrega")
        ]
    assert "✅ Guardé" in plain_text(await submit("beto", "Después del bloqueo"))


def compare(user: str, lang: str = "es", **kw):
    return make_request("compare", locale=lang, user_id=user, **kw)


async def test_a_comparison_that_cannot_be_stored_says_so_and_votes_wait_for_the_lock(db_path, lock_holder):
    async with FakeLlmServer() as server:
        environ = {
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__STREAM_UPDATE_S": "0",
        }
        app = await started_aula(quiz_settings(db_path, environ), FakeClock(), None)
        await app.db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            blind = {"prompt": "Hola", "ciego": True}
            stored_run = (await replies_of(app, compare("u1", args=blind)))[-1]
            assert stored_run.buttons and UNSAVED["es"] not in plain_text(stored_run)
            [(run_id,)] = await app.db.fetchall("SELECT id FROM compare_runs")

            lock_holder.execute("BEGIN EXCLUSIVE")
            for user, lang in (("u2", "es"), ("u3", "en")):
                final = (await replies_of(app, compare(user, lang, args={"prompt": "Otra", "ciego": True})))[
                    -1
                ]
                text = plain_text(final)
                assert "¡Claro! Sobre «Otra»" in text  # the class still sees both answers...
                assert UNSAVED[lang] in text and final.buttons == ()  # ...and is told it was not stored
                vote = await one_reply(app, compare(user, lang, action=f"compare:vote:{run_id}:A"))
                assert vote.error and UNSAVED[lang] in plain_text(vote)
            lock_holder.execute("ROLLBACK")

            outputs = await app.db.fetchall("SELECT role FROM compare_outputs WHERE run_id = ?", (run_id,))
            assert sorted(row["role"] for row in outputs) == ["base", "instruct"]
            assert [tuple(row) for row in await app.db.fetchall("SELECT id FROM compare_runs")] == [(run_id,)]
            vote = await one_reply(app, compare("u2", action=f"compare:vote:{run_id}:A"))
            # The votes refused during the lock never counted: this one is the first.
            needed = app.settings.llm.blind_reveal_votes
            assert plain_text(vote) == t("es", "compare.voted", slot="A", count=1, needed=needed)
        finally:
            await app.close()
