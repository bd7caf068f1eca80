"""Chat templates: a conversation as the exact text and token ids a model receives.

Two templates, the two /roles teaches with:

- "llama-3.1": what the Hugging Face chat template of
  meta-llama/Meta-Llama-3.1-405B-Instruct (tokenizer_config.json) renders with
  add_generation_prompt, as serving engines (vLLM, TGI) do. Its logic, tools left out:
  `<|begin_of_text|>`; then ALWAYS a system block
  `<|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: December 2023\\n`
  `Today Date: {date_string}\\n\\n{system}<|eot_id|>` where {system} is the first message's
  content (trimmed) if that message is a system message, else ""; then every other
  message as `<|start_header_id|>{role}<|end_header_id|>\\n\\n{content|trim}<|eot_id|>`;
  then, with add_generation_prompt, `<|start_header_id|>assistant<|end_header_id|>\\n\\n`.
  date_string: engines pass none, so the template's own default "26 Jul 2024" applies,
  and that is what Aula shows.
- "gpt-4o": the ChatML form tiktokenizer shows for o200k_base:
  `<|im_start|>{role}<|im_sep|>{content}<|im_end|>` per message (content as typed), then,
  with add_generation_prompt, `<|im_start|>assistant<|im_sep|>`. o200k_base's tiktoken definition has no ChatML
  specials, so their ids are kept here and the shared encoding is left untouched.

A conversation that ends with an assistant message is a training example: it is rendered
as trainers render it (TRL's SFTTrainer, Axolotl, OpenAI's fine-tuning), with no generation
prompt after the last message. One that ends with a user (or system) message is a prompt,
rendered with the generation prompt, as serving engines do (add_generation_prompt=True).

The loss mask (`loss_mask`) says which tokens a trainer learns from. It is a function of
the pieces alone, so every format gets it: by default ("assistant" scope, TRL's
assistant_only_loss, OpenAI's default) the content of each assistant message and the
end-of-turn token that closes it (the last special token of that message's pieces:
`<|eot_id|>`, `<|im_end|>`, `</s>`, `<|return|>`...), which is how the model learns to stop;
with the "all" scope every token. An assistant message with weight 0 (OpenAI's
per-message `weight`) is not trained.

Special tokens the template writes are single ids. Message text is encoded with
`encode_ordinary`, so `<|eot_id|>` typed by a student stays seven plain tokens.
Each piece is encoded on its own; that equals encoding the whole prompt because every
piece boundary is also a pre-tokenizer boundary (a special token, or Llama's "\\n\\n"
before trimmed content); tests check it against whole-prompt encoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from bot.tokens.encodings import get_encoding

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")
Kind = Literal["special", "template", "content"]
LossScope = Literal["assistant", "all"]
LOSS_SCOPES: tuple[LossScope, ...] = ("assistant", "all")

LLAMA31_DEFAULT_DATE = "26 Jul 2024"  # the template's fallback when no date_string is passed
CHATML_O200K_IDS = {"<|im_start|>": 200264, "<|im_end|>": 200265, "<|im_sep|>": 200266}


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Piece:
    """A run of the rendered prompt: a special token, text the template adds, or a message's content.

    message: index of the message this piece belongs to (its content or its wrapper),
    None for the conversation's own frame (begin of text, the generation prompt, Llama's
    system block when there is no system message).
    """

    text: str
    kind: Kind
    ids: tuple[int, ...]
    message: int | None


@dataclass(frozen=True)
class Rendered:
    template: str
    messages: tuple[Message, ...]
    pieces: tuple[Piece, ...]
    generation_prompt: bool = True  # False: a training example, nothing after the last message

    @property
    def is_training_example(self) -> bool:
        return not self.generation_prompt

    @property
    def prompt(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def ids(self) -> list[int]:
        return [i for p in self.pieces for i in p.ids]

    @property
    def count(self) -> int:
        return sum(len(p.ids) for p in self.pieces)

    def content_tokens(self, message: int) -> int:
        return sum(len(p.ids) for p in self.pieces if p.message == message and p.kind == "content")

    def wrapper_tokens(self, message: int | None) -> int:
        """Tokens the template adds around one message (or, for None, around the whole conversation)."""
        return sum(len(p.ids) for p in self.pieces if p.message == message and p.kind != "content")

    @property
    def overhead(self) -> int:
        """Every token that is not message content."""
        return sum(len(p.ids) for p in self.pieces if p.kind != "content")


@dataclass(frozen=True)
class ChatTemplate:
    name: str  # what students type: "llama-3.1", "gpt-4o"
    label: str  # what they see
    encoding: str  # bot.tokens.encodings name
    # Special tokens the encoding itself does not define (ChatML on o200k_base) -> id.
    extra_specials: dict[str, int]
    # (messages, add_generation_prompt) -> runs of (text, kind, message index or None)
    layout: Callable[[Sequence[Message], bool], list[tuple[str, Kind, int | None]]]


class _Layout:
    """Collects (text, kind, message) runs in order."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, Kind, int | None]] = []

    def special(self, token: str, message: int | None) -> None:
        self.runs.append((token, "special", message))

    def text(self, text: str, message: int | None) -> None:
        self.runs.append((text, "template", message))

    def content(self, text: str, message: int | None) -> None:
        self.runs.append((text, "content", message))


