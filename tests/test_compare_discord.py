"""/compare through the Discord adapter on simcord, against the loopback LLM server.

simcord's users speak en-US unless a test makes them speak Spanish (`speak`).
"""

from __future__ import annotations

import pytest

import bot.compare.command as compare
from adapters.discord import create_bot
from bot.app import Aula
from bot.i18n import t
from bot.settings import load_settings
from tests.discord_support import assert_within_limits, messages_of, speak
from tests.fake_llm import API_KEY, BASE_MODEL, INSTRUCT_MODEL, FakeLlmServer


@pytest.fixture
async def fake_llm():
    async with FakeLlmServer(chunk_delay_s=0.01) as server:
        yield server


@pytest.fixture
def environ(tmp_path, fake_llm) -> dict[str, str]:
    return {
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA_LLM_BASE_URL": fake_llm.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__BLIND_REVEAL_VOTES": "2",
    }


@pytest.fixture
async def simcord_bot(environ):
    settings = load_settings(environ=environ, dotenv_path=None)
    bot = create_bot(settings, aula=Aula(settings, commands=[compare.command]))
    yield bot
    await bot.aula.close()


def classroom(simcord_env, *names: str):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    return channel, [guild.add_member(simcord_env.create_user(name)) for name in names]


def all_text(result) -> str:
    messages = messages_of(result)
    return "\n".join(
        [m.content for m in messages]
        + [(e.description or "") + "".join(f.value for f in e.fields) for m in messages for e in m.embeds]
    )


def fields_of(result) -> dict[str, str]:
    return {f.name: f.value for m in messages_of(result) for e in m.embeds for f in e.fields}


async def test_both_answers_side_by_side_as_embed_fields_streamed_by_edits(simcord_env, fake_llm):
    channel, [ana] = classroom(simcord_env, "ana")
    result = await ana.slash(channel, "compare", prompt="La inteligencia artificial es")
    await simcord_env.advance_time(3)
    assert not result.ephemeral
    for message in messages_of(result):
        assert_within_limits(message)
    assert result.response.content.startswith("## Base vs Instruct\n**Prompt:** La inteligencia artificial es")
    fields = fields_of(result)
    base, instruct = fields[f"Base · {BASE_MODEL}"], fields[f"Instruct · {INSTRUCT_MODEL}"]
    assert base.startswith("La inteligencia artificial es un campo de la informática")
    assert instruct.startswith("¡Claro! Sobre «La inteligencia artificial es»")
    assert "stopped on its own" in base and "tokens" in instruct
    inline = [f.inline for m in messages_of(result) for e in m.embeds for f in e.fields]
    assert inline == [True, True]  # two columns
    edits = [r for r in simcord_env.http_requests if r.method == "PATCH" and r.path.endswith("@original")]
    assert edits  # the first version was replaced as the answers streamed in
    assert fake_llm.upstream_calls("/v1/completions") == 1


async def test_in_spanish_with_the_course_example(simcord_env, monkeypatch):
    speak(monkeypatch, "es-ES")
    channel, [ana] = classroom(simcord_env, "ana")
    result = await ana.slash(channel, "compare", ejemplo="capital")
    await simcord_env.advance_time(3)
    content = result.response.content
    assert "## Base vs Instruido" in content
    assert "**Prompt de Base:** El capital de Francia es" in content
    assert "**Prompt de Instruido:** ¿Cuál es la capital de Francia?" in content
    assert "terminó por sí solo" in fields_of(result)[f"Base · {BASE_MODEL}"]


async def test_blind_votes_with_buttons_then_the_answer_is_revealed(simcord_env, simcord_bot):
    channel, [ana, luis, eva] = classroom(simcord_env, "ana", "luis", "eva")
    result = await ana.slash(channel, "compare", prompt="Hola, ¿puedes ayudarme?", ciego=True)
    await simcord_env.advance_time(3)
    message = messages_of(result)[-1]
    assert set(fields_of(result)) == {"Model A", "Model B"}
    assert BASE_MODEL not in str([e.to_dict() for m in messages_of(result) for e in m.embeds])

    first = await luis.click(message, label="A is the instruct one")
    assert first.ephemeral and first.response.content == t("en", "compare.voted", slot="A", count=1, needed=2)
    revealed = await eva.click(message, label="B is the instruct one")
    assert not revealed.ephemeral
    [row] = await simcord_bot.aula.db.fetchall("SELECT id, instruct_slot FROM compare_runs")
    shown = all_text(revealed)
    assert f"the instruct model was {row['instruct_slot']}" in shown
    assert "Votes: A 1, B 1; 50% got it right" in shown
    assert f"{row['instruct_slot']} · Instruct · {INSTRUCT_MODEL}" in fields_of(revealed)
    late = await ana.click(message, label="A is the instruct one")
    assert late.ephemeral and "Already revealed" in late.response.content


async def test_no_key_is_a_private_answer_naming_the_setting(simcord_env, simcord_bot):
    simcord_bot.aula.settings.secrets.llm_api_key = None
    simcord_bot.aula.settings.llm.base_url = "https://api.hyperbolic.xyz/v1"
    channel, [ana] = classroom(simcord_env, "ana")
    result = await ana.slash(channel, "compare", prompt="Hola")
    assert result.ephemeral
    assert "AULA\\_LLM\\_API\\_KEY / HYPERBOLIC\\_API\\_KEY" in result.response.content
