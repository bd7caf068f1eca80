"""Chat templates: a conversation as the exact text and token ids a model receives.

Five formats, each rendered as that model's own tooling does:

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

- "qwen3": Qwen3's chat template (tokenizer_config.json of the Qwen3 models) with
  enable_thinking=False, as Qwen documents for a non-thinking answer: ChatML with a newline
  after the role, `<|im_start|>{role}\\n{content}<|im_end|>\\n` per message; the
  generation prompt `<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n` (an empty thinking
  block); an assistant message after the last user message gets the same empty block in
  front of its content when it is the last message. Content is as typed (no trimming).
- "gpt-oss": openai-harmony's rendering (OpenAI's renderer for gpt-oss): harmony's own system
  message (model identity, knowledge cutoff, reasoning effort, channels; no date), a
  system message of the student's as the developer message's instructions, user messages,
  and assistant messages on the `final` channel; a prompt ends with `<|start|>assistant`
  (render_conversation_for_completion), a training example ends the last answer with
  `<|return|>` (render_conversation_for_training).
- "mistral": mistral-common's chat-completion encoding for Mistral NeMo (tokenizer v3,
  Tekken), what Mistral serves with: `<s>[INST]{user}[/INST]{assistant}</s>...`, the system
  message prepended to the last user message with a blank line. A conversation that ends
  with the assistant's answer can only be a fine-tuning example in this format (mistral-common's
  `finetuning` validation mode: it ends with `</s>`); one that ends with a user message is a
  prompt that ends with `[/INST]` (the `test` mode, what serving uses).

For gpt-oss and mistral the ids are the library's own; Aula only splits them into pieces
(special tokens, text the format adds, each message's content) by their bytes. Qwen3's text
between special tokens is encoded as one text, as its tokenizer does, then split the same way.

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

from bot.errors import UserError
from bot.tokens.encodings import ENCODINGS, get_encoding, harmony_encoding, prepare_text, token_bytes

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
    layout: Callable[[Sequence[Message], bool], list[tuple[str, Kind, int | None]]] | None
    # Text between two special tokens is encoded as one text and its ids split over the pieces.
    encode_runs: bool = False
    # A library renders the ids itself: (messages, generation prompt asked) -> (pieces, whether
    # the rendering ends with a generation prompt; a format may have no other choice).
    renderer: Callable[[Sequence[Message], bool], tuple[list[Piece], bool]] | None = None
    source: str = ""  # whose rendering this is, for the reply


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


def _qwen3_layout(messages: Sequence[Message], generation_prompt: bool) -> list[tuple[str, Kind, int | None]]:
    """Qwen3's chat template without tools, enable_thinking=False (see the module docstring)."""
    out = _Layout()
    last_query = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages) - 1)
    for index, message in enumerate(messages):
        out.special("<|im_start|>", index)
        out.text(message.role + "\n", index)
        last = index == len(messages) - 1
        if message.role == "assistant" and index > last_query and last:
            _empty_thinking(out, index)
        out.content(message.content, index)
        out.special("<|im_end|>", index)
        out.text("\n", index)
    if generation_prompt:
        out.special("<|im_start|>", None)
        out.text("assistant\n", None)
        _empty_thinking(out, None)
    return out.runs


def _empty_thinking(out: _Layout, message: int | None) -> None:
    out.special("<think>", message)
    out.text("\n\n", message)
    out.special("</think>", message)
    out.text("\n\n", message)


def split_ids(ids: Sequence[int], chunks: Sequence[bytes], runs: Sequence[tuple[str, Kind, int | None]]) -> list[Piece]:
    """Pieces for `runs` (whose texts, concatenated, are the bytes of `ids`), each token given
    to the run holding its first byte. A token that spans two runs stays whole in the first."""
    pieces: list[Piece] = []
    token = 0
    offset = 0  # bytes of ids consumed
    run_end = 0
    for text, kind, message in runs:
        run_end += len(text.encode("utf-8"))
        start = token
        while token < len(ids) and offset < run_end:
            offset += len(chunks[token])
            token += 1
        pieces.append(Piece(text, kind, tuple(ids[start:token]), message))
    if token != len(ids):
        raise ValueError("the runs do not spell the ids' text")
    return pieces


