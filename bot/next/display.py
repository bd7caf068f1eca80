"""What /next shows: the top-k table, coverage, the temperature table, the text so far, buttons.

Button ids (stable across restarts, the run is in SQLite):
  next:greedy:<run>:<steps>, next:sample:<run>:<steps>, next:pick:<run>:<steps>:<rank>,
  next:retry:<run>:<steps>, next:fork:<run>:<steps>
where <steps> is how many steps the run had when the buttons were drawn (an older button is stale).
"""

from __future__ import annotations

from bot import actions, i18n
from bot.i18n import t
from bot.next.logic import Distribution, Generation, marked, shown
from bot.replies import (
    BulletList,
    Button,
    ButtonStyle,
    Columns,
    Heading,
    Image,
    Paragraph,
    Part,
    Reply,
    Segment,
    Segments,
    Span,
    Table,
    Visibility,
)
from bot.tokens.analysis import group_pieces

BAR_WIDTH = 20  # characters of the text bar at 100 %
PICK_BUTTONS = 5


def percent(lang: str, probability: float) -> str:
    """A probability as /next shows it everywhere: bot.i18n.probability ('<0,01 %' for the tail)."""
    return i18n.probability(lang, probability)


def bar(probability: float) -> str:
    return "█" * max(0, round(BAR_WIDTH * probability)) or "▏"


def role_label(lang: str, role: str) -> str:
    return t(lang, f"next.role.{role}")


def candidates_table(lang: str, distribution: Distribution) -> Table:
    rows = tuple(
        (str(rank), shown(c), "—" if c.id is None else str(c.id), percent(lang, c.probability), bar(c.probability))
        for rank, c in enumerate(distribution.candidates, start=1)
    )
    headers = tuple(t(lang, f"next.column.{name}") for name in ("rank", "token", "id", "probability", "bar"))
    return Table(headers, rows)


def coverage_line(lang: str, distribution: Distribution) -> Paragraph:
    return Paragraph.of(t(lang, "next.coverage", count=len(distribution.candidates),
                          covered=percent(lang, distribution.coverage), rest=percent(lang, distribution.rest)))  # fmt: skip


def temperature_parts(lang: str, distribution: Distribution, temperatures: list[float]) -> list[Part]:
    columns = [distribution.at_temperature(temp) for temp in temperatures]
    rows = tuple(
        (shown(c), *(percent(lang, col[i]) for col in columns)) for i, c in enumerate(distribution.candidates)
    )
    headers = (t(lang, "next.column.token"), *(f"T={i18n.number(lang, temp)}" for temp in temperatures))
    caption = t(lang, "next.temperature_caption", count=len(distribution.candidates))
    return [Paragraph.of(Span(t(lang, "next.temperature_title"), bold=True)), Table(headers, rows),
            Paragraph.of(Span(caption, italic=True))]  # fmt: skip


def distribution_parts(lang: str, distribution: Distribution, temperatures: list[float]) -> list[Part]:
    return [candidates_table(lang, distribution), coverage_line(lang, distribution),
            *temperature_parts(lang, distribution, temperatures)]  # fmt: skip


def text_so_far(lang: str, generation: Generation) -> list[Part]:
    """The prompt, then each chosen token in its own colour; and each step's choice with its probability.

    Tokens whose bytes only make whole characters together (a character split across steps, as
    byte-level BPE does) share one segment, as /tokens groups them; bytes still waiting for the
    rest of their character are marked ⟨e2 80⟩."""
    segments = [Segment(generation.prompt, colour=0)]
    chosen = {number: step.distribution.candidates[step.chosen]
              for number, step in enumerate(generation.steps, start=1) if step.chosen is not None}  # fmt: skip
    for piece in group_pieces(list(chosen), [c.data for c in chosen.values()]):
        data = b"".join(chosen[number].data for number in piece.ids)
        label = " + ".join(percent(lang, chosen[number].probability) for number in piece.ids)
        segments.append(Segment(marked(data), colour=piece.ids[0], label=label))
    choices = []
    for number, step in enumerate(generation.steps, start=1):
        if step.chosen is None:
            continue
        candidate = step.distribution.candidates[step.chosen]
        how = t(lang, f"next.how.{step.how}", temperature=step.temperature or 0.0, rank=step.chosen + 1)
        choices.append(Paragraph.of(f"{number}. ", Span(shown(candidate), code=True),
                                    f" · {percent(lang, candidate.probability)} · {how}"))  # fmt: skip
    parts: list[Part] = [Segments(tuple(segments), caption=t(lang, "next.text_so_far"))]
    if choices:
        parts.append(BulletList(tuple(choices)))
    return parts


