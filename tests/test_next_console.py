"""/next in the console classroom: typed options, buttons clicked by number, the server's numbers."""

from __future__ import annotations

import io
import math

import pytest

import bot.next.command as next_command
from adapters.console import run_console
from bot.app import Aula
from bot.i18n import probability as percent
from bot.i18n import t
from bot.settings import load_settings
from tests.fake_llm import API_KEY, BASE_MODEL, INSTRUCT_MODEL, FakeLlmServer, next_tokens

PROMPT = "El capital de Francia es"


async def console_run(tmp_path, server, lines: str, lang: str = "es", instructor: bool = False) -> str:
    settings = load_settings(environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                                      "AULA_LLM_API_KEY": API_KEY}, dotenv_path=None)  # fmt: skip
    out = io.StringIO()
    await run_console(Aula(settings, commands=[next_command.command]), locale=lang, stdin=io.BytesIO(lines.encode()),
                      stdout=out, colour=False, instructor=instructor)  # fmt: skip
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


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_the_results_of_a_round_closed_just_before_the_input_ends_are_shown(tmp_path, lang):
    """An instructor's piped class: start a round, a student answers, "close now", end of input.
    The results were lost: the console closed the app, and with it the tick that posts them."""
    async with FakeLlmServer() as server:
        lines = f"/next juego:sí texto:{PROMPT}\n/as ana\n1\n/as profe instructor\n10\n"
        out = await console_run(tmp_path, server, lines, lang=lang, instructor=True)
    assert t(lang, "next.game.closing", number=1) in out
    assert t(lang, "next.game.results_title", number=1) in out
    assert t(lang, "next.game.count", count=1) in out


async def test_both_models_by_their_english_name(tmp_path):
    """`model:both` in English was refused by the option's choices ("Choices: base, instruct,
    ambos"): the issue's and the CLI's name for it is "both". Either name works in any language,
    and an English reader is offered "both"."""
    from bot.next.command import SPEC

    async with FakeLlmServer() as server:
        out = await console_run(tmp_path, server, f"/next text:{PROMPT} model:both\n/next text:{PROMPT} model:ambos\n"
                                                  f"/next text:{PROMPT} model:huge\n", lang="en")  # fmt: skip
    assert out.count(t("en", "next.both_title")) == 2
    assert sorted(body["model"] for _, body in server.calls) == sorted([BASE_MODEL, INSTRUCT_MODEL] * 2)
    option = next(o for o in SPEC.options if o.name == "modelo")
    refusal = t("en", "error.bad_choice", value="huge", option="model", choices=", ".join(option.choices_in("en")))
    assert refusal in out and "both" in option.choices_in("en")
