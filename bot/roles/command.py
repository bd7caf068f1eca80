"""/roles: the three roles of a conversation, and exactly what the model receives.

`/roles` alone explains System, User and Assistant with the course's examples. With
messages (options, or a form for multi-line conversations of up to five messages) it
shows the prompt as the model's chat template renders it (bot.roles.templates), special
tokens highlighted, the token counts, the same conversation without a system message
and with a different one, and, when an LLM endpoint is configured, a live run (bot/roles/live.py).

Action ids (stable across restarts; conversations wait in bot/storage/roles.py):
  roles:form:<template>       the form was submitted
  roles:write:<template>      open an empty form
  roles:example:<template>    render the course's example
  roles:edit:<id>             open the form with a stored conversation
  roles:switch:<id>:<template> render a stored conversation with another template
  roles:live:<id>             send a stored conversation to the instruct model
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot import actions
from bot.actions import first_match
from bot.command import Command, CommandSpec, Option
from bot.errors import UserError
from bot.i18n import t
from bot.limits import DISCORD_TEXT_INPUT_VALUE, SLACK_PLAIN_INPUT_MAX
from bot.replies import (
    BulletList,
    Button,
    ButtonStyle,
    Columns,
    Form,
    FormField,
    Heading,
    Image,
    Paragraph,
    Part,
    Reply,
    Segment,
    Segments,
    Span,
    Table,
)
from bot.requests import Request
from bot.roles.comparison import COMPARE, comparison_parts
from bot.roles.store import RolesConversations
from bot.roles.templates import (
    TEMPLATES,
    LossScope,
    Message,
    Rendered,
    encode_with_specials,
    loss_mask,
    render,
    special_token_ids,
)
from bot.tokens.analysis import SPECIAL_LOOKALIKE, group_pieces
from bot.tokens.analysis import Piece as PicturePiece
from bot.tokens.encodings import get_encoding, preload

if TYPE_CHECKING:
    from bot.app import Aula
    from bot.settings import Settings


log = logging.getLogger("aula.roles")
DEFAULT_TEMPLATE = "llama-3.1"
# One limit for options and form fields, so any message can be edited in the form on both platforms.
MESSAGE_MAX = min(DISCORD_TEXT_INPUT_VALUE, SLACK_PLAIN_INPUT_MAX)
# The form's fields, at most DISCORD_MODAL_INPUTS (five): a system message, then the turns.
FORM_ROLES = ("system", "user", "assistant", "user", "assistant")
FRAME_COLOUR = 5  # segments of the conversation's own frame, apart from the messages' colours
# entrenar: which tokens the loss covers. "asistente": the assistant's answers and their
# end-of-turn token (TRL's assistant_only_loss, OpenAI's default); "todo": every token.
TRAIN_CHOICES = ("asistente", "todo")
TRAIN_SCOPES: dict[str, LossScope] = {"asistente": "assistant", "todo": "all"}
# A note under the prompt on what the format does that students would not guess.
FORMAT_NOTES = {
    "llama-3.1": "roles.received.date_note",
    "qwen3": "roles.received.qwen3_note",
    "gpt-oss": "roles.received.gpt_oss_note",
    "mistral": "roles.received.mistral_note",
}

SPEC = CommandSpec(
    name="roles",
    description="roles.description",
    options=(
        Option("usuario", "roles.option.user", name_en="user", max_length=MESSAGE_MAX, free_text=True),
        Option("sistema", "roles.option.system", name_en="system", max_length=MESSAGE_MAX, free_text=True),
        Option("asistente", "roles.option.assistant", name_en="assistant", max_length=MESSAGE_MAX, free_text=True),
        Option("modelo", "roles.option.model", choices=tuple(TEMPLATES), name_en="model"),
        Option("formulario", "roles.option.form", kind="boolean", name_en="form"),
        Option("comparar", "roles.option.compare", kind="boolean", name_en="compare"),
        Option("entrenar", "roles.option.train", choices=TRAIN_CHOICES, name_en="train",
               choices_en={"asistente": "assistant", "todo": "all"}),
    ),
)


# --- handlers ---------------------------------------------------------------------------


async def run(request: Request, app: Aula) -> Reply:
    template = known_template(request.arg("modelo", DEFAULT_TEMPLATE))
    messages = messages_from_options(request)
    if request.arg("comparar", False):
        template = COMPARE  # every format side by side; alone, the course's example conversation
        messages = messages or course_example(request.locale)
    if request.arg("formulario", False):
        return Reply.open_form(conversation_form(request.locale, template, messages))
    if not messages:
        return explanation(request.locale, template)
    return await show(request, app, template, messages, TRAIN_SCOPES[request.arg("entrenar", "asistente")])


async def on_action(request: Request, app: Aula) -> AsyncIterator[Reply]:
    lang = request.locale
    found = first_match(ROLES_ACTIONS, request.action)
    if found is None:
        raise UserError("error.unknown_action")
    action, values = found
    if action is actions.ROLES_FORM:
        yield await show(request, app, known_template(values["template"]), messages_from_form(request.values, lang))
    elif action is actions.ROLES_WRITE:
        yield Reply.open_form(conversation_form(lang, known_template(values["template"]), []))
    elif action is actions.ROLES_EXAMPLE:
        yield await show(request, app, known_template(values["template"]), course_example(lang))
    elif action is actions.ROLES_EDIT:
        template, messages = await stored(request, app, values["conversation"])
        yield Reply.open_form(conversation_form(lang, template, messages))
    elif action is actions.ROLES_SWITCH:
        _, messages = await stored(request, app, values["conversation"])
        yield await show(request, app, known_template(values["template"]), messages)
    else:  # ROLES_LIVE
        from bot.roles.live import live_run  # the LLM client and httpx: only for a live run

        _, messages = await stored(request, app, values["conversation"])
        async for reply in live_run(request, app, messages):
            yield reply


ROLES_ACTIONS = (
    actions.ROLES_FORM,
    actions.ROLES_WRITE,
    actions.ROLES_EXAMPLE,
    actions.ROLES_EDIT,
    actions.ROLES_SWITCH,
    actions.ROLES_LIVE,
)


# --- reading the conversation -------------------------------------------------------------


def known_template(name: str) -> str:
    """A format's name, or COMPARE for all of them side by side."""
    if name not in TEMPLATES and name != COMPARE:
        raise UserError("roles.error.template", template=name, choices=", ".join(TEMPLATES))
    return name


