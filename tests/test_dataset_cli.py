"""`aula dataset check` and /dataset in the console classroom, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "dataset"


def test_json_has_the_issues_keys_and_exit_1_on_errors(capsys, monkeypatch):
    monkeypatch.setenv("AULA_LOCALE", "en")
    code = main(["dataset", "check", str(FIXTURES / "errors.jsonl"), "--context", "200", "--epochs", "2",
                 "--price-per-million", "10", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    for key in ("examples", "errors", "error_counts", "tokens", "trained_tokens", "truncated", "estimated_cost"):
        assert key in data
    assert set(data["errors"][0]) == {"line", "field", "kind", "message"}
    second_line = (FIXTURES / "errors.jsonl").read_bytes().split(b"\n")[1]
    assert data["errors"][0]["message"] == f"not valid UTF-8 (byte {second_line.index(bytes([0xE9])) + 1} of the line)"
    assert set(data["tokens"]) == {"min", "median", "p95", "max"} and data["truncated"] == 1
    cost = data["estimated_cost"]
    assert (cost["epochs"], cost["price_per_million"]) == (2, 10.0)
    assert cost["usd"] == round(data["trained_tokens"] * 2 * 10 / 1e6, 6)


def test_a_clean_file_exits_0_and_the_format_and_template_can_be_chosen(capsys):
    assert main(["dataset", "check", str(FIXTURES / "openai.jsonl"), "--template", "gpt-4o", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["template"] == "gpt-4o" and data["errors"] == [] and data["error_counts"] == {}
    # Forcing another format: every line lacks its fields.
    assert main(["dataset", "check", str(FIXTURES / "openai.jsonl"), "--format", "sharegpt", "--json"]) == 1
    forced = json.loads(capsys.readouterr().out)
    assert forced["error_counts"] == {"wrong_type": 3} and forced["errors"][0]["field"] == "conversations"


def test_refusals_and_bad_options(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AULA_LOCALE", "es")
    assert main(["dataset", "check", str(FIXTURES / "array.json")]) == 1
    assert "array JSON" in capsys.readouterr().err
    assert main(["dataset", "check", str(tmp_path / "no-existe.jsonl")]) == 2
    assert "No encuentro el archivo" in capsys.readouterr().err
    assert main(["dataset", "check", str(FIXTURES / "openai.jsonl"), "--epochs", "0"]) == 2
    assert "épocas" in capsys.readouterr().err.lower()
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 2048)
    monkeypatch.setenv("AULA__DATASET__MAX_BYTES", "1024")
    assert main(["dataset", "check", str(big), "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert refused == {"refused": "too_large", "message": refused["message"]} and "1 KB" in refused["message"]


def test_text_report_in_the_terminal(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AULA_LOCALE", "en")
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "check", str(FIXTURES / "sharegpt.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "Check of «sharegpt.jsonl»" in out and "ShareGPT (conversations)" in out
    assert "unknown role «function_call»" in out and "⟦¡Hola!⟧" in out
    assert list(tmp_path.iterdir()) == []  # no pictures unless asked for


def test_pictures_only_when_asked_and_the_language_by_option(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AULA_LOCALE", "en")
    monkeypatch.chdir(tmp_path)
    histogram, mask = tmp_path / "out" / "lengths.png", tmp_path / "out" / "mask.png"
    histogram.parent.mkdir()
    argv = ["dataset", "check", str(FIXTURES / "openai.jsonl"), "--png", str(histogram), "--mask-png", str(mask)]
    assert main([*argv, "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert "Revisión de «openai.jsonl»" in out and "🖼" not in out
    assert histogram.read_bytes().startswith(b"\x89PNG") and mask.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert main(["dataset", "check", str(FIXTURES / "openai.jsonl"), "--lang", "en", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == []


def test_dataset_in_the_console_reads_a_local_path(tmp_path):
    stdin = f"/dataset archivo:{FIXTURES / 'prompt_completion.jsonl'}\n/dataset archivo:{tmp_path / 'nada.jsonl'}\n".encode()
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--color", "never"],
        input=stdin, capture_output=True, env=env, cwd=tmp_path, timeout=60,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Revisión de «prompt_completion.jsonl»" in out and "pares prompt/completion" in out
    assert "3      completion  el contenido está vacío" in out
    assert "No encuentro el archivo" in out  # the second line: no such file, and the console goes on


def test_a_bad_option_is_named_as_it_was_typed(capsys, monkeypatch):
    """The CLI's --flags, not the chat option's Spanish name; a price may be 0 but not negative."""
    from bot.i18n import t

    monkeypatch.setenv("AULA_LOCALE", "en")
    openai = str(FIXTURES / "openai.jsonl")
    assert main(["dataset", "check", openai, "--context", "0"]) == 2
    assert capsys.readouterr().err.strip() == "aula dataset: " + t("en", "dataset.error.positive", option="--context", value=0)
    assert main(["dataset", "check", openai, "--price-per-million", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "aula dataset: " + t(
        "en", "dataset.error.negative", option="--price-per-million", value=-1.0
    )
    assert main(["dataset", "check", openai, "--price-per-million", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimated_cost"]["usd"] == 0


def test_a_lone_surrogate_escape_is_reported_not_a_crash(tmp_path, capsys):
    r"""`"\ud800"` is valid JSON but half a character: the checker took the example, and printing
    the example shown with its mask died with UnicodeEncodeError (a traceback, no report). An
    emoji escaped as a pair (`\ud83d\ude00`) is one character and fine."""
    from bot.i18n import t

    bad = '{"messages": [{"role": "user", "content": "hola \\ud800"}, {"role": "assistant", "content": "y"}]}'
    pair = '{"messages": [{"role": "user", "content": "hola \\ud83d\\ude00"}, {"role": "assistant", "content": "y"}]}'
    path = tmp_path / "surrogate.jsonl"
    path.write_text(bad + "\n" + pair + "\n", encoding="utf-8")
    for lang in ("es", "en"):
        assert main(["dataset", "check", str(path), "--lang", lang]) == 1
        out = capsys.readouterr().out
        assert t(lang, "dataset.kind.not_utf8", position=bad.index("\\ud800") + 1) in out
        assert out.count(t(lang, "dataset.kind.not_utf8", position=bad.index("\\ud800") + 1)) == 1  # the pair is fine


def test_a_utf16_file_is_named_as_such_not_as_binary(tmp_path, capsys):
    """Windows PowerShell's `>` writes UTF-16: it was refused as 'not a text file (an image, a
    PDF, a zip?)', which sends a student looking for the wrong fault."""
    from bot.i18n import t

    line = '{"messages": [{"role": "user", "content": "hola"}, {"role": "assistant", "content": "y"}]}\n'
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):  # with its byte order mark, and without
        path = tmp_path / f"{encoding}.jsonl"
        path.write_bytes(line.encode(encoding) * 3)
        for lang in ("es", "en"):
            assert main(["dataset", "check", str(path), "--lang", lang]) == 1
            captured = capsys.readouterr()
            assert t(lang, "dataset.refused.utf16") in captured.err + captured.out
            assert t(lang, "dataset.refused.binary") not in captured.err + captured.out


