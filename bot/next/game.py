"""/next's class game: everyone guesses the next token before the model's answer is shown.

`/next juego:sí texto:<prefix> [modelo:base|instruct]` (instructors). The model is asked first (its
distribution stays hidden, in SQLite), then the round is posted: buttons with the model's top
choices shuffled among other plausible words, a form for a typed guess, and a close button. At
`next.game_seconds` (or when the instructor closes it) the ticker posts the class's distribution
beside the model's; each student scores 1,000 × the probability the model gave their guess, and a
leaderboard adds up the channel's rounds. One guess per student and round (the table's key);
rounds close after a restart like quiz questions do. With several processes on one database, a
round's results are claimed (`next:round:<id>`, bot/storage/claims.py) and its `closed` flag
re-read under the claim: they are posted once, within `timers.lease_seconds +
next.tick_seconds` of the death of a process that was posting them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import actions, i18n
from bot.actions import first_match
from bot.errors import UserError
from bot.exports import Sheet, attachments
from bot.i18n import iso_moment, number, t
from bot.llm.client import LlmError
from bot.messenger import Messenger
from bot.next.logic import Candidate, Distribution, NoLogprobs, shown
from bot.next.store import dump_candidates, load_candidates
from bot.replies import (
    Button,
    ButtonStyle,
    Code,
    Form,
    FormField,
    Heading,
    Image,
    Paragraph,
    Reply,
    Span,
    Table,
    Visibility,
)
from bot.requests import Place, Request
from bot.ticker import PostRetries, Ticker

if TYPE_CHECKING:
    from bot.app import Aula
    from bot.storage.database import Database

log = logging.getLogger("aula.next")

POINTS = 1000  # a guess scores POINTS × the model's probability for it
MAX_GUESS_CHARS = 40
MAX_POST_ATTEMPTS = 3
# Plausible words that fill the buttons when the model's own top k has too few whole words.
FILLERS = {
    "es": ("de", "que", "y", "en", "el", "la", "un", "una", "muy", "no", "se", "por", "con", "más"),
    "en": ("the", "a", "of", "and", "to", "in", "is", "very", "not", "that", "it", "for", "with", "more"),
}
GAME_ACTIONS = (actions.NEXT_GUESS, actions.NEXT_WRITE, actions.NEXT_TYPED, actions.NEXT_CLOSE)


def guess_key(text: str) -> str:
    """Guesses and tokens compare without their spaces and case: " París" is "parís"."""
    return text.strip().casefold()


def model_probability(candidates: tuple[Candidate, ...], guess: str) -> float:
    """What the model gave this guess: the probabilities of its top-k tokens that read as it."""
    key = guess_key(guess)
    return min(1.0, sum(c.probability for c in candidates if not c.is_fragment and guess_key(c.text) == key))


def build_options(candidates: tuple[Candidate, ...], count: int, lang: str, rng) -> list[str]:
    """The guess buttons: the model's top whole-word choices (half of them) and, shuffled among
    them, lower-ranked candidates and common words."""
    words: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        text = candidate.text.strip()
        if candidate.is_fragment or not text or not text.isprintable() or guess_key(text) in seen:
            continue
        seen.add(guess_key(text))
        words.append(text)
    top = words[: max(1, count // 2)]
    pool = words[len(top) :] + [w for w in FILLERS.get(lang, FILLERS["es"]) if guess_key(w) not in seen]
    options = top + pool[: count - len(top)]
    rng.shuffle(options)
    return options


@dataclass
class Round:
    id: int
    place: Place
    message_id: str
    user_id: str
    prompt: str
    model: str
    candidates: tuple[Candidate, ...]
    options: list[str]
    closes_at: float
    closed: bool
    locale: str


class GameRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, at: float, place: Place, user_id: str, prompt: str, model: str,
                     candidates: tuple[Candidate, ...], options: list[str], closes_at: float, locale: str) -> int:  # fmt: skip
        rows = await self.db.execute_returning(
            "INSERT INTO next_rounds (at, platform, workspace_id, channel_id, thread_id, user_id, prompt, model,"
            " candidates, options, closes_at, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (at, place.platform, place.workspace_id, place.channel_id, place.thread_id, user_id, prompt, model,
             json.dumps(dump_candidates(candidates)), json.dumps(options), closes_at, locale),
        )  # fmt: skip
        return int(rows[0]["id"])

    async def set_message(self, round_id: int, message_id: str) -> None:
        await self.db.execute("UPDATE next_rounds SET message_id = ? WHERE id = ?", (message_id, round_id))

    async def get(self, round_id: int) -> Round | None:
        row = await self.db.fetchone("SELECT * FROM next_rounds WHERE id = ?", (round_id,))
        return None if row is None else _round(row)

    async def due(self, now: float) -> list[Round]:
        rows = await self.db.fetchall(
            "SELECT * FROM next_rounds WHERE closed = 0 AND closes_at <= ? ORDER BY closes_at", (now,)
        )
        return [_round(r) for r in rows]

    async def close_now(self, round_id: int, now: float) -> bool:
        rows = await self.db.execute_returning(
            "UPDATE next_rounds SET closes_at = ? WHERE id = ? AND closed = 0 AND closes_at > ? RETURNING id",
            (now, round_id, now),
        )
        return bool(rows)

    async def open_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM next_rounds WHERE closed = 0")
        return int(row[0]) if row else 0

    async def mark_closed(self, round_id: int) -> None:
        await self.db.execute("UPDATE next_rounds SET closed = 1 WHERE id = ?", (round_id,))

    async def guess(self, round_id: int, platform: str, user_id: str, user_name: str, guess: str,
                    probability: float, at: float) -> str | None:  # fmt: skip
        """Store a guess; None when stored, else the guess this student already made."""
        rows = await self.db.execute_returning(
            "INSERT INTO next_guesses (round_id, platform, user_id, user_name, guess, probability, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (round_id, platform, user_id) DO NOTHING RETURNING round_id",
            (round_id, platform, user_id, user_name, guess, probability, at),
        )
        if rows:
            return None
        row = await self.db.fetchone(
            "SELECT guess FROM next_guesses WHERE round_id = ? AND platform = ? AND user_id = ?",
            (round_id, platform, user_id),
        )
        return row["guess"] if row else ""

    async def guesses(self, round_id: int) -> list[tuple[str, str, str, float]]:
        """(user_id, user_name, guess, probability), in arrival order."""
        rows = await self.db.fetchall(
            "SELECT user_id, user_name, guess, probability FROM next_guesses WHERE round_id = ? ORDER BY at, platform, user_id",
            (round_id,),
        )
        return [tuple(r) for r in rows]

    async def standings(self, place: Place, limit: int) -> list[tuple[str, int, int]]:
        """(name, points, rounds) over the channel's closed rounds, best first."""
        rows = await self.db.fetchall(
            "SELECT MAX(g.user_name) AS name, SUM(CAST(ROUND(g.probability * ?) AS INTEGER)) AS points,"
            " COUNT(*) AS rounds FROM next_guesses g JOIN next_rounds r ON r.id = g.round_id"
            " WHERE r.platform = ? AND r.workspace_id = ? AND r.channel_id = ? AND r.closes_at <= ?"
            " GROUP BY g.platform, g.user_id ORDER BY points DESC, name LIMIT ?",
            (float(POINTS), place.platform, place.workspace_id, place.channel_id, 1e18, limit),
        )
        return [(r["name"], int(r["points"]), int(r["rounds"])) for r in rows]

    async def export(self, platform: str, workspace_id: str, zone: str = "UTC") -> Sheet:
        """Every guess of the class's rounds; `round_at` and `guessed_at` are ISO 8601 in `zone`."""
        rows = await self.db.fetchall(
            "SELECT r.id, r.at, r.channel_id, r.prompt, r.model, g.user_id, g.user_name, g.guess, g.probability,"
            " CAST(ROUND(g.probability * ?) AS INTEGER), g.at FROM next_rounds r"
            " JOIN next_guesses g ON g.round_id = r.id WHERE r.platform = ? AND r.workspace_id = ?"
            " ORDER BY r.id, g.at, g.platform, g.user_id",
            (float(POINTS), platform, workspace_id),
        )
        header = ("round", "round_at", "channel_id", "prompt", "model", "user_id", "user_name", "guess",
                  "model_probability", "points", "guessed_at")  # fmt: skip
        moments = (header.index("round_at"), header.index("guessed_at"))
        table = [tuple(iso_moment(v, zone) if i in moments else v for i, v in enumerate(r)) for r in rows]
        return Sheet(header, table, "next")


