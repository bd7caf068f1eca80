"""What a live quiz shows: the question, its close, leaderboards and private notes, as Replies."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from bot import actions
from bot.i18n import number, percent, t
from bot.limits import DISCORD_BUTTON_LABEL, SLACK_BUTTON_TEXT, truncate
from bot.quiz.banks import LETTERS, localized
from bot.quiz.store import AnswerRow, LiveQuestion, QuestionState, QuizSession, Recorded
from bot.replies import (
    BulletList,
    Button,
    ButtonStyle,
    Heading,
    Image,
    Paragraph,
    Reply,
    Span,
    Table,
)

BUTTON_LABEL = min(DISCORD_BUTTON_LABEL, SLACK_BUTTON_TEXT, 40)  # short enough for a row of four
# Nicknames for anonymous leaderboards; a number is added once they run out.
NICKNAMES = (
    "Alpaca", "Búho", "Castor", "Delfín", "Erizo", "Flamenco", "Gacela", "Halcón", "Iguana", "Jaguar",
    "Koala", "Lince", "Mapache", "Nutria", "Orca", "Pingüino", "Quetzal", "Rana", "Suricata", "Tortuga",
    "Urraca", "Vicuña", "Wombat", "Yak", "Zorro", "Ardilla", "Colibrí", "Foca", "Tucán", "Panda",
)  # fmt: skip

Standing = tuple[str, str, int, int, int]  # user_id, display name, points, correct, answered


def competition_ranks(standings: Sequence[Standing]) -> list[int]:
    """Standard competition ranking ("1224"): equal points share a place and the next place
    skips as many as shared it (1, 1, 3). Points are whole numbers (each answer's speed points
    are rounded before they are added), so a tie is what players see: the same total."""
    ranks: list[int] = []
    for index, standing in enumerate(standings):
        tied = index and standing[2] == standings[index - 1][2]
        ranks.append(ranks[-1] if tied else index + 1)
    return ranks


def ranked(standings: Sequence[Standing]) -> list[tuple[int, Standing]]:
    """[(place, standing)], best first (the store's order: points, then right answers, then who joined first)."""
    return list(zip(competition_ranks(standings), standings, strict=True))


def answer_id(session_id: int, position: int, letter: str) -> str:
    return actions.QUIZ_ANSWER.id(session=session_id, question=position, letter=letter)


def rank_id(session_id: int) -> str:
    return actions.QUIZ_RANK.id(session=session_id)


def nickname(session_id: int, ordinal: int) -> str:
    """The ordinal-th player (0-based, join order) of a session; unique within it."""
    names = list(NICKNAMES)
    random.Random(session_id).shuffle(names)
    name = names[ordinal % len(names)]
    return name if ordinal < len(names) else f"{name} {ordinal // len(names) + 1}"


def shown_names(
    session: QuizSession, standings: Sequence[Standing], players: Sequence[tuple[str, str, int]]
) -> dict[str, str]:
    """user_id -> what the channel sees: the display name, or a nickname when anonymous."""
    if not session.anonymous:
        return {s[0]: s[1] for s in standings}
    order = {user_id: ordinal for user_id, _, ordinal in players}
    return {s[0]: nickname(session.id, order.get(s[0], 0)) for s in standings}


def _heading(session: QuizSession, position: int, lang: str) -> Heading:
    return Heading(t(lang, "quiz.question_heading", number=position + 1, total=len(session.questions)))


def _options_list(question: LiveQuestion, lang: str, mark_correct: bool = False) -> BulletList:
    items = []
    for index, option in enumerate(question.options):
        right = mark_correct and index in question.correct
        spans = [Span(f"{LETTERS[index]})", bold=True), Span(" "), Span(localized(option, lang), bold=right)]
        if right:
            spans.append(Span(" ✅"))
        items.append(Paragraph(tuple(spans)))
    return BulletList(tuple(items))


def _buttons(session: QuizSession, position: int, lang: str, disabled: bool) -> tuple[Button, ...]:
    question = session.questions[position]
    return tuple(
        Button(
            id=answer_id(session.id, position, LETTERS[index]),
            label=truncate(f"{LETTERS[index]} · {localized(option, lang)}", BUTTON_LABEL),
            style=ButtonStyle.PRIMARY,
            disabled=disabled,
        )
        for index, option in enumerate(question.options)
    )


def question_reply(session: QuizSession, state: QuestionState, answered: int, now: float) -> Reply:
    """The open question in the channel: options, buttons, how many answered (not what), time left."""
    lang = session.locale
    question = session.questions[state.position]
    seconds_left = max(0, math.ceil(state.closes_at - now))
    parts = [
        _heading(session, state.position, lang),
        Paragraph.of(Span(localized(question.text, lang), bold=True)),
        _options_list(question, lang),
        Paragraph.of(t(lang, "quiz.status_open", count=answered, seconds=seconds_left)),
    ]
    if session.anonymous:
        parts.append(Paragraph.of(Span(t(lang, "quiz.anonymous_notice"), italic=True)))
    return Reply.public(*parts, buttons=_buttons(session, state.position, lang, disabled=False))


def distribution(question: LiveQuestion, answers: Sequence[AnswerRow]) -> list[int]:
    counts = [0] * len(question.options)
    for answer in answers:
        if 0 <= answer.choice < len(counts):
            counts[answer.choice] += 1
    return counts


def closed_reply(session: QuizSession, state: QuestionState, answers: Sequence[AnswerRow]) -> Reply:
    """The question after its close: buttons disabled, counts and % per option, the right one marked."""
    lang = session.locale
    question = session.questions[state.position]
    counts = distribution(question, answers)
    total = sum(counts)
    rows = tuple(
        (
            f"{LETTERS[i]} · {truncate(localized(option, lang), 40)}",  # a table must fit a phone
            number(lang, counts[i]),
            percent(lang, counts[i] / total if total else 0),
            "✅" if i in question.correct else "",
        )
        for i, option in enumerate(question.options)
    )
    parts = [
        _heading(session, state.position, lang),
        Paragraph.of(Span(localized(question.text, lang), bold=True)),
        Table(
            (t(lang, "quiz.col_option"), t(lang, "quiz.col_answers"), "%", t(lang, "quiz.col_correct")),
            rows,
        ),
        Paragraph.of(t(lang, "quiz.status_closed", answered=total)),
    ]
    if question.explanation:
        parts.append(Paragraph.of(Span(localized(question.explanation, lang), italic=True)))
    return Reply.public(*parts, buttons=_buttons(session, state.position, lang, disabled=True))


def chart_png(session: QuizSession, position: int, answers: Sequence[AnswerRow]) -> bytes:
    from bot.quiz.chart import distribution_png  # Pillow and the fonts: only when drawing

    lang = session.locale
    question = session.questions[position]
    counts = distribution(question, answers)
    return distribution_png(
        [LETTERS[i] for i in range(len(counts))],
        counts,
        set(question.correct),
        truncate(localized(question.text, lang), 90),
        t(lang, "quiz.chart_caption", number=position + 1, answered=sum(counts)),
        lang,
        [localized(option, lang) for option in question.options],
    )


def leaderboard_table(
    session: QuizSession, standings: Sequence[Standing], names: dict[str, str], size: int, lang: str
) -> Table:
    rows = tuple(
        (number(lang, rank), names.get(user_id, name), number(lang, points))
        for rank, (user_id, name, points, _correct, _answered) in ranked(standings)
        if rank <= size  # a tie at the cut stays whole
    )
    return Table((t(lang, "quiz.col_rank"), t(lang, "quiz.col_player"), t(lang, "quiz.col_points")), rows)


def results_reply(
    session: QuizSession,
    position: int,
    answers: Sequence[AnswerRow],
    standings: Sequence[Standing],
    names: dict[str, str],
    size: int,
) -> Reply:
    """Posted after a question closes: the bar chart and the top of the leaderboard."""
    lang = session.locale
    png = chart_png(session, position, answers)
    parts = [
        Image(png, f"quiz-{session.id}-q{position + 1}.png", t(lang, "quiz.chart_alt", number=position + 1)),
    ]
    if standings:
        parts.append(Heading(t(lang, "quiz.leaderboard_heading", count=min(size, len(standings)))))
        parts.append(leaderboard_table(session, standings, names, size, lang))
    else:
        parts.append(Heading(t(lang, "quiz.leaderboard_title")))
        parts.append(Paragraph.of(t(lang, "quiz.nobody_yet")))
    return Reply.public(*parts, buttons=(Button(rank_id(session.id), t(lang, "quiz.my_rank")),))


def final_reply(
    session: QuizSession, standings: Sequence[Standing], names: dict[str, str], size: int
) -> Reply:
    lang = session.locale
    parts: list = [Heading(t(lang, "quiz.final_heading", title=localized(session.title, lang)))]
    if standings:
        podium = [
            f"{'🥇🥈🥉'[rank - 1]} {names.get(s[0], s[1])} — {number(lang, s[2])}"
            for rank, s in ranked(standings)
            if rank <= 3
        ]
        parts.append(Paragraph.of(Span("   ".join(podium), bold=True)))
        parts.append(leaderboard_table(session, standings, names, size, lang))
    else:
        parts.append(Paragraph.of(t(lang, "quiz.nobody_played")))
    parts.append(Paragraph.of(t(lang, "quiz.thanks", count=len(standings))))
    return Reply.public(*parts, buttons=(Button(rank_id(session.id), t(lang, "quiz.my_rank")),))


def confirmation_reply(
    lang: str, session: QuizSession, position: int, recorded: Recorded, nick: str | None
) -> Reply:
    """The private note a student gets after a click."""
    question = session.questions[position]

    def option(index: int | None) -> str:
        if index is None:
            return "—"
        return f"{LETTERS[index]} · {localized(question.options[index], lang)}"

    rule = session.change_rule
    if recorded.status == "recorded":
        lines = [t(lang, "quiz.recorded", option=option(recorded.choice)), t(lang, f"quiz.rule_{rule}")]
    elif recorded.status == "changed":
        lines = [t(lang, "quiz.changed", option=option(recorded.choice))]
        if rule == "once":
            lines.append(t(lang, "quiz.no_more_changes"))
    elif recorded.status == "same":
        lines = [t(lang, "quiz.same", option=option(recorded.choice))]
    elif recorded.status == "change_refused":
        key = "quiz.change_refused_once" if rule == "once" else "quiz.change_refused"
        lines = [t(lang, key, option=option(recorded.choice))]
    else:
        lines = [t(lang, "quiz.too_late")]
        if recorded.choice is not None:
            lines.append(t(lang, "quiz.on_record", option=option(recorded.choice)))
    if nick and recorded.status in ("recorded", "changed", "same"):
        lines.append(t(lang, "quiz.you_are", nickname=nick))
    return Reply.private(*(Paragraph.of(line) for line in lines))


def rank_reply(
    lang: str, session: QuizSession, standings: Sequence[Standing], names: dict[str, str], user_id: str
) -> Reply:
    for rank, (uid, _name, points, correct, answered) in ranked(standings):
        if uid == user_id:
            text = t(
                lang,
                "quiz.your_rank",
                rank=rank,
                count=len(standings),
                points=points,
                correct=correct,
                answered=answered,
            )
            parts = [Paragraph.of(text)]
            if session.anonymous:
                parts.append(Paragraph.of(t(lang, "quiz.you_are", nickname=names[uid])))
            return Reply.private(*parts)
    return Reply.private(Paragraph.of(t(lang, "quiz.not_playing")))


def instructor_results(
    lang: str,
    session: QuizSession,
    states: Sequence[QuestionState],
    answers: dict[int, list[AnswerRow]],
    standings: Sequence[Standing],
    names: dict[str, str],
) -> Reply:
    """For the instructor only: each question's outcome and everyone's score, with real names."""
    status = t(lang, "quiz.session_running") if session.running else t(lang, "quiz.session_ended")
    question_rows = []
    for state in states:
        question = session.questions[state.position]
        given = answers.get(state.position, [])
        right = sum(1 for a in given if a.choice in question.correct)
        question_rows.append(
            (
                str(state.position + 1),
                truncate(localized(question.text, lang), 50),
                ", ".join(LETTERS[i] for i in question.correct),
                number(lang, len(given)),
                percent(lang, right / len(given) if given else 0),
                t(lang, "quiz.state_open") if state.is_open else t(lang, "quiz.state_closed"),
            )
        )
    player_rows = []
    for rank, (user_id, name, points, correct, answered) in ranked(standings):
        shown = f"{name} ({names[user_id]})" if session.anonymous else name
        player_rows.append(
            (number(lang, rank), shown, number(lang, points), number(lang, correct), number(lang, answered))
        )
    parts = [
        Heading(t(lang, "quiz.results_heading", id=session.id, title=localized(session.title, lang))),
        Paragraph.of(
            t(
                lang,
                "quiz.results_summary",
                status=status,
                played=t(lang, "quiz.results_played", played=len(states), count=len(session.questions)),
                count=len(standings),
            )
        ),
        Table(
            (
                "#",
                t(lang, "quiz.col_question"),
                t(lang, "quiz.col_correct"),
                t(lang, "quiz.col_answers"),
                t(lang, "quiz.col_right_pct"),
                t(lang, "quiz.col_state"),
            ),
            tuple(question_rows),
        ),
    ]
    if player_rows:
        parts.append(
            Table(
                (
                    t(lang, "quiz.col_rank"),
                    t(lang, "quiz.col_player"),
                    t(lang, "quiz.col_points"),
                    t(lang, "quiz.col_right"),
                    t(lang, "quiz.col_answered"),
                ),
                tuple(player_rows),
            )
        )
    if session.anonymous:
        parts.append(Paragraph.of(Span(t(lang, "quiz.instructor_sees_names"), italic=True)))
    parts.append(Paragraph.of(Span(t(lang, "quiz.export_hint", id=session.id), italic=True)))
    return Reply.private(*parts)
