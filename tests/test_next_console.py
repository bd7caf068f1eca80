"""/next in the console classroom: typed options, buttons clicked by number, the server's numbers."""

from __future__ import annotations

import io
import math

import bot.next.command as next_command
from adapters.console import run_console
from bot.app import Aula
from bot.i18n import percent
from bot.settings import load_settings
from tests.fake_llm import API_KEY, FakeLlmServer, next_tokens

PROMPT = "El capital de Francia es"


async def console_run(tmp_path, server, lines: str, lang: str = "es") -> str:
    settings = load_settings(environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                                      "AULA_LLM_API_KEY": API_KEY}, dotenv_path=None)  # fmt: skip
    out = io.StringIO()
    await run_console(Aula(settings, commands=[next_command.command]), locale=lang, stdin=io.BytesIO(lines.encode()),
                      stdout=out, colour=False)  # fmt: skip
    return out.getvalue()


async def test_a_run_and_two_steps_typed_in_the_console(tmp_path):
    async with FakeLlmServer() as server:
        out = await console_run(tmp_path, server, f"/next texto:{PROMPT}\n1\n4\n")
    for _, _, logprob in next_tokens(PROMPT)[:10]:
        assert f"{percent('es', math.exp(logprob))}" in out
    first = next_tokens(PROMPT)[0]
    text1 = PROMPT + first[1].decode()
    third = next_tokens(text1)[1]  # button 4 is the second of the top five (after greedy, sample, 1.)
    assert [body.get("prompt") for _, body in server.calls] == [PROMPT, text1, text1 + third[1].decode()]
    assert "1. ·la" in out and "elegido a mano (n.º 2)" in out
    assert "⟨e2 80⟩" in out and "T=0,2" in out  # the temperature written the Spanish way


async def test_no_logprobs_in_english(tmp_path):
    async with FakeLlmServer(logprobs=False) as server:
        out = await console_run(tmp_path, server, f"/next text:{PROMPT} model:instruct\n", lang="en")
    assert "profile «default» answered without log-probabilities" in out