def _round(row) -> Round:
    place = Place(row["platform"], row["workspace_id"], row["channel_id"], row["thread_id"])
    return Round(row["id"], place, row["message_id"], row["user_id"], row["prompt"], row["model"],
                 load_candidates(json.loads(row["candidates"])), json.loads(row["options"]), row["closes_at"],
                 bool(row["closed"]), row["locale"])  # fmt: skip


class NextGame(Ticker):
    """Closes rounds whose time is up (also those that expired while the bot was down) and posts
    their results; `app.services.next_game`."""

    name = "next-game"

    def __init__(self, app: Aula) -> None:
        super().__init__()
        self.app = app
        self.repo = GameRepository(app.db)
        self._lock = asyncio.Lock()
        # A round whose results cannot be posted (a deleted channel) is closed after a few tries.
        self.retries = PostRetries(MAX_POST_ATTEMPTS, given_up_is_done=True, logger=log)

    @property
    def settings(self):
        return self.app.settings.next

    async def start(self) -> None:
        """At start-up: close what expired while the bot was down; tick on only while rounds are open."""
        await self._tick_logged()
        if await self.repo.open_count():
            self.keep_ticking()

    def keep_ticking(self) -> None:
        """Tick every tick_seconds until no round is open (a class without games pays nothing)."""
        if self.tick_seconds > 0 and (self._loop is None or self._loop.done()):
            self._loop = asyncio.create_task(self._tick_while_open(), name=self.name)

    async def _tick_while_open(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            await self._tick_logged()
            try:
                if not await self.repo.open_count():
                    return
            except Exception:  # storage trouble: keep trying, the next tick may get through
                log.exception("next-game: counting open rounds failed")

    async def tick(self) -> None:
        async with self._lock:
            claims = self.app.services.claims
            for game_round in await self.repo.due(self.app.clock()):
                messenger = self.app.messengers.get(game_round.place.platform)
                if messenger is None:
                    continue  # not connected yet: the next tick posts it
                async with claims.hold(f"next:round:{game_round.id}") as mine:
                    current = await self.repo.get(game_round.id) if mine else None
                    if current is None or current.closed:
                        continue  # another process posts them, or has
                    if await self._post_results(current, messenger):
                        await self.repo.mark_closed(current.id)

    async def _post_results(self, game_round: Round, messenger: Messenger) -> bool:
        guesses = await self.repo.guesses(game_round.id)
        standings = await self.repo.standings(game_round.place, self.settings.leaderboard_size)
        lang = game_round.locale

        async def post() -> None:
            if game_round.message_id:
                await messenger.edit(game_round.place, game_round.message_id, round_reply(game_round, lang, closed=True))
            await messenger.send(game_round.place, results_reply(game_round, guesses, standings, lang))

        return await self.retries.post(game_round.id, post(), "next round %s: posting results failed", game_round.id)


# --- what the class sees ----------------------------------------------------------------------


def round_reply(game_round: Round, lang: str, closed: bool = False) -> Reply:
    parts = [Heading(t(lang, "next.game.title", number=game_round.id)), Code(game_round.prompt + " …"),
             Paragraph.of(t(lang, "next.game.closed" if closed else "next.game.instructions"))]  # fmt: skip
    buttons = [
        Button(actions.NEXT_GUESS.id(round=game_round.id, option=index), option, ButtonStyle.PRIMARY, disabled=closed)
        for index, option in enumerate(game_round.options)
    ]
    buttons.append(Button(actions.NEXT_WRITE.id(round=game_round.id), t(lang, "next.game.write"), disabled=closed))
    buttons.append(Button(actions.NEXT_CLOSE.id(round=game_round.id), t(lang, "next.game.close"), ButtonStyle.DANGER,
                          disabled=closed))  # fmt: skip
    return Reply.public(*parts, buttons=tuple(buttons))


def results_reply(game_round: Round, guesses: list[tuple[str, str, str, float]], standings, lang: str) -> Reply:
    counts: dict[str, tuple[str, int, float]] = {}
    for _, _, guess, probability in guesses:
        key = guess_key(guess)
        text, count, _ = counts.get(key, (guess.strip(), 0, probability))
        counts[key] = (text, count + 1, probability)
    total = len(guesses)
    ranked = sorted(counts.values(), key=lambda item: (-item[1], -item[2], item[0]))
    rows = tuple((text, number(lang, count), i18n.probability(lang, count / total), i18n.probability(lang, p), number(lang, round(POINTS * p)))
                 for text, count, p in ranked)  # fmt: skip
    headers = tuple(t(lang, f"next.game.column.{c}") for c in ("guess", "votes", "class", "model", "points"))
    model = Distribution("base", game_round.model, game_round.candidates)
    top = game_round.candidates[0] if game_round.candidates else None
    parts: list = [Heading(t(lang, "next.game.results_title", number=game_round.id)), Code(game_round.prompt + " …")]
    if top is not None:
        parts.append(Paragraph.of(t(lang, "next.game.model_top", token=shown(top), percent=i18n.probability(lang, top.probability))))
    parts.append(Paragraph.of(Span(t(lang, "next.game.count", count=total), bold=True)))
    if rows:
        parts.append(Table(headers, rows))
    panels = [(t(lang, "next.game.model_panel", model=game_round.model), model)]
    if ranked:
        class_candidates = tuple(Candidate(text, text.encode(), None, math.log(count / total)) for text, count, _ in ranked[:10])
        panels.append((t(lang, "next.game.class_panel"), Distribution("class", "", class_candidates)))
    from bot.next.picture import distribution_png  # Pillow and the fonts: only when drawing

    parts.append(Image(distribution_png(panels, lang), f"next-round-{game_round.id}.png", t(lang, "next.game.picture_alt")))
    parts.append(Paragraph.of(Span(t(lang, "next.game.scoring", points=POINTS), italic=True)))
    if standings:
        parts.append(Paragraph.of(Span(t(lang, "next.game.leaderboard"), bold=True)))
        parts.append(Table(tuple(t(lang, f"next.game.column.{c}") for c in ("rank", "name", "points", "rounds")),
                           tuple((str(i), name, str(points), str(rounds))
                                 for i, (name, points, rounds) in enumerate(standings, start=1))))  # fmt: skip
    return Reply.public(*parts)


# --- starting, guessing, closing --------------------------------------------------------------


async def start_round(request: Request, app: Aula, prompt: str, role: str, asking) -> Reply:
    """Ask the model (hidden), store the round, post it; the instructor gets a private note."""
    from bot.next.command import llm_error_text, rng

    lang = request.locale
    messenger = app.messengers.get(request.place.platform)
    if messenger is None:
        raise UserError("quiz.no_messenger", platform=request.place.platform)
    await asking.reserve([(role, prompt, "")])
    try:
        call = asking.start(role, prompt, "")
        async for _ in asking.wait([call]):
            pass
        try:
            distribution = await asking.settle(*call)
        except LlmError as exc:
            if isinstance(exc, NoLogprobs):
                raise UserError("next.no_logprobs", profile=exc.profile, model=exc.model) from None
            return Reply(parts=(Paragraph.of("⚠️ " + llm_error_text(exc, lang, asking.profile)),),
                         visibility=Visibility.PRIVATE, error=True)  # fmt: skip
    finally:
        asking.release()
    settings = app.settings.next
    game = app.services.next_game
    options = build_options(distribution.candidates, settings.game_options, lang, rng(app))
    now = app.clock()
    round_id = await game.repo.create(at=now, place=request.place, user_id=request.user.id, prompt=prompt,
                                      model=distribution.model, candidates=distribution.candidates, options=options,
                                      closes_at=now + settings.game_seconds, locale=lang)  # fmt: skip
    game_round = await game.repo.get(round_id)
    assert game_round is not None
    message_id = await messenger.send(request.place, round_reply(game_round, lang))
    await game.repo.set_message(round_id, message_id)
    game.keep_ticking()
    return Reply.private(Paragraph.of(t(lang, "next.game.started", number=round_id, seconds=settings.game_seconds)))


async def on_action(request: Request, app: Aula) -> Reply | None:
    """A guess button, the typed-guess form (open and submit), the close button; None: not the game's."""
    found = first_match(GAME_ACTIONS, request.action)
    if found is None:
        return None
    action, values = found
    game = app.services.next_game
    lang = request.locale
    game_round = await game.repo.get(values["round"])
    # A button id names a round by number: another class's click must not land in it.
    if game_round is None or (game_round.place.platform, game_round.place.workspace_id) != (
        request.place.platform, request.place.workspace_id):  # fmt: skip
        raise UserError("next.game.gone")
    now = app.clock()
    if action is actions.NEXT_CLOSE:
        if not request.user.is_instructor:
            raise UserError("error.instructor_only")
        if await game.repo.close_now(game_round.id, now):
            game.tick_soon()
        return Reply.private(Paragraph.of(t(lang, "next.game.closing", number=game_round.id)))
    if game_round.closes_at <= (request.received_at or now):
        raise UserError("next.game.too_late", number=game_round.id)
    if action is actions.NEXT_WRITE:
        field = FormField("guess", t(lang, "next.game.form_label"), max_length=MAX_GUESS_CHARS,
                          placeholder=t(lang, "next.game.form_placeholder"))  # fmt: skip
        return Reply.open_form(Form(actions.NEXT_TYPED.id(round=game_round.id), t(lang, "next.game.form_title"), (field,)))
    if action is actions.NEXT_GUESS:
        index = values["option"]
        if not 0 <= index < len(game_round.options):
            raise UserError("error.unknown_action")
        guess = game_round.options[index]
    else:
        guess = " ".join((request.values.get("guess") or "").split())
        if not guess:
            raise UserError("next.game.empty_guess")
        if len(guess) > MAX_GUESS_CHARS:
            raise UserError("next.game.long_guess", most=MAX_GUESS_CHARS)
    probability = model_probability(game_round.candidates, guess)
    earlier = await game.repo.guess(game_round.id, request.place.platform, request.user.id, request.user.name, guess,
                                    probability, request.received_at or now)  # fmt: skip
    if earlier is not None:
        return Reply.private(Paragraph.of(t(lang, "next.game.already", guess=earlier)))
    return Reply.private(Paragraph.of(t(lang, "next.game.recorded", guess=guess, number=game_round.id)))


async def export(request: Request, app: Aula) -> Reply:
    if not request.user.is_instructor:
        raise UserError("error.instructor_only")
    sheet = await app.services.next_game.repo.export(
        request.place.platform, request.place.workspace_id, zone=app.settings.homework.timezone
    )
    lang, rows = request.locale, len(sheet.rows)
    return Reply.private(Paragraph.of(t(lang, "next.game.exported", count=rows)),
                         *attachments(sheet, "next-game", t(lang, "next.game.exported", count=rows)))  # fmt: skip