def _encode_runs(chat_template: ChatTemplate, runs: list[tuple[str, Kind, int | None]]) -> list[Piece]:
    """Special tokens as single ids; each stretch of text between two of them encoded as one text."""
    encoding = get_encoding(chat_template.encoding)
    info = ENCODINGS[chat_template.encoding]
    runs = [(text if kind == "special" else prepare_text(info, text), kind, m) for text, kind, m in runs]
    pieces: list[Piece] = []
    stretch: list[tuple[str, Kind, int | None]] = []

    def flush() -> None:
        if stretch:
            ids = encoding.encode_ordinary("".join(text for text, _, _ in stretch))
            pieces.extend(split_ids(ids, token_bytes(chat_template.encoding, ids), stretch))
            stretch.clear()

    for text, kind, message in runs:
        if kind == "special":
            flush()
            pieces.append(Piece(text, kind, (encoding.encode_single_token(text),), message))
        else:
            stretch.append((text, kind, message))
    flush()
    return pieces


def _pieces_from_library_ids(
    encoding_name: str, ids: Sequence[int], special_ids: set[int], body_runs: Callable[[int, str], list]
) -> list[Piece]:
    """Split a library's ids into pieces: each special id its own piece; each stretch of text
    between two special ids laid out by `body_runs(position of the stretch, its text)`."""
    encoding = get_encoding(encoding_name)
    pieces: list[Piece] = []
    stretch: list[int] = []
    stretches = 0

    def flush() -> None:
        nonlocal stretches
        if stretch:
            chunks = [encoding.decode_single_token_bytes(i) for i in stretch]
            text = b"".join(chunks).decode("utf-8", errors="replace")
            pieces.extend(split_ids(list(stretch), chunks, body_runs(stretches, text)))
            stretches += 1
            stretch.clear()

    for token in ids:
        if token in special_ids:
            flush()
            name = encoding.decode_single_token_bytes(token).decode("utf-8")
            pieces.append(Piece(name, "special", (token,), None))
        else:
            stretch.append(token)
    flush()
    return pieces


def _owned(pieces: list[Piece], owner_of_special: Callable[[int, Piece], int | None]) -> list[Piece]:
    return [
        Piece(p.text, p.kind, p.ids, owner_of_special(i, p)) if p.kind == "special" else p
        for i, p in enumerate(pieces)
    ]


def _content_runs(text: str, content: str, message: int | None) -> list[tuple[str, Kind, int | None]]:
    """A message's text as the library wrote it: what precedes its content is template text."""
    if message is None or not text.endswith(content):
        return [(text, "template", message)]
    head = text[: len(text) - len(content)]
    return [r for r in ((head, "template", message), (content, "content", message)) if r[0]]


def _harmony_render(messages: Sequence[Message], generation_prompt: bool) -> tuple[list[Piece], bool]:
    from openai_harmony import Conversation, DeveloperContent, Role, SystemContent
    from openai_harmony import Message as HarmonyMessage

    harmony = harmony_encoding()
    conversation = [HarmonyMessage.from_role_and_content(Role.SYSTEM, SystemContent.new())]
    owners: list[int | None] = [None]  # harmony's own system message belongs to no message of ours
    for index, message in enumerate(messages):
        if message.role == "system":
            developer = DeveloperContent.new().with_instructions(message.content)
            conversation.append(HarmonyMessage.from_role_and_content(Role.DEVELOPER, developer))
        elif message.role == "user":
            conversation.append(HarmonyMessage.from_role_and_content(Role.USER, message.content))
        else:
            answer = HarmonyMessage.from_role_and_content(Role.ASSISTANT, message.content).with_channel("final")
            conversation.append(answer)
        owners.append(index)
    rendered = Conversation.from_messages(conversation)
    if generation_prompt:
        ids = harmony.render_conversation_for_completion(rendered, Role.ASSISTANT)
        owners.append(None)  # the generation prompt
    else:
        ids = harmony.render_conversation_for_training(rendered)
    encoding = get_encoding("o200k_harmony")
    special_ids = {encoding.encode_single_token(s) for s in encoding.special_tokens_set}
    start = encoding.encode_single_token("<|start|>")
    message_token = encoding.encode_single_token("<|message|>")
    # Which harmony message each stretch of text belongs to, and whether it follows <|message|>.
    plan: list[tuple[int, bool]] = []
    current, previous = -1, None
    for token in ids:
        if token in special_ids:
            current += token == start
        elif previous is None or previous in special_ids:
            plan.append((current, previous == message_token))
        previous = token

    def body_runs(position: int, text: str) -> list:
        harmony_index, is_body = plan[position]
        owner = owners[harmony_index]
        if not is_body:
            return [(text, "template", owner)]  # the header: role, channel name
        return _content_runs(text, messages[owner].content if owner is not None else "", owner)

    pieces = _pieces_from_library_ids("o200k_harmony", ids, special_ids, body_runs)
    owner_at: list[int | None] = []
    current = -1
    for piece in pieces:
        if piece.kind == "special" and piece.ids[0] == start:
            current += 1
        owner_at.append(owners[current])
    return _owned(pieces, lambda i, piece: owner_at[i]), generation_prompt


