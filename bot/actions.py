"""Every button and form id Aula posts: one declaration builds it and parses it back.

An id is "<command>:<kind>:<values…>", at most 100 characters (Discord's custom_id), and it
carries everything its handler needs, so a button keeps working after a restart and after
an upgrade: the templates below are the ones posted since the first release, and
tests/test_actions.py clicks ids produced by the previous code. Change a template only
by adding a new action beside the old one.

Declared the way discord.py's DynamicItem templates are (a pattern with named groups), but
both ways from one string:

    QUIZ_ANSWER = Action("quiz:answer:{session}:{question}:{letter}", session=NUMBER, ...)
    QUIZ_ANSWER.id(session=12, question=3, letter="B")      -> "quiz:answer:12:3:B"
    QUIZ_ANSWER.parse("quiz:answer:12:3:B")                 -> {"session": 12, "question": 3, "letter": "B"}
    QUIZ_ANSWER.parse("quiz:rank:12")                       -> None
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """What one {name} of a template holds: its pattern, and how a value goes in and out."""

    pattern: str
    read: Callable[[str], Any] = str
    write: Callable[[Any], str] = str


NUMBER = Field(r"-?[0-9]+", int)  # an id or a 0-based position
WORD = Field(r"[^:]+")  # a template name, a letter: checked by the handler
POSITIONS = Field(  # "0,1,3": the 0-based questions a homework form holds
    r"-?[0-9]+(?:,-?[0-9]+)*",
    lambda text: [int(p) for p in text.split(",")],
    lambda positions: ",".join(str(p) for p in positions),
)


def command_of(action_id: str) -> str:
    """The command a button or form id belongs to: what comes before the first colon."""
    return action_id.partition(":")[0]


class Action:
    def __init__(self, template: str, /, **fields: Field) -> None:
        self.template = template
        self.fields = fields
        self.command = command_of(template)
        pattern = []
        for literal, name, _, _ in string.Formatter().parse(template):
            pattern.append(re.escape(literal))
            if name is not None:
                pattern.append(f"(?P<{name}>{fields[name].pattern})")
        self.pattern = re.compile("".join(pattern))
        if set(self.pattern.groupindex) != set(fields):
            raise ValueError(f"{template}: fields {sorted(fields)} do not match the template")

    def id(self, **values: Any) -> str:
        """The id for these values (each written by its field)."""
        written = {name: self.fields[name].write(value) for name, value in values.items()}
        action_id = self.template.format(**written)
        if self.parse(action_id) is None:
            raise ValueError(f"{action_id!r} does not read back as {self.template}")
        return action_id

    def parse(self, action_id: str) -> dict[str, Any] | None:
        """The values an id holds, or None when it is not this action's id."""
        match = self.pattern.fullmatch(action_id)
        if match is None:
            return None
        return {name: self.fields[name].read(text) for name, text in match.groupdict().items()}

    def __repr__(self) -> str:
        return f"Action({self.template!r})"


def first_match(actions: Sequence[Action], action_id: str) -> tuple[Action, dict[str, Any]] | None:
    """The first action whose template the id fits, with its values."""
    for action in actions:
        values = action.parse(action_id)
        if values is not None:
            return action, values
    return None


# --- /quiz: the live quiz (bot/quiz) ----------------------------------------------------------
QUIZ_ANSWER = Action("quiz:answer:{session}:{question}:{letter}", session=NUMBER, question=NUMBER, letter=WORD)
QUIZ_RANK = Action("quiz:rank:{session}", session=NUMBER)

# --- /quiz: homework (bot/homework) -----------------------------------------------------------
HOMEWORK_OPEN = Action("quiz:hw-open:{assignment}", assignment=NUMBER)  # the answer form
HOMEWORK_EDIT = Action("quiz:hw-edit:{assignment}:{question}", assignment=NUMBER, question=NUMBER)
HOMEWORK_SUBMIT = Action("quiz:hw-submit:{assignment}:{questions}", assignment=NUMBER, questions=POSITIONS)
HOMEWORK_REVISE = Action("quiz:hw-revise:{assignment}:{questions}", assignment=NUMBER, questions=POSITIONS)
HOMEWORK_MUTE = Action("quiz:hw-mute:{assignment}", assignment=NUMBER)  # no more reminders
HOMEWORK_UNMUTE = Action("quiz:hw-unmute:{assignment}", assignment=NUMBER)

# --- /compare: blind votes (bot/compare) ------------------------------------------------------
COMPARE_VOTE = Action("compare:vote:{run}:{slot}", run=NUMBER, slot=Field("[AB]"))
COMPARE_REVEAL = Action("compare:reveal:{run}", run=NUMBER)

# --- /tokens (bot/tokens) ---------------------------------------------------------------------
TOKENS_FORM = Action("tokens:form:{model}", model=WORD)  # the text form's submission, for that `modelo`

# --- /roles (bot/roles) -----------------------------------------------------------------------
ROLES_FORM = Action("roles:form:{template}", template=WORD)  # the conversation form's submission
ROLES_WRITE = Action("roles:write:{template}", template=WORD)  # opens that form, empty
ROLES_EXAMPLE = Action("roles:example:{template}", template=WORD)  # the course's example conversation
ROLES_EDIT = Action("roles:edit:{conversation}", conversation=NUMBER)  # the form, filled with a stored one
ROLES_SWITCH = Action("roles:switch:{conversation}:{template}", conversation=NUMBER, template=WORD)
ROLES_LIVE = Action("roles:live:{conversation}", conversation=NUMBER)  # run it on the model

# --- /next: one step of a generation (bot/next); {steps} is how many it had when shown ------
NEXT_GREEDY = Action("next:greedy:{run}:{steps}", run=NUMBER, steps=NUMBER)  # the likeliest token
NEXT_SAMPLE = Action("next:sample:{run}:{steps}", run=NUMBER, steps=NUMBER)  # drawn at the run's temperature
NEXT_PICK = Action("next:pick:{run}:{steps}:{rank}", run=NUMBER, steps=NUMBER, rank=NUMBER)  # 1 = likeliest
NEXT_RETRY = Action("next:retry:{run}:{steps}", run=NUMBER, steps=NUMBER)  # after a failed step
NEXT_FORK = Action("next:fork:{run}:{steps}", run=NUMBER, steps=NUMBER)  # your own copy from here
NEXT_GUESS = Action("next:guess:{round}:{option}", round=NUMBER, option=NUMBER)  # the class game: a button
NEXT_WRITE = Action("next:write:{round}", round=NUMBER)  # opens the typed-guess form
NEXT_TYPED = Action("next:typed:{round}", round=NUMBER)  # that form's submission
NEXT_CLOSE = Action("next:close:{round}", round=NUMBER)  # the instructor closes the round now

# --- /privacy (bot/privacy) -------------------------------------------------------------------
PRIVACY_DELETE = Action("privacy:delete")  # asks to confirm
PRIVACY_CONFIRM = Action("privacy:confirm")  # deletes
PRIVACY_CANCEL = Action("privacy:cancel")

ALL: tuple[Action, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Action))
