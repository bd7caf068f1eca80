"""The live quiz through the core: permissions, clicks, timers, scoring, restarts, exports."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
from dataclasses import replace

import pytest

from bot.app import Aula
from bot.i18n import t
from bot.quiz.banks import MAX_TIME, MIN_TIME
from bot.quiz.display import competition_ranks
from bot.quiz.engine import speed_points
from bot.replies import Attachment, Image, Table, plain_text
from bot.requests import Request
from bot.uploads import Upload
from tests.export_support import xlsx_rows
from tests.quiz_support import (
    PLACE,
    FakeClock,
    RecordingMessenger,
    click,
    one_reply,
    person,
    quiz_command,
    quiz_settings,
    started_aula,
)

BANK = """
title: {es: "Prueba", en: "Test"}
time: 20
questions:
  - question: {es: "¿Uno?", en: "One?"}
    options: [uno, dos, tres, cuatro]
    answer: A
  - question: {es: "¿Dos?", en: "Two?"}
    options: [uno, dos]
    answer: B
  - type: open
    question: "Explica algo (para tareas)"
  - question: "¿Tres?"
    options: [a, b, c]
    answer: C
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def messenger() -> RecordingMessenger:
    return RecordingMessenger()


@pytest.fixture
def db_path(database_url) -> str:
    """Every test here runs on SQLite and on PostgreSQL (conftest.database_url)."""
    return database_url


@pytest.fixture
async def app(db_path, clock, messenger):
    aula = await started_aula(quiz_settings(db_path), clock, messenger)
    await import_test_bank(aula)
    yield aula
    await aula.close()


async def import_test_bank(aula: Aula, text: str = BANK, filename: str = "prueba.yaml"):
    request = Request(
        command="quiz",
        subcommand="import",
        user=person("profe", instructor=True),
        place=PLACE,
        attachments=(Upload.of_bytes(filename, text.encode()),),
    )
    return await one_reply(aula, request)


async def start(aula: Aula, bank: str = "prueba", **args):
    return await one_reply(aula, quiz_command("start", banco=bank, **args))


def engine(aula: Aula):
    return aula.services.quiz


async def answers_in_db(aula: Aula) -> list[tuple]:
    rows = await aula.db.fetchall(
        "SELECT position, user_id, choice FROM quiz_answers ORDER BY position, user_id"
    )
    return [tuple(r) for r in rows]


def question_message(messenger: RecordingMessenger, number: int = 1):
    """The id and latest version of the channel message showing question `number`."""
    for _, message_id, reply in messenger.sent:
        if plain_text(reply).startswith(f"Pregunta {number} de"):
            return message_id, messenger.messages[message_id]
    raise AssertionError(f"question {number} was never posted: {messenger.texts()}")


# --- starting, and who may -------------------------------------------------------------


async def test_instructor_starts_a_quiz_and_the_question_is_posted_with_buttons(app, messenger):
    reply = await start(app)
    assert reply.is_private and not reply.error
    assert "3 preguntas" in plain_text(reply)  # the open question is skipped
    message_id, question = question_message(messenger)
    assert not question.is_private
    assert "¿Uno?" in plain_text(question) and "0 ya respondieron" in plain_text(question)
    assert [b.id for b in question.buttons] == [f"quiz:answer:1:0:{letter}" for letter in "ABCD"]
    assert not any(b.disabled for b in question.buttons)


@pytest.mark.parametrize("subcommand", ["start", "next", "stop", "results", "export", "import"])
async def test_a_student_cannot_run_any_instructor_subcommand(app, messenger, subcommand):
    request = quiz_command(subcommand, user=person("alumna"), banco="prueba")
    reply = await one_reply(app, request)
    assert reply.error and reply.is_private
    assert t("es", "error.instructor_only") in plain_text(reply)
    assert messenger.sent == []
    assert await app.db.fetchall("SELECT * FROM quiz_sessions") == []


async def test_one_running_quiz_per_channel(app):
    await start(app)
    again = await start(app)
    assert again.error and t("es", "quiz.already_running") in plain_text(again)


async def test_unknown_bank_lists_the_available_ones(app):
    reply = await start(app, bank="nada")
    assert reply.error
    assert "nada" in plain_text(reply) and "prueba" in plain_text(reply) and "seccion-2" in plain_text(reply)


async def test_time_option_is_checked_and_applied(app, messenger, clock):
    bad = await start(app, tiempo=2)
    assert bad.error and t("es", "quiz.bad_time", value=2, low=MIN_TIME, high=MAX_TIME) in plain_text(bad)
    await start(app, tiempo=45)
    state = await engine(app).repo.question(1, 0)
    assert state.closes_at - state.opened_at == 45


