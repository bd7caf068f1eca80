"""Homework in the core: assign, answer, revise, publish at the deadline or on submission,
remind, review and export, with a clock the tests move and a messenger that records posts."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from bot.app import Aula
from bot.homework.deadline import format_moment
from bot.i18n import iso_moment, t
from bot.replies import plain_text
from bot.requests import Place, Request
from bot.uploads import Upload
from tests.export_support import xlsx_rows
from tests.homework_support import (
    DAY,
    QUESTIONS,
    TEACHER,
    ThreadingMessenger,
    ask,
    assign,
    form_for,
    homework_settings,
    quiz,
    started_app,
    stored,
    submit,
)
from tests.quiz_support import PLACE, START, FakeClock, person

ZONE = "America/Argentina/Buenos_Aires"  # homework.timezone's default


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def messenger() -> ThreadingMessenger:
    return ThreadingMessenger()


@pytest.fixture
async def app(database_url, clock, messenger):
    """On SQLite and on PostgreSQL (conftest.database_url)."""
    aula = await started_app(database_url, clock, messenger)
    yield aula
    await aula.close()


async def test_assigning_announces_it_and_opens_a_thread_per_reflection_question(app, messenger):
    reply = await assign(app)
    assert reply.is_private and "Tarea 1 publicada" in plain_text(reply)
    announcement, *questions = messenger.texts()
    assert "📝 Tarea 1" in announcement and "/quiz answer tarea:1" in announcement
    assert "¿Por qué crees que es importante entender los tokens?" in announcement
    assert len(questions) == QUESTIONS
    assert "Pregunta 1 de 4" in questions[0] and "¿Qué ventajas y desventajas" in questions[2]
    threads = await app.services.homework.repo.threads(1)
    assert sorted(threads) == [0, 1, 2, 3] and all(thread for _, thread in threads.values())


async def test_the_bank_holds_the_courses_four_reflection_questions_in_both_languages(app):
    bank = await app.services.quiz.catalog.get("seccion-2", ("console", "local"))
    texts = [q.text for q in bank.open_questions]
    assert [q.id for q in bank.open_questions] == [
        "reflexion-tokens",
        "reflexion-base-vs-instruido",
        "reflexion-ventajas",
        "reflexion-fine-tuning",
    ]
    assert all(text.get("es") and text.get("en") for text in texts)
    assert "tokens" in texts[0]["es"] and "fine-tuning" in texts[3]["en"]


async def test_only_instructors_assign_and_bad_deadlines_get_an_example(app, messenger):
    refused = await ask(app, quiz("assign", person("ana"), banco="seccion-2"))
    assert refused.error and t("es", "error.instructor_only") in plain_text(refused)
    unreadable = await ask(app, quiz("assign", banco="seccion-2", vence="pronto"))
    assert unreadable.error and "mañana 18:00" in plain_text(unreadable)
    past = await ask(app, quiz("assign", banco="seccion-2", vence="2020-01-01 10:00"))
    assert past.error and "ya pasó" in plain_text(past)
    unknown = await ask(app, quiz("assign", banco="nada"))
    assert unknown.error and "seccion-2" in plain_text(unknown)
    assert messenger.sent == [] and await app.db.fetchall("SELECT * FROM homework_assignments") == []


async def test_a_student_answers_part_now_and_the_rest_later(app):
    await assign(app)
    ana = person("ana")
    form = await form_for(app, ana)
    assert form.id == "quiz:hw-submit:1:0,1,2,3" and len(form.fields) == QUESTIONS
    assert not any(f.required for f in form.fields) and all(f.max_length == 4000 for f in form.fields)
    saved = await ask(app, submit(ana, form.id, p0="Porque el modelo ve tokens.", p1=""))
    assert "Guardé 1 respuesta" in plain_text(saved) and "Te faltan 3" in plain_text(saved)
    assert [b.id for b in saved.buttons] == ["quiz:hw-open:1"]

    rest = await form_for(app, ana)
    assert rest.id == "quiz:hw-submit:1:1,2,3"
    done = await ask(
        app, submit(ana, rest.id, p1="Base para completar.", p2="Pros y contras.", p3="Mi caso.")
    )
    assert "Guardé 3" in plain_text(done) and not done.buttons
    assert [(u, p, r) for u, p, r, _, _ in await stored(app)] == [("ana", p, 1) for p in range(4)]


async def test_every_revision_is_kept_and_the_latest_is_shown(app):
    await assign(app)
    ana = person("ana")
    await ask(app, submit(ana, (await form_for(app, ana)).id, p0="v1", p1="a", p2="b", p3="c"))
    revise = await form_for(app, ana)  # nothing pending: the saved answers, to revise
    assert revise.id == "quiz:hw-revise:1:0,1,2,3" and all(f.required for f in revise.fields)
    assert [f.value for f in revise.fields] == ["v1", "a", "b", "c"]
    changed = await ask(app, submit(ana, revise.id, p0="v2", p1="a", p2="b", p3="c"))
    assert "Guardé 1 respuesta" in plain_text(changed)  # only the one that changed
    one = await ask(app, Request("quiz", ana, PLACE, action="quiz:hw-edit:1:0"))
    assert one.form.id == "quiz:hw-revise:1:0" and one.form.fields[0].value == "v2"
    await ask(app, submit(ana, one.form.id, p0="v3"))
    assert [(p, r, text) for _, p, r, text, _ in await stored(app) if p == 0] == [
        (0, 1, "v1"),
        (0, 2, "v2"),
        (0, 3, "v3"),
    ]
    mine = await ask(app, quiz("my-answers", ana))
    assert mine.is_private and "v3" in plain_text(mine) and "v1" not in plain_text(mine)
    assert "versión 3" in plain_text(mine)
    assert "quiz:hw-edit:1:3" in [b.id for b in mine.buttons]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"p0": "   ", "p1": "", "p2": "\n", "p3": ""}, "homework.empty_answer"),
        ({"p0": "x" * 4001}, "homework.too_long"),
    ],
)
async def test_an_empty_or_too_long_answer_is_refused_and_nothing_saved_is_lost(app, values, key):
    await assign(app)
    ana = person("ana")
    await ask(app, submit(ana, "quiz:hw-submit:1:0,1,2,3", p0="mi respuesta guardada"))
    before = await stored(app)
    refused = await ask(app, submit(ana, "quiz:hw-submit:1:0,1,2,3", **values))
    assert refused.error and refused.is_private
    assert plain_text(refused).endswith(t("es", key, number=1, length=4001, limit=4000))
    assert await stored(app) == before


async def test_emptying_a_saved_answer_is_refused_and_it_stays(app):
    await assign(app)
    ana = person("ana")
    await ask(app, submit(ana, "quiz:hw-submit:1:0", p0="guardada"))
    refused = await ask(app, submit(ana, "quiz:hw-revise:1:0", p0="  "))
    assert refused.error and t("es", "homework.empty_revision", number=1) in plain_text(refused)
    assert [text for _, _, _, text, _ in await stored(app)] == ["guardada"]


async def test_markdown_code_fences_and_mentions_are_stored_as_typed(app, messenger):
    await assign(app, publicar="al-enviar")
    text = "**negrita** @everyone <@123> <!channel>\n```python\nprint(1)\n```"
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0=text))
    await app.services.homework.tick()
    assert [text for _, _, _, text, _ in await stored(app)] == [text]
    [(thread, post)] = messenger.in_threads()
    assert text in post  # plain text in the parts: each adapter escapes it (see the Discord and Slack tests)


async def test_on_submit_each_answer_goes_to_its_questions_thread(app, messenger):
    await assign(app, publicar="al-enviar")
    threads = await app.services.homework.repo.threads(1)
    await ask(
        app, submit(person("ana"), "quiz:hw-submit:1:0,1", p0="Tokens importan", p1="Base vs instruido")
    )
    await ask(app, submit(person("beto"), "quiz:hw-submit:1:0", p0="Por el costo"))
    await app.services.homework.tick()
    posted = messenger.in_threads()
    assert (threads[0][1], "Nombre ana\nTokens importan") in posted
    assert (threads[1][1], "Nombre ana\nBase vs instruido") in posted
    assert (threads[0][1], "Nombre beto\nPor el costo") in posted
    await app.services.homework.tick()
    assert len(messenger.in_threads()) == 3  # each once


async def test_at_the_deadline_the_latest_answers_are_published_anonymously(app, messenger, clock):
    await assign(app, anonimo=True)
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0="primera"))
    await ask(app, submit(person("ana"), "quiz:hw-revise:1:0", p0="segunda"))
    await app.services.homework.tick()
    assert messenger.in_threads() == []  # nothing before the deadline
    clock.advance(3 * DAY + 1)
    await app.services.homework.tick()
    [(_, post)] = messenger.in_threads()
    assert "segunda" in post and "primera" not in post
    assert "(anónimo)" in post and "Nombre ana" not in post and "revisión 2" in post
    assert "Venció la tarea 1" in messenger.texts()[-1]


async def test_a_late_answer_is_accepted_flagged_and_posted_then_the_assignment_closes(
    tmp_path, clock, messenger
):
    app = Aula(homework_settings(tmp_path, accept_late_hours=24), clock=clock)
    app.messengers["console"] = messenger
    await app.start()
    try:
        await assign(app)
        clock.advance(3 * DAY + 60)
        late = await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0="tarde pero llego"))
        assert "Entregada tarde" in plain_text(late)
        await app.services.homework.tick()
        assert any("entregada tarde" in post for _, post in messenger.in_threads())
        clock.advance(DAY)
        closed = await ask(app, submit(person("ana"), "quiz:hw-revise:1:0", p0="otra"))
        assert closed.error and "cerrada" in plain_text(closed) and "sigue guardado" in plain_text(closed)
        refused_form = await ask(app, quiz("answer", person("beto"), tarea=1))
        assert refused_form.error and refused_form.form is None
        assert [(text, late) for _, _, _, text, late in await stored(app)] == [("tarde pero llego", 1)]
    finally:
        await app.close()


async def test_a_user_outside_the_class_is_refused(app):
    await assign(app)
    other_class = Place("console", "otra-clase", "aula")
    refused = await ask(app, submit(person("intruso"), "quiz:hw-submit:1:0", place=other_class, p0="hola"))
    assert refused.error and t("es", "homework.outside_class") in plain_text(refused)
    other_platform = Place("slack", "local", "aula")
    assert (await ask(app, submit(person("x"), "quiz:hw-submit:1:0", place=other_platform, p0="hola"))).error
    dm = Place("console", "", "dm")
    assert (await ask(app, submit(person("nadie"), "quiz:hw-submit:1:0", place=dm, p0="hola"))).error
    assert await stored(app) == []


async def test_reminders_go_to_students_who_have_not_answered_and_they_can_opt_out(app, messenger, clock):
    for name in ("ana", "beto", "caro"):  # the class roster: people who used /quiz here
        await ask(app, quiz("my-answers", person(name)))
    await assign(app)
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0,1,2,3", p0="a", p1="b", p2="c", p3="d"))
    await ask(app, submit(person("caro"), "quiz:hw-submit:1:0", p0="solo una"))
    clock.advance(2 * DAY - 60)  # a minute before the reminder time (24 h before the deadline)
    await app.services.homework.tick()
    assert messenger.direct() == []
    clock.advance(120)
    await app.services.homework.tick()
    reminded = dict(messenger.direct())
    assert set(reminded) == {"beto", "caro"}  # not ana (done), not the instructor
    assert "te faltan 4" in plain_text(reminded["beto"]) and "te faltan 3" in plain_text(reminded["caro"])
    await app.services.homework.tick()
    assert len(messenger.direct()) == 2  # once

    mute = [b.id for b in reminded["beto"].buttons if "mute" in b.id][0]
    dm = Place("console", "", "dm-beto")  # the click comes from the DM: beto is on the roster
    muted = await ask(app, Request("quiz", person("beto"), dm, action=mute))
    assert t("es", "homework.reminders_off") in plain_text(muted)
    await assign(app, vence="en 5 días")
    clock.advance(4 * DAY + 60)
    await app.services.homework.tick()
    assert [user for user, _ in messenger.direct()[2:]] == ["ana", "caro"]


async def test_review_shows_who_answered_who_is_late_and_who_is_missing(app, clock):
    for name in ("ana", "beto", "caro", "dani"):
        await ask(app, quiz("my-answers", person(name)))
    await assign(app)
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0,1,2,3", p0="a", p1="b", p2="c", p3="d"))
    await ask(app, submit(person("beto"), "quiz:hw-submit:1:0", p0="parcial"))
    clock.advance(3 * DAY + 5)
    await ask(app, submit(person("caro"), "quiz:hw-submit:1:0,1,2,3", p0="a", p1="b", p2="c", p3="d"))
    review = await ask(app, quiz("review"))
    text = plain_text(review)
    assert review.is_private
    assert "Completas: 2 · incompletas: 1 · con entregas tarde: 1 · faltan: 1" in text
    assert "Nombre ana | 4/4 | a tiempo" in text and "Nombre caro | 4/4 | tarde" in text
    assert "Nombre beto | 1/4 | incompleta" in text
    assert text.split("Faltan:")[1].splitlines()[1] == "- Nombre dani"
    assert (await ask(app, quiz("review", person("ana")))).error


async def test_export_is_a_csv_of_latest_answers_with_revisions_and_the_live_export_still_works(app, clock):
    await assign(app)
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0="=1+1 y, comas"))
    await ask(app, submit(person("ana"), "quiz:hw-revise:1:0", p0="=2+2, revisada"))
    clock.advance(3 * DAY + 1)
    await ask(app, submit(person("beto"), "quiz:hw-submit:1:1", p0="", p1="tarde"))
    reply = await ask(app, quiz("export", tarea=1))
    attachment, workbook = [p for p in reply.parts if hasattr(p, "data")]
    assert (attachment.filename, workbook.filename) == ("tarea-1-seccion-2.csv", "tarea-1-seccion-2.xlsx")
    rows = list(csv.reader(io.StringIO(attachment.data.decode("utf-8-sig"))))
    assert rows[0] == [
        "student", "user_id", "question_number", "question_id", "question", "answer", "submitted_at",
        "submitted_at_local", "late", "revisions",
    ]  # fmt: skip
    ana, beto = rows[1:]
    assert ana[:4] == ["Nombre ana", "ana", "1", "reflexion-tokens"] and ana[5] == "'=2+2, revisada"
    assert ana[8:] == ["0", "2"] and beto[3] == "reflexion-base-vs-instruido" and beto[8:] == ["1", "1"]
    # ISO 8601 with the class's offset sorts; the human column beside it says the same moment.
    assert ana[6] == iso_moment(START, ZONE) and beto[6] == iso_moment(START + 3 * DAY + 1, ZONE)
    assert sorted([beto[6], ana[6]]) == [ana[6], beto[6]]
    assert ana[7] == format_moment(START, ZONE, "es")
    in_xlsx = xlsx_rows(workbook.data)
    assert in_xlsx[0]["answer"] == "=2+2, revisada" and in_xlsx[0]["submitted_at"] == ana[6]
    assert in_xlsx[1]["revisions"] == 1  # a number in the workbook
    live = await ask(app, quiz("export"))
    assert live.error and t("es", "quiz.no_sessions_here") in plain_text(live)
    assert (await ask(app, quiz("export", person("ana"), tarea=1))).error


async def test_a_bank_with_more_than_five_open_questions_is_answered_five_at_a_time(app):
    questions = "".join(f"  - {{type: open, question: 'Pregunta {n}'}}\n" for n in range(1, 8))
    imported = await ask(
        app,
        Request(
            "quiz",
            TEACHER,
            PLACE,
            subcommand="import",
            attachments=(Upload.of_bytes("larga.yaml", f"questions:\n{questions}".encode()),),
        ),
    )
    assert not imported.error, plain_text(imported)
    await assign(app, banco="larga")
    first = await form_for(app, person("ana"))
    assert first.id == "quiz:hw-submit:1:0,1,2,3,4"
    saved = await ask(app, submit(person("ana"), first.id, p0="a", p1="b", p2="c", p3="d", p4="e"))
    assert "Te faltan 2" in plain_text(saved)
    assert (await form_for(app, person("ana"))).id == "quiz:hw-submit:1:5,6"


async def test_a_bank_without_open_questions_cannot_be_assigned(app):
    bank = b"questions:\n  - {question: 'A?', options: [a, b], answer: A}\n"
    await ask(app, Request("quiz", TEACHER, PLACE, subcommand="import", attachments=(Upload.of_bytes("vivo.yaml", bank),)))
    refused = await ask(app, quiz("assign", banco="vivo"))
    assert refused.error and t("es", "homework.no_open_questions", bank="vivo") in plain_text(refused)


async def test_a_restart_between_submission_and_deadline_loses_nothing_and_still_publishes(
    tmp_path, clock, messenger
):
    settings = homework_settings(tmp_path)
    first = Aula(settings, clock=clock)
    first.messengers["console"] = messenger
    await first.start()
    await assign(first)
    await ask(first, submit(person("ana"), "quiz:hw-submit:1:0", p0="antes del reinicio"))
    await first.close()

    clock.advance(3 * DAY + 3600)  # the deadline passes while the bot is down
    second = Aula(settings, clock=clock)
    second.messengers["console"] = messenger
    await second.start()  # on_startup catches up
    try:
        assert ("thread-m2", "Nombre ana\nantes del reinicio") in messenger.in_threads()
        assert "Venció la tarea 1" in messenger.texts()[-1]
        mine = await ask(second, quiz("my-answers", person("ana")))
        assert "antes del reinicio" in plain_text(mine)
    finally:
        await second.close()


async def test_a_thread_that_could_not_open_is_retried_and_answers_wait_for_it(app, messenger):
    original = messenger.start_thread

    async def broken(place, message_id, title):
        raise ConnectionError("no permission to create threads")

    messenger.start_thread = broken
    await assign(app, publicar="al-enviar")
    assert await app.services.homework.repo.threads(1) == {p: (f"m{p + 2}", "") for p in range(4)}
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0="espera su hilo"))
    await app.services.homework.tick()
    assert messenger.in_threads() == []
    messenger.start_thread = original
    await app.services.homework.tick()
    assert messenger.in_threads() == [("thread-m2", "Nombre ana\nespera su hilo")]
    assert len(messenger.sent) == 1 + QUESTIONS + 1  # the questions were not posted twice


async def test_a_long_answer_is_posted_in_several_parts(app, messenger):
    await assign(app, publicar="al-enviar")
    text = " ".join(f"palabra{i}" for i in range(360))  # about 3,900 characters
    await ask(app, submit(person("ana"), "quiz:hw-submit:1:0", p0=text))
    await app.services.homework.tick()
    posts = [post for _, post in messenger.in_threads()]
    assert len(posts) == 3 and "(continúa, 2/3)" in posts[1]
    assert "".join(p.split("\n", 1)[1] for p in posts) == text


async def test_a_student_who_only_played_a_live_quiz_here_is_reminded(app, messenger, clock):
    engine = app.services.quiz
    await engine.start_quiz(quiz("start"), await engine.catalog.get("seccion-2", ("console", "local")), False, None, False)
    await ask(app, Request("quiz", person("dani"), PLACE, action="quiz:answer:1:0:B"))
    await engine.stop(await engine.session(1))
    await assign(app)
    clock.advance(2 * DAY + 60)
    await app.services.homework.tick()
    assert [user for user, _ in messenger.direct()] == ["dani"]


async def test_an_answer_sent_before_the_close_counts_though_the_bot_got_to_it_after(app, clock):
    """Under a class's burst a form can wait for the bot; what counts is when it was sent."""
    await assign(app)  # due in 3 days
    clock.advance(3 * DAY - 1)
    sent = clock.now
    clock.advance(5)  # it waited five seconds in the queue: now past the deadline
    answer = replace(submit(person("ana"), "quiz:hw-submit:1:0", p0="justo a tiempo"), received_at=sent)
    saved = await ask(app, answer)
    assert not saved.error and "tarde" not in plain_text(saved), plain_text(saved)
    late = await ask(app, submit(person("beto"), "quiz:hw-submit:1:0", p0="ya tarde"))
    assert "Entregada tarde" in plain_text(late)
    assert sorted((text, late) for _, _, _, text, late in await stored(app)) == [
        ("justo a tiempo", 0),
        ("ya tarde", 1),
    ]


