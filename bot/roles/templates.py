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
  then `<|start_header_id|>assistant<|end_header_id|>\\n\\n`.
  date_string: engines pass none, so the template's own default "26 Jul 2024" applies,
  and that is what Aula shows.
- "gpt-4o": the ChatML form tiktokenizer shows for o200k_base:
  `<|im_start|>{role}<|im_sep|>{content}<|im_end|>` per message (content as typed), then
  `<|im_start|>assistant<|im_sep|>`. o200k_base's tiktoken definition has no ChatML
  specials, so their ids are kept here and the shared encoding is left untouched.

Special tokens the template writes are single ids. Message text is encoded with
`encode_ordinary`, so `<|eot_id|>` typed by a student stays seven plain tokens.
Each piece is encoded on its own; that equals encoding the whole prompt because every
piece boundary is also a pre-tokenizer boundary (a special token, or Llama's "\\n\\n"
before trimmed content); tests check it against whole-prompt encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.tokens.encodings import get_encoding

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")
Kind = Literal["special", "template", "content"]

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
    layout: Callable[[Sequence[Message]], list[tuple[str, Kind, int | None]]]


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


def _llama31_layout(messages: Sequence[Message]) -> list[tuple[str, Kind, int | None]]:
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
    out.special("<|start_header_id|>", None)
    out.text("assistant", None)
    out.special("<|end_header_id|>", None)
    out.text("\n\n", None)
    return out.runs


def _chatml_layout(messages: Sequence[Message]) -> list[tuple[str, Kind, int | None]]:
    out = _Layout()
    for index, message in enumerate(messages):
        out.special("<|im_start|>", index)
        out.text(message.role, index)
        out.special("<|im_sep|>", index)
        out.content(message.content, index)
        out.special("<|im_end|>", index)
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


def render(messages: Sequence[Message], template: str = "llama-3.1") -> Rendered:
    """The conversation as the model receives it, piece by piece, with token ids."""
    if not messages:
        raise ValueError("a conversation needs at least one message")  # the HF template fails too
    chat_template = TEMPLATES[template]
    encoding = get_encoding(chat_template.encoding)
    pieces = []
    for text, kind, message in chat_template.layout(messages):
        if kind == "special":
            ids: tuple[int, ...] = (chat_template.extra_specials.get(text) or encoding.encode_single_token(text),)
        else:
            ids = tuple(encoding.encode_ordinary(text))
        pieces.append(Piece(text, kind, ids, message))
    return Rendered(template, tuple(messages), tuple(pieces))
