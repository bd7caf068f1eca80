"""/next's class game through the core: options, one guess each, scoring, close by timer and restart."""

from __future__ import annotations

import math
import re

import pytest

import bot.next.command as next_command
from bot.app import Aula
from bot.i18n import probability as percent
from bot.next.game import FILLERS, guess_key
from bot.replies import Attachment, Table, plain_text
from bot.requests import Request
from bot.settings import load_settings
from tests.export_support import csv_rows, xlsx_rows
from tests.fake_llm import API_KEY, FakeLlmServer, next_tokens
from tests.quiz_support import PLACE, FakeClock, RecordingMessenger, person

PROMPT = "El capital de Francia es"
TEACHER = person("profe", instructor=True)


@pytest.fixture
async def server():
    async with FakeLlmServer() as running:
        yield running


@pytest.fixture
def settings(database_url, server):
    """On SQLite and on PostgreSQL (conftest.database_url)."""
    environ = {"AULA_DATABASE": database_url, "AULA_LLM_BASE_URL": server.base_url,
               "AULA_LLM_API_KEY": API_KEY, "AULA__NEXT__TICK_SECONDS": "0", "AULA__NEXT__GAME_SECONDS": "30"}  # fmt: skip
    return load_settings(environ=environ, dotenv_path=None)


async def started(settings, clock, messenger) -> Aula:
    app = Aula(settings, commands=[next_command.command], clock=clock)
    app.messengers[PLACE.platform] = messenger
    await app.start()
    return app


async def handle(app: Aula, request: Request):
    [reply] = [r async for r in app.handle(request)]
    return reply


def game_request(user=TEACHER, **args) -> Request:
    return Request(command="next", args={"texto": PROMPT, "juego": True} | args, user=user, place=PLACE)


def click(user_id: str, action: str, **values: str) -> Request:
    return Request(command="next", action=action, values=values, user=person(user_id), place=PLACE)


def model_probabilities() -> dict[str, float]:
    out: dict[str, float] = {}
    for _, data, logprob in next_tokens(PROMPT)[:10]:
        try:
            key = guess_key(data.decode())
        except UnicodeDecodeError:
            continue
        out[key] = out.get(key, 0.0) + math.exp(logprob)
    return out


async def test_a_round_with_many_students_scored_by_the_models_probability(settings, server):
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(settings, clock, messenger)
    try:
        note = await handle(app, game_request())
        assert note.is_private and "Ronda 1 abierta durante 30 s" in plain_text(note)
        [(_, message_id, posted)] = messenger.sent
        assert PROMPT in plain_text(posted)
        guess_buttons = [b for b in posted.buttons if b.id.startswith("next:guess:")]
        labels = [b.label for b in guess_buttons]
        assert len(labels) == 8 and len({guess_key(label) for label in labels}) == 8
        probabilities = model_probabilities()
        top_words = sorted((p, k) for k, p in probabilities.items() if k)[::-1][:4]
        assert {k for _, k in top_words} <= {guess_key(label) for label in labels}  # the model's top choices
        assert all(guess_key(label) in probabilities or label in FILLERS["es"] for label in labels)

        # 30 students: each clicks one button (cycling), a second click is refused
        for n in range(30):
            reply = await handle(app, click(f"s{n:02}", guess_buttons[n % len(guess_buttons)].id))
            assert "Respuesta guardada" in plain_text(reply)
        again = await handle(app, click("s00", guess_buttons[1].id))
        assert f"Ya respondiste «{labels[0]}»" in plain_text(again)
        # a typed guess through the form
        opened = await handle(app, click("t1", [b for b in posted.buttons if b.id.startswith("next:write:")][0].id))
        assert opened.form is not None
        typed = await handle(app, click("t1", opened.form.id, guess="  muy  "))
        assert "«muy»" in plain_text(typed)
        rows = await app.db.fetchall("SELECT user_id, guess, probability FROM next_guesses ORDER BY user_id")
        assert len(rows) == 31
        for row in rows:
            assert row["probability"] == pytest.approx(probabilities.get(guess_key(row["guess"]), 0.0))

        clock.advance(31)
        late = await handle(app, click("late", guess_buttons[0].id))
        assert late.error and "ya se cerró" in plain_text(late)
        await app.services.next_game.tick()
        closed = messenger.messages[message_id]
        assert all(b.disabled for b in closed.buttons)
        results = messenger.sent[-1][2]
        text = plain_text(results)
        assert "31 respuestas de la clase" in text
        table = next(p for p in results.parts if isinstance(p, Table))
        votes = {row[0]: int(row[1]) for row in table.rows}
        assert sum(votes.values()) == 31
        for row in table.rows:
            assert row[3] == percent("es", probabilities.get(guess_key(row[0]), 0.0))
        assert "Tabla de este canal" in text
        await app.services.next_game.tick()
        assert len(messenger.sent) == 2  # posted once
    finally:
        await app.close()


