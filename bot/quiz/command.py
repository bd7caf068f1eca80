"""/quiz: live quizzes in the class channel, run by an instructor, Kahoot style, and homework.

/quiz start banco:<bank> [aleatorio] [tiempo] [anonimo] · /quiz next · /quiz stop ·
/quiz results [sesion] · /quiz export [sesion | tarea] · /quiz import archivo:<file>
Students only click the answer buttons (actions.QUIZ_ANSWER) and "my rank"
(actions.QUIZ_RANK); the ids carry everything, so they keep working
after a restart.

Homework's subcommands (assign, answer, my-answers, review, export tarea:) and its clicks
("quiz:hw-…") are listed in this command's spec but answered by bot/homework/command.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import actions
from bot.command import Command, CommandSpec, Option
from bot.errors import UserError, echo
from bot.exports import attachments
from bot.homework import command as homework_command
from bot.homework.command import ASSIGNMENT_OPTION
from bot.i18n import t
from bot.quiz.banks import MAX_TIME, MIN_TIME, BankError, class_of, localized, parse_bank_off_loop
from bot.quiz.display import instructor_results
from bot.quiz.engine import QuizEngine
from bot.quiz.export import export_sheets
from bot.quiz.store import QuizSession
from bot.replies import Paragraph, Reply, Span
from bot.requests import Request

if TYPE_CHECKING:
    from bot.app import Aula

# A bank file is read whole (YAML or CSV); larger files are refused with the limit named.
BANK_MAX_BYTES = 8 * 1024 * 1024

SESSION_OPTION = Option("sesion", "quiz.opt.session", kind="integer", name_en="session")

SPEC = CommandSpec(
    name="quiz",
    description="quiz.description",
    subcommands=(
        CommandSpec(
            "start",
            "quiz.start.description",
            options=(
                Option("banco", "quiz.opt.bank", required=True, autocomplete=True, name_en="bank"),
                Option("aleatorio", "quiz.opt.shuffle", kind="boolean", name_en="shuffle"),
                Option("tiempo", "quiz.opt.time", kind="integer", name_en="time"),
                Option("anonimo", "quiz.opt.anonymous", kind="boolean", name_en="anonymous"),
            ),
            instructor_only=True,
        ),
        CommandSpec("next", "quiz.next.description", instructor_only=True),
        CommandSpec("stop", "quiz.stop.description", instructor_only=True),
        CommandSpec("results", "quiz.results.description", options=(SESSION_OPTION,), instructor_only=True),
        CommandSpec(
            "export", "quiz.export.description", options=(SESSION_OPTION, ASSIGNMENT_OPTION), instructor_only=True
        ),
        CommandSpec(
            "import",
            "quiz.import.description",
            options=(Option("archivo", "quiz.opt.file", kind="attachment", required=True, name_en="file"),),
            instructor_only=True,
        ),
        *homework_command.SUBCOMMANDS,
    ),
)


async def run(request: Request, app: Aula) -> Reply:
    homework = app.services.homework
    await homework.repo.seen(request, app.clock())
    if homework_command.handles(request):
        return await homework_command.run(request, homework)
    handlers = {
        "start": start,
        "next": next_question,
        "stop": stop,
        "results": results,
        "export": export,
        "import": import_bank,
    }
    handler = handlers.get(request.subcommand)
    if handler is None:
        raise UserError("quiz.which_subcommand")
    return await handler(request, app.services.quiz)


async def start(request: Request, engine: QuizEngine) -> Reply:
    lang = request.locale
    name = str(request.arg("banco", "")).strip().lower()
    seconds = request.arg("tiempo")
    if seconds is not None and not MIN_TIME <= int(seconds) <= MAX_TIME:
        raise UserError("quiz.bad_time", value=seconds, low=MIN_TIME, high=MAX_TIME)
    owner = class_of(request.place)
    try:
        bank = await engine.catalog.get(name, owner)
    except BankError as exc:
        raise UserError("quiz.bank_invalid", problems="\n".join(exc.describe(lang))) from None
    if bank is None:
        names = ", ".join(await engine.catalog.names(owner)) or "—"
        raise UserError("quiz.unknown_bank", bank=echo(name), available=names)
    anonymous = bool(request.arg("anonimo", engine.settings.anonymous))
    session = await engine.start_quiz(
        request, bank, bool(request.arg("aleatorio", False)), seconds, anonymous
    )
    first = session.questions[0]
    lines = [
        t(
            lang,
            "quiz.started",
            title=localized(session.title, lang),
            count=len(session.questions),
            seconds=first.seconds,
        ),
        t(lang, "quiz.started_rules", rule=t(lang, f"quiz.rule_name_{session.change_rule}")),
        t(lang, "quiz.started_next"),
    ]
    if session.anonymous:
        lines.append(t(lang, "quiz.instructor_sees_names"))
    return Reply.private(*(Paragraph.of(line) for line in lines))


async def running_here(request: Request, engine: QuizEngine) -> QuizSession:
    session = await engine.repo.running_session(request.place)
    if session is None:
        raise UserError("quiz.none_running")
    return session


async def next_question(request: Request, engine: QuizEngine) -> Reply:
    session = await running_here(request, engine)
    position = await engine.advance(session)
    if position is None:
        return Reply.private(Paragraph.of(t(request.locale, "quiz.finished", id=session.id)))
    return Reply.private(
        Paragraph.of(t(request.locale, "quiz.posted", number=position + 1, total=len(session.questions)))
    )


async def stop(request: Request, engine: QuizEngine) -> Reply:
    session = await running_here(request, engine)
    await engine.stop(session)
    return Reply.private(Paragraph.of(t(request.locale, "quiz.stopped", id=session.id)))


async def chosen_session(request: Request, engine: QuizEngine) -> QuizSession:
    """The session named by sesion:, else this channel's running or latest one (fresh from storage)."""
    session_id = request.arg("sesion")
    if session_id is not None:
        session = await engine.repo.session(int(session_id))
        same_place = session is not None and (
            session.place.platform,
            session.place.workspace_id,
        ) == (request.place.platform, request.place.workspace_id)
        if not same_place:
            raise UserError("quiz.unknown_session", id=session_id)
        return session
    session = await engine.repo.latest_session(request.place)
    if session is None:
        raise UserError("quiz.no_sessions_here")
    return session