def messages_from_options(request: Request) -> list[Message]:
    given = [("system", request.arg("sistema")), ("user", request.arg("usuario")), ("assistant", request.arg("asistente"))]
    messages = [Message(role, text) for role, text in given if text]
    check_lengths(messages, request.locale)
    return messages


def messages_from_form(values: dict[str, str], lang: str) -> list[Message]:
    """The filled fields in order; a blank field is no message."""
    messages = [
        Message(role, values.get(field_id(index), ""))
        for index, role in enumerate(FORM_ROLES)
        if values.get(field_id(index), "").strip()
    ]
    if not messages:
        raise UserError("roles.error.empty")
    check_lengths(messages, lang)
    return messages


def check_lengths(messages: list[Message], lang: str) -> None:
    for message in messages:
        if len(message.content) > MESSAGE_MAX:
            raise UserError(
                "roles.error.too_long",
                role=t(lang, f"roles.role.{message.role}"),
                length=len(message.content),
                limit=MESSAGE_MAX,
            )


def course_example(lang: str) -> list[Message]:
    return [Message(role, t(lang, f"roles.example.{role}")) for role in ("system", "user", "assistant")]


async def stored(request: Request, app: Aula, conversation_id: int) -> tuple[str, list[Message]]:
    """The conversation a button names, if it was written in this class."""
    place = request.place
    found = await RolesConversations(app.db).get(conversation_id, place.platform, place.workspace_id)
    if found is None:
        raise UserError("roles.error.expired")
    return found