async def test_bank_names_autocomplete(app):
    request = quiz_command("start")
    assert await app.complete(request, "banco", "pru") == ["prueba"]
    assert "seccion-2" in await app.complete(request, "banco", "")


async def test_the_built_in_section_2_bank_starts(app, messenger):
    reply = await start(app, bank="seccion-2")
    assert not reply.error
    assert "Pregunta 1 de 17" in messenger.texts()[0]


# --- clicks ------------------------------------------------------------------------------


async def test_thirty_students_clicking_at_once_are_all_recorded(app, messenger):
    await start(app)
    clicks = [click(f"s{i:02}", f"quiz:answer:1:0:{'ABCD'[i % 4]}") for i in range(30)]
    replies = await asyncio.gather(*(one_reply(app, c) for c in clicks))
    assert all(r.is_private and not r.error and "Respuesta registrada" in plain_text(r) for r in replies)
    rows = await answers_in_db(app)
    assert len(rows) == 30 and len({user for _, user, _ in rows}) == 30
    assert sorted(choice for _, _, choice in rows).count(0) == 8  # s00, s04, ... s28


async def test_a_double_click_records_one_answer(app):
    await start(app)
    first, second = await asyncio.gather(
        one_reply(app, click("s1", "quiz:answer:1:0:B")), one_reply(app, click("s1", "quiz:answer:1:0:B"))
    )
    assert await answers_in_db(app) == [(0, "s1", 1)]
    texts = [plain_text(first), plain_text(second)]
    assert sum("Respuesta registrada: B" in text for text in texts) == 1
    assert sum("Ya tenías registrada B" in text for text in texts) == 1


def count_statements(monkeypatch, db) -> dict[str, int]:
    """How many times each kind of statement went to the database (a call, whatever its rows):
    to SQLite's thread, or (PostgreSQL) through the layer that numbers its placeholders."""
    counts: dict[str, int] = {}

    def count(sql: str) -> None:
        words = sql.split()
        name = " ".join(words[:3]) if words[0].upper() == "INSERT" else words[0]
        counts[name] = counts.get(name, 0) + 1

    if db.dialect == "postgresql":
        import bot.storage.postgres as postgres

        original_sql = postgres.to_postgres

        def counted_sql(sql, types=()):
            count(sql)
            return original_sql(sql, types)

        monkeypatch.setattr(postgres, "to_postgres", counted_sql)
        return counts
    conn = db.conn
    for method in ("execute", "execute_fetchall", "executemany"):
        original = getattr(conn, method)

        def counted(sql, *args, _original=original, **kwargs):
            count(sql)
            return _original(sql, *args, **kwargs)

        monkeypatch.setattr(conn, method, counted)
    return counts


async def test_a_click_storm_goes_to_sqlite_in_batches(app, monkeypatch):
    """Group commit: 60 students clicking at once cost a few round trips to SQLite, not 60 per kind
    of write; every click is still confirmed and stored, each student's own choice."""
    await start(app)
    counts = count_statements(monkeypatch, app.db)
    clicks = [click(f"s{i:02}", f"quiz:answer:1:0:{'ABCD'[i % 4]}") for i in range(60)]
    replies = await asyncio.gather(*(one_reply(app, c) for c in clicks))
    assert all("Respuesta registrada: " + "ABCD"[i % 4] in plain_text(r) for i, r in enumerate(replies))
    assert sorted(await answers_in_db(app)) == sorted((0, f"s{i:02}", i % 4) for i in range(60))
    for write in ("INSERT INTO quiz_answers", "INSERT INTO users", "INSERT INTO command_log", "INSERT INTO quiz_players"):
        assert 1 <= counts.get(write, 0) <= 3, (write, counts)


