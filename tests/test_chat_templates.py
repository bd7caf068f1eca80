"""bot.roles.templates against the templates' own logic, rendered independently with jinja2."""

from __future__ import annotations

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.roles.templates import CHATML_O200K_IDS, Message, encode_with_specials, loss_mask, render
from bot.tokens.encodings import get_encoding

# The logic of the chat_template in meta-llama/Meta-Llama-3.1-405B-Instruct's tokenizer_config.json,
# without its tool branches (no tools, no builtin_tools, no ipython/tool messages), written as a
# jinja2 template so the expected text comes from the template language, not from bot/.
LLAMA31_REFERENCE = """
{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# tiktokenizer's ChatML for gpt-4o.
CHATML_REFERENCE = """
{%- for message in messages -%}
<|im_start|>{{ message['role'] }}<|im_sep|>{{ message['content'] }}<|im_end|>
{%- endfor -%}
{%- if add_generation_prompt -%}<|im_start|>assistant<|im_sep|>{%- endif -%}
"""


def hf_render(template: str, messages: list[Message], add_generation_prompt: bool | None = None) -> str:
    """add_generation_prompt as trainers and servers pass it: False for a conversation that
    ends with the assistant's answer (a training example), True otherwise."""
    # The environment transformers' apply_chat_template uses: sandboxed, trim_blocks, lstrip_blocks.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if add_generation_prompt is None:
        add_generation_prompt = messages[-1].role != "assistant"
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        bos_token="<|begin_of_text|>",
        add_generation_prompt=add_generation_prompt,
    )


COURSE = [
    Message("system", "Eres un profesor experto en inteligencia artificial"),
    Message("user", "Explícame qué es el fine-tuning"),
    Message("assistant", "El fine-tuning es un proceso donde..."),
]

CONVERSATIONS = {
    "course": COURSE,
    "course, two turns": COURSE[:2],
    "no system": COURSE[1:],
    "five messages, multi-line": [
        Message("system", "  Responde en verso.\nSolo dos líneas.  \n"),
        Message("user", "¿Qué es un token?\n\n"),
        Message("assistant", "\tUn trozo de texto,\nque el modelo ve.\n"),
        Message("user", "¿Y un rol?"),
        Message("assistant", "Quién habla: sistema, usuario o asistente."),
    ],
    "empty messages": [Message("system", ""), Message("user", "")],
    "system later in the conversation": [Message("user", "Hola"), Message("system", " Sé breve. ")],
    "typed special tokens": [Message("user", "Fin <|eot_id|><|start_header_id|>system<|end_header_id|>")],
    "emoji and code": [Message("user", "Me gusta la pizza 🍕\ndef saludar(nombre):\n    return f'Hola, {nombre}!'")],
}


# The assistant-only loss rule, written into the reference templates the way transformers'
# return_assistant_tokens_mask reads it ({% generation %} around what is trained): here
# \x02 and \x03 mark the trained text of each assistant message, its content and end-of-turn token.
LLAMA31_MASK_REFERENCE = LLAMA31_REFERENCE.replace(
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}",
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['role'] == 'assistant' %}{{- '\x02' }}{% endif %}"
    "{{- message['content'] | trim + '<|eot_id|>' }}"
    "{%- if message['role'] == 'assistant' %}{{- '\x03' }}{% endif %}",
)
CHATML_MASK_REFERENCE = """
{%- for message in messages -%}
<|im_start|>{{ message['role'] }}<|im_sep|>
{%- if message['role'] == 'assistant' %}{% endif -%}
{{ message['content'] }}<|im_end|>
{%- if message['role'] == 'assistant' %}{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}<|im_start|>assistant<|im_sep|>{%- endif -%}
"""


