"""`aula roles` and /roles in the console classroom, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from adapters.cli import main
from bot.roles.templates import Message, render
from bot.tokens.encodings import get_encoding


def test_json_has_template_prompt_ids_and_count_in_the_order_given(capsys, monkeypatch):
    monkeypatch.setenv("AULA_LOCALE", "es")
    code = main(["roles", "--user", "Hola", "--system", "Sé breve", "--assistant", "¡Hola!", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["template"] == "llama-3.1"
    # The order given is kept: a system message after a user one is an ordinary block, not the system slot.
    assert data["prompt"] == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHola<|eot_id|>"
        "<|start_header_id|>system<|end_header_id|>\n\nSé breve<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n¡Hola!<|eot_id|>"
    )  # it ends with the assistant: a training example, no generation prompt after it
    assert data["ids"] == get_encoding("llama-3.1").encode(data["prompt"], allowed_special="all")
    assert data["count"] == len(data["ids"])
    assert [m["role"] for m in data["messages"]] == ["user", "system", "assistant"]
    assert data["training_example"] is True
    # The mask: "¡Hola!" (3 tokens) and its <|eot_id|>, the last four ids; nothing else.
    assert data["trained"] == [False] * (data["count"] - 4) + [True] * 4 and data["trained_count"] == 4


def test_json_mask_with_train_all_and_for_a_prompt(capsys):
    assert main(["roles", "--user", "Hola", "--assistant", "Hey", "--template", "gpt-4o", "--train", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trained"] == [True] * data["count"] and data["trained_count"] == data["count"]
    assert main(["roles", "--user", "Hola", "--json"]) == 0
    prompt = json.loads(capsys.readouterr().out)
    assert prompt["training_example"] is False and prompt["trained_count"] == 0
    assert len(prompt["trained"]) == prompt["count"]


def test_gpt4o_json_ids(capsys):
    assert main(["roles", "--user", "Hola", "--template", "gpt-4o", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    hola = get_encoding("o200k_base").encode_ordinary("Hola")
    assert data["ids"] == [200264, 1428, 200266, *hola, 200265, 200264, 173781, 200266]
    assert data["count"] == 7 + len(hola)


def test_new_formats_json_is_the_libraries_rendering(capsys):
    for template in ("qwen3", "gpt-oss", "mistral"):
        assert main(["roles", "--system", "Sé breve", "--user", "Hola", "--template", template, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        rendered = render([Message("system", "Sé breve"), Message("user", "Hola")], template)
        assert data["template"] == template
        assert (data["prompt"], data["ids"], data["count"]) == (rendered.prompt, rendered.ids, rendered.count)
    assert data["prompt"] == "<s>[INST]Sé breve\n\nHola[/INST]"  # Mistral NeMo
    assert data["ids"][:2] == [1, 3] and data["ids"][-1] == 4


def test_text_output_is_the_exact_prompt_then_the_counts(capsys, monkeypatch):
    monkeypatch.setenv("AULA_LOCALE", "en")
    assert main(["roles", "--system", "Be brief", "--user", "Hi"]) == 0
    out = capsys.readouterr().out
    rendered = render([Message("system", "Be brief"), Message("user", "Hi")])
    assert out.startswith(rendered.prompt + "\n\n")
    last = out.splitlines()[-1].split()
    assert last == ["All", str(rendered.count - rendered.overhead), str(rendered.overhead), str(rendered.count)]


def test_no_messages_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("AULA_LOCALE", "en")
    assert main(["roles", "--template", "gpt-4o"]) == 2
    assert "give at least one message" in capsys.readouterr().err


def test_the_form_through_console_prompts(tmp_path):
    # /roles formulario:sí asks the five fields one per line (\n is a newline), then renders.
    stdin = "/roles formulario:sí modelo:gpt-4o\nSé breve.\\nMuy breve.\n¿Qué es un token?\n\n\n\n".encode()
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--strict"],
        input=stdin, capture_output=True, env=env, cwd=tmp_path, timeout=60,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    # The console shows segments separated by "|" and newlines as "↵".
    assert "<|im_start|>|system|<|im_sep|>|Sé breve.↵\nMuy breve.|<|im_end|>|<|im_start|>|user|" in out
    assert "1 · sistema" in out and "2 · usuario" in out and "3 · asistente" not in out


def test_template_all_prints_every_format_and_the_comparison(capsys, monkeypatch, tmp_path):
    from PIL import Image

    from bot.roles.templates import TEMPLATES

    monkeypatch.setenv("AULA_LOCALE", "es")
    png = tmp_path / "formatos.png"
    assert main(["roles", "--system", "Sé breve", "--user", "Hola", "--template", "all", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    messages = [Message("system", "Sé breve"), Message("user", "Hola")]
    for name, chat_template in TEMPLATES.items():
        rendered = render(messages, name)
        assert f"── {chat_template.label}: {rendered.count} tokens, {rendered.overhead} de plantilla.\n{rendered.prompt}\n" in out
    table = out[out.index("Formato") :].splitlines()
    assert [line.split("  ")[0] for line in table[2:]] == [t.label for t in TEMPLATES.values()]
    assert Image.open(png).format == "PNG"
    assert main(["roles", "--user", "Hola", "--template", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["template"] for d in data] == list(TEMPLATES)
    assert [d["ids"] for d in data] == [render([Message("user", "Hola")], name).ids for name in TEMPLATES]


def test_comparar_in_the_console_classroom(tmp_path):
    from PIL import Image

    from bot.roles.templates import TEMPLATES

    stdin = "/roles comparar:sí sistema:Sé breve usuario:Hola\n".encode()
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--strict"],
        input=stdin, capture_output=True, env=env, cwd=tmp_path, timeout=120,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "La misma conversación en cada formato" in out
    messages = [Message("system", "Sé breve"), Message("user", "Hola")]
    for name, chat_template in TEMPLATES.items():
        rendered = render(messages, name)
        assert f"{chat_template.label}: {rendered.count} tokens, {rendered.overhead} de plantilla." in out
    assert "<s>|[INST]|Sé breve|↵\n↵\n|Hola|[/INST]" in out  # Mistral NeMo, as segments
    [png] = (tmp_path / "console-files").glob("roles-formats.png")
    assert Image.open(png).format == "PNG"