def test_a_price_that_is_not_a_finite_amount_is_refused_and_a_given_price_is_not_attributed(capsys):
    """--price-per-million nan printed a cost of 0, inf one of ∞, 1e308 a decimal.InvalidOperation
    traceback; and a price the user gave was still attributed to the settings' provider and date
    ("OpenAI, fine-tuning gpt-4o…, price set on 2024-08-20")."""
    from bot.dataset.command import MOST_PRICE
    from bot.i18n import money as usd
    from bot.i18n import t

    clean = str(FIXTURES / "openai.jsonl")
    for lang in ("es", "en"):
        for value in ("nan", "inf", "1e308"):
            assert main(["dataset", "check", clean, "--price-per-million", value, "--lang", lang]) == 2
            expected = t(lang, "dataset.error.price", option="--price-per-million", value=str(float(value)), most=MOST_PRICE)
            assert expected in capsys.readouterr().err
        assert main(["dataset", "check", clean, "--price-per-million", "10", "--epochs", "2", "--json"]) == 0
        cost = json.loads(capsys.readouterr().out)["estimated_cost"]
        assert main(["dataset", "check", clean, "--price-per-million", "10", "--epochs", "2", "--lang", lang]) == 0
        formula = t(lang, "dataset.cost.formula_given", trained=t(lang, "dataset.cost.trained", count=cost["trained_tokens"]),
                    epochs=t(lang, "dataset.cost.epochs", count=2), price=usd(lang, 10.0))  # fmt: skip
        assert formula in capsys.readouterr().out and cost["provider"] == ""