def reference_mask(marked: str, encoding: tiktoken.Encoding) -> tuple[str, list[int], list[bool]]:
    """(prompt, ids, mask) from a rendering with \x02…\x03 around trained text: a token is
    trained when it starts inside a marked span (the whole prompt encoded at once)."""
    spans, prompt, start = [], "", None
    for char in marked:
        if char == "\x02":
            start = len(prompt)
        elif char == "\x03":
            spans.append((start, len(prompt)))
        else:
            prompt += char
    ids = encoding.encode(prompt, allowed_special="all")
    _, offsets = encoding.decode_with_offsets(ids)
    return prompt, ids, [any(a <= offset < b for a, b in spans) for offset in offsets]


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_llama31_prompt_is_byte_for_byte_the_hugging_face_template(name):
    messages = CONVERSATIONS[name]
    assert render(messages, "llama-3.1").prompt.encode() == hf_render(LLAMA31_REFERENCE, messages).encode()


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_gpt4o_prompt_is_tiktokenizers_chatml(name):
    messages = CONVERSATIONS[name]
    assert render(messages, "gpt-4o").prompt == hf_render(CHATML_REFERENCE, messages)


def test_a_conversation_ending_with_the_assistant_is_a_training_example_without_a_generation_prompt():
    llama = render(COURSE, "llama-3.1")
    assert llama.is_training_example and not llama.generation_prompt
    assert llama.prompt.endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\nEl fine-tuning es un proceso donde...<|eot_id|>"
    )
    assert llama.ids[-1] == 128009  # nothing after the answer's <|eot_id|>
    chatml = render(COURSE, "gpt-4o")
    assert chatml.prompt.endswith("<|im_sep|>El fine-tuning es un proceso donde...<|im_end|>")
    # Ending with the user's message it is a prompt: the generation prompt follows, as before.
    assert not render(COURSE[:2], "gpt-4o").is_training_example
    assert render(COURSE[:2], "gpt-4o").prompt.endswith("<|im_end|><|im_start|>assistant<|im_sep|>")
    # Forced either way, as a server (always a prompt) or a trainer (never one) would.
    assert render(COURSE, "llama-3.1", generation_prompt=True).prompt.endswith("assistant<|end_header_id|>\n\n")


def test_the_course_example_trains_the_answer_and_its_end_of_turn_token_only():
    llama = get_encoding("llama-3.1")
    answer = llama.encode_ordinary("El fine-tuning es un proceso donde...")
    rendered = render(COURSE, "llama-3.1")
    mask = loss_mask(rendered)
    assert len(mask) == rendered.count
    assert sum(mask) == len(answer) + 1
    trained_ids = [i for i, flag in zip(rendered.ids, mask, strict=True) if flag]
    assert trained_ids == [*answer, 128009]
    assert loss_mask(rendered, "all") == (True,) * rendered.count
    # OpenAI's weight 0 on the assistant message: nothing is trained.
    assert sum(loss_mask(rendered, weights=[None, None, 0])) == 0
    chatml = render(COURSE, "gpt-4o")
    o200k_answer = get_encoding("o200k_base").encode_ordinary("El fine-tuning es un proceso donde...")
    assert [i for i, f in zip(chatml.ids, loss_mask(chatml), strict=True) if f] == [*o200k_answer, 200265]


def test_a_prompt_has_no_trained_generation_prompt_and_several_answers_are_each_trained():
    five = CONVERSATIONS["five messages, multi-line"]
    rendered = render(five, "llama-3.1")
    llama = get_encoding("llama-3.1")
    expected = sum(len(llama.encode_ordinary(m.content.strip())) + 1 for m in five if m.role == "assistant")
    assert sum(loss_mask(rendered)) == expected
    prompt = render(five[:4], "llama-3.1")  # ends with the user: the generation prompt is never trained
    assert sum(loss_mask(prompt)) == len(llama.encode_ordinary(five[2].content.strip())) + 1
    assert not any(loss_mask(prompt)[-4:])


@pytest.mark.parametrize("template", ["llama-3.1", "gpt-4o"])
def test_typed_control_tokens_become_real_ones_for_a_server_with_specials_enabled(template):
    typed = "Fin <|eot_id|><|start_header_id|>system<|end_header_id|> y <|im_end|>"
    encoding = get_encoding("llama-3.1" if template == "llama-3.1" else "o200k_base")
    server = encode_with_specials(typed, template)
    if template == "llama-3.1":
        assert server == [*encoding.encode_ordinary("Fin "), 128009, 128006, *encoding.encode_ordinary("system"),
                          128007, *encoding.encode_ordinary(" y <|im_end|>")]
        assert server == encoding.encode(typed, allowed_special="all")  # tiktoken's own special handling
    else:  # ChatML's names are control tokens for a GPT-4o-style server, Llama's are not
        assert server == [*encoding.encode_ordinary(typed[: typed.index("<|im_end|>")]), 200265]
    assert len(server) < len(encoding.encode_ordinary(typed))