@pytest.mark.parametrize(
    ("local_now", "hours"),
    [((2026, 3, 29, 1, 30), 2.0), ((2026, 10, 25, 1, 30), 2.0), ((2026, 5, 10, 1, 30), 2.0)],
)
async def test_assign_in_two_hours_is_two_real_hours_across_daylight_saving(tmp_path, messenger, local_now, hours):
    """/quiz assign vence:en 2 horas at 01:30 on the nights Madrid changes its clocks stored a
    deadline 1.00 h (spring) away; now two hours, as on any other night."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime(*local_now, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()
    aula = await started_app(tmp_path, FakeClock(now), messenger, timezone="Europe/Madrid")
    try:
        await assign(aula, vence="en 2 horas")
        [row] = await aula.db.fetchall("SELECT due_at FROM homework_assignments")
        assert (row["due_at"] - now) / 3600 == hours
    finally:
        await aula.close()


async def test_my_answers_states_the_deadline_as_it_is_now(app, clock):
    """Before the deadline: revise until it. After it: late until the late window closes (not
    "Puedes revisarlas hasta el <a date already past>"). After that: closed."""
    reply = await assign(app)  # due in 3 days at 23:59; late answers for 168 h more
    ana = person("ana")
    await ask(app, submit(ana, "quiz:hw-submit:1:0", p0="mi respuesta"))
    [row] = await app.db.fetchall("SELECT due_at, closes_at FROM homework_assignments")
    due = format_moment(row["due_at"], ZONE, "es")
    closes = format_moment(row["closes_at"], ZONE, "es")
    assert due in plain_text(reply)

    before = plain_text(await ask(app, quiz("my-answers", ana)))
    assert f"Puedes revisarlas hasta el {due}" in before

    clock.now = row["due_at"] + 60
    late = plain_text(await ask(app, quiz("my-answers", ana)))
    assert "Puedes revisarlas hasta" not in late
    assert f"El plazo venció el {due}. Hasta el {closes} todavía puedes entregar o revisar" in late
    saved = plain_text(await ask(app, submit(ana, "quiz:hw-submit:1:1", p1="tarde")))
    assert f"el plazo venció el {due}" in saved and f"puedes revisarla hasta el {closes}" in saved

    clock.now = row["closes_at"] + 60
    closed = plain_text(await ask(app, quiz("my-answers", ana)))
    assert f"La tarea venció el {due} y ya no acepta respuestas." in closed