def test_a_folder_named_as_the_file_is_said_to_be_a_folder_not_missing(capsys, monkeypatch, tmp_path):
    """Issue 19: `aula dataset check /tmp/somedir` said "I can't find the file". Every command that
    reads a file the user names says which: a folder, a missing file (aula dataset, aula quiz
    validate / import, a console attachment)."""
    from bot.i18n import t

    folder = tmp_path / "somedir"
    folder.mkdir()
    missing = tmp_path / "no-existe.jsonl"
    for lang in ("es", "en"):
        monkeypatch.setenv("AULA_LOCALE", lang)
        assert main(["dataset", "check", str(folder)]) == 2
        err = capsys.readouterr().err
        assert t(lang, "dataset.error.folder", file=str(folder)) in err
        assert t(lang, "dataset.error.file", file=str(folder)) not in err
        assert main(["dataset", "check", str(missing)]) == 2
        assert t(lang, "dataset.error.file", file=str(missing)) in capsys.readouterr().err
        for command in (["quiz", "validate", str(folder)], ["quiz", "import", str(folder)]):
            assert main(command) == 1
            err = capsys.readouterr().err
            assert f"{folder}: {t(lang, 'quiz.schema.folder')}" in err, command
        assert main(["quiz", "validate", str(missing)]) == 1
        assert f"{missing}: {t(lang, 'quiz.schema.missing')}" in capsys.readouterr().err
    assert t("es", "dataset.error.folder", file="x") != t("en", "dataset.error.folder", file="x")