def _mistral_render(messages: Sequence[Message], generation_prompt: bool) -> tuple[list[Piece], bool]:
    """mistral-common's chat-completion encoding for Mistral NeMo (v3, Tekken).

    generation_prompt is decided by the format itself: Mistral has no assistant header, so a
    conversation ending with the assistant can only be rendered as a fine-tuning example.
    """
    from mistral_common.exceptions import MistralCommonException
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode

    training = is_training_example(messages)  # the only way this format can end with an answer
    tokenizer = _mistral_tokenizer(ValidationMode.finetuning if training else ValidationMode.test)
    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    request = ChatCompletionRequest(messages=[kinds[m.role](content=m.content) for m in messages])
    try:
        ids = tokenizer.encode_chat_completion(request).tokens
    except MistralCommonException as exc:  # e.g. a conversation that starts with the assistant
        raise UserError("roles.error.mistral", reason=str(exc)) from exc
    encoding = get_encoding("mistral-tekken")
    special_ids = set(range(encoding.tokenizer.num_special_tokens))
    inst, end_inst, eos = (encoding.encode_single_token(s) for s in ("[INST]", "[/INST]", "</s>"))
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    systems = [i for i, m in enumerate(messages) if m.role == "system"]
    # mistral-common joins consecutive messages of one role with a blank line, and puts the
    # system messages at the start of the last user turn: each stretch of text after [INST]
    # is a group of user messages (the last one with the system messages first), each after
    # [/INST] a group of answers.
    turns = [i for i in range(len(messages)) if messages[i].role != "system"]
    groups: dict[str, list[list[int]]] = {"user": [], "assistant": []}
    for position, index in enumerate(turns):
        role = messages[index].role
        if position and messages[turns[position - 1]].role == role:
            groups[role][-1].append(index)
        else:
            groups[role].append([index])
    follows = [previous for previous, token in zip([None, *ids], ids, strict=False)
               if token not in special_ids and (previous is None or previous in special_ids)]
    last_user_stretch = max((n for n, f in enumerate(follows) if f == inst), default=-1)
    taken = {"user": 0, "assistant": 0}

    def body_runs(position: int, text: str) -> list:
        role = "assistant" if follows[position] == end_inst else "user"
        group = groups[role][taken[role]] if taken[role] < len(groups[role]) else []
        taken[role] += 1
        parts = [*(systems if position == last_user_stretch else []), *group]
        return _locate(text, [(index, messages[index].content) for index in parts])

    pieces = _pieces_from_library_ids("mistral-tekken", ids, special_ids, body_runs)
    # [INST] and [/INST] wrap the user turn that follows/precedes them; </s> closes the answer before it.
    owner_at: list[int | None] = []
    for position, piece in enumerate(pieces):
        if piece.kind != "special":
            owner_at.append(piece.message)
        elif piece.ids[0] == inst:  # the user turn it opens (the system text may come first)
            turn = []
            for later in pieces[position + 1 :]:
                if later.kind == "special":
                    break
                turn.append(later.message)
            owner_at.append(next((m for m in turn if m in users), turn[0] if turn else None))
        elif piece.ids[0] in (end_inst, eos):
            owner_at.append(next((p.message for p in reversed(pieces[:position]) if p.kind == "content"
                                  and (p.message is None or messages[p.message].role != "system")), None))
        else:
            owner_at.append(None)
    return _owned(pieces, lambda i, piece: owner_at[i]), not training


_mistral_tokenizers: dict = {}