def _llama31_layout(messages: Sequence[Message], generation_prompt: bool) -> list[tuple[str, Kind, int | None]]:
    out = _Layout()
    out.special("<|begin_of_text|>", None)
    has_system = bool(messages) and messages[0].role == "system"
    system_index = 0 if has_system else None
    out.special("<|start_header_id|>", system_index)
    out.text("system", system_index)
    out.special("<|end_header_id|>", system_index)
    out.text(f"\n\nCutting Knowledge Date: December 2023\nToday Date: {LLAMA31_DEFAULT_DATE}\n\n", system_index)
    out.content(messages[0].content.strip() if has_system else "", system_index)
    out.special("<|eot_id|>", system_index)
    for index, message in enumerate(messages):
        if index == 0 and has_system:
            continue
        out.special("<|start_header_id|>", index)
        out.text(message.role, index)
        out.special("<|end_header_id|>", index)
        out.text("\n\n", index)
        out.content(message.content.strip(), index)
        out.special("<|eot_id|>", index)
    if not generation_prompt:
        return out.runs
    out.special("<|start_header_id|>", None)
    out.text("assistant", None)
    out.special("<|end_header_id|>", None)
    out.text("\n\n", None)
    return out.runs


def _chatml_layout(messages: Sequence[Message], generation_prompt: bool) -> list[tuple[str, Kind, int | None]]:
    out = _Layout()
    for index, message in enumerate(messages):
        out.special("<|im_start|>", index)
        out.text(message.role, index)
        out.special("<|im_sep|>", index)
        out.content(message.content, index)
        out.special("<|im_end|>", index)
    if not generation_prompt:
        return out.runs
    out.special("<|im_start|>", None)
    out.text("assistant", None)
    out.special("<|im_sep|>", None)
    return out.runs


TEMPLATES: dict[str, ChatTemplate] = {
    "llama-3.1": ChatTemplate(
        name="llama-3.1",
        label="Llama 3.1 Instruct",
        encoding="llama-3.1",
        extra_specials={},
        layout=_llama31_layout,
    ),
    "gpt-4o": ChatTemplate(
        name="gpt-4o",
        label="GPT-4o (ChatML)",
        encoding="o200k_base",
        extra_specials=CHATML_O200K_IDS,
        layout=_chatml_layout,
    ),
}


