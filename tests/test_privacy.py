"""/privacy: every area lists what it holds about the asking user, and deleting (two clicks)
removes it from each area without touching anyone else's data."""

from __future__ import annotations

import pytest

import bot.privacy.areas as privacy
from bot.app import Aula
from bot.compare.store import CompareRepository, OutputRecord
from bot.i18n import t
from bot.replies import ButtonStyle, plain_text
from bot.requests import Place, Request
from bot.roles.store import RolesConversations
from bot.roles.templates import Message
from tests.homework_support import ThreadingMessenger, ask, assign, quiz, started_app, submit
from tests.quiz_support import PLACE, FakeClock, person

ANA, BETO = person("ana"), person("beto")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(database_url, clock):
    """On SQLite and on PostgreSQL (conftest.database_url)."""
    aula = await started_app(database_url, clock, ThreadingMessenger())
    yield aula
    await aula.close()


def click(user, action: str, place: Place = PLACE) -> Request:
    return Request(command="privacy", action=action, user=user, place=place)


async def fill_every_area(app: Aula, clock) -> None:
    """Ana and Beto each leave something in every area."""
    compare = CompareRepository(app.db)
    roles = RolesConversations(app.db)
    output = OutputRecord(role="base", model="m", prompt="p", text="salida", finish_reason="stop")
    await assign(app, publicar="al-enviar")
    await app.services.quiz.start_quiz(
        quiz("start"), await app.services.quiz.catalog.get("seccion-2", ("console", "local")), False, None, False
    )
    for user in (ANA, BETO):
        run_id = await compare.save(
            at=clock(), platform="console", workspace_id="local", channel_id="aula", user_id=user.id,
            user_name=user.name, profile="default", outputs=[output],
        )  # fmt: skip
        await compare.vote(run_id, "console", user.id, "A", clock())
        await roles.save("console", "local", user.id, "llama-3.1", [Message("user", "hola")], clock(), 3600)
        await ask(app, Request("quiz", user, PLACE, action="quiz:answer:1:0:A"))
        await ask(app, submit(user, "quiz:hw-submit:1:0", p0=f"respuesta de {user.id}"))
        await app.services.homework.repo.set_opt_out("console", "local", user.id, True, clock())


async def counts(app: Aula, user_id: str) -> dict[str, dict[str, int]]:
    return dict(await privacy.describe(app, "console", user_id))


async def test_privacy_lists_every_area_and_deletes_only_the_askers_data(app, clock):
    await fill_every_area(app, clock)
    before = await counts(app, "ana")
    assert set(before) == {area.name for area in privacy.AREAS}
    assert before["compare"] == {"runs": 1, "votes": 1} and before["roles"] == {"conversations": 1}
    assert before["quiz"]["answers"] == 1 and before["homework"]["revisions"] == 1
    assert before["homework"]["opt_outs"] == 1 and before["profile"]["profiles"] == 1
    beto_before = await counts(app, "beto")

    shown = await ask(app, Request("privacy", ANA, PLACE))
    text = plain_text(shown)
    assert shown.is_private and "Lo que Aula guarda sobre ti en console" in text
    assert "1 comparación con tu prompt" in text and "1 respuesta en 1 quiz donde" in text
    assert "1 versión de respuestas en 1 tarea," in text and "0 recordatorios enviados" in text
    assert "CSV" in text  # what deleting cannot reach is said before anyone clicks
    [delete] = shown.buttons
    assert delete.id == "privacy:delete" and delete.style is ButtonStyle.DANGER

    confirm = await ask(app, click(ANA, "privacy:delete"))
    assert [b.id for b in confirm.buttons] == ["privacy:confirm", "privacy:cancel"]
    still = await counts(app, "ana")
    assert {k: v for k, v in still.items() if k != "profile"} == {
        k: v for k, v in before.items() if k != "profile"
    }

    cancelled = await ask(app, click(ANA, "privacy:cancel"))
    assert plain_text(cancelled) == t("es", "privacy.cancelled")
    deleted = await ask(app, click(ANA, "privacy:confirm"))
    assert t("es", "privacy.deleted") in plain_text(deleted)

    after = await counts(app, "ana")
    assert all(value == 0 for name, area in after.items() for key, value in area.items() if key != "commands")
    # The one line left is the log of the confirming click itself, as the reply says.
    assert after["profile"]["commands"] == 1
    assert await counts(app, "beto") == beto_before | {
        "profile": {"profiles": 1, "commands": beto_before["profile"]["commands"]}
    }
    answers = await app.db.fetchall("SELECT user_id FROM homework_answers")
    assert [r["user_id"] for r in answers] == ["beto"]


async def test_the_same_id_on_another_platform_is_not_touched(app, clock):
    await fill_every_area(app, clock)
    slack_place = Place("slack", "T1", "C1")
    await ask(app, click(ANA, "privacy:confirm", place=slack_place))
    assert (await counts(app, "ana"))["homework"]["revisions"] == 1
    assert (await counts(app, "ana"))["compare"]["runs"] == 1


async def test_a_deleted_player_leaves_the_standings_and_others_keep_their_points(app, clock):
    await fill_every_area(app, clock)
    engine = app.services.quiz
    await engine.stop(await engine.session(1))
    standings_before = {user: points for user, _, points, _, _ in await engine.repo.standings(1)}
    await ask(app, click(ANA, "privacy:confirm"))
    standings_after = {user: points for user, _, points, _, _ in await engine.repo.standings(1)}
    assert "ana" not in standings_after and standings_after["beto"] == standings_before["beto"]
    # She can play again in a new quiz: the engine's memory of players forgot her too.
    await engine.start_quiz(quiz("start"), await engine.catalog.get("seccion-2", ("console", "local")), False, None, False)
    await ask(app, Request("quiz", ANA, PLACE, action="quiz:answer:2:0:B"))
    assert [p for p, *_ in await engine.repo.players(2)] == ["ana"]


async def test_in_english(app):
    shown = await ask(app, Request("privacy", person("zoe", locale="en"), PLACE))
    assert "What Aula stores about you on console" in plain_text(shown)
    assert shown.buttons[0].label == "🗑️ Delete my data"
