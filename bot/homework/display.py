"""What homework looks like: the announcement, the question posts, the form, answers in
threads, reminders, a student's own answers and the instructor's review.

Answers are students' text: they go into parts as plain text and the adapters escape
them, so markdown, code fences and mentions inside an answer show literally.
"""

from __future__ import annotations

from bot import actions
from bot.homework.deadline import format_moment
from bot.homework.store import Answer, Assignment, ClassMember
from bot.i18n import t
from bot.limits import DISCORD_MODAL_INPUTS, split_text
from bot.quiz.banks import localized
from bot.quiz.display import nickname
from bot.replies import (
    BulletList,
    Button,
    ButtonStyle,
    Form,
    FormField,
    Heading,
    Paragraph,
    Reply,
    Span,
    Table,
)

FORM_QUESTIONS = DISCORD_MODAL_INPUTS  # a Discord modal holds five text inputs: longer homework takes turns
ANSWER_POST_CHARS = 1500  # one thread post; a longer answer continues in the next ones


def question_text(assignment: Assignment, position: int, lang: str) -> str:
    return localized(assignment.questions[position].text, lang)


def title_of(assignment: Assignment, lang: str) -> str:
    return localized(assignment.title, lang) or assignment.bank_name


def shown_name(assignment: Assignment, answer: Answer, order: list[str], lang: str) -> str:
    """The author as the class sees them: the name, or a nickname stable within the assignment."""
    if not assignment.anonymous:
        return answer.user_name
    ordinal = order.index(answer.user_id) if answer.user_id in order else len(order)
    return t(lang, "homework.anonymous_author", nickname=nickname(assignment.id, ordinal))


def announcement_reply(assignment: Assignment, zone: str) -> Reply:
    lang = assignment.locale
    publish = t(lang, f"homework.publish_{assignment.publish}")
    if assignment.anonymous:
        publish += " " + t(lang, "homework.publish_anonymously")
    return Reply.public(
        Heading(t(lang, "homework.announced_title", id=assignment.id, title=title_of(assignment, lang))),
        Paragraph.of(
            t(lang, "homework.announced_due", due=format_moment(assignment.due_at, zone, lang)),
        ),
        BulletList(
            tuple(
                Paragraph.of(f"{n}. ", question_text(assignment, n - 1, lang))
                for n in range(1, len(assignment.questions) + 1)
            )
        ),
        Paragraph.of(
            t(lang, "homework.announced_how"),
            Span(f"/quiz answer tarea:{assignment.id}", code=True),
            " · ",
            Span("/quiz my-answers", code=True),
        ),
        Paragraph.of(Span(publish, italic=True)),
    )


def question_post_reply(assignment: Assignment, position: int) -> Reply:
    lang = assignment.locale
    return Reply.public(
        Paragraph.of(
            Span(
                t(
                    lang,
                    "homework.question_post",
                    number=position + 1,
                    total=len(assignment.questions),
                    id=assignment.id,
                ),
                bold=True,
            )
        ),
        Paragraph.of(question_text(assignment, position, lang)),
        Paragraph.of(Span(t(lang, "homework.discuss_in_thread"), italic=True)),
    )


def thread_title(assignment: Assignment, position: int) -> str:
    lang = assignment.locale
    return (
        t(lang, "homework.thread_title", id=assignment.id, number=position + 1)
        + " "
        + question_text(assignment, position, lang)
    )


def answer_posts(assignment: Assignment, answer: Answer, author: str) -> list[Reply]:
    """An answer as thread posts: who and when, then the text, continued over several posts if long."""
    lang = assignment.locale
    notes = []
    if answer.revision > 1:
        notes.append(t(lang, "homework.post_revision", revision=answer.revision))
    if answer.late:
        notes.append(t(lang, "homework.post_late"))
    header = [Span(author, bold=True)]
    if notes:
        header.append(Span(" · " + " · ".join(notes), italic=True))
    chunks = split_text(answer.text, ANSWER_POST_CHARS)
    posts = [Reply.public(Paragraph(tuple(header)), Paragraph.of(chunks[0]))]
    for index, chunk in enumerate(chunks[1:], start=2):
        more = t(lang, "homework.post_continued", author=author, part=index, parts=len(chunks))
        posts.append(Reply.public(Paragraph.of(Span(more, italic=True)), Paragraph.of(chunk)))
    return posts