# --- the form -------------------------------------------------------------------------------


def field_id(index: int) -> str:
    return f"m{index + 1}"


def conversation_form(lang: str, template: str, messages: list[Message]) -> Form:
    values = form_values(messages)
    fields = []
    for index, role in enumerate(FORM_ROLES):
        required = index == FORM_ROLES.index("user")
        label = t(lang, "roles.form.label", number=index + 1, role=t(lang, f"roles.role.{role}").capitalize())
        example = t(lang, f"roles.example.{role}") if index < 3 else ""
        fields.append(
            FormField(
                id=field_id(index),
                label=label + ("" if required else t(lang, "roles.form.optional")),
                multiline=True,
                required=required,
                max_length=MESSAGE_MAX,
                placeholder=example,
                value=values.get(field_id(index), ""),
            )
        )
    return Form(id=actions.ROLES_FORM.id(template=template), title=t(lang, "roles.form.title"), fields=tuple(fields))


def form_values(messages: list[Message]) -> dict[str, str]:
    """Each message into the next form field of its role (a conversation from /roles always fits)."""
    values: dict[str, str] = {}
    slot = 0
    for message in messages:
        while slot < len(FORM_ROLES) and FORM_ROLES[slot] != message.role:
            slot += 1
        if slot == len(FORM_ROLES):
            break
        values[field_id(slot)] = message.content
        slot += 1
    return values


# --- what the student sees ------------------------------------------------------------------


def explanation(lang: str, template: str) -> Reply:
    def role_item(role: str) -> Paragraph:
        return Paragraph(
            (
                Span(t(lang, f"roles.explain.{role}"), bold=True),
                Span(" " + t(lang, "roles.explain.example")),
                Span(t(lang, f"roles.example.{role}"), italic=True),
            )
        )

    return Reply.private(
        Heading(t(lang, "roles.explain.title")),
        Paragraph.of(t(lang, "roles.explain.intro")),
        BulletList(tuple(role_item(role) for role in ("system", "user", "assistant"))),
        Paragraph.of(t(lang, "roles.explain.conclusion")),
        Paragraph.of(Span(t(lang, "roles.explain.try"), italic=True)),
        buttons=(
            Button(actions.ROLES_EXAMPLE.id(template=template), t(lang, "roles.button.example"), ButtonStyle.PRIMARY),
            Button(actions.ROLES_WRITE.id(template=template), t(lang, "roles.button.write")),
        ),
    )


async def show(
    request: Request, app: Aula, template: str, messages: list[Message], scope: LossScope = "assistant"
) -> Reply:
    """Render, keep the conversation for the buttons, and answer."""
    keep_s = app.settings.roles.keep_days * 86_400
    conversation_id = await RolesConversations(app.db).save(
        request.place.platform, request.place.workspace_id, request.user.id, template, messages, app.clock(), keep_s
    )
    if template == COMPARE:  # five renderings and a picture: off the event loop too
        return await asyncio.to_thread(comparison_reply, request.locale, messages, conversation_id, scope)
    # A training example brings a picture: drawing it takes CPU, so off the event loop.
    return await asyncio.to_thread(
        conversation_reply, request.locale, template, messages, conversation_id, app.settings, scope
    )


def comparison_reply(lang: str, messages: list[Message], conversation_id: int, scope: LossScope = "assistant") -> Reply:
    """The conversation in every format side by side (bot.roles.comparison)."""
    buttons = (
        Button(actions.ROLES_EDIT.id(conversation=conversation_id), t(lang, "roles.button.edit")),
        Button(
            actions.ROLES_SWITCH.id(conversation=conversation_id, template=DEFAULT_TEMPLATE),
            t(lang, "roles.button.switch", model=TEMPLATES[DEFAULT_TEMPLATE].label),
        ),
    )
    return Reply.public(Heading(t(lang, "roles.compare.title")), *comparison_parts(lang, messages, scope), buttons=buttons)


