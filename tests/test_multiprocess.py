"""Two Aula processes on one database: every timer's job happens once, whichever process is alive.

Here the two "processes" are two apps in one test, each with its own database connection to the
same SQLite file (WAL: a valid multi-process deployment) or PostgreSQL database (`database_url`:
both, PostgreSQL skipped without AULA_TEST_POSTGRES, failed under CI) and its own messenger, on one
fake clock, ticking at the same moments (asyncio.gather: their statements interleave for real in the
two connections' threads). Each question's results, each final leaderboard, each homework
deadline, reminder and published answer, and each /next round's results must be posted by one
of them, once. A process that dies holding a job (it stops ticking and never releases its
claim) is taken over after its lease: the bound of bot/storage/claims.py, on the fake clock.
tests/test_multiprocess_sigkill.py does the same with real processes and SIGKILL.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.app import Aula
from bot.i18n import t
from bot.replies import plain_text
from bot.requests import Request
from bot.storage.claims import Claims
from bot.uploads import Upload
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.homework_support import DAY, ThreadingMessenger, assign, submit
from tests.homework_support import ask as ask_homework
from tests.homework_support import quiz as homework_quiz
from tests.quiz_support import PLACE, FakeClock, click, one_reply, person, quiz_command, quiz_settings

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
  - question: "¿Tres?"
    options: [a, b, c]
    answer: C
"""
LEASE = 15.0  # timers.lease_seconds (the default)
REFRESH = 5.0  # quiz.refresh_seconds (the default)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def pair(database_url, clock):
    """Two apps on one database (an SQLite file, or a PostgreSQL database), one clock, a messenger each."""
    apps: list[Aula] = []

    async def open_pair(**homework: object) -> tuple[Aula, Aula]:
        settings = homework_settings_on(database_url, **homework)
        for _ in range(2):
            app = Aula(settings, clock=clock)
            app.messengers[PLACE.platform] = ThreadingMessenger()
            await app.start()
            apps.append(app)
        assert apps[0].services.claims.owner != apps[1].services.claims.owner
        return apps[0], apps[1]

    yield open_pair
    for app in apps:
        await app.close()


def sent(*apps: Aula) -> list[str]:
    """What both processes posted to channels and threads (not DMs), in no particular order."""
    return [plain_text(reply) for app in apps for _, message_id, reply in app.messengers["console"].sent
            if not message_id.startswith("dm:")]  # fmt: skip


def results_posts(*apps: Aula) -> list[str]:
    return [text for text in sent(*apps) if text.startswith("[Gráfico")]


def finals(*apps: Aula) -> list[str]:
    return [text for text in sent(*apps) if "Resultados finales" in text]


async def tick_both(a: Aula, b: Aula, service: str = "quiz") -> None:
    await asyncio.gather(getattr(a.services, service).tick(), getattr(b.services, service).tick())


def homework_settings_on(database: str, **homework: object):
    """Settings on `database`, every timer ticked by the test; `homework` overrides [homework] keys."""
    return quiz_settings(database, environ={
        f"AULA__HOMEWORK__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in homework.items()
    })  # fmt: skip


async def quiz_pair(pair, tmp_path) -> tuple[Aula, Aula]:
    a, b = await pair()
    imported = Request(command="quiz", subcommand="import", user=person("profe", instructor=True), place=PLACE,
                       attachments=(Upload.of_bytes("prueba.yaml", BANK.encode()),))  # fmt: skip
    assert not (await one_reply(a, imported)).error
    return a, b