def test_a_console_attachment_that_is_a_folder_is_said_to_be_one(tmp_path):
    from bot.i18n import t

    folder = tmp_path / "carpeta"
    folder.mkdir()
    stdin = f"/dataset archivo:{folder}\n".encode()
    env = {"PATH": os.environ.get("PATH", ""), "AULA_DATABASE": str(tmp_path / "aula.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "console", "--color", "never"],
        input=stdin, capture_output=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert t("es", "console.file_folder", file=str(folder)) in out
    assert t("es", "console.no_such_file", file=str(folder)) not in out


class Pipe:
    """A non-seekable standard input (a shell pipe) that makes its bytes as they are read and
    records every size asked for: `lines` lines, then `endless` bytes of one unending line."""

    def __init__(self, lines: list[bytes], endless: bool = False) -> None:
        self.pending = b"".join(lines)
        self.endless = endless
        self.asked: list[int] = []
        self.served = 0

    def seekable(self) -> bool:
        return False

    def readline(self, size: int = -1) -> bytes:
        self.asked.append(size)
        if not self.pending and self.endless:
            self.pending = b"x" * 65536
        cut = self.pending.find(b"\n") + 1 or len(self.pending)
        if size is not None and size >= 0:
            cut = min(cut, size)
        chunk, self.pending = self.pending[:cut], self.pending[cut:]
        self.served += len(chunk)
        return chunk

    def read(self, size: int = -1) -> bytes:
        return self.readline(size)


def use_stdin(monkeypatch, pipe: Pipe) -> None:
    class Stdin:
        buffer = pipe

    monkeypatch.setattr(sys, "stdin", Stdin())


def test_dash_reads_standard_input_through_the_same_checker(capsys, monkeypatch, tmp_path):
    """Issue 19: `aula dataset check -` reads standard input as `aula tokens -` does; the report
    is the file's own, and the input is streamed with bounded reads, never read whole."""
    from bot.i18n import t

    monkeypatch.setenv("AULA_LOCALE", "en")
    assert main(["dataset", "check", str(FIXTURES / "errors.jsonl"), "--json"]) == 1
    from_file = json.loads(capsys.readouterr().out)
    pipe = Pipe((FIXTURES / "errors.jsonl").read_bytes().splitlines(keepends=True))
    use_stdin(monkeypatch, pipe)
    assert main(["dataset", "check", "-", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == from_file
    assert pipe.asked and all(0 <= size <= 1024 * 1024 + 1 for size in pipe.asked)  # never "read it all"
    for lang in ("es", "en"):
        use_stdin(monkeypatch, Pipe((FIXTURES / "openai.jsonl").read_bytes().splitlines(keepends=True)))
        assert main(["dataset", "check", "-", "--lang", lang]) == 0
        assert t(lang, "dataset.title", file=t(lang, "dataset.stdin")) in capsys.readouterr().out


def test_an_endless_standard_input_is_refused_at_the_size_limit_having_read_no_more(capsys, monkeypatch):
    monkeypatch.setenv("AULA__DATASET__MAX_BYTES", "200000")
    monkeypatch.setenv("AULA__DATASET__MAX_LINE_BYTES", "1000")
    pipe = Pipe([b'{"prompt": "a", "completion": "b"}\n'], endless=True)
    use_stdin(monkeypatch, pipe)
    assert main(["dataset", "check", "-", "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert refused["refused"] == "too_large"
    assert pipe.served <= 200000 + 1001 and max(pipe.asked) <= 1001


def test_dash_from_a_real_pipe(tmp_path):
    data = (FIXTURES / "prompt_completion.jsonl").read_bytes()
    env = {"PATH": os.environ.get("PATH", ""), "AULA_LOCALE": "es", "AULA_DATABASE": str(tmp_path / "a.sqlite3")}
    piped = subprocess.run([sys.executable, "-m", "adapters.cli", "dataset", "check", "-", "--json"],
                           input=data, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    named = subprocess.run([sys.executable, "-m", "adapters.cli", "dataset", "check",
                            str(FIXTURES / "prompt_completion.jsonl"), "--json"],
                           capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert piped.returncode == named.returncode and piped.stderr == b""
    assert json.loads(piped.stdout) == json.loads(named.stdout)


def test_a_folder_given_where_a_picture_goes_is_said_to_be_a_folder_not_a_traceback(capsys, monkeypatch, tmp_path):
    """The same fault on the way out: `--png /tmp` (dataset, tokens, roles) raised
    IsADirectoryError; each says it is a folder, or that the folder to write in is missing."""
    from bot.i18n import t

    missing = tmp_path / "no-existe" / "x.png"
    commands = {
        "dataset": ["dataset", "check", str(FIXTURES / "openai.jsonl"), "--png"],
        "tokens": ["tokens", "hola", "--json", "--png"],
        "roles": ["roles", "--user", "Hola", "--template", "all", "--json", "--png"],
    }
    for lang in ("es", "en"):
        monkeypatch.setenv("AULA_LOCALE", lang)
        for tool, command in commands.items():
            assert main([*command, str(tmp_path), "--lang", lang] if tool != "roles" else [*command, str(tmp_path)]) == 2
            assert f"aula {tool}: {t(lang, 'cli.output.folder', file=str(tmp_path))}" in capsys.readouterr().err, tool
            assert main([*command, str(missing)]) == 2
            assert t(lang, "cli.output.missing", file=str(missing)) in capsys.readouterr().err, tool
    assert not missing.parent.exists()