async def results(request: Request, engine: QuizEngine) -> Reply:
    session = await chosen_session(request, engine)
    states = await engine.repo.questions(session.id)
    answers = await engine.repo.all_answers(session.id)
    standings, names = await engine.standings(session)
    return instructor_results(request.locale, session, states, answers, standings, names)


async def export(request: Request, engine: QuizEngine) -> Reply:
    session = await chosen_session(request, engine)
    sheets = await export_sheets(engine.repo, session, request.locale)
    lang = request.locale
    return Reply.private(
        Paragraph.of(t(lang, "quiz.exported", id=session.id)),
        *(
            file
            for (stem, sheet), kind in zip(sheets, ("students", "questions"), strict=True)
            for file in attachments(sheet, stem, t(lang, f"quiz.export_{kind}"))
        ),
    )


async def import_bank(request: Request, engine: QuizEngine) -> Reply:
    lang = request.locale
    if not request.attachments:
        raise UserError("quiz.attach_a_file")
    parts = []
    for upload in request.attachments:
        filename, content = upload.name, await upload.read(BANK_MAX_BYTES)
        try:
            bank = await parse_bank_off_loop(content, filename)
        except BankError as exc:
            raise UserError("quiz.bank_invalid", problems="\n".join(exc.describe(lang))) from None
        if engine.catalog.shipped(bank.name):
            raise UserError("quiz.import_shipped_name", bank=bank.name, file=echo(filename))
        await engine.repo.save_bank(
            class_of(request.place), bank.name, filename, content, request.user.id, engine.app.clock()
        )
        parts.append(
            Paragraph.of(
                t(
                    lang,
                    "quiz.imported",
                    bank=bank.name,
                    choice=t(lang, "quiz.n.choice", count=len(bank.choice_questions)),
                    open=t(lang, "quiz.n.open", count=len(bank.open_questions)),
                ),
                Span(f" /quiz start banco:{bank.name}", code=True),
            )
        )
    return Reply.private(*parts)


async def on_action(request: Request, app: Aula) -> Reply:
    engine = app.services.quiz
    await app.services.homework.repo.seen(request, app.clock())  # who plays here is in the class roster
    if (answer := actions.QUIZ_ANSWER.parse(request.action)) is not None:
        return await engine.answer(request, answer["session"], answer["question"], answer["letter"])
    if (rank := actions.QUIZ_RANK.parse(request.action)) is not None:
        return await engine.rank(request, rank["session"])
    return await homework_command.on_action(request, app.services.homework)


async def autocomplete(request: Request, app: Aula, option: str, typed: str) -> list[str]:
    if option != "banco":
        return []
    typed = typed.strip().lower()
    names = await app.services.quiz.catalog.names(class_of(request.place))
    return [n for n in names if n.startswith(typed)] + [
        n for n in names if typed in n and not n.startswith(typed)
    ]


async def on_startup(app: Aula) -> None:
    await app.services.quiz.start()
    await app.services.homework.start()


command = Command(spec=SPEC, run=run, on_action=on_action, autocomplete=autocomplete, on_startup=on_startup)