def conversation_reply(
    lang: str,
    template: str,
    messages: list[Message],
    conversation_id: int,
    settings: Settings,
    scope: LossScope = "assistant",
) -> Reply:
    rendered = render(messages, template)
    label = TEMPLATES[template].label
    mask = loss_mask(rendered, scope) if rendered.is_training_example else None
    kind = "training" if rendered.is_training_example else "prompt"
    parts: list[Part] = [
        Heading(t(lang, f"roles.received.title.{kind}", model=label)),
        Paragraph.of(Span(t(lang, f"roles.received.{kind}"), italic=True)),
        Segments(prompt_segments(rendered, mask=mask), caption=t(lang, "roles.received.caption", count=rendered.count)),
    ]
    if mask is not None:
        parts += mask_parts(lang, rendered, mask, scope)
    if template in FORMAT_NOTES:
        parts.append(Paragraph.of(Span(t(lang, FORMAT_NOTES[template]), italic=True)))
    parts += typed_special_parts(lang, rendered)
    parts.append(counts_table(lang, rendered))
    content = rendered.count - rendered.overhead
    parts.append(Paragraph.of(t(lang, "roles.counts.summary", count=content, overhead=rendered.overhead)))
    panels = tuple(variant_panel(lang, title, variant, rendered) for title, variant in variants(lang, messages))
    if panels:
        parts += [Heading(t(lang, "roles.variants.title")), Columns(panels)]

    names = list(TEMPLATES)
    other = names[(names.index(template) + 1) % len(names)]  # the next format, round the list
    buttons = [
        Button(actions.ROLES_EDIT.id(conversation=conversation_id), t(lang, "roles.button.edit")),
        Button(actions.ROLES_SWITCH.id(conversation=conversation_id, template=other), t(lang, "roles.button.switch", model=TEMPLATES[other].label)),
        Button(actions.ROLES_SWITCH.id(conversation=conversation_id, template=COMPARE), t(lang, "roles.button.compare")),
    ]
    from bot.roles.live import live_available

    if live_available(settings):
        buttons.insert(0, Button(actions.ROLES_LIVE.id(conversation=conversation_id), t(lang, "roles.button.live"), ButtonStyle.PRIMARY))
    else:
        parts.append(Paragraph.of(Span(t(lang, "roles.live.unavailable"), italic=True)))
    return Reply.public(*parts, buttons=tuple(buttons))


def prompt_segments(rendered: Rendered, pieces=None, mask: tuple[bool, ...] | None = None) -> tuple[Segment, ...]:
    """Special tokens as their own highlighted segments; everything else coloured by message.

    With a loss mask (one flag per id of the whole rendering), each segment says whether
    it is trained; a piece is trained or masked as a whole, so its first id tells.
    """
    segments = []
    trained_flags = piece_flags(rendered, mask) if mask is not None else None
    for position, piece in enumerate(rendered.pieces if pieces is None else pieces):
        if not piece.text:
            continue  # an empty message: nothing to show, its wrapper still is
        colour = FRAME_COLOUR if piece.message is None else piece.message
        trained = trained_flags[position] if trained_flags is not None else None
        if piece.kind == "special":
            segments.append(Segment(piece.text, colour, label=str(piece.ids[0]), special=True, trained=trained))
        else:
            segments.append(Segment(piece.text, colour, label=tokens_label(len(piece.ids)), trained=trained))
    return tuple(segments)


def piece_flags(rendered: Rendered, mask: tuple[bool, ...]) -> list[bool]:
    """Whether each piece of the rendering is trained (from its ids' flags in the mask)."""
    flags, position = [], 0
    for piece in rendered.pieces:
        flags.append(bool(piece.ids) and mask[position])
        position += len(piece.ids)
    return flags