def special_token_ids(template: str) -> dict[str, int]:
    """Every control token a server for this format recognises in text -> its id: the
    encoding's own special tokens and those the format adds (ChatML's on o200k_base)."""
    chat_template = TEMPLATES[template]
    encoding = get_encoding(chat_template.encoding)
    names = {name: encoding.encode_single_token(name) for name in encoding.special_tokens_set}
    return names | chat_template.extra_specials


@lru_cache(maxsize=32)
def _special_pattern(template: str) -> re.Pattern[str] | None:
    names = sorted(special_token_ids(template), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names))) if names else None


def encode_with_specials(text: str, template: str) -> list[int]:
    """`text` as a server or trainer that tokenizes rendered text with special tokens enabled
    encodes it (Hugging Face's tokenizers by default, vLLM, TGI, llama.cpp's server): every
    control-token name in the text becomes that control token's single id; the rest is
    ordinary text. Contrast `encode_ordinary`, what OpenAI's API does with message text."""
    encoding = get_encoding(TEMPLATES[template].encoding)
    pattern = _special_pattern(template)
    if pattern is None:
        return encoding.encode_ordinary(text)
    ids = special_token_ids(template)
    out: list[int] = []
    position = 0
    for match in pattern.finditer(text):
        out += encoding.encode_ordinary(text[position : match.start()])
        out.append(ids[match.group()])
        position = match.end()
    out += encoding.encode_ordinary(text[position:])
    return out


def is_training_example(messages: Sequence[Message]) -> bool:
    """A conversation that ends with the assistant's answer is something to learn from, not to answer."""
    return bool(messages) and messages[-1].role == "assistant"


def render(messages: Sequence[Message], template: str = "llama-3.1", generation_prompt: bool | None = None) -> Rendered:
    """The conversation as the model receives it, piece by piece, with token ids.

    generation_prompt: None decides by the last message (a training example when it is the
    assistant's: no generation prompt); True or False forces it.
    Raises ValueError for an empty conversation and KeyError for an unknown template.
    """
    if not messages:
        raise ValueError("a conversation needs at least one message")  # the HF template fails too
    if generation_prompt is None:
        generation_prompt = not is_training_example(messages)
    chat_template = TEMPLATES[template]
    encoding = get_encoding(chat_template.encoding)
    pieces = []
    for text, kind, message in chat_template.layout(messages, generation_prompt):
        if kind == "special":
            ids: tuple[int, ...] = (chat_template.extra_specials.get(text) or encoding.encode_single_token(text),)
        else:
            ids = tuple(encoding.encode_ordinary(text))
        pieces.append(Piece(text, kind, ids, message))
    return Rendered(template, tuple(messages), tuple(pieces), generation_prompt)


def loss_mask(
    rendered: Rendered, scope: LossScope = "assistant", weights: Sequence[int | None] | None = None
) -> tuple[bool, ...]:
    """One boolean per id of `rendered.ids`: True where a trainer computes the loss.

    scope "assistant": the tokens of each assistant message's content pieces and of its
    last special piece (the end-of-turn token); an assistant message whose weight is 0 is
    left out (weights: one entry per message, None meaning the default 1).
    scope "all": every token. Only the pieces' kinds and message indices are read, so a
    new format gets its mask by laying out its pieces.
    """
    if scope == "all":
        return (True,) * rendered.count
    trained_messages = {
        index
        for index, message in enumerate(rendered.messages)
        if message.role == "assistant" and not (weights is not None and weights[index] == 0)
    }
    end_of_turn: dict[int, int] = {}  # message -> index of its last special piece
    for position, piece in enumerate(rendered.pieces):
        if piece.kind == "special" and piece.message in trained_messages:
            end_of_turn[piece.message] = position
    closing = set(end_of_turn.values())
    mask: list[bool] = []
    for position, piece in enumerate(rendered.pieces):
        trained = piece.message in trained_messages and (piece.kind == "content" or position in closing)
        mask.extend([trained] * len(piece.ids))
    return tuple(mask)