def run_reply(
    lang: str,
    generation: Generation,
    *,
    run_id: int | None,
    temperature: float,
    temperatures: list[float],
    max_steps: int,
    profile: str = "default",
    error: str = "",
    private: bool = False,
    finished: bool = False,
    can_retry: bool = True,
) -> Reply:
    """A single-model run as it stands: the text so far, then the latest distribution (or the error
    of the step that could not be asked), and the buttons of the next step."""
    steps = generation.steps
    chosen = sum(1 for s in steps if s.chosen is not None)
    parts: list[Part] = [Heading(t(lang, "next.title", role=role_label(lang, generation.role), model=generation.model))]
    parts.extend(text_so_far(lang, generation))
    latest = steps[-1] if steps and steps[-1].chosen is None else None
    if latest is not None:
        parts.extend(distribution_parts(lang, latest.distribution, temperatures))
        from bot.next.picture import distribution_png  # Pillow and the fonts: only when drawing

        parts.append(Image(distribution_png([(generation.prompt + marked(generation.generated), latest.distribution)], lang),
                           "next.png", t(lang, "next.picture_alt")))  # fmt: skip
    if error:
        parts.append(Paragraph.of("⚠️ " + error))
    if profile != "default":
        parts.append(Paragraph.of(Span(t(lang, "compare.profile_used", profile=profile), italic=True)))
    buttons: tuple[Button, ...] = ()
    if run_id is not None:
        if finished or chosen >= max_steps:
            parts.append(Paragraph.of(Span(t(lang, "next.finished" if finished else "next.cap", steps=max_steps, count=max_steps),
                                           italic=True)))  # fmt: skip
        elif latest is None and not can_retry:
            pass  # the error says why the run cannot go on (its text is over the model's context)
        elif latest is None:
            buttons = (Button(actions.NEXT_RETRY.id(run=run_id, steps=len(steps)), t(lang, "next.button.retry"), ButtonStyle.PRIMARY),)
        else:
            buttons = step_buttons(lang, run_id, len(steps), latest.distribution, temperature)
            parts.append(Paragraph.of(Span(t(lang, "next.steps_left", count=max_steps - chosen), italic=True)))
    return Reply(parts=tuple(parts), buttons=buttons, visibility=Visibility.PRIVATE if private else Visibility.CHANNEL,
                 error=bool(error) and latest is None and not steps)  # fmt: skip


def step_buttons(lang: str, run_id: int, count: int, distribution: Distribution, temperature: float) -> tuple[Button, ...]:
    step = {"run": run_id, "steps": count}
    buttons = [
        Button(actions.NEXT_GREEDY.id(**step), t(lang, "next.button.greedy"), ButtonStyle.PRIMARY),
        Button(actions.NEXT_SAMPLE.id(**step), t(lang, "next.button.sample", temperature=temperature), ButtonStyle.SUCCESS),
    ]
    for rank, candidate in enumerate(distribution.candidates[:PICK_BUTTONS], start=1):
        buttons.append(Button(actions.NEXT_PICK.id(**step, rank=rank), f"{rank}. {shown(candidate)}"))
    buttons.append(Button(actions.NEXT_FORK.id(**step), t(lang, "next.button.fork")))
    return tuple(buttons)


def both_reply(lang: str, prompt: str, distributions: dict[str, Distribution | str], temperatures: list[float]) -> Reply:
    """modelo:ambos: each model's distribution for the same words, side by side (or why it failed)."""
    panels = []
    shown_pairs = []
    for role in ("base", "instruct"):
        item = distributions[role]
        if isinstance(item, str):
            panels.append((role_label(lang, role), (Paragraph.of("⚠️ " + item),)))
            continue
        title = t(lang, "next.panel_title", role=role_label(lang, role), model=item.model)
        panels.append((title, (candidates_table(lang, item), coverage_line(lang, item))))
        shown_pairs.append((f"{role_label(lang, role)} · {prompt}", item))
    parts: list[Part] = [Heading(t(lang, "next.both_title")), Paragraph((Span(t(lang, "next.prompt_line"), bold=True),
                         Span(" " + prompt)))]  # fmt: skip
    parts.append(Columns(tuple(panels)))
    parts.append(Paragraph.of(Span(t(lang, "next.both_lesson"), italic=True)))
    if shown_pairs:
        from bot.next.picture import distribution_png  # Pillow and the fonts: only when drawing

        parts.append(Image(distribution_png(shown_pairs, lang), "next.png", t(lang, "next.picture_alt")))
    return Reply(parts=tuple(parts), error=not shown_pairs)