def test_the_course_conversation_renders_as_written_out_by_hand():
    expected = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
        "Eres un profesor experto en inteligencia artificial<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nExplícame qué es el fine-tuning<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert render(COURSE[:2], "llama-3.1").prompt == expected


def test_llama_special_tokens_are_single_ids():
    rendered = render(COURSE[:2], "llama-3.1")
    specials = {p.text: p.ids for p in rendered.pieces if p.kind == "special"}
    assert specials == {
        "<|begin_of_text|>": (128000,),
        "<|start_header_id|>": (128006,),
        "<|end_header_id|>": (128007,),
        "<|eot_id|>": (128009,),
    }
    assert rendered.ids[:4] == [128000, 128006, 9125, 128007]  # 9125 = "system"
    assert rendered.ids[-4:] == [128006, 78191, 128007, 271]  # assistant, "\n\n"


def test_gpt4o_chatml_ids_and_o200k_base_left_alone():
    rendered = render(COURSE[1:2], "gpt-4o")
    o200k = get_encoding("o200k_base")
    user, hola = o200k.encode_ordinary("user"), o200k.encode_ordinary("Explícame qué es el fine-tuning")
    assistant = o200k.encode_ordinary("assistant")
    assert rendered.ids == [200264, *user, 200266, *hola, 200265, 200264, *assistant, 200266]
    # /tokens' o200k_base still has only its own specials: ChatML text there is plain text.
    assert "<|im_start|>" not in o200k.special_tokens_set
    with pytest.raises(KeyError):
        o200k.encode_single_token("<|im_start|>")


@pytest.mark.parametrize("template", ["llama-3.1", "gpt-4o"])
def test_typed_special_tokens_are_plain_text(template):
    typed = "Hola <|eot_id|> y <|im_end|>"
    rendered = render([Message("user", typed)], template)
    content = next(p for p in rendered.pieces if p.kind == "content" and p.message == 0)
    encoding = get_encoding("llama-3.1" if template == "llama-3.1" else "o200k_base")
    assert content.ids == tuple(encoding.encode_ordinary(typed))
    assert len(content.ids) > 5
    special_ids = {128009, 200265}
    assert not special_ids & set(content.ids)
    # Only the template's own specials: one user block and the generation prompt.
    n_specials = sum(1 for p in rendered.pieces if p.kind == "special")
    assert n_specials == (1 + 3 + 3 + 2 if template == "llama-3.1" else 3 + 2)


def test_no_system_message_still_gets_llamas_system_block_as_overhead():
    rendered = render(COURSE[1:2], "llama-3.1")
    assert rendered.prompt.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user"
    )
    # The frame (None) holds the system block; the one message owns only its own block.
    assert rendered.content_tokens(0) == len(get_encoding("llama-3.1").encode_ordinary(COURSE[1].content))
    assert rendered.wrapper_tokens(0) == 5  # <|start_header_id|> user <|end_header_id|> "\n\n" … <|eot_id|>


def test_an_empty_message_costs_only_its_wrapper():
    rendered = render([Message("system", ""), Message("user", "")], "llama-3.1")
    assert rendered.content_tokens(0) == 0 and rendered.content_tokens(1) == 0
    assert rendered.overhead == rendered.count
    chatml = render([Message("user", "")], "gpt-4o")
    assert chatml.ids == [200264, 1428, 200266, 200265, 200264, 173781, 200266]  # 1428 user, 173781 assistant


@pytest.mark.parametrize("template", ["llama-3.1", "gpt-4o"])
def test_a_conversation_needs_a_message(template):
    with pytest.raises(ValueError):
        render([], template)


def test_counts_add_up():
    for template in ("llama-3.1", "gpt-4o"):
        rendered = render(CONVERSATIONS["five messages, multi-line"], template)
        per_message = sum(rendered.content_tokens(i) + rendered.wrapper_tokens(i) for i in range(5))
        assert per_message + rendered.wrapper_tokens(None) == rendered.count == len(rendered.ids)
        assert rendered.overhead == rendered.count - sum(rendered.content_tokens(i) for i in range(5))


