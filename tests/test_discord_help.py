"""/help and the registry's commands through a simulated Discord (simcord), in both languages."""

from __future__ import annotations

import pytest
import simcord.interactions

from bot.i18n import t
from tests.discord_support import speak


@pytest.fixture
async def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    student = guild.add_member(simcord_env.create_user("ana", global_name="Ana"))
    return guild, channel, student


@pytest.mark.parametrize(
    ("client_locale", "lang"), [("es-ES", "es"), ("es-419", "es"), ("en-US", "en"), ("en-GB", "en")]
)
async def test_help_answers_privately_in_the_users_language(
    simcord_env, world, monkeypatch, client_locale, lang
):
    _, channel, student = world
    speak(monkeypatch, client_locale)

    result = await student.slash(channel, "help")

    assert result.acknowledged and not result.deferred
    assert result.ephemeral
    content = result.response.content
    assert t(lang, "help.title") in content
    assert t(lang, "help.intro") in content
    other = "en" if lang == "es" else "es"
    assert t(other, "help.intro") not in content
    assert "/tokens" in content  # every registered command is listed


async def test_an_unsupported_client_language_falls_back_to_the_servers(simcord_env, world, monkeypatch):
    _, channel, student = world
    original = simcord.interactions.base_payload

    def french_user_on_an_english_server(*args, **kwargs):
        record, payload = original(*args, **kwargs)
        payload["locale"], payload["guild_locale"] = "fr", "en-GB"
        return record, payload

    monkeypatch.setattr(simcord.interactions, "base_payload", french_user_on_an_english_server)
    result = await student.slash(channel, "help")
    assert t("en", "help.title") in result.response.content


async def test_every_registered_command_is_synced_with_spanish_defaults_and_english_localizations(
    simcord_env,
):
    synced = [r.json for r in simcord_env.http_requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert synced, "commands were never synced"
    by_name = {c["name"]: c for c in synced[-1]}
    assert set(by_name) >= {"help", "tokens", "roles", "compare", "quiz"}
    help_ = by_name["help"]
    assert help_["description"] == t("es", "help.description")
    assert help_["description_localizations"]["en-US"] == t("en", "help.description")
    assert help_["description_localizations"]["es-ES"] == t("es", "help.description")
    tokens = by_name["tokens"]
    text = next(o for o in tokens["options"] if o["name"] == "texto")
    assert text["name_localizations"]["en-US"] == "text"
    assert all(len(o["description"]) <= 100 for c in by_name.values() for o in c.get("options", []))