def mask_parts(
    lang: str, rendered: Rendered, mask: tuple[bool, ...], scope: LossScope, picture: bool = True,
    try_all: bool = True,
) -> list[Part]:
    """The count of trained tokens, what the mask covers, and (unless `picture` is False) the
    picture with masked tokens in grey. try_all: suggest /roles' entrenar:todo (a command
    without that option, such as /dataset, passes False)."""
    trained = sum(mask)
    ends = sorted(
        {p.text for p, flag in zip(rendered.pieces, piece_flags(rendered, mask), strict=True) if flag and p.kind == "special"}
    )
    parts: list[Part] = [
        Paragraph.of(
            Span(t(lang, "roles.mask.count", trained=trained, total=rendered.count), bold=True),
            " ",
            t(lang, f"roles.mask.rule.{scope}", ends=", ".join(ends) or "—"),
            *((" " + t(lang, "roles.mask.try_all"),) if try_all and scope == "assistant" else ()),
        ),
        Paragraph.of(Span(t(lang, "roles.mask.legend"), italic=True)),
    ]
    if not picture:
        return parts
    png = mask_picture(lang, rendered, mask)
    parts.append(Image(png, "roles-mask.png", t(lang, "roles.mask.alt", trained=trained, total=rendered.count)))
    return parts


def mask_picture(lang: str, rendered: Rendered, mask: tuple[bool, ...]) -> bytes:
    """The rendering as token boxes: trained ones in their message's colour, masked ones grey."""
    from bot.tokens.picture import MASKED, PictureRow, render_png  # Pillow: only when drawing

    chat_template = TEMPLATES[rendered.template]
    encoding = get_encoding(chat_template.encoding)
    pieces: list[PicturePiece] = []
    colours: list[int] = []
    flags = piece_flags(rendered, mask)
    for piece, trained in zip(rendered.pieces, flags, strict=True):
        if not piece.ids:
            continue
        if piece.kind == "special":
            grouped = [PicturePiece(piece.text, piece.ids, 0, len(piece.text))]
        else:
            grouped = group_pieces(piece.ids, [encoding.decode_single_token_bytes(i) for i in piece.ids])
        colour = FRAME_COLOUR if piece.message is None else piece.message
        pieces += grouped
        colours += [colour if trained else MASKED] * len(grouped)
    title = t(lang, "roles.mask.picture_title", model=chat_template.label, trained=sum(mask), total=rendered.count)
    row = PictureRow(title, pieces, lambda count: t(lang, "roles.mask.picture_more", count=count), colours=colours)
    return render_png([row])


def tokens_label(count: int) -> str:
    return "1 token" if count == 1 else f"{count} tokens"


def typed_special_tokens(rendered: Rendered) -> list[str]:
    """Special-token names a student typed inside a message (shown as the plain text they are).

    Names are those of the rendering's own format (its encoding's specials and the ones the
    format adds), as a server for that model would recognise them."""
    names = special_token_ids(rendered.template)
    found = []
    for piece in rendered.pieces:
        if piece.kind == "content":
            found.extend(m.group() for m in SPECIAL_LOOKALIKE.finditer(piece.text) if m.group() in names)
    return found


def typed_special_parts(lang: str, rendered: Rendered) -> list[Part]:
    """Typed control tokens, both ways: as OpenAI's API encodes them (text) and as a server or
    trainer that tokenizes the rendered text with special tokens enabled does (real control
    tokens), with both counts, and why a training pipeline must escape or reject them."""
    typed = typed_special_tokens(rendered)
    if not typed:
        return []
    template = rendered.template
    encoding = get_encoding(TEMPLATES[template].encoding)
    name = typed[0]
    as_text = encoding.encode_ordinary(name)
    as_special = encode_with_specials(name, template)
    contents = [p for p in rendered.pieces if p.kind == "content"]
    api_total = rendered.count
    server_total = rendered.count - sum(len(p.ids) for p in contents) + sum(
        len(encode_with_specials(p.text, template)) for p in contents
    )
    ids = " ".join
    return [
        Paragraph.of("⚠️ ", Span(name, code=True), " ", t(lang, "roles.typed.intro", count=len(typed))),
        Table(
            tuple(t(lang, f"roles.typed.header.{key}") for key in ("view", "ids", "token", "total")),
            (
                (t(lang, "roles.typed.api"), ids(map(str, as_text)), str(len(as_text)), str(api_total)),
                (t(lang, "roles.typed.server"), ids(map(str, as_special)), str(len(as_special)), str(server_total)),
            ),
        ),
        Paragraph.of(t(lang, "roles.typed.why")),
    ]