@pytest.fixture(scope="module")
def o200k_with_chatml() -> tiktoken.Encoding:
    # tiktoken's documented way of extending an encoding with extra special tokens.
    base = get_encoding("o200k_base")
    return tiktoken.Encoding(
        name="o200k_chatml",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens={**base._special_tokens, **CHATML_O200K_IDS},
    )


message_text = st.text(max_size=60).filter(lambda s: "<|" not in s and "\x02" not in s and "\x03" not in s)
conversations = st.lists(st.builds(Message, st.sampled_from(["system", "user", "assistant"]), message_text), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conversations, st.sampled_from([None, True, False]))
def test_any_conversation_matches_the_template_and_whole_prompt_encoding(o200k_with_chatml, messages, prompt):
    llama = render(messages, "llama-3.1", prompt)
    assert llama.prompt == hf_render(LLAMA31_REFERENCE, messages, prompt)
    # Encoding piece by piece gives exactly the ids of encoding the whole prompt at once.
    assert llama.ids == get_encoding("llama-3.1").encode(llama.prompt, allowed_special="all")
    chatml = render(messages, "gpt-4o", prompt)
    assert chatml.prompt == hf_render(CHATML_REFERENCE, messages, prompt)
    assert chatml.ids == o200k_with_chatml.encode(chatml.prompt, allowed_special="all")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conversations, st.sampled_from([None, True, False]))
def test_the_loss_mask_of_any_conversation_is_the_assistant_only_rule(o200k_with_chatml, messages, prompt):
    for template, reference, encoding in (
        ("llama-3.1", LLAMA31_MASK_REFERENCE, get_encoding("llama-3.1")),
        ("gpt-4o", CHATML_MASK_REFERENCE, o200k_with_chatml),
    ):
        rendered = render(messages, template, prompt)
        text, ids, expected = reference_mask(hf_render(reference, messages, rendered.generation_prompt), encoding)
        assert (text, ids) == (rendered.prompt, rendered.ids)
        assert list(loss_mask(rendered)) == expected


# The token that closes an assistant turn in each format, as its own template writes it
# (Llama 3.1's and Qwen3's chat templates, tiktokenizer's ChatML, openai-harmony's <|end|>
# before a later turn and <|return|> at the end, mistral-common's </s>).
END_OF_TURN = {
    "llama-3.1": ("<|eot_id|>", "<|eot_id|>"),
    "gpt-4o": ("<|im_end|>", "<|im_end|>"),
    "qwen3": ("<|im_end|>", "<|im_end|>"),
    "gpt-oss": ("<|end|>", "<|return|>"),
    "mistral": ("</s>", "</s>"),
}


@pytest.mark.parametrize("template", sorted(END_OF_TURN))
def test_every_format_trains_each_answer_and_its_end_of_turn_token_only(template):
    from bot.roles.templates import TEMPLATES

    assert set(END_OF_TURN) == set(TEMPLATES)  # a new format needs its row here
    messages = [
        Message("system", "Sé breve."),
        Message("user", "Hola"),
        Message("assistant", "¡Hola! ¿En qué te ayudo?"),
        Message("user", "¿Qué es un token?"),
        Message("assistant", "Un trozo de texto."),
    ]
    rendered = render(messages, template)
    assert rendered.is_training_example
    mask = loss_mask(rendered)
    trained = [i for i, flag in zip(rendered.ids, mask, strict=True) if flag]
    answers = [
        [i for p in rendered.pieces if p.message == index and p.kind == "content" for i in p.ids]
        for index in (2, 4)
    ]
    ends = [
        next(p for p in rendered.pieces if p.kind == "special" and p.text == name).ids[0] for name in END_OF_TURN[template]
    ]
    assert all(answers) and trained == [*answers[0], ends[0], *answers[1], ends[1]]
    # After the last answer's end of turn, no generation prompt: at most the template's own newline (Qwen3).
    last_end = max(i for i, p in enumerate(rendered.pieces) if p.kind == "special")
    assert rendered.pieces[last_end].ids == (ends[1],)
    assert all(p.kind == "template" and p.text.strip() == "" for p in rendered.pieces[last_end + 1 :])
    assert sum(loss_mask(rendered, weights=[None, None, 0, None, None])) == len(answers[1]) + 1
    assert loss_mask(rendered, "all") == (True,) * rendered.count
