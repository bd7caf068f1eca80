"""Homework's part of /quiz: its subcommands, its clicks and its forms.

/quiz assign banco:<bank> [vence] [publicar] [anonimo] [recordatorio] (instructors) ·
/quiz answer [tarea] · /quiz my-answers [tarea] · /quiz review [tarea] (instructors) ·
/quiz export tarea:<id> (instructors). Students know one /quiz command, so these stay
its subcommands: bot/quiz/command.py lists SUBCOMMANDS in its spec and hands these
requests to `run` and `on_action` here. The work itself is `Homework` (service.py).

Its forms and buttons are "quiz:hw-…:<assignment>…" (ACTIONS; bot/actions.py declares each).
"""

from __future__ import annotations

from bot import actions
from bot.actions import first_match
from bot.command import CommandSpec, Option
from bot.errors import UserError, echo
from bot.homework.deadline import default_deadline, parse_deadline
from bot.homework.service import Homework
from bot.i18n import t
from bot.quiz.banks import Bank, BankCatalog, BankError, class_of
from bot.replies import Paragraph, Reply
from bot.requests import Request

ASSIGNMENT_OPTION = Option("tarea", "homework.opt.assignment", kind="integer", name_en="assignment")
PUBLISH_CHOICES = {"al-enviar": "on_submit", "al-vencer": "at_deadline"}
MAX_REMINDER_HOURS = 24 * 30

SUBCOMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "assign",
        "homework.assign.description",
        options=(
            Option("banco", "quiz.opt.bank", required=True, autocomplete=True, name_en="bank"),
            Option("vence", "homework.opt.due", name_en="due"),
            Option(
                "publicar",
                "homework.opt.publish",
                choices=tuple(PUBLISH_CHOICES),
                name_en="publish",
                choices_en={"al-enviar": "on-submit", "al-vencer": "at-deadline"},
            ),
            Option("anonimo", "homework.opt.anonymous", kind="boolean", name_en="anonymous"),
            Option("recordatorio", "homework.opt.reminder", kind="integer", name_en="reminder"),
        ),
        instructor_only=True,
    ),
    CommandSpec("answer", "homework.answer.description", options=(ASSIGNMENT_OPTION,)),
    CommandSpec("my-answers", "homework.mine.description", options=(ASSIGNMENT_OPTION,)),
    CommandSpec("review", "homework.review.description", options=(ASSIGNMENT_OPTION,), instructor_only=True),
)


def handles(request: Request) -> bool:
    """Whether this /quiz request is homework's: one of its subcommands, or an export of a tarea."""
    if request.subcommand == "export":
        return request.arg("tarea") is not None
    return any(spec.name == request.subcommand for spec in SUBCOMMANDS)


async def run(request: Request, homework: Homework) -> Reply:
    if request.subcommand == "export":
        return await homework.export(request, int(request.arg("tarea")))
    handlers = {
        "assign": assign,
        "answer": answer,
        "my-answers": my_answers,
        "review": review,
    }
    return await handlers[request.subcommand](request, homework)


async def assign(request: Request, homework: Homework) -> Reply:
    lang = request.locale
    settings = homework.settings
    now = homework.app.clock()
    typed = str(request.arg("vence", "")).strip()
    if typed:
        due_at = parse_deadline(typed, now, settings.timezone)
    else:
        due_at = default_deadline(now, settings.timezone, settings.default_days)
    bank = await named_bank(request, homework.catalog)
    publish = PUBLISH_CHOICES.get(request.arg("publicar", ""), settings.publish)
    reminder = request.arg("recordatorio")
    if reminder is not None and not 0 <= int(reminder) <= MAX_REMINDER_HOURS:
        raise UserError("homework.bad_reminder", value=reminder, high=MAX_REMINDER_HOURS)
    hours = settings.reminder_hours_before if reminder is None else int(reminder)
    assignment = await homework.assign(
        request, bank, due_at, publish, bool(request.arg("anonimo", settings.anonymous)), hours
    )
    lines = [
        t(
            lang,
            "homework.assigned",
            id=assignment.id,
            count=len(assignment.questions),
            due=homework.moment(assignment.due_at, lang),
        ),
        t(lang, f"homework.publish_{assignment.publish}"),
    ]
    if assignment.remind_at is not None:
        lines.append(t(lang, "homework.assigned_reminder", when=homework.moment(assignment.remind_at, lang)))
    lines.append(t(lang, "homework.assigned_review", id=assignment.id))
    return Reply.private(*(Paragraph.of(line) for line in lines))


async def named_bank(request: Request, catalog: BankCatalog) -> Bank:
    """The bank named by banco:, or a clear refusal (unknown, or invalid with its problems)."""
    name = str(request.arg("banco", "")).strip().lower()
    owner = class_of(request.place)
    try:
        bank = await catalog.get(name, owner)
    except BankError as exc:
        raise UserError("quiz.bank_invalid", problems="\n".join(exc.describe(request.locale))) from None
    if bank is None:
        names = ", ".join(await catalog.names(owner)) or "—"
        raise UserError("quiz.unknown_bank", bank=echo(name), available=names)
    return bank


async def answer(request: Request, homework: Homework) -> Reply:
    return Reply.open_form(await homework.form(request, request.arg("tarea")))


async def my_answers(request: Request, homework: Homework) -> Reply:
    return await homework.my_answers(request, request.arg("tarea"))


async def review(request: Request, homework: Homework) -> Reply:
    return await homework.review(request, request.arg("tarea"))


ACTIONS = (
    actions.HOMEWORK_OPEN,
    actions.HOMEWORK_EDIT,
    actions.HOMEWORK_SUBMIT,
    actions.HOMEWORK_REVISE,
    actions.HOMEWORK_MUTE,
    actions.HOMEWORK_UNMUTE,
)


async def on_action(request: Request, homework: Homework) -> Reply:
    """A click or form of homework's (ACTIONS); any other "quiz:" id is refused as unknown."""
    found = first_match(ACTIONS, request.action)
    if found is None:
        raise UserError("quiz.unknown_button")
    action, values = found
    assignment_id = values["assignment"]
    if action is actions.HOMEWORK_OPEN:
        return Reply.open_form(await homework.form(request, assignment_id))
    if action is actions.HOMEWORK_EDIT:
        return Reply.open_form(await homework.form(request, assignment_id, revise=values["question"]))
    if action in (actions.HOMEWORK_SUBMIT, actions.HOMEWORK_REVISE):
        revising = action is actions.HOMEWORK_REVISE
        return await homework.submit(request, assignment_id, values["questions"], revising=revising)
    return await homework.set_reminders(request, assignment_id, wanted=action is actions.HOMEWORK_UNMUTE)