async def test_a_student_changing_their_mind_in_a_storm_ends_with_the_last_click(db_path, clock, messenger):
    """Two clicks of one student in the same instant never share a statement: the second waits for
    the next batch, so the stored answer and both confirmations follow the clicks' order."""
    aula = await started_aula(quiz_settings(db_path, change_rule="free"), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        clicks = [click(f"s{i:02}", "quiz:answer:1:0:A") for i in range(20)] + [click("s03", "quiz:answer:1:0:C")]
        replies = await asyncio.gather(*(one_reply(aula, c) for c in clicks))
        assert "Respuesta registrada: A" in plain_text(replies[3])
        assert "Cambiaste tu respuesta a C" in plain_text(replies[-1])
        stored = dict((user, choice) for _, user, choice in await answers_in_db(aula))
        assert stored["s03"] == 2 and len(stored) == 20
    finally:
        await aula.close()


async def test_full_answer_batches_queue_in_order(app, monkeypatch):
    """More clicks than one statement takes: batches of ANSWER_BATCH go one after another, each
    click confirmed with its own choice, a student's change after their first answer."""
    import bot.quiz.store as quiz_store

    monkeypatch.setattr(quiz_store, "ANSWER_BATCH", 4)
    await start(app)
    counts = count_statements(monkeypatch, app.db)
    clicks = [click(f"s{i:02}", f"quiz:answer:1:0:{'ABCD'[i % 4]}") for i in range(30)]
    replies = await asyncio.gather(*(one_reply(app, c) for c in clicks))
    assert all("Respuesta registrada: " + "ABCD"[i % 4] in plain_text(r) for i, r in enumerate(replies))
    assert sorted(await answers_in_db(app)) == sorted((0, f"s{i:02}", i % 4) for i in range(30))
    assert counts["INSERT INTO quiz_answers"] >= 30 // 4  # no statement took more than 4


async def test_a_batch_that_fails_confirms_none_of_its_clicks(app, monkeypatch):
    """An answer is confirmed only once stored: when SQLite refuses the batch, every click in it
    gets the error, and the next clicks are written again."""
    import sqlite3

    await start(app)
    original = app.db.execute_returning

    async def broken(sql, params=()):
        if "INSERT INTO quiz_answers" in sql:
            raise sqlite3.OperationalError("no such table: quiz_answers")
        return await original(sql, params)

    monkeypatch.setattr(app.db, "execute_returning", broken)
    failed = await asyncio.gather(*(one_reply(app, click(f"s{i}", "quiz:answer:1:0:B")) for i in range(10)))
    assert all(r.error and "registrada" not in plain_text(r) for r in failed)
    assert await answers_in_db(app) == []
    monkeypatch.setattr(app.db, "execute_returning", original)
    again = await asyncio.gather(*(one_reply(app, click(f"s{i}", "quiz:answer:1:0:B")) for i in range(10)))
    assert all("Respuesta registrada: B" in plain_text(r) for r in again)
    assert len(await answers_in_db(app)) == 10


async def test_unique_constraint_rejects_a_second_row_even_bypassing_the_engine(app):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    with pytest.raises(sqlite3.IntegrityError, match="(?i)unique"):  # PostgreSQL's is a subclass
        await app.db.execute(
            "INSERT INTO quiz_answers (session_id, position, user_id, choice, answered_at) VALUES (1, 0, 's1', 2, 0)"
        )


async def test_change_rule_never_keeps_the_first_answer(app):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    refused = await one_reply(app, click("s1", "quiz:answer:1:0:C"))
    assert "no se puede cambiar" in plain_text(refused)
    assert await answers_in_db(app) == [(0, "s1", 0)]


async def test_change_rule_once_allows_exactly_one_change(db_path, clock, messenger):
    aula = await started_aula(quiz_settings(db_path, change_rule="once"), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        await one_reply(aula, click("s1", "quiz:answer:1:0:A"))
        changed = await one_reply(aula, click("s1", "quiz:answer:1:0:C"))
        assert "Cambiaste tu respuesta a C" in plain_text(changed)
        refused = await one_reply(aula, click("s1", "quiz:answer:1:0:D"))
        assert "Ya usaste tu cambio" in plain_text(refused)
        assert await answers_in_db(aula) == [(0, "s1", 2)]
    finally:
        await aula.close()


async def test_change_rule_free_allows_changes_until_the_close(db_path, clock, messenger):
    aula = await started_aula(quiz_settings(db_path, change_rule="free"), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        for letter in "ABCDA":
            await one_reply(aula, click("s1", f"quiz:answer:1:0:{letter}"))
        clock.advance(21)
        late = await one_reply(aula, click("s1", "quiz:answer:1:0:B"))
        assert t("es", "quiz.too_late") in plain_text(late) and "A" in plain_text(late)
        assert await answers_in_db(aula) == [(0, "s1", 0)]
    finally:
        await aula.close()


async def test_a_click_after_the_closing_time_is_refused_even_before_the_timer_ran(app, clock):
    await start(app)
    clock.advance(20)  # closes_at is not after now: closed
    reply = await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    assert t("es", "quiz.too_late") in plain_text(reply)
    assert await answers_in_db(app) == []


async def test_forged_buttons_are_refused(app):
    await start(app)
    for action in (
        "quiz:answer:1:0:E",
        "quiz:answer:1:9:A",
        "quiz:answer:99:0:A",
        "quiz:answer:x",
        "quiz:bogus",
    ):
        reply = await one_reply(app, click("s1", action))
        assert reply.error and t("es", "quiz.unknown_button") in plain_text(reply), action
    # Question 2 has two options: C does not exist there, even though question 1 has it.
    await one_reply(app, quiz_command("next"))
    reply = await one_reply(app, click("s1", "quiz:answer:1:1:C"))
    assert reply.error
    assert await answers_in_db(app) == []


# --- while open, and at the close ----------------------------------------------------------


async def test_the_channel_sees_how_many_answered_not_what(app, clock, messenger):
    await start(app)
    for user, letter in (("s1", "A"), ("s2", "B"), ("s3", "B")):
        await one_reply(app, click(user, f"quiz:answer:1:0:{letter}"))
    clock.advance(app.settings.quiz.refresh_seconds)
    await engine(app).tick()
    message_id, latest = question_message(messenger)
    text = plain_text(latest)
    assert "3 ya respondieron" in text and "Cierra en 15 s" in text
    assert not any(isinstance(p, Table) for p in latest.parts)
    assert not any(b.disabled for b in latest.buttons)


async def test_one_answer_so_far_is_said_in_the_singular(app, clock, messenger):
    """'1 ya respondieron' on every countdown refresh after the first answer."""
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    clock.advance(app.settings.quiz.refresh_seconds)
    await engine(app).tick()
    _, latest = question_message(messenger)
    assert t("es", "quiz.status_open", count=1, seconds=15) in plain_text(latest)
    assert "1 ya respondió" in t("es", "quiz.status_open", count=1, seconds=15)


async def test_the_timer_closes_the_question_disables_buttons_and_shows_the_distribution(
    app, clock, messenger
):
    await start(app)
    for user, letter in (("s1", "A"), ("s2", "A"), ("s3", "A"), ("s4", "B")):
        await one_reply(app, click(user, f"quiz:answer:1:0:{letter}"))
    clock.advance(19.9)
    await engine(app).tick()
    assert (await engine(app).repo.question(1, 0)).is_open
    clock.advance(0.2)
    await engine(app).tick()

    _, closed = question_message(messenger)
    assert all(b.disabled for b in closed.buttons)
    [table] = [p for p in closed.parts if isinstance(p, Table)]
    assert table.rows[0][1:] == ("3", "75\xa0%", "✅")
    assert table.rows[1][1:] == ("1", "25\xa0%", "")
    assert table.rows[2][1:] == ("0", "0\xa0%", "")
    results = messenger.sent[-1][2]
    [image] = [p for p in results.parts if isinstance(p, Image)]
    assert image.png.startswith(b"\x89PNG\r\n\x1a\n") and len(image.png) > 2000
    assert "Clasificación" in plain_text(results)
    # A click on the disabled button (a stale client) is still refused by the core.
    late = await one_reply(app, click("s5", "quiz:answer:1:0:A"))
    assert t("es", "quiz.too_late") in plain_text(late)


async def test_results_are_posted_once_even_if_tick_runs_again(app, clock, messenger):
    await start(app)
    clock.advance(21)
    await engine(app).tick()
    posts = len(messenger.sent)
    await engine(app).tick()
    await engine(app).tick()
    assert len(messenger.sent) == posts


async def test_next_closes_early_posts_results_then_the_next_question_and_finishes(app, clock, messenger):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    reply = await one_reply(app, quiz_command("next"))
    assert t("es", "quiz.posted", number=2, total=3) in plain_text(reply)
    texts = messenger.texts()
    assert texts[-2].startswith("[Gráfico") and texts[-1].startswith("Pregunta 2 de 3")
    await one_reply(app, quiz_command("next"))
    done = await one_reply(app, quiz_command("next"))
    assert "terminó" in plain_text(done)
    assert "Resultados finales" in messenger.texts()[-1]
    # The quiz is over: a new one may start in the channel.
    assert not (await start(app)).error


async def test_stop_posts_the_final_leaderboard(app, messenger):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    await one_reply(app, quiz_command("stop"))
    final = messenger.sent[-1][2]
    assert "Resultados finales" in plain_text(final) and "Nombre s1" in plain_text(final)
    nothing = await one_reply(app, quiz_command("next"))
    assert nothing.error and t("es", "quiz.none_running") in plain_text(nothing)


# --- scoring and leaderboards --------------------------------------------------------------


def test_speed_points_follow_kahoots_formula():
    assert speed_points(0, 20, 1000) == 1000
    assert speed_points(10, 20, 1000) == 750
    assert speed_points(20, 20, 1000) == 500
    assert speed_points(5, 20, 1000) == round((1 - (5 / 20) / 2) * 1000) == 875
    assert speed_points(30, 20, 1000) == 500  # a late-recorded answer never goes below half


async def test_points_for_right_answers_with_the_speed_bonus(app, clock):
    await start(app)
    await one_reply(app, click("fast", "quiz:answer:1:0:A"))
    clock.advance(10)
    await one_reply(app, click("slow", "quiz:answer:1:0:A"))
    await one_reply(app, click("wrong", "quiz:answer:1:0:B"))
    clock.advance(11)
    await engine(app).tick()
    standings = {user: points for user, _, points, _, _ in await engine(app).repo.standings(1)}
    assert standings == {"fast": 1000, "slow": 750, "wrong": 0}


async def test_an_answer_counts_from_its_arrival_not_from_when_a_busy_bot_got_to_it(app, clock):
    """A class's burst queues clicks; the wait must not eat the speed bonus."""
    await start(app)
    arrived = clock.now
    clock.advance(10)  # ten seconds in the queue
    await one_reply(app, replace(click("queued", "quiz:answer:1:0:A"), received_at=arrived))
    await one_reply(app, click("late", "quiz:answer:1:0:A"))
    clock.advance(11)
    await engine(app).tick()
    standings = {user: points for user, _, points, _, _ in await engine(app).repo.standings(1)}
    assert standings == {"queued": 1000, "late": 750}


async def test_an_answer_that_arrived_in_time_counts_though_processed_after_the_timer(app, clock):
    await start(app)
    clock.advance(19.5)
    arrived = clock.now
    clock.advance(1)  # past closes_at (20 s), before the timer closed the question
    reply = await one_reply(app, replace(click("s1", "quiz:answer:1:0:A"), received_at=arrived))
    assert "ya cerró" not in plain_text(reply)
    assert await answers_in_db(app) == [(0, "s1", 0)]
    # Once the timer has closed it, the results are out: nothing more is recorded.
    await engine(app).tick()
    reply = await one_reply(app, replace(click("s2", "quiz:answer:1:0:A"), received_at=arrived))
    assert t("es", "quiz.too_late") in plain_text(reply)
    assert await answers_in_db(app) == [(0, "s1", 0)]


async def test_without_speed_bonus_and_with_streaks(db_path, clock, messenger):
    aula = await started_aula(quiz_settings(db_path, speed_bonus=False, streaks=True), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        clock.advance(15)
        await one_reply(aula, click("s1", "quiz:answer:1:0:A"))
        await one_reply(aula, quiz_command("next"))
        await one_reply(aula, click("s1", "quiz:answer:1:1:B"))
        await one_reply(aula, quiz_command("next"))
        await one_reply(aula, click("s1", "quiz:answer:1:2:C"))
        await one_reply(aula, quiz_command("stop"))
        rows = await aula.db.fetchall(
            "SELECT points FROM quiz_answers WHERE user_id = 's1' ORDER BY position"
        )
        assert [r["points"] for r in rows] == [1000, 1100, 1200]
    finally:
        await aula.close()


async def test_leaderboard_shows_the_top_ten_and_each_student_sees_their_own_rank_privately(
    app, clock, messenger
):
    await start(app)
    for i in range(12):  # later clicks earn fewer points
        await one_reply(app, click(f"s{i:02}", "quiz:answer:1:0:A"))
        clock.advance(1)
    clock.advance(20)
    await engine(app).tick()
    results = messenger.sent[-1][2]
    [board] = [p for p in results.parts if isinstance(p, Table)]
    assert len(board.rows) == 10
    assert board.rows[0][1] == "Nombre s00" and board.rows[-1][1] == "Nombre s09"
    assert "Nombre s11" not in plain_text(results)
    [button] = results.buttons
    mine = await one_reply(app, click("s11", button.id))
    assert mine.is_private and "puesto 12 de 12" in plain_text(mine)
    outsider = await one_reply(app, click("nobody", button.id))
    assert t("es", "quiz.not_playing") in plain_text(outsider)


async def test_anonymous_quiz_shows_nicknames_but_the_instructor_sees_names(app, clock, messenger):
    await start(app, anonimo=True)
    _, question = question_message(messenger)
    assert "el instructor ve quién respondió" in plain_text(question)
    confirmation = await one_reply(app, click("ana", "quiz:answer:1:0:A"))
    assert "apareces como «" in plain_text(confirmation)
    nick = plain_text(confirmation).split("«")[-1].split("»")[0]
    clock.advance(21)
    await engine(app).tick()
    board = plain_text(messenger.sent[-1][2])
    assert nick in board and "Nombre ana" not in board
    results = await one_reply(app, quiz_command("results"))
    assert results.is_private and f"Nombre ana ({nick})" in plain_text(results)


async def test_results_for_the_instructor(app, clock):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    await one_reply(app, click("s2", "quiz:answer:1:0:D"))
    await one_reply(app, quiz_command("next"))
    reply = await one_reply(app, quiz_command("results"))
    text = plain_text(reply)
    assert reply.is_private
    assert "2 de 3 preguntas jugadas · 2 participantes" in text
    assert "¿Uno? | A | 2 | 50\xa0% | cerrada" in text
    assert "¿Dos? | B | 0 | 0\xa0% | abierta" in text


# --- restarts ----------------------------------------------------------------------------


async def test_a_new_bot_on_the_same_database_keeps_recording_clicks(db_path, clock):
    first_messenger = RecordingMessenger()
    first = await started_aula(quiz_settings(db_path), clock, first_messenger)
    await import_test_bank(first)
    await start(first)
    for i in range(5):
        await one_reply(first, click(f"s{i}", "quiz:answer:1:0:A"))
    question_id, question = question_message(first_messenger)
    buttons = [b.id for b in question.buttons]
    await first.close()

    clock.advance(5)
    second_messenger = RecordingMessenger()
    second = await started_aula(quiz_settings(db_path), clock, second_messenger)
    try:
        # The same button ids, sent by the platform to the new bot.
        for i in range(5, 10):
            reply = await one_reply(second, click(f"s{i}", buttons[1]))
            assert "Respuesta registrada: B" in plain_text(reply)
        again = await one_reply(second, click("s0", buttons[2]))
        assert "Ya respondiste A" in plain_text(again)
        assert len(await answers_in_db(second)) == 10
        clock.advance(20)
        await engine(second).tick()
        # The new bot edits the message the first one posted.
        edited_id, closed = second_messenger.edits[-1][1], second_messenger.edits[-1][2]
        assert edited_id == question_id and all(b.disabled for b in closed.buttons)
        [table] = [p for p in closed.parts if isinstance(p, Table)]
        assert [row[1] for row in table.rows] == ["5", "5", "0", "0"]
    finally:
        await second.close()


async def test_a_timer_that_expired_while_the_bot_was_down_closes_at_start_up(db_path, clock):
    first = await started_aula(quiz_settings(db_path), clock, RecordingMessenger())
    await import_test_bank(first)
    await start(first)
    await one_reply(first, click("s1", "quiz:answer:1:0:A"))
    await first.close()

    clock.advance(3600)  # the bot was down for an hour
    messenger = RecordingMessenger()
    second = await started_aula(quiz_settings(db_path), clock, messenger)
    try:
        state = await engine(second).repo.question(1, 0)
        assert state.closed_at == state.closes_at and state.announced_at is not None
        assert all(b.disabled for b in messenger.edits[0][2].buttons)
        assert "Nombre s1" in plain_text(messenger.sent[0][2])
        points = await second.db.fetchone("SELECT points FROM quiz_answers WHERE user_id = 's1'")
        assert points["points"] == 1000
    finally:
        await second.close()


async def test_results_wait_for_the_platform_and_are_posted_when_it_is_back(app, clock, messenger):
    await start(app)
    await one_reply(app, click("s1", "quiz:answer:1:0:A"))
    messenger.fail = True
    clock.advance(21)
    await engine(app).tick()
    state = await engine(app).repo.question(1, 0)
    assert state.closed_at is not None and state.announced_at is None  # closed and scored, not yet shown
    messenger.fail = False
    await engine(app).tick()
    assert (await engine(app).repo.question(1, 0)).announced_at is not None
    assert "Clasificación" in messenger.texts()[-1]


async def test_a_question_that_cannot_be_posted_leaves_nothing_running(app, messenger):
    messenger.fail = True
    reply = await start(app)
    assert reply.error and "No pude publicar" in plain_text(reply)
    messenger.fail = False
    assert not (await start(app)).error


async def test_the_background_loop_closes_timers_by_itself(db_path, messenger):
    clock = FakeClock()
    aula = await started_aula(quiz_settings(db_path, tick_seconds=0.01), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        clock.advance(25)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if messenger.edits and all(b.disabled for b in messenger.edits[-1][2].buttons):
                break
        assert (await engine(aula).repo.question(1, 0)).closed_at is not None
    finally:
        await aula.close()


# --- banks and exports ---------------------------------------------------------------------


async def test_import_by_attachment_reports_file_question_and_field(app):
    broken = BANK.replace("answer: B", "answer: Z")
    reply = await import_test_bank(app, broken, "roto.yaml")
    assert reply.error
    assert "roto.yaml, pregunta 2, campo «answer»" in plain_text(reply)
    assert await app.db.fetchone("SELECT * FROM quiz_class_banks WHERE name = 'roto'") is None


async def test_import_a_kahoot_csv_and_play_it(app, messenger):
    sheet = (
        "Question,Answer 1,Answer 2,Answer 3,Answer 4,Time limit (sec),Correct answer(s)\n¿Sí?,sí,no,,,10,1\n"
    )
    reply = await import_test_bank(app, sheet, "Kahoot Clase.csv")
    assert not reply.error and "kahoot-clase" in plain_text(reply)
    await start(app, bank="kahoot-clase")
    _, question = question_message(messenger)
    assert len(question.buttons) == 2 and "¿Sí?" in plain_text(question)


async def test_export_csv_per_student_and_per_question(app, clock):
    await start(app)
    await one_reply(app, click("=evil", "quiz:answer:1:0:A"))
    clock.advance(10)
    await one_reply(app, click("s2", "quiz:answer:1:0:C"))
    await one_reply(app, quiz_command("next"))
    await one_reply(app, click("s2", "quiz:answer:1:1:B"))
    await one_reply(app, quiz_command("stop"))

    reply = await one_reply(app, quiz_command("export"))
    students, students_xlsx, questions, questions_xlsx = [p for p in reply.parts if isinstance(p, Attachment)]
    assert students.filename == "quiz-1-prueba-students.csv"
    assert (students_xlsx.filename, questions_xlsx.filename) == ("quiz-1-prueba-students.xlsx", "quiz-1-prueba-questions.xlsx")
    first = xlsx_rows(students_xlsx.data)[0]
    assert first["user_id"] == "=evil" and first["points"] == 1000  # text as typed, numbers as numbers
    rows = list(csv.reader(io.StringIO(students.data.decode("utf-8-sig"))))
    assert rows[0] == ["rank", "name", "user_id", "nickname", "points", "correct", "answered", "q1", "q2"]
    assert rows[1] == ["1", "Nombre =evil", "'=evil", "", "1000", "1", "1", "A", ""]
    assert rows[2][:2] == ["1", "Nombre s2"] and rows[2][5:] == ["1", "2", "C", "B"]  # 1000 each: a shared first place
    qrows = list(csv.reader(io.StringIO(questions.data.decode("utf-8-sig"))))
    assert qrows[0][:5] == ["number", "id", "question", "correct_answer", "answered"]
    assert qrows[1] == ["1", "q1", "¿Uno?", "A", "2", "1", "0", "1", "0", "50.0", "5.0"]
    assert qrows[2][:5] == ["2", "q2", "¿Dos?", "B", "1"] and qrows[2][6:9] == ["1", "", ""]


async def test_english_speakers_get_english(app, messenger):
    start_reply = await one_reply(
        app, quiz_command("start", user=person("teacher", instructor=True, locale="en"), banco="prueba")
    )
    assert "Quiz «Test» started" in plain_text(start_reply)
    assert "Question 1 of 3" in messenger.texts()[0] and "One?" in messenger.texts()[0]
    reply = await one_reply(app, click("s1", "quiz:answer:1:0:A", locale="en"))
    assert "Answer recorded: A · uno" in plain_text(reply)


RANKINGS = [
    # points best first -> standard competition ranking ("1224")
    ([1000, 1000, 0], [1, 1, 3]),
    ([900, 900, 900], [1, 1, 1]),
    ([3000, 2000, 2000, 2000, 1000], [1, 2, 2, 2, 5]),
    ([1000, 999], [1, 2]),  # speed points are whole numbers: 999 is not a tie with 1000
    ([0, 0], [1, 1]),
    ([], []),
]


@pytest.mark.parametrize(("points", "places"), RANKINGS)
def test_equal_points_share_a_place(points, places):
    standings = [(f"u{i}", f"n{i}", p, 0, 1) for i, p in enumerate(points)]
    assert competition_ranks(standings) == places


async def test_a_tie_shares_the_place_on_the_podium_in_my_rank_and_in_the_csv(db_path, clock, messenger):
    """Without the speed bonus ana and beto both score 1000 and caro 0: they share first place
    (1, 1, 3), not "🥇 ana 🥈 beto" and "puesto 2 de 3" for beto."""
    aula = await started_aula(quiz_settings(db_path, speed_bonus=False), clock, messenger)
    try:
        await import_test_bank(aula)
        await start(aula)
        await one_reply(aula, click("ana", "quiz:answer:1:0:A"))
        clock.advance(5)
        await one_reply(aula, click("beto", "quiz:answer:1:0:A"))
        await one_reply(aula, click("caro", "quiz:answer:1:0:B"))
        await one_reply(aula, quiz_command("stop"))
        await engine(aula).tick()
        final = next(reply for _, _, reply in reversed(messenger.sent) if "🥇" in plain_text(reply))
        text = plain_text(final)
        assert "🥇 Nombre ana — 1000   🥇 Nombre beto — 1000   🥉 Nombre caro — 0" in text
        [board] = [p for p in final.parts if isinstance(p, Table)]
        assert [row[:2] for row in board.rows] == [("1", "Nombre ana"), ("1", "Nombre beto"), ("3", "Nombre caro")]
        button = final.buttons[0]
        beto = await one_reply(aula, click("beto", button.id))
        assert "Vas en el puesto 1 de 3, con 1000 puntos" in plain_text(beto)
        caro = await one_reply(aula, click("caro", button.id))
        assert "Vas en el puesto 3 de 3" in plain_text(caro)
        export = await one_reply(aula, quiz_command("export"))
        students = next(p for p in export.parts if isinstance(p, Attachment))
        rows = list(csv.DictReader(io.StringIO(students.data.decode("utf-8-sig"))))
        assert [(r["rank"], r["user_id"]) for r in rows] == [("1", "ana"), ("1", "beto"), ("3", "caro")]
        results = await one_reply(aula, quiz_command("results"))
        assert "1 | Nombre beto | 1000" in plain_text(results) and "3 | Nombre caro | 0" in plain_text(results)
    finally:
        await aula.close()


def _colourful(image, box) -> int:
    """Pixels in `box` with a clear hue (not white, grey or black text): an emoji drawn in colour."""
    region = image.crop(box).convert("RGB")
    return sum(1 for r, g, b in region.get_flattened_data() if max(r, g, b) - min(r, g, b) > 80)


def test_the_chart_draws_emoji_and_labels_bars_with_the_option_text():
    """The built-in question 3 has 🍕 in its text: drawn in colour, not as an empty box; each bar
    says its letter and (shortened) option text."""
    from PIL import Image as PILImage

    from bot.quiz.banks import REPO_ROOT, load_bank_file
    from bot.quiz.chart import HEIGHT, WIDTH, distribution_png

    bank = load_bank_file(REPO_ROOT / "config/quizzes/seccion-2.yaml")
    question = next(q for q in bank.questions if "🍕" in q.text["es"])
    options = [o["es"] for o in question.options]
    png = distribution_png(list("ABCD")[: len(options)], [1] * len(options), set(question.correct), question.text["es"], "", "es", options)
    image = PILImage.open(io.BytesIO(png))
    assert _colourful(image, (0, 10, WIDTH, 50)) > 40  # the pizza in the title
    plain = PILImage.open(io.BytesIO(distribution_png(list("ABCD")[: len(options)], [1] * len(options), set(), "sin emoji", "", "es")))
    assert _colourful(plain, (0, 10, WIDTH, 50)) == 0
    # the option text under the bars: far more ink than a lone letter
    def ink(picture) -> int:
        return sum(1 for p in picture.crop((0, HEIGHT - 52, WIDTH, HEIGHT)).convert("L").get_flattened_data() if p < 128)

    labelled = PILImage.open(io.BytesIO(distribution_png(list("AB"), [1, 1], set(), "t", "", "es", ["Pizza 🍕 grande", "Café"])))
    letters_only = PILImage.open(io.BytesIO(distribution_png(list("AB"), [1, 1], set(), "t", "", "es")))
    assert ink(labelled) > 3 * ink(letters_only)
    assert _colourful(labelled, (0, HEIGHT - 52, WIDTH, HEIGHT)) > 40  # the pizza under bar A
