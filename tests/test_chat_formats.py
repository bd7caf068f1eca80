"""Qwen3, GPT-OSS (harmony) and Mistral NeMo in /roles: each rendered as the model's own
tooling renders it, checked against text and ids those projects publish (kept here as test
data, each with its source), and split into pieces that add up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.roles.templates import TEMPLATES, Message, render
from bot.tokens.encodings import get_encoding

DATA = Path(__file__).parent / "data"
NEW_FORMATS = ("qwen3", "gpt-oss", "mistral")

COURSE = [
    Message("system", "Eres un profesor experto en inteligencia artificial"),
    Message("user", "Explícame qué es el fine-tuning"),
    Message("assistant", "El fine-tuning es un proceso donde..."),
]
CONVERSATIONS = {
    "course": COURSE,
    "prompt": COURSE[:2],
    "no_system": COURSE[1:2],
    "five": [
        Message("system", "Responde en una frase."),
        Message("user", "¿Qué es un token? 🍕"),
        Message("assistant", "La unidad que lee el modelo."),
        Message("user", "def f(x):\n    return x * 2\n¿y esto?"),
        Message("assistant", "Una función de Python: 2024 → 4048."),
    ],
    "whitespace": [Message("user", "\n  hola  \n"), Message("assistant", " adiós\n")],
    "typed_specials": [Message("user", "<|im_start|>user [INST] <|start|> <think> </s>")],
}


# --- Qwen3 ----------------------------------------------------------------------------------

# tests/data/qwen3_chat_template.jinja: the "chat_template" field of Qwen3's tokenizer_config.json
# (Qwen/Qwen3-0.6B ... Qwen3-235B-A22B on Hugging Face; Qwen/Qwen3-8B revision 895c8d1 is the
# one SkyRL's templates README links as the official template), copied from a public quotation
# of that field. Rendered with jinja2 as Hugging Face's apply_chat_template does.
QWEN3_TEMPLATE = (DATA / "qwen3_chat_template.jinja").read_text(encoding="utf-8")


def qwen3_reference(messages, add_generation_prompt):
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return environment.from_string(QWEN3_TEMPLATE).render(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        add_generation_prompt=add_generation_prompt,
        enable_thinking=False,
    )


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_qwen3_prompt_is_its_published_template_with_thinking_off(name):
    messages = CONVERSATIONS[name]
    training = messages[-1].role == "assistant"
    rendered = render(messages, "qwen3")
    assert rendered.prompt == qwen3_reference(messages, add_generation_prompt=not training)


def test_qwen3_writes_an_empty_thinking_block_when_thinking_is_off():
    prompt = render(COURSE[:2], "qwen3").prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    example = render(COURSE, "qwen3").prompt  # the last answer carries the block in front of it
    assert "<|im_start|>assistant\n<think>\n\n</think>\n\nEl fine-tuning" in example
    earlier = render(CONVERSATIONS["five"], "qwen3").prompt  # an answer before the last question does not
    assert "<|im_start|>assistant\nLa unidad que lee el modelo.<|im_end|>" in earlier


def test_qwen3_ids_start_as_published():
    # nano-vllm's walkthrough of Qwen3 (Qwen3-0.6B): "<|im_start|>user\n1+1=?<|im_end|>\n<|im_start|>assistant\n"
    published = [151644, 872, 198, 16, 10, 16, 19884, 151645, 198, 151644, 77091, 198]
    ids = render([Message("user", "1+1=?")], "qwen3").ids
    assert ids[: len(published)] == published
    assert ids[len(published) :] == [151667, 271, 151668, 271]  # <think> \n\n </think> \n\n


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_qwen3_ids_are_the_whole_prompt_encoded_as_its_tokenizer_does(name):
    rendered = render(CONVERSATIONS[name], "qwen3")
    encoding = get_encoding("qwen3")
    expected = []
    for piece in rendered.pieces:  # specials where the template put them, every stretch between as one text
        if piece.kind == "special":
            expected.append(("special", piece.ids))
        elif expected and expected[-1][0] == "text":
            expected[-1] = ("text", expected[-1][1] + piece.text)
        else:
            expected.append(("text", piece.text))
    ids = [i for kind, value in expected for i in (value if kind == "special" else encoding.encode_ordinary(value))]
    assert rendered.ids == ids


# --- GPT-OSS (harmony) ------------------------------------------------------------------------

# openai/harmony docs/format.md, "Example system message", with the lines Aula does not use
# (no "Current date:", no function tools) left out and the default reasoning effort, medium.
HARMONY_SYSTEM = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
)
# docs/format.md, "Developer message format" and "Chat conversation format".
HARMONY_DEVELOPER = "<|start|>developer<|message|># Instructions\n\n{instructions}<|end|>"
HARMONY_USER = "<|start|>user<|message|>{content}<|end|>"
HARMONY_FINAL = "<|start|>assistant<|channel|>final<|message|>{content}"
# docs/format.md, StreamableParser example: the tokens of
# '<|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.<|end|>'
# '<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>'; the final answer is its tail.
HARMONY_PUBLISHED_FINAL = [200006, 173781, 200005, 17196, 200008, 17, 659, 220, 17, 314, 220, 19, 13, 200002]


def test_gpt_oss_prompt_is_harmonys_format():
    system, user, _ = COURSE
    prompt = render(COURSE[:2], "gpt-oss").prompt
    assert prompt == (
        HARMONY_SYSTEM
        + HARMONY_DEVELOPER.format(instructions=system.content)
        + HARMONY_USER.format(content=user.content)
        + "<|start|>assistant"
    )
    example = render(COURSE, "gpt-oss").prompt  # a training example ends the answer with <|return|>
    assert example.endswith(HARMONY_FINAL.format(content=COURSE[2].content) + "<|return|>")


def test_gpt_oss_answer_ids_are_the_published_ones():
    rendered = render([Message("user", "What is 2 + 2?"), Message("assistant", "2 + 2 = 4.")], "gpt-oss")
    assert rendered.ids[-len(HARMONY_PUBLISHED_FINAL) :] == HARMONY_PUBLISHED_FINAL


def test_gpt_oss_earlier_answers_end_with_end_and_the_prompt_with_the_assistants_start():
    rendered = render([*CONVERSATIONS["five"], Message("user", "¿Y ahora?")], "gpt-oss")
    assert HARMONY_FINAL.format(content="La unidad que lee el modelo.") + "<|end|>" in rendered.prompt
    assert rendered.prompt.endswith(HARMONY_USER.format(content="¿Y ahora?") + "<|start|>assistant")


def test_harmony_loads_offline_from_the_verified_vocabulary(tmp_path):
    # No cache, and a proxy that refuses every connection: a download attempt would fail.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TIKTOKEN_RS_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "TIKTOKEN_ENCODINGS_BASE": str(tmp_path / "nowhere"),
    }
    code = (
        "import os\n"
        "from bot.roles.templates import Message, render\n"
        "r = render([Message('user', 'What is 2 + 2?')], 'gpt-oss')\n"
        "print(r.count, os.environ['TIKTOKEN_ENCODINGS_BASE'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=Path.cwd(), timeout=120)
    assert done.returncode == 0, done.stderr
    count, base = done.stdout.split()
    assert int(count) == len(render([Message("user", "What is 2 + 2?")], "gpt-oss").ids)
    assert base == str(tmp_path / "nowhere")  # the variable is given back as it was
    assert not (tmp_path / "empty-cache").exists() or not any((tmp_path / "empty-cache").iterdir())


def test_harmony_without_its_vocabulary_would_have_to_download(tmp_path):
    # The same process with nothing written for it fails: what makes the test above pass is
    # the file Aula writes, not a cache somewhere on the machine.
    env = {"PATH": os.environ.get("PATH", ""), "TIKTOKEN_RS_CACHE_DIR": str(tmp_path / "c"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "TIKTOKEN_ENCODINGS_BASE": str(tmp_path / "nowhere")}
    code = "from openai_harmony import *\nload_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0


# --- Mistral NeMo (mistral-common) --------------------------------------------------------------

# mistralai/cookbook concept-deep-dive/tokenization/templates.md, "Tokenizer V3-Tekken"
# (Mistral-Nemo-12B-Instruct-2407): the basic string chat template.
MISTRAL_TEKKEN_PUBLISHED = "<s>[INST]Hello, how are you?[/INST]Fine, and you?</s>[INST]I'm doing great![/INST]Glad to hear!</s>"


def test_mistral_prompt_is_the_published_tekken_form():
    messages = [
        Message("user", "Hello, how are you?"),
        Message("assistant", "Fine, and you?"),
        Message("user", "I'm doing great!"),
        Message("assistant", "Glad to hear!"),
    ]
    assert render(messages, "mistral").prompt == MISTRAL_TEKKEN_PUBLISHED


def test_mistral_puts_the_system_message_in_the_last_user_turn_and_a_prompt_ends_with_inst():
    rendered = render([*CONVERSATIONS["five"], Message("user", "¿Y ahora?")], "mistral")
    assert rendered.prompt.endswith("[INST]Responde en una frase.\n\n¿Y ahora?[/INST]")
    assert rendered.prompt.startswith("<s>[INST]¿Qué es un token? 🍕[/INST]La unidad")
    system_pieces = [p for p in rendered.pieces if p.message == 0]
    assert [p.kind for p in system_pieces] == ["content", "template"]  # its text, then the blank line


@pytest.fixture(scope="module")
def mistral_reference():
    """mistral-common's own MistralTokenizer for NeMo, loaded from its file the library's way."""
    import mistral_common
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    path = Path(mistral_common.__file__).parent / "data" / "tekken_240718.json"
    return {mode: MistralTokenizer.from_file(str(path), mode=mode) for mode in (ValidationMode.test, ValidationMode.finetuning)}


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_mistral_ids_are_mistral_commons_own(name, mistral_reference):
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    messages = CONVERSATIONS[name]
    mode = ValidationMode.finetuning if messages[-1].role == "assistant" else ValidationMode.test
    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    request = ChatCompletionRequest(messages=[kinds[m.role](content=m.content) for m in messages])
    expected = mistral_reference[mode].encode_chat_completion(request)
    rendered = render(messages, "mistral")
    assert rendered.ids == expected.tokens
    assert rendered.prompt == mistral_reference[mode].decode(expected.tokens, special_token_policy=SpecialTokenPolicy.KEEP)


# --- every new format --------------------------------------------------------------------------


@pytest.mark.parametrize("template", NEW_FORMATS)
@pytest.mark.parametrize("name", CONVERSATIONS)
def test_pieces_add_up_and_special_tokens_are_single_ids(template, name):
    messages = CONVERSATIONS[name]
    rendered = render(messages, template)
    encoding = get_encoding(TEMPLATES[template].encoding)
    special_ids = {encoding.encode_single_token(s) for s in encoding.special_tokens_set}
    assert "".join(p.text for p in rendered.pieces) == rendered.prompt
    assert sum(len(p.ids) for p in rendered.pieces) == rendered.count == len(rendered.ids)
    for piece in rendered.pieces:
        if piece.kind == "special":
            assert len(piece.ids) == 1 and piece.ids[0] in special_ids
            assert encoding.encode_single_token(piece.text) == piece.ids[0]
        else:
            assert not set(piece.ids) & special_ids  # typed look-alikes stay text
    for index, message in enumerate(messages):
        content = "".join(p.text for p in rendered.pieces if p.message == index and p.kind == "content")
        assert content == message.content  # each message's content, as typed, is its own
    per_message = sum(rendered.content_tokens(i) + rendered.wrapper_tokens(i) for i in range(len(messages)))
    assert per_message + rendered.wrapper_tokens(None) == rendered.count
    assert rendered.overhead == rendered.count - sum(rendered.content_tokens(i) for i in range(len(messages)))


@pytest.mark.parametrize("template", NEW_FORMATS)
def test_typed_special_tokens_are_plain_text(template):
    rendered = render(CONVERSATIONS["typed_specials"], template)
    content = [p for p in rendered.pieces if p.message == 0 and p.kind == "content"]
    assert len(content) == 1 and len(content[0].ids) > 5


any_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=any_text, user=any_text, answer=any_text, template=st.sampled_from(NEW_FORMATS))
def test_any_conversation_splits_into_pieces_that_spell_the_prompt(system, user, answer, template):
    messages = [Message("system", system), Message("user", user), Message("assistant", answer)]
    rendered = render(messages, template)
    assert "".join(p.text for p in rendered.pieces) == rendered.prompt
    assert sum(len(p.ids) for p in rendered.pieces) == len(rendered.ids)


@pytest.mark.parametrize(
    ("template", "end_of_turn"), (("qwen3", "<|im_end|>"), ("gpt-oss", "<|return|>"), ("mistral", "</s>"))
)
def test_the_loss_mask_covers_the_answer_and_its_end_of_turn_token_in_every_format(template, end_of_turn):
    from bot.roles.templates import loss_mask

    rendered = render(COURSE, template)
    assert rendered.is_training_example
    mask = loss_mask(rendered)
    encoding = get_encoding(TEMPLATES[template].encoding)
    answer = [p for p in rendered.pieces if p.message == 2 and p.kind == "content"]
    trained = [i for i, m in zip(rendered.ids, mask, strict=True) if m]
    assert trained == [*[i for p in answer for i in p.ids], encoding.encode_single_token(end_of_turn)]


def test_every_form_conversation_splits_into_each_messages_content_in_mistrals_format():
    # mistral-common joins consecutive messages of one role and moves the system message;
    # every combination of the form's fields still gives each message its own content.
    import itertools

    roles = ("system", "user", "assistant", "user", "assistant")
    for mask in itertools.product((0, 1), repeat=5):
        messages = [Message(r, f"texto {i}") for i, (r, keep) in enumerate(zip(roles, mask, strict=True)) if keep]
        if not messages or messages[0].role == "assistant":
            continue
        for template in NEW_FORMATS:
            rendered = render(messages, template)
            for index, message in enumerate(messages):
                content = "".join(p.text for p in rendered.pieces if p.message == index and p.kind == "content")
                assert content == message.content, (template, [m.role for m in messages])


def test_mistral_refuses_a_conversation_that_starts_with_the_assistant_in_the_users_language():
    from bot.errors import UserError
    from bot.i18n import t

    with pytest.raises(UserError) as refused:
        render([Message("assistant", "Hola")], "mistral")
    text = t("es", refused.value.key, **refused.value.values)
    assert text.startswith("El formato de Mistral no acepta esta conversación") and "user message" in text
