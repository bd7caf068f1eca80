"""`aula next` against the loopback server: the JSON shape, the numbers, steps, no log-probabilities."""

from __future__ import annotations

import json
import math

from bot.i18n import t
from bot.next.logic import MAX_TOP
from bot.tokens.encodings import get_encoding
from tests import test_cli_compare
from tests.fake_llm import BASE_MODEL, INSTRUCT_MODEL, next_tokens

# The same fixtures as `aula compare`'s tests: the fake server in a thread, a clean environment.
server = test_cli_compare.server
cli_env = test_cli_compare.cli_env

PROMPT = "El clima hoy está"


def run_cli(*argv: str) -> int:
    from adapters.cli import main

    return main(["next", *argv])


def test_json_has_the_servers_probabilities(cli_env, server, capsys):
    assert run_cli(PROMPT, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == BASE_MODEL and data["prompt"] == PROMPT and data["text"] == PROMPT
    [step] = data["steps"]
    assert step["chosen"] is None
    expected = next_tokens(PROMPT)[:10]
    assert [c["logprob"] for c in step["candidates"]] == [lp for _, _, lp in expected]
    assert [c["probability"] for c in step["candidates"]] == [round(math.exp(lp), 6) for _, _, lp in expected]
    # tokens as the server wrote them (it uses OpenAI's "bytes:\\x.." for the fragment)
    assert [c["token"] for c in step["candidates"]] == [token for token, _, _ in expected]
    ids = {c["token"]: c["id"] for c in step["candidates"]}
    assert ids[" un"] == get_encoding("llama-3.1").encode_ordinary(" un")[0]
    assert ids["bytes:\\xe2\\x80"] == 378  # Llama 3.1's token for the bytes e2 80


def test_greedy_steps_and_both_models(cli_env, server, capsys):
    assert run_cli(PROMPT, "--steps", "2", "--greedy", "--top", "5", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["steps"]) == 3 and data["steps"][-1]["chosen"] is None
    first = next_tokens(PROMPT)[0][1].decode()
    second = next_tokens(PROMPT + first)[0][1].decode()
    assert data["text"] == PROMPT + first + second
    assert data["steps"][0]["chosen"]["token"] == first and len(data["steps"][0]["candidates"]) == 5
    assert run_cli(PROMPT, "--model", "both", "--json") == 0
    both = json.loads(capsys.readouterr().out)
    assert both["base"]["model"] == BASE_MODEL and both["instruct"]["model"] == INSTRUCT_MODEL


def test_no_logprobs_exits_1_naming_the_profile(cli_env, server, capsys):
    server.logprobs = False
    assert run_cli(PROMPT, "--json") == 1
    err = capsys.readouterr().err
    assert "«default»" in err and "log-probabilidades" in err


def test_text_output_and_bad_arguments(cli_env, server, capsys):
    assert run_cli(PROMPT) == 0
    out = capsys.readouterr().out
    assert "·un" in out and "⟨e2 80⟩" in out and "Estos 10 tokens suman" in out
    assert run_cli(PROMPT, "--top", "50") == 2
    assert run_cli("  ") == 2
    capsys.readouterr()
    # --top 0 was taken as "not given" and answered with the default 10
    assert run_cli(PROMPT, "--top", "0") == 2
    assert t("es", "next.bad_top", value=0, most=MAX_TOP) in capsys.readouterr().err
    assert all(body.get("logprobs") != 0 for _, body in server.calls)


def test_sampled_steps_are_repeatable_with_a_seed_and_drawn_from_the_top_k(cli_env, server, capsys):
    runs = []
    for _ in range(2):
        assert run_cli(PROMPT, "--steps", "3", "--sample", "1.5", "--seed", "3", "--json") == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0] == runs[1]
    for step in runs[0]["steps"][:-1]:
        assert step["chosen"]["how"] == "sample" and step["chosen"]["temperature"] == 1.5
        assert {k: v for k, v in step["chosen"].items() if k not in ("how", "temperature")} in step["candidates"]


def test_its_provider_calls_count_in_the_daily_budget_like_aula_compare(cli_env, server, capsys):
    """Issue 13.5: `aula compare` stored what it spent, `aula next` spent uncounted. Each call the
    fake server answers is 7 prompt tokens + the 1 token asked for."""
    import asyncio
    import time

    from bot.llm.usage import UsageRepository
    from bot.storage.database import Database

    async def used() -> int:
        db = Database(str(cli_env / "aula.sqlite3"))
        await db.open()
        try:
            return await UsageRepository(db).used_on("cli", "local", time.time())
        finally:
            await db.close()

    assert run_cli(PROMPT, "--steps", "2", "--json") == 0  # 3 calls
    assert asyncio.run(used()) == 3 * 8
    assert run_cli(PROMPT, "--model", "both", "--json") == 0  # 2 more
    assert asyncio.run(used()) == 5 * 8
    assert test_cli_compare.run_cli("Hola", "--json") == 0  # one budget with `aula compare`
    capsys.readouterr()
    assert asyncio.run(used()) > 5 * 8