def _locate(text: str, parts: list[tuple[int, str]]) -> list[tuple[str, Kind, int | None]]:
    """`text` as runs: each message's content where it is found, in order, and the text between
    (what the format adds, such as the blank line after a system message) as template text of
    the message before it (of the first message, for text before any content)."""
    runs: list[tuple[str, Kind, int | None]] = []
    cursor = 0
    last: int | None = None
    for index, content in parts:
        found = text.find(content, cursor) if content else -1
        if found < 0:
            continue
        if found > cursor:
            runs.append((text[cursor:found], "template", index if last is None else last))
        runs.append((content, "content", index))
        cursor, last = found + len(content), index
    if cursor < len(text):
        runs.append((text[cursor:], "template", last))
    return runs


def _mistral_tokenizer(mode):
    """mistral-common's MistralTokenizer for NeMo, on the verified Tekken tokenizer Aula already loaded."""
    found = _mistral_tokenizers.get(mode)
    if found is None:
        from mistral_common.protocol.instruct.normalize import get_normalizer
        from mistral_common.protocol.instruct.validator import get_validator
        from mistral_common.tokens.tokenizers.instruct import InstructTokenizerV3
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        tekken = get_encoding("mistral-tekken").tokenizer
        found = _mistral_tokenizers[mode] = MistralTokenizer(
            InstructTokenizerV3(tekken),
            validator=get_validator(tekken.version, mode=mode),
            request_normalizer=get_normalizer(tekken.version, tekken.model_settings_builder),
        )
    return found


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
    "qwen3": ChatTemplate(
        name="qwen3",
        label="Qwen3",
        encoding="qwen3",
        extra_specials={},
        layout=_qwen3_layout,
        encode_runs=True,
    ),
    "gpt-oss": ChatTemplate(
        name="gpt-oss",
        label="GPT-OSS (harmony)",
        encoding="o200k_harmony",
        extra_specials={},
        layout=None,
        renderer=_harmony_render,
        source="openai-harmony",
    ),
    "mistral": ChatTemplate(
        name="mistral",
        label="Mistral NeMo",
        encoding="mistral-tekken",
        extra_specials={},
        layout=None,
        renderer=_mistral_render,
        source="mistral-common",
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
    if chat_template.renderer is not None:
        pieces, generation_prompt = chat_template.renderer(messages, generation_prompt)
        return Rendered(template, tuple(messages), tuple(pieces), generation_prompt)
    if chat_template.encode_runs:
        runs = chat_template.layout(messages, generation_prompt)
        return Rendered(template, tuple(messages), tuple(_encode_runs(chat_template, runs)), generation_prompt)
    encoding = get_encoding(chat_template.encoding)
    pieces = []
    for text, kind, message in chat_template.layout(messages, generation_prompt):
        if kind == "content":
            ids: tuple[int, ...] = tuple(encoding.encode_ordinary(text))
        else:
            ids = _fixed_ids(template, text, kind)
        pieces.append(Piece(text, kind, ids, message))
    return Rendered(template, tuple(messages), tuple(pieces), generation_prompt)


@lru_cache(maxsize=1024)
def _fixed_ids(template: str, text: str, kind: Kind) -> tuple[int, ...]:
    """Ids of what the template itself writes (special tokens, headers, role names): the same
    few strings in every conversation, so encoded once (checking a dataset renders thousands)."""
    chat_template = TEMPLATES[template]
    encoding = get_encoding(chat_template.encoding)
    if kind == "special":
        return (chat_template.extra_specials.get(text) or encoding.encode_single_token(text),)
    return tuple(encoding.encode_ordinary(text))


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
    mask: list[bool] = []
    for piece, trained in zip(rendered.pieces, piece_mask(rendered, scope, weights), strict=True):
        mask.extend([trained] * len(piece.ids))
    return tuple(mask)


def piece_mask(
    rendered: Rendered, scope: LossScope = "assistant", weights: Sequence[int | None] | None = None
) -> tuple[bool, ...]:
    """`loss_mask` per piece (a piece is trained or masked as a whole): one boolean per piece."""
    if scope == "all":
        return (True,) * len(rendered.pieces)
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
    return tuple(
        piece.message in trained_messages and (piece.kind == "content" or position in closing)
        for position, piece in enumerate(rendered.pieces)
    )