async def test_each_result_and_the_final_leaderboard_are_posted_once_by_two_processes(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    assert not (await one_reply(a, quiz_command("start", banco="prueba"))).error
    for number, letter in enumerate("AABBA"):  # clicks reach either process
        app = (a, b)[number % 2]
        assert "Respuesta registrada" in plain_text(await one_reply(app, click(f"s{number}", f"quiz:answer:1:0:{letter}")))
    for _ in range(5):  # both tick together through the countdown, past the close, and on
        clock.advance(REFRESH)
        await tick_both(a, b)
    assert len(results_posts(a, b)) == 1
    question = await a.services.quiz.repo.question(1, 0)
    assert question.closed_at == question.closes_at  # closed by the timer, once, on time

    # /quiz next from the other process: results of question 2 once, question 3 posted once.
    assert not (await one_reply(b, quiz_command("next"))).error
    clock.advance(2)
    assert not (await one_reply(a, quiz_command("next"))).error  # closes question 2 early
    for _ in range(3):
        await tick_both(a, b)
    assert len(results_posts(a, b)) == 2
    assert sum(text.startswith("Pregunta 3 de 3") for text in sent(a, b)) == 1
    for _ in range(6):  # question 3 closes by its timer while both tick; then /quiz stop
        clock.advance(REFRESH)
        await tick_both(a, b)
    await asyncio.gather(one_reply(a, quiz_command("stop")), tick_both(a, b))
    for _ in range(3):
        await tick_both(a, b)
    assert len(results_posts(a, b)) == 3
    assert len(finals(a, b)) == 1
    assert await a.db.fetchall("SELECT * FROM job_claims") == []  # each claim released once done


async def test_a_question_opened_by_one_process_is_refreshed_by_it_alone(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    await one_reply(a, quiz_command("start", banco="prueba"))
    for _ in range(3):
        clock.advance(REFRESH)
        await tick_both(a, b)
    # a opened it and keeps its timer: its countdown is refreshed by a each time, never by b too.
    assert len(a.messengers["console"].edits) == 3 and b.messengers["console"].edits == []


async def test_a_dead_timer_holder_is_closed_on_time_and_its_results_posted_after_its_lease(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    await one_reply(a, quiz_command("start", banco="prueba"))
    await one_reply(b, click("s1", "quiz:answer:1:0:A"))
    opened = (await b.services.quiz.repo.question(1, 0)).opened_at
    for _ in range(3):  # a refreshes (and so renews its timer) at 5, 10 and 15 s, then dies
        clock.advance(REFRESH)
        await tick_both(a, b)
    last_renewal = clock()
    holder, expires = await b.services.claims.holder("quiz:question:1:0")
    assert holder == a.services.claims.owner and expires == last_renewal + LEASE

    clock.advance(opened + 20 - clock())  # the question's time is up: only b ticks now
    await b.services.quiz.tick()
    question = await b.services.quiz.repo.question(1, 0)
    assert question.closed_at == question.closes_at  # closed on time by the live process
    assert results_posts(a, b) == []  # the dead holder's lease still runs: b waits for it
    clock.advance(last_renewal + LEASE - clock() - 0.5)
    await b.services.quiz.tick()
    assert results_posts(a, b) == []
    clock.advance(0.5)  # the lease is over: b's next tick (tick_seconds later at most) takes over
    await b.services.quiz.tick()
    assert len(results_posts(b)) == 1 and results_posts(a) == []
    taken_over_at = clock()
    assert taken_over_at - last_renewal <= LEASE + b.settings.quiz.tick_seconds


async def test_quiz_next_in_another_process_waits_for_the_holder_to_post_the_results_first(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    await one_reply(a, quiz_command("start", banco="prueba"))
    await one_reply(a, click("s1", "quiz:answer:1:0:A"))

    async def holder_ticks_soon():
        await asyncio.sleep(0.3)
        await a.services.quiz.tick()

    # b closes question 1 but a holds its timer: b's /quiz next waits for a's results, then posts question 2.
    reply, _ = await asyncio.gather(one_reply(b, quiz_command("next")), holder_ticks_soon())
    assert not reply.error
    assert len(results_posts(a)) == 1 and results_posts(b) == []
    assert any(text.startswith("Pregunta 2 de 3") for text in sent(b))


async def test_two_processes_opening_the_same_question_post_it_once(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    await one_reply(a, quiz_command("start", banco="prueba"))
    session = await a.services.quiz.repo.session(1)
    await asyncio.gather(a.services.quiz._open(session, 1), b.services.quiz._open(session, 1))
    assert sum(text.startswith("Pregunta 2 de 3") for text in sent(a, b)) == 1


async def test_the_claim_statement_lets_one_owner_hold_a_job_until_its_lease_ends(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    first, second = Claims(a.db, clock, LEASE), Claims(b.db, clock, LEASE)
    wins = await asyncio.gather(*(claims.claim("job") for claims in (first, second, first, second)))
    assert sorted(wins) == [False, False, True, True] and wins[0] == wins[2]  # one owner, who renews
    winner, loser = (first, second) if wins[0] else (second, first)
    clock.advance(LEASE - 1)
    assert not await loser.claim("job")
    clock.advance(1)
    assert await loser.claim("job") and not await winner.claim("job")  # expired: taken over
    await winner.release("job")  # not its own any more: nothing happens
    assert (await loser.holder("job"))[0] == loser.owner
    await loser.release("job")
    assert await loser.holder("job") is None


# --- homework ---------------------------------------------------------------------------------


async def test_deadline_reminders_threads_and_answers_are_posted_once_by_two_processes(pair, tmp_path, clock):
    a, b = await pair()
    for name in ("ana", "beto", "caro", "dani"):  # the roster, met by either process
        await ask_homework((a, b)[len(name) % 2], homework_quiz("my-answers", person(name)))
    await assign(a)  # due in 3 days; reminders 24 h before
    for _ in range(2):
        await tick_both(a, b, "homework")
    threads = [text for text in sent(a, b) if text.startswith("Pregunta")]
    assert len(threads) == 4  # each question posted (and its thread opened) once
    await ask_homework(b, submit(person("ana"), "quiz:hw-submit:1:0,1,2,3", p0="a", p1="b", p2="c", p3="d"))
    await ask_homework(a, submit(person("caro"), "quiz:hw-submit:1:0", p0="solo una"))

    clock.advance(2 * DAY + 60)  # past the reminder time
    for _ in range(3):
        await tick_both(a, b, "homework")
    reminded = [user for app in (a, b) for user, _ in app.messengers["console"].direct()]
    assert sorted(reminded) == ["beto", "caro", "dani"]  # each once, whichever process sent it

    clock.advance(DAY)  # past the deadline: answers published, deadline noted
    for _ in range(3):
        await tick_both(a, b, "homework")
    in_threads = [post for app in (a, b) for _, post in app.messengers["console"].in_threads()]
    assert len(in_threads) == 5  # ana's four and caro's one
    assert sum("Venció la tarea 1" in text for text in sent(a, b)) == 1


async def test_reminders_taken_over_from_a_dead_process_reach_the_others_once(pair, tmp_path, clock):
    """A process dies while reminding (after two students): the other, once the lease ran out,
    reminds the rest and nobody twice."""
    a, b = await pair()
    names = ("ana", "beto", "caro", "dani")
    for name in names:
        await ask_homework(a, homework_quiz("my-answers", person(name)))
    await assign(a)
    clock.advance(2 * DAY + 60)
    messenger = a.messengers["console"]
    real_send = messenger.send_direct
    died = asyncio.Event()

    async def dies_after_two(place, user_id, reply):
        if len(messenger.direct()) == 2:
            died.set()
            await asyncio.Event().wait()  # the process is gone: nothing more from it
        await real_send(place, user_id, reply)

    messenger.send_direct = dies_after_two
    dying = asyncio.create_task(a.services.homework.tick())
    await died.wait()
    await b.services.homework.tick()
    assert b.messengers["console"].direct() == []  # a's claim is alive: b leaves the job alone

    async def killed(job: str) -> None:  # a killed process releases nothing
        pass

    a.services.claims.release = killed
    dying.cancel()  # its renewals stop with it; its claim stays in the table until it expires
    await asyncio.gather(dying, return_exceptions=True)
    holder, expires = await b.services.claims.holder("homework:reminders:1")
    assert holder == a.services.claims.owner
    clock.advance(expires - clock() - 1)
    await b.services.homework.tick()
    assert b.messengers["console"].direct() == []
    clock.advance(1)
    await b.services.homework.tick()
    first = [user for user, _ in messenger.direct()]
    then = [user for user, _ in b.messengers["console"].direct()]
    assert len(first) == 2 and sorted(first + then) == sorted(names)


async def test_a_tick_cancelled_as_its_claimed_job_ends_is_cancelled_and_releases_it(pair, tmp_path, clock):
    """Closing the app cancels its tickers: a cancellation that lands while a held job winds down
    must end the tick (it was once swallowed with the renewal task's own, and the app never closed)."""
    a, _ = await quiz_pair(pair, tmp_path)
    claims = Claims(a.db, clock, LEASE)

    async def job() -> None:
        async with claims.hold("job") as mine:
            assert mine
            asyncio.get_running_loop().call_soon(task.cancel)  # lands while the renewal is stopped

    task = asyncio.create_task(job())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await claims.holder("job") is None


# --- /next's class game -----------------------------------------------------------------------


@pytest.fixture
async def llm_server():
    async with FakeLlmServer() as running:
        yield running


async def test_a_next_round_closed_by_two_processes_posts_its_results_once(database_url, clock, llm_server):
    environ = {"AULA_DATABASE": database_url, "AULA_LLM_BASE_URL": llm_server.base_url, "AULA_LLM_API_KEY": API_KEY,
               "AULA__NEXT__TICK_SECONDS": "0", "AULA__NEXT__GAME_SECONDS": "30"}  # fmt: skip
    apps = []
    try:
        for _ in range(2):
            app = Aula(quiz_settings(database_url, environ=environ), clock=clock)
            app.messengers[PLACE.platform] = ThreadingMessenger()
            await app.start()
            apps.append(app)
        a, b = apps
        game = Request(command="next", args={"texto": "El capital de Francia es", "juego": True},
                       user=person("profe", instructor=True), place=PLACE)  # fmt: skip
        assert not (await one_reply(a, game)).error
        guess = Request(command="next", action="next:guess:1:0", user=person("ana"), place=PLACE)
        assert not (await one_reply(b, guess)).error
        clock.advance(31)
        for _ in range(3):
            await tick_both(a, b, "next_game")
        title = t("es", "next.game.results_title", number=1)
        assert sum(text.startswith(title) or title in text for text in sent(a, b)) == 1
    finally:
        for app in apps:
            await app.close()


async def test_claims_left_by_dead_processes_are_deleted_at_start_up_once_expired(database_url, clock):
    settings = quiz_settings(database_url)
    first = Aula(settings, clock=clock)
    await first.start()
    try:
        await first.db.execute("INSERT INTO job_claims (job, owner, expires_at) VALUES (?, ?, ?), (?, ?, ?)",
                               ("quiz:final:7", "gone:1:x", clock() - 1, "quiz:final:8", "alive:2:y", clock() + LEASE))  # fmt: skip
    finally:
        await first.close()
    second = Aula(settings, clock=clock)
    await second.start()
    try:
        rows = await second.db.fetchall("SELECT job FROM job_claims")
        assert [row["job"] for row in rows] == ["quiz:final:8"]  # a live holder's claim stays
    finally:
        await second.close()


async def test_two_processes_closing_one_question_at_once_close_and_score_it_once(pair, tmp_path, clock):
    a, b = await quiz_pair(pair, tmp_path)
    await one_reply(a, quiz_command("start", banco="prueba"))
    await one_reply(b, click("s1", "quiz:answer:1:0:A"))
    clock.advance(20)
    scored: list[str] = []

    def scorer(name):
        def score(answers, history):
            scored.append(name)
            return {answer.user_id: (True, 100) for answer in answers}

        return score

    closed = await asyncio.gather(
        a.services.quiz.repo.close_question(1, 0, clock(), scorer("a")),
        b.services.quiz.repo.close_question(1, 0, clock(), scorer("b")),
    )
    assert sorted(closed) == [False, True] and len(scored) == 1
    assert [tuple(r) for r in await a.db.fetchall("SELECT user_id, points FROM quiz_answers")] == [("s1", 100)]
