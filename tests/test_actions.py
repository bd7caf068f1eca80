"""Button and form ids: one declaration each (bot/actions.py), and ids already posted keep working.

OLD_IDS were printed by the code before bot/actions.py existed (commit caf7046), running its own
builders: bot/quiz_views.py answer_id/rank_id, bot/homework_views.py reminder_reply/answer_form/
my_answers_reply, bot/commands/compare.py _vote_buttons, bot/commands/roles.py explanation/
conversation_form/conversation_reply, for session, assignment, run and conversation 1. The last
few are the literal ids that code wrote inline: bot/homework.py:359 (hw-unmute), roles.py:272
(live, shown only with a model configured) and bot/commands/privacy.py:35-47.
"""

from __future__ import annotations

import pytest

from bot import actions
from bot.app import Aula
from bot.i18n import t
from bot.replies import plain_text
from bot.requests import Request
from tests.fake_llm import API_KEY, FakeLlmServer
from tests.homework_support import TEACHER, ThreadingMessenger, ask, homework_settings, quiz
from tests.quiz_support import PLACE, FakeClock, person

OLD_IDS = [
    "quiz:answer:1:0:B",
    "quiz:rank:1",
    "quiz:hw-open:1",
    "quiz:hw-mute:1",
    "quiz:hw-submit:1:0,1,2,3",
    "quiz:hw-revise:1:1",
    "quiz:hw-edit:1:1",
    "compare:vote:1:A",
    "compare:vote:1:B",
    "compare:reveal:1",
    "roles:example:llama-3.1",
    "roles:write:llama-3.1",
    "roles:form:gpt-4o",
    "roles:edit:1",
    "roles:switch:1:gpt-4o",
    # written inline by the previous code
    "quiz:hw-unmute:1",
    "roles:live:1",
    "privacy:delete",
    "privacy:confirm",
    "privacy:cancel",
]

ANA = person("ana")


@pytest.mark.parametrize("old_id", OLD_IDS)
def test_every_posted_id_is_read_by_exactly_one_declaration_which_builds_it_back(old_id):
    readers = [(action, values) for action in actions.ALL if (values := action.parse(old_id)) is not None]
    assert len(readers) == 1, readers
    [(action, values)] = readers
    assert action.command == old_id.partition(":")[0]
    assert action.id(**values) == old_id  # today's buttons are the ones already in the channels


def test_every_declaration_of_the_commands_that_posted_them_is_exercised_by_an_old_id():
    posting = {"quiz", "compare", "roles", "privacy"}  # /next came after caf7046
    declared = {a for a in actions.ALL if a.command in posting}
    assert declared == {a for i in OLD_IDS for a in actions.ALL if a.parse(i) is not None}


def test_ids_that_fit_no_template_are_not_read():
    assert actions.QUIZ_ANSWER.parse("quiz:answer:1:0") is None
    assert actions.QUIZ_ANSWER.parse("quiz:answer:1:0:B:extra") is None
    assert actions.QUIZ_RANK.parse("quiz:rank:uno") is None
    assert actions.COMPARE_VOTE.parse("compare:vote:1:C") is None
    assert actions.HOMEWORK_SUBMIT.parse("quiz:hw-submit:1:") is None
    with pytest.raises(ValueError):
        actions.COMPARE_VOTE.id(run=1, slot="C")  # a declaration never builds an id it cannot read


@pytest.fixture
async def app(tmp_path):
    async with FakeLlmServer(chunk_delay_s=0.0) as server:
        environ = {
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__STREAM_UPDATE_S": "0",
            "AULA__LLM__USER_COOLDOWN_S": "0",
        }
        aula = Aula(homework_settings(tmp_path, environ=environ), clock=FakeClock())
        aula.messengers["console"] = ThreadingMessenger()
        await aula.start()
        try:
            yield aula
        finally:
            await aula.close()


async def click(app: Aula, action_id: str, user=ANA, **values: str):
    request = Request(command=actions.command_of(action_id), action=action_id, values=values, user=user, place=PLACE)
    replies = [reply async for reply in app.handle(request)]
    assert replies and not any(r.error for r in replies), [plain_text(r) for r in replies]
    return replies[-1]