def deadline_reply(assignment: Assignment, answered: int) -> Reply:
    lang = assignment.locale
    key = "homework.deadline_published" if assignment.publish == "at_deadline" else "homework.deadline_passed"
    late = assignment.closes_at > assignment.due_at
    lines = [Paragraph.of(t(lang, key, id=assignment.id, title=title_of(assignment, lang), count=answered))]
    if late:
        lines.append(Paragraph.of(Span(t(lang, "homework.deadline_late_ok"), italic=True)))
    return Reply.public(*lines)


def reminder_reply(assignment: Assignment, pending: int, lang: str, zone: str) -> Reply:
    return Reply.private(
        Paragraph.of(
            t(
                lang,
                "homework.reminder",
                id=assignment.id,
                title=title_of(assignment, lang),
                due=format_moment(assignment.due_at, zone, lang),
                count=pending,
            )
        ),
        buttons=(
            Button(actions.HOMEWORK_OPEN.id(assignment=assignment.id), t(lang, "homework.button_answer"), ButtonStyle.PRIMARY),
            Button(actions.HOMEWORK_MUTE.id(assignment=assignment.id), t(lang, "homework.button_mute")),
        ),
    )


def answer_form(
    assignment: Assignment,
    positions: list[int],
    saved: dict[int, Answer],
    lang: str,
    revising: bool,
    limit: int,
) -> Form:
    """The questions at `positions` as one form. Answering, a blank field is a question left
    for later; revising, every field holds the saved answer and must stay filled."""
    action = actions.HOMEWORK_REVISE if revising else actions.HOMEWORK_SUBMIT
    fields = []
    for position in positions:
        question = question_text(assignment, position, lang)
        saved_answer = saved.get(position)
        fields.append(
            FormField(
                id=f"p{position}",
                label=f"{position + 1}. {question}",
                multiline=True,
                required=revising,
                max_length=min(limit, assignment.questions[position].max_length),
                placeholder=question,
                whole_label_at=t(lang, "homework.form_whole_question"),
                value=saved_answer.text if revising and saved_answer else "",
            )
        )
    return Form(
        id=action.id(assignment=assignment.id, questions=positions),
        title=t(lang, "homework.form_title", id=assignment.id),
        fields=tuple(fields),
    )


def next_form_button(assignment: Assignment, lang: str) -> Button:
    return Button(
        actions.HOMEWORK_OPEN.id(assignment=assignment.id), t(lang, "homework.button_answer_more"), ButtonStyle.PRIMARY
    )


def saved_reply(
    assignment: Assignment, saved: dict[int, int], pending: int, now: float, lang: str, zone: str
) -> Reply:
    numbers = ", ".join(str(p + 1) for p in sorted(saved))
    lines = [Paragraph.of(t(lang, "homework.saved", count=len(saved), numbers=numbers, id=assignment.id))]
    if now >= assignment.due_at:
        lines.append(
            Paragraph.of(
                t(
                    lang,
                    "homework.saved_late",
                    due=format_moment(assignment.due_at, zone, lang),
                    closes=format_moment(assignment.closes_at, zone, lang),
                )
            )
        )
    else:
        lines.append(
            Paragraph.of(t(lang, "homework.saved_revise", due=format_moment(assignment.due_at, zone, lang)))
        )
    where = "homework.saved_posted" if assignment.publishes_now(now) else "homework.saved_at_deadline"
    lines.append(Paragraph.of(Span(t(lang, where), italic=True)))
    buttons: tuple[Button, ...] = ()
    if pending:
        lines.append(Paragraph.of(t(lang, "homework.still_pending", count=pending)))
        buttons = (next_form_button(assignment, lang),)
    return Reply.private(*lines, buttons=buttons)


