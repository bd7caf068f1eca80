"""Homework as a spreadsheet: one row per student and question, with the latest answer."""

from __future__ import annotations

from bot.homework.deadline import format_moment
from bot.homework.display import question_text
from bot.homework.store import Answer, Assignment
from bot.quiz.export import spreadsheet

COLUMNS = (
    "student", "user_id", "question_number", "question_id", "question", "answer", "submitted_at", "late", "revisions",
)  # fmt: skip


def answers_csv(
    assignment: Assignment,
    answers: list[Answer],
    revisions: dict[tuple[int, str], int],
    lang: str,
    zone: str,
) -> bytes:
    """The latest answer of each student to each question; `revisions` says how many versions there were."""
    rows: list[list[object]] = [list(COLUMNS)]
    for answer in sorted(answers, key=lambda a: (a.user_name.casefold(), a.user_id, a.position)):
        rows.append(
            [
                answer.user_name,
                answer.user_id,
                answer.position + 1,
                assignment.questions[answer.position].id,
                question_text(assignment, answer.position, lang),
                answer.text,
                format_moment(answer.submitted_at, zone, lang),
                1 if answer.late else 0,
                revisions.get((answer.position, answer.user_id), 1),
            ]
        )
    return spreadsheet(rows)