async def test_a_restart_mid_round_keeps_guesses_and_closes_it_at_start_up(settings, server):
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(settings, clock, messenger)
    await handle(app, game_request())
    posted = messenger.sent[0][2]
    first = posted.buttons[0].id
    await handle(app, click("ana", first))
    await app.close()
    again = await started(settings, clock, messenger)  # same database, a new process
    try:
        duplicate = await handle(again, click("ana", posted.buttons[1].id))
        assert "Ya respondiste" in plain_text(duplicate)
        await handle(again, click("luis", posted.buttons[1].id))
        clock.advance(3600)
    finally:
        await again.close()
    third = await started(settings, clock, messenger)  # down past the close: start-up posts it
    try:
        assert "2 respuestas de la clase" in plain_text(messenger.sent[-1][2])
        [row] = await third.db.fetchall("SELECT closed FROM next_rounds")
        assert row["closed"] == 1
    finally:
        await third.close()


async def test_only_instructors_start_close_and_export(settings, server):
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(settings, clock, messenger)
    try:
        refused = await handle(app, game_request(user=person("ana")))
        assert refused.error and server.calls == []
        await handle(app, game_request())
        close = next(b.id for b in messenger.sent[0][2].buttons if b.id.startswith("next:close:"))
        assert (await handle(app, click("ana", close))).error
        await handle(app, click("ana", messenger.sent[0][2].buttons[0].id))
        closing = await handle(app, Request(command="next", action=close, user=TEACHER, place=PLACE))
        assert "Cerrando la ronda 1" in plain_text(closing)
        await app.services.next_game.tick()
        assert "Resultados del juego n.º 1" in plain_text(messenger.sent[-1][2])
        exported = await handle(app, Request(command="next", args={"exportar": True}, user=TEACHER, place=PLACE))
        attachment, workbook = [p for p in exported.parts if isinstance(p, Attachment)]
        assert (attachment.filename, workbook.filename) == ("next-game.csv", "next-game.xlsx")
        rows = csv_rows(attachment.data)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-03:00", rows[0]["guessed_at"])
        assert xlsx_rows(workbook.data)[0]["guess"] == rows[0]["guess"]
        assert [(r["round"], r["user_id"], r["guess"]) for r in rows] == [("1", "ana", messenger.sent[0][2].buttons[0].label)]
        assert (await handle(app, Request(command="next", args={"exportar": True}, user=person("ana"), place=PLACE))).error
    finally:
        await app.close()


async def test_a_typed_guess_outside_the_top_k_scores_zero_and_bad_guesses_are_refused(settings, server):
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(settings, clock, messenger)
    try:
        await handle(app, game_request())
        form_id = "next:typed:1"
        assert (await handle(app, click("a", form_id, guess="   "))).error
        assert (await handle(app, click("a", form_id, guess="x" * 41))).error
        await handle(app, click("a", form_id, guess="Tokio"))
        [row] = await app.db.fetchall("SELECT probability FROM next_guesses")
        assert row["probability"] == 0.0
    finally:
        await app.close()


async def test_the_timer_runs_only_while_a_round_is_open(tmp_path, server):
    import asyncio

    environ = {"AULA_DATABASE": str(tmp_path / "t.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
               "AULA_LLM_API_KEY": API_KEY, "AULA__NEXT__TICK_SECONDS": "0.01", "AULA__NEXT__GAME_SECONDS": "5"}  # fmt: skip
    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(load_settings(environ=environ, dotenv_path=None), clock, messenger)
    try:
        game = app.services.next_game
        assert game._loop is None  # no game, no background work
        await handle(app, game_request())
        assert game._loop is not None and not game._loop.done()
        clock.advance(6)
        await asyncio.wait_for(game._loop, timeout=10)  # closes the round by itself, then stops
        assert "Resultados del juego n.º 1" in plain_text(messenger.sent[-1][2])
    finally:
        await app.close()


async def test_another_class_cannot_guess_in_a_round_and_a_dead_channel_is_given_up(settings, server):
    from bot.requests import Place

    clock, messenger = FakeClock(), RecordingMessenger()
    app = await started(settings, clock, messenger)
    try:
        await handle(app, game_request())
        guess = messenger.sent[0][2].buttons[0].id
        elsewhere = Request(command="next", action=guess, user=person("x"), place=Place("console", "otra", "aula"))
        assert (await handle(app, elsewhere)).error
        assert await app.db.fetchall("SELECT * FROM next_guesses") == []
        messenger.fail = True
        clock.advance(31)
        for _ in range(3):
            await app.services.next_game.tick()
        [row] = await app.db.fetchall("SELECT closed FROM next_rounds")
        assert row["closed"] == 1  # tried three times, then given up (logged), not retried forever
    finally:
        await app.close()