def counts_table(lang: str, rendered: Rendered) -> Table:
    rows = []
    for index, message in enumerate(rendered.messages):
        content, wrapper = rendered.content_tokens(index), rendered.wrapper_tokens(index)
        role = t(lang, f"roles.role.{message.role}")
        rows.append((f"{index + 1} · {role}", str(content), str(wrapper), str(content + wrapper)))
    frame = rendered.wrapper_tokens(None)
    frame_key = f"roles.counts.frame.{rendered.template}"
    if rendered.template == "llama-3.1" and rendered.messages[0].role != "system":
        frame_key += ".no_system"  # Llama's system block is there anyway, owned by no message
    if rendered.is_training_example:
        frame_key = "roles.counts.frame.training"  # no assistant turn is opened after the last message
    if frame:
        rows.append((t(lang, frame_key), "—", str(frame), str(frame)))
    content = rendered.count - rendered.overhead
    rows.append((t(lang, "roles.counts.all"), str(content), str(rendered.overhead), str(rendered.count)))
    headers = tuple(t(lang, f"roles.counts.{key}") for key in ("message", "content", "template", "total"))
    return Table(headers, tuple(rows))


def variants(lang: str, messages: list[Message]) -> list[tuple[str, list[Message]]]:
    """Without a system message (or, if there was none, with the course's) and with a different one."""
    rest = messages[1:] if messages[0].role == "system" else messages
    if not rest:
        return []  # only a system message: no conversation is left to compare
    if rest is messages:
        first = (t(lang, "roles.variants.course_system"), [Message("system", t(lang, "roles.example.system")), *rest])
    else:
        first = (t(lang, "roles.variants.no_system"), list(rest))
    other = (t(lang, "roles.variants.other_system"), other_system(lang, messages))
    return [first, other]


def other_system(lang: str, messages: list[Message]) -> list[Message]:
    rest = messages[1:] if messages[0].role == "system" else messages
    return [Message("system", t(lang, "roles.other_system")), *rest]


def variant_panel(lang: str, title: str, messages: list[Message], yours: Rendered) -> tuple[str, tuple[Part, ...]]:
    """What comes before the first user or assistant message (what differs), and the new total."""
    rendered = render(messages, yours.template)
    first_turn = next(i for i, m in enumerate(messages) if m.role != "system")
    head = []
    for piece in rendered.pieces:
        if piece.message is not None and piece.message >= first_turn:
            break
        head.append(piece)
    segments = prompt_segments(rendered, head)
    shown: Part = Segments(segments) if segments else Paragraph.of(Span(t(lang, "roles.variants.nothing_before"), italic=True))
    delta = f"{rendered.count - yours.count:+d}".replace("-", "−")
    return title, (shown, Paragraph.of(t(lang, "roles.variants.rest", count=rendered.count, delta=delta)))


async def on_startup(app: Aula) -> None:
    # The default format's and GPT-4o's encodings, which a class uses first; the others (Qwen3,
    # GPT-OSS, Mistral: seconds and hundreds of MB) load on the first request that asks for them,
    # in the worker thread that renders the reply.
    await preload(dict.fromkeys(TEMPLATES[name].encoding for name in (DEFAULT_TEMPLATE, "gpt-4o")))


command = Command(spec=SPEC, run=run, on_action=on_action, on_startup=on_startup)
