"""/tokens as people run it in a terminal: `aula console` with piped input, and `aula tokens`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image

from bot.tokens.command import EXAMPLES
from bot.tokens.encodings import ENCODINGS, encode_plain, token_bytes


def aula(tmp_path, *args: str, stdin: bytes = b"", lang: str = "es") -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA_LOCALE": lang,
    }
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def test_console_tokens_with_piped_input(tmp_path):
    stdin = "/tokens ejemplo:numeros\n/tokens texto:Hola, ¿cómo estás? modelo:todos\n".encode()
    result = aula(tmp_path, "console", stdin=stdin)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Tokens en GPT-4o (o200k_base)" in out
    assert "El|·año|·|202|4|·tiene|·|366|·días" in out  # segments, whitespace visible
    assert ", ".join(map(str, encode_plain("o200k_base", "El año 2024 tiene 366 días"))) in out
    assert "El número 2024 se parte en 2 tokens: 202 | 4" in out
    assert "Tokens en cada codificación" in out
    # the picture was saved where the console keeps files, and it is a PNG
    [png] = (tmp_path / "console-files").glob("tokens.png")
    assert Image.open(png).format == "PNG"


def test_console_tokens_refusal_in_english(tmp_path):
    result = aula(tmp_path, "console", "--lang", "en", "--strict", stdin=b"/tokens modelo:gpt-4\n")
    assert result.returncode == 1
    assert "Type a text (text:…) or pick one of the course's examples" in result.stdout.decode()


def test_cli_json_one_object_per_encoding(tmp_path):
    text = "Me gusta la pizza 🍕 y el café ☕"
    result = aula(tmp_path, "tokens", text, "--encoding", "all", "--json")
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert [json.loads(line)["encoding"] for line in lines] == list(ENCODINGS)
    for line in lines:
        data = json.loads(line)
        ids = encode_plain(data["encoding"], text)
        assert data["ids"] == ids and data["count"] == len(ids)
        assert data["tokens"] == [b.decode("utf-8", "replace") for b in token_bytes(data["encoding"], ids)]
        assert "\ufffd" in "".join(data["tokens"])  # the emoji is split: partial tokens show U+FFFD
        assert "".join(s["text"] for s in data["segments"]) == text


def test_cli_reads_stdin_exactly_and_writes_the_picture(tmp_path):
    text = "línea uno\nlínea dos\n"
    result = aula(
        tmp_path, "tokens", "-", "--encoding", "llama-3.1", "--json", "--png", "t.png", stdin=text.encode()
    )
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    assert data["ids"] == encode_plain("llama-3.1", text) and data["characters"] == len(text)
    assert Image.open(tmp_path / "t.png").format == "PNG"


def test_cli_text_output_shows_the_reply(tmp_path):
    result = aula(tmp_path, "tokens", "¡Hola mundo!", lang="en")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Tokens in GPT-4o (o200k_base)" in out and "¡|Hola|·mundo|!" in out


def test_cli_bad_input_is_a_clear_message_and_non_zero_exit(tmp_path):
    result = aula(tmp_path, "tokens", "-", stdin=b"\xff\xfe no es utf-8")
    assert result.returncode == 2
    assert "no es texto UTF-8 válido" in result.stderr.decode()
    result = aula(tmp_path, "tokens", "hola", "--encoding", "gpt-9")
    assert result.returncode == 2 and "invalid choice" in result.stderr.decode()


def test_cli_short_names_and_the_spanish_english_table(tmp_path):
    result = aula(tmp_path, "tokens", "hola", "--encoding", "gpt-oss", "--json")
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["encoding"] == "o200k_harmony"
    result = aula(tmp_path, "tokens", "hola", "--encoding", "all", lang="en")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "The course's examples, Spanish against English in each tokenizer" in out
    table = out[out.index("The course's examples") :]
    header = next(line for line in table.splitlines() if line.startswith("example"))
    assert all(info.label in header for info in ENCODINGS.values())
    for key, (es, en) in {"hola-mundo": ("¡Hola mundo!", "Hello world!")}.items():
        [row] = [line for line in table.splitlines() if line.startswith(key)]
        for name in ENCODINGS:
            a, b = len(encode_plain(name, es)), len(encode_plain(name, en))
            assert f"({a} / {b})" in row
    rows = [line.split()[0] for line in table.splitlines()[4:] if line.strip()]
    assert rows == ["hola-mundo", "saludo", "numeros", "emojis", "codigo"]


def aula_tokens_count(tmp_path, text: str) -> int:
    """What `aula tokens - --json` counts for `text` (read from standard input, exactly as given)."""
    result = aula(tmp_path, "tokens", "-", "--json", stdin=text.encode())
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)["count"]


def test_the_form_takes_the_course_code_example_with_its_newline(tmp_path):
    """Issue 15.12: `/tokens texto:def …\\n    return …` kept a literal backslash-n. The form's
    paragraph field, piped one line per field as /roles' form is (\\n is a newline), keeps it."""
    code = EXAMPLES["codigo"].es
    assert "\n" in code  # the course's two-line example
    typed = code.replace("\n", "\\n")
    result = aula(tmp_path, "console", "--strict", stdin=f"/tokens formulario:sí\n{typed}\n".encode())
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Tokens: tu texto" in out
    count = aula_tokens_count(tmp_path, code)
    assert count == len(encode_plain("o200k_base", code))
    assert f"*{count} tokens* · {len(code)} caracteres" in out  # one newline, no backslash-n
    assert "↵" in out and "\\n" not in out.split("Tokens: tu texto", 1)[1]


def test_the_form_opens_filled_with_an_example_and_a_blank_field_is_refused(tmp_path):
    # Enter keeps what the field had; a field of spaces is no text.
    stdin = "/tokens formulario:sí ejemplo:codigo\n\n/tokens formulario:sí\n   \n".encode()
    result = aula(tmp_path, "console", stdin=stdin)
    out = result.stdout.decode()
    code = EXAMPLES["codigo"].es
    assert f"*{len(encode_plain('o200k_base', code))} tokens* · {len(code)} caracteres" in out
    assert "Escribe un texto (texto:…) o elige un ejemplo del curso" in out


def test_the_mistral_encodings_load_without_library_chatter_on_stderr(tmp_path):
    """`aula tokens … --encoding all` printed mistral-common's three INFO lines ("Adding special
    tokens <SPECIAL_20>, ..., <SPECIAL_999>", vocabulary sizes) among the user's output."""
    result = aula(tmp_path, "tokens", "Hola", "--encoding", "mistral-tekken")
    assert result.returncode == 0 and result.stderr.decode() == ""
    assert "Tekken" in result.stdout.decode()