async def test_clicking_ids_the_previous_code_posted_does_what_it_did(app):
    # The live quiz: session 1's first question is open.
    assert not (await ask(app, quiz("start", banco="seccion-2"))).error
    await click(app, "quiz:answer:1:0:B")
    rows = await app.db.fetchall("SELECT session_id, position, user_id, choice FROM quiz_answers")
    assert [tuple(r) for r in rows] == [(1, 0, "ana", 1)]
    assert plain_text(await click(app, "quiz:rank:1"))

    # Homework 1: the form, an answer, a revision, reminders off and on again.
    assert not (await ask(app, quiz("assign", banco="seccion-2", vence="en 3 días"))).error
    opened = await click(app, "quiz:hw-open:1")
    assert opened.form is not None and opened.form.id == "quiz:hw-submit:1:0,1,2,3"
    await click(app, "quiz:hw-submit:1:0,1,2,3", p0="uno", p1="dos", p2="tres", p3="cuatro")
    edit = await click(app, "quiz:hw-edit:1:1")
    assert edit.form.id == "quiz:hw-revise:1:1" and edit.form.fields[0].value == "dos"
    await click(app, "quiz:hw-revise:1:1", p1="dos, mejor")
    texts = await app.db.fetchall("SELECT position, revision, text FROM homework_answers WHERE position = 1")
    assert [tuple(r) for r in texts] == [(1, 1, "dos"), (1, 2, "dos, mejor")]
    muted = await click(app, "quiz:hw-mute:1")
    assert [b.id for b in muted.buttons] == ["quiz:hw-unmute:1"]
    assert await app.services.homework.repo.opted_out("console", PLACE.workspace_id) == {"ana"}
    await click(app, "quiz:hw-unmute:1")
    assert await app.services.homework.repo.opted_out("console", PLACE.workspace_id) == set()

    # /compare's blind run 1: a vote, then the instructor reveals.
    blind = [r async for r in app.handle(Request("compare", ANA, PLACE, args={"prompt": "Hola", "ciego": True}))]
    assert [b.id for b in blind[-1].buttons] == ["compare:vote:1:A", "compare:vote:1:B", "compare:reveal:1"]
    voted = await click(app, "compare:vote:1:A", user=person("beto"))
    needed = app.settings.llm.blind_reveal_votes
    assert t("es", "compare.voted", slot="A", count=1, needed=needed) in plain_text(voted)
    votes = await app.db.fetchall("SELECT user_id, choice FROM compare_votes")
    assert [tuple(v) for v in votes] == [("beto", "A")]
    revealed = await click(app, "compare:reveal:1", user=TEACHER)
    assert not revealed.is_private

    # /roles: the example is stored as conversation 1; its buttons, the form, a switch, a live run.
    example = await click(app, "roles:example:llama-3.1")
    assert {"roles:edit:1", "roles:switch:1:gpt-4o", "roles:live:1"} <= {b.id for b in example.buttons}
    written = await click(app, "roles:write:llama-3.1")
    assert written.form.id == "roles:form:llama-3.1"
    await click(app, "roles:form:gpt-4o", m2="Hola")
    edit = await click(app, "roles:edit:1")
    assert edit.form.id == "roles:form:llama-3.1" and edit.form.fields[1].value == t("es", "roles.example.user")
    switched = await click(app, "roles:switch:1:gpt-4o")
    assert "<|im_start|>" in plain_text(switched)
    live = await click(app, "roles:live:1")
    assert plain_text(live)

    # /privacy: ask, cancel.
    asked = await click(app, "privacy:delete")
    assert [b.id for b in asked.buttons] == ["privacy:confirm", "privacy:cancel"]
    await click(app, "privacy:cancel")


@pytest.mark.parametrize(
    ("action_id", "key"),
    [
        ("quiz:answer:1:0", "quiz.unknown_button"),
        ("quiz:hw-open:uno", "quiz.unknown_button"),
        ("quiz:whatever", "quiz.unknown_button"),
        ("compare:vote:1:C", "error.unknown_action"),
        ("compare:tally:1", "error.unknown_action"),
        ("roles:edit:1:2", "error.unknown_action"),
        ("roles:nope", "error.unknown_action"),
    ],
)
async def test_an_id_no_declaration_reads_is_refused_as_unknown(app, action_id, key):
    request = Request(command=actions.command_of(action_id), action=action_id, user=ANA, place=PLACE)
    [reply] = [r async for r in app.handle(request)]
    assert reply.error and t("es", key) in plain_text(reply)
