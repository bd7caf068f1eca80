"""A quiz as spreadsheets: one row per student, one per question (CSV and .xlsx, bot.exports)."""

from __future__ import annotations

from bot.exports import Sheet
from bot.quiz.banks import LETTERS, localized
from bot.quiz.display import nickname, ranked
from bot.quiz.store import QuizRepository, QuizSession

STUDENT_COLUMNS = ("rank", "name", "user_id", "nickname", "points", "correct", "answered")
QUESTION_COLUMNS = (
    "number", "id", "question", "correct_answer", "answered", "A", "B", "C", "D", "right_pct", "avg_seconds",
)  # fmt: skip


async def export_sheets(repo: QuizRepository, session: QuizSession, lang: str) -> list[tuple[str, Sheet]]:
    """[(file stem, sheet)]: the per-student sheet and the per-question sheet."""
    states = await repo.questions(session.id)
    answers = await repo.all_answers(session.id)
    standings = await repo.standings(session.id)
    order = {user_id: ordinal for user_id, _, ordinal in await repo.players(session.id)}

    choice_of = {(p, a.user_id): a for p, given in answers.items() for a in given}
    played = [s.position for s in states]
    student_rows: list[list[object]] = []
    for rank, (user_id, name, points, correct, answered) in ranked(standings):
        nick = nickname(session.id, order[user_id]) if session.anonymous and user_id in order else ""
        picks = [LETTERS[choice_of[(p, user_id)].choice] if (p, user_id) in choice_of else "" for p in played]
        student_rows.append([rank, name, user_id, nick, points, correct, answered, *picks])

    question_rows: list[list[object]] = []
    for state in states:
        question = session.questions[state.position]
        given = answers.get(state.position, [])
        counts = [sum(1 for a in given if a.choice == i) for i in range(len(LETTERS))]
        right = sum(1 for a in given if a.choice in question.correct)
        seconds = [a.answered_at - state.opened_at for a in given]
        question_rows.append(
            [
                state.position + 1,
                question.id,
                localized(question.text, lang),
                ",".join(LETTERS[i] for i in question.correct),
                len(given),
                *(counts[i] if i < len(question.options) else "" for i in range(len(LETTERS))),
                round(100 * right / len(given), 1) if given else 0,
                round(sum(seconds) / len(seconds), 2) if seconds else "",
            ]
        )
    prefix = f"quiz-{session.id}-{session.bank_name}"
    return [
        (f"{prefix}-students", Sheet((*STUDENT_COLUMNS, *(f"q{p + 1}" for p in played)), student_rows, "students")),
        (f"{prefix}-questions", Sheet(QUESTION_COLUMNS, question_rows, "questions")),
    ]
