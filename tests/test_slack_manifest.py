"""config/slack-manifest.yaml creates an app that can do everything the adapter asks of Slack."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.command import slash_name
from bot.i18n import t
from bot.registry import all_commands
from bot.settings import REPO_CONFIG, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "config" / "slack-manifest.yaml").read_text(encoding="utf-8"))

# Every Web API method the adapter calls, and the bot scope it needs (Slack's method docs).
SCOPE_OF_METHOD = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "files_upload_v2": "files:write",
    "users_info": "users:read",
    "conversations_open": "im:write",
    "files_list": "files:read",
    "views_open": None,  # needs only a trigger_id
    "auth_test": None,  # any valid token may call it (Slack: "Required scopes: No scope required")
}


def test_every_command_of_the_registry_is_a_slash_command_under_its_name_in_the_shipped_config():
    listed = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    shipped = load_settings(REPO_CONFIG, environ={}, dotenv_path=None)
    expected = [slash_name(shipped, "slack", command.spec.name) for command in all_commands()]
    assert sorted(listed) == sorted(expected)
    assert expected == [slash_name(Settings(), "slack", c.spec.name) for c in all_commands()]  # same defaults


def test_slack_names_default_from_the_command_specs_and_settings_store_only_renames():
    settings = Settings()
    assert slash_name(settings, "slack", "tokens") == "/tokens"  # not listed: its own name
    assert slash_name(settings, "slack", "help") == "/aula"  # renamed: /help is taken in every workspace
    assert slash_name(settings, "discord", "help") == "/help"
    settings.slack.commands["quiz"] = "aula-quiz"
    assert slash_name(settings, "slack", "quiz") == "/aula-quiz"
    shipped = load_settings(REPO_CONFIG, environ={}, dotenv_path=None)
    assert all(shipped.slack.commands[c] != f"/{c}" for c in shipped.slack.commands)  # only renames


def test_slash_commands_fit_slacks_manifest_rules():
    for entry in MANIFEST["features"]["slash_commands"]:
        assert re.fullmatch(r"/[a-z0-9_-]{1,31}", entry["command"])
        assert 1 <= len(entry["description"]) <= 2000
        assert len(entry.get("usage_hint", "x")) <= 1000
    info = MANIFEST["display_information"]
    assert len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000


def test_socket_mode_interactivity_and_a_bot_user_are_on():
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["bot_user"]["display_name"]


def test_the_scopes_cover_every_method_the_adapter_calls():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "adapters" / "slack").glob("*.py"))
    called = set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(", source))
    assert called, "the pattern no longer finds the adapter's Web API calls"
    unknown = called - SCOPE_OF_METHOD.keys()
    assert not unknown, f"add the scope these methods need to SCOPE_OF_METHOD and the manifest: {unknown}"
    needed = {SCOPE_OF_METHOD[m] for m in called} - {None} | {"commands"}
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_the_dataset_shortcut_is_declared_under_the_adapters_callback_id():
    from adapters.slack import FILE_SHORTCUT

    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert shortcut["type"] == "message" and shortcut["callback_id"] == FILE_SHORTCUT
    assert 1 <= len(shortcut["name"]) <= 24 and 1 <= len(shortcut["description"]) <= 150
    assert "«Comprobar con Aula»" in t("es", "dataset.attach.slack", limit=20, count=10)
    assert f"«{shortcut['name']}»" in t("en", "dataset.attach.slack", limit=20, count=10)
