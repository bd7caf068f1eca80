"""Homework as a spreadsheet: one row per student and question, with the latest answer."""

from __future__ import annotations

from bot.exports import Sheet
from bot.homework.deadline import format_moment
from bot.homework.display import question_text
from bot.homework.store import Answer, Assignment
from bot.i18n import iso_moment

COLUMNS = (
    "student", "user_id", "question_number", "question_id", "question", "answer", "submitted_at",
    "submitted_at_local", "late", "revisions",
)  # fmt: skip


def answers_sheet(
    assignment: Assignment,
    answers: list[Answer],
    revisions: dict[tuple[int, str], int],
    lang: str,
    zone: str,
) -> bytes:
    """The latest answer of each student to each question; `revisions` says how many versions there were.
    `submitted_at` is ISO 8601 with the class's UTC offset (it sorts); `submitted_at_local` the same
    moment as people read it."""
    rows: list[list[object]] = []
    for answer in sorted(answers, key=lambda a: (a.user_name.casefold(), a.user_id, a.position)):
        rows.append(
            [
                answer.user_name,
                answer.user_id,
                answer.position + 1,
                assignment.questions[answer.position].id,
                question_text(assignment, answer.position, lang),
                answer.text,
                iso_moment(answer.submitted_at, zone),
                format_moment(answer.submitted_at, zone, lang),
                1 if answer.late else 0,
                revisions.get((answer.position, answer.user_id), 1),
            ]
        )
    return Sheet(COLUMNS, rows, "answers")