def my_answers_reply(
    assignment: Assignment, answers: list[Answer], now: float, lang: str, zone: str
) -> Reply:
    mine = {a.position: a for a in answers}
    # The deadline as it is now: still open, past but taking late answers until closes_at, or closed.
    if now < assignment.due_at:
        state = "homework.mine_open"
    elif assignment.accepts(now):
        state = "homework.mine_late"
    else:
        state = "homework.mine_closed"
    due, closes = (format_moment(at, zone, lang) for at in (assignment.due_at, assignment.closes_at))
    parts: list = [
        Heading(t(lang, "homework.mine_title", id=assignment.id, title=title_of(assignment, lang))),
        Paragraph.of(Span(t(lang, state, due=due, closes=closes), italic=True)),
    ]
    for position in range(len(assignment.questions)):
        parts.append(
            Paragraph.of(Span(f"{position + 1}. {question_text(assignment, position, lang)}", bold=True))
        )
        answer = mine.get(position)
        if answer is None:
            parts.append(Paragraph.of(Span(t(lang, "homework.mine_unanswered"), italic=True)))
            continue
        parts.append(Paragraph.of(answer.text))
        note = t(
            lang,
            "homework.mine_meta",
            revision=answer.revision,
            when=format_moment(answer.submitted_at, zone, lang),
        )
        if answer.late:
            note += " · " + t(lang, "homework.post_late")
        parts.append(Paragraph.of(Span(note, italic=True)))
    buttons: list[Button] = []
    if assignment.accepts(now):
        if len(mine) < len(assignment.questions):
            buttons.append(
                Button(
                    actions.HOMEWORK_OPEN.id(assignment=assignment.id), t(lang, "homework.button_answer"), ButtonStyle.PRIMARY
                )
            )
        buttons += [
            Button(actions.HOMEWORK_EDIT.id(assignment=assignment.id, question=p), t(lang, "homework.button_revise", number=p + 1))
            for p in sorted(mine)
        ]
    return Reply.private(*parts, buttons=tuple(buttons))


def review_reply(
    assignment: Assignment,
    answers: list[Answer],
    revisions: dict[tuple[int, str], int],
    members: list[ClassMember],
    now: float,
    lang: str,
    zone: str,
) -> Reply:
    total = len(assignment.questions)
    by_user: dict[str, list[Answer]] = {}
    for answer in answers:
        by_user.setdefault(answer.user_id, []).append(answer)
    names = {a.user_id: a.user_name for a in answers}
    students = [m for m in members if not m.is_instructor and m.user_id != assignment.created_by]
    names |= {m.user_id: m.display_name for m in students}
    missing = [m.display_name for m in students if m.user_id not in by_user]
    rows = []
    for user_id, given in sorted(by_user.items(), key=lambda item: names[item[0]].casefold()):
        late = sum(1 for a in given if a.late)
        if len(given) < total:
            status = t(lang, "homework.review_partial")
        elif late:
            status = t(lang, "homework.review_late")
        else:
            status = t(lang, "homework.review_on_time")
        rows.append(
            (
                names[user_id],
                f"{len(given)}/{total}",
                status,
                str(sum(revisions.get((a.position, user_id), 1) for a in given)),
                format_moment(max(a.submitted_at for a in given), zone, lang),
            )
        )
    state = "homework.review_open" if now < assignment.due_at else "homework.review_past"
    parts: list = [
        Heading(t(lang, "homework.review_title", id=assignment.id, title=title_of(assignment, lang))),
        Paragraph.of(t(lang, state, due=format_moment(assignment.due_at, zone, lang))),
        Paragraph.of(
            t(
                lang,
                "homework.review_counts",
                answered=sum(1 for g in by_user.values() if len(g) == total),
                partial=sum(1 for g in by_user.values() if len(g) < total),
                late=sum(1 for g in by_user.values() if any(a.late for a in g)),
                missing=len(missing),
            )
        ),
    ]
    if rows:
        parts.append(Table(tuple(t(lang, f"homework.review_col_{c}") for c in REVIEW_COLUMNS), tuple(rows)))
    if missing:
        parts.append(Paragraph.of(Span(t(lang, "homework.review_missing"), bold=True)))
        parts.append(BulletList(tuple(Paragraph.of(name) for name in missing)))
    parts.append(Paragraph.of(Span(t(lang, "homework.review_roster_note"), italic=True)))
    return Reply.private(*parts)


REVIEW_COLUMNS = ("student", "answered", "status", "revisions", "last")
