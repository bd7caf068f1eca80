"""One typed settings object: file, .env and environment; clear errors; secrets masked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_are_hyperbolic_and_spanish():
    settings = load_settings(config_path=None, environ={}, dotenv_path=None)
    assert settings.default_locale == "es"
    assert settings.llm.base_url == "https://api.hyperbolic.xyz/v1"
    assert settings.llm.base_model == "meta-llama/Meta-Llama-3.1-405B"
    assert settings.llm.instruct_model == "meta-llama/Meta-Llama-3.1-405B-Instruct"
    assert settings.secrets.discord_token is None


def test_environment_overrides_file_and_aula_key_wins_over_hyperbolic(tmp_path):
    config = tmp_path / "aula.toml"
    config.write_text('database = "from-file.sqlite3"\n[quiz]\npoints = 500\n')
    settings = load_settings(
        config,
        environ={
            "AULA_DATABASE": "from-env.sqlite3",
            "HYPERBOLIC_API_KEY": "hyper",
            "AULA_LLM_API_KEY": "aula",
            "AULA__QUIZ__SPEED_BONUS": "false",
        },
        dotenv_path=None,
    )
    assert settings.database == "from-env.sqlite3"
    assert settings.quiz.points == 500
    assert settings.quiz.speed_bonus is False
    assert settings.secrets.llm_api_key.get_secret_value() == "aula"


def test_dotenv_is_read_but_the_real_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DISCORD_TOKEN=from-dotenv\nAULA_LOCALE=en\n")
    settings = load_settings(environ={"AULA_LOCALE": "es"}, dotenv_path=dotenv)
    assert settings.secrets.discord_token.get_secret_value() == "from-dotenv"
    assert settings.default_locale == "es"


def test_a_bad_value_names_the_key(tmp_path):
    config = tmp_path / "aula.toml"
    config.write_text("[llm]\nmax_tokens = \"many\"\n")
    with pytest.raises(SettingsError, match=r"llm\.max_tokens"):
        load_settings(config, environ={}, dotenv_path=None)
    with pytest.raises(SettingsError, match=r"quiz\.change_rule"):
        load_settings(environ={"AULA__QUIZ__CHANGE_RULE": "sometimes"}, dotenv_path=None)


def test_unknown_keys_and_secrets_in_the_file_are_refused(tmp_path):
    config = tmp_path / "aula.toml"
    config.write_text("[llm]\nbase_urll = 'typo'\n")
    with pytest.raises(SettingsError, match=r"llm\.base_urll"):
        load_settings(config, environ={}, dotenv_path=None)
    config.write_text("[secrets]\ndiscord_token = 'x'\n")
    with pytest.raises(SettingsError, match="environment"):
        load_settings(config, environ={}, dotenv_path=None)


def test_config_show_masks_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DISCORD_TOKEN": "super-secret-token", "AULA_LLM_API_KEY": "sk-secret"}
    out = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "config", "show"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout
    assert "super-secret-token" not in out and "sk-secret" not in out
    shown = json.loads(out)
    assert shown["secrets"]["discord_token"] == "****"
    assert shown["secrets"]["slack_bot_token"] == "(not set)"


def test_config_show_masks_all_five_secrets_from_the_environment_and_dotenv(tmp_path):
    secrets = {
        "DISCORD_TOKEN": "discord-leak-1",
        "SLACK_BOT_TOKEN": "xoxb-leak-2",
        "SLACK_APP_TOKEN": "xapp-leak-3",
        "HYPERBOLIC_API_KEY": "sk-leak-5",
    }
    (tmp_path / ".env").write_text("SLACK_SIGNING_SECRET=signing-leak-4\n")
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "config", "show"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **secrets}, cwd=tmp_path, check=True,
    )  # fmt: skip
    assert "leak" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["secrets"] == {
        "discord_token": "****",
        "slack_bot_token": "****",
        "slack_app_token": "****",
        "slack_signing_secret": "****",
        "llm_api_key": "****",
    }


def test_the_shipped_config_file_is_valid():
    from bot.settings import REPO_CONFIG

    settings = load_settings(REPO_CONFIG, environ={}, dotenv_path=None)
    assert settings.slack.commands["help"] == "/aula"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.hyperbolic.xyz/v1", "https://api.hyperbolic.xyz/v1"),
        ("https://user:pass@example.com/v1", "https://****@example.com/v1"),
        ("https://example.com/v1?api_key=zzz", "https://example.com/v1?****"),
        ("http://tok@127.0.0.1:8080/v1#k=1", "http://****@127.0.0.1:8080/v1#****"),
        ("https://[::1]:9/v1?k=1", "https://[::1]:9/v1?****"),
        ("http://host:99999999/v1", "****"),  # does not parse: masked whole
    ],
)
def test_provider_addresses_are_shown_without_their_credentials(url, shown):
    from bot.settings import masked_url

    assert masked_url(url) == shown


def test_config_show_masks_credentials_in_every_provider_address(tmp_path):
    config = tmp_path / "aula.toml"
    config.write_text(
        "[llm.profiles.local]\nbase_url = 'http://bob:hunter2@127.0.0.1:8000/v1?api_key=leak-b'\n"
        "base_model = 'b'\ninstruct_model = 'i'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AULA_LLM_BASE_URL": "https://user:leak-a@example.com/v1?api_key=leak-c"}
    out = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "--config", str(config), "config", "show"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "leak" not in out.stdout and "hunter2" not in out.stdout
    shown = json.loads(out.stdout)
    assert shown["llm"]["base_url"] == "https://****@example.com/v1?****"
    assert shown["llm"]["profiles"]["local"]["base_url"] == "http://****@127.0.0.1:8000/v1?****"


def test_a_postgresql_database_url_is_shown_without_its_password(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AULA_DATABASE": "postgresql://aula:leak-pw@db.example:5432/aula?sslmode=require"}
    out = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "config", "show"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "leak-pw" not in out.stdout
    assert json.loads(out.stdout)["database"] == "postgresql://****@db.example:5432/aula?****"


def test_the_database_setting_names_a_file_a_sqlite_url_or_a_server():
    def settings(database: str):
        return load_settings(environ={"AULA_DATABASE": database}, dotenv_path=None)

    assert settings("data/x.sqlite3").data_dir == Path("data")
    assert settings("sqlite:////var/lib/aula/x.sqlite3").data_dir == Path("/var/lib/aula")
    server = settings("postgresql://aula:pw@db:5432/aula")
    assert server.data_dir == Path("data") and server.database_shown == "postgresql://****@db:5432/aula"
    assert settings("data/x.sqlite3").database_shown == "data/x.sqlite3"
    assert settings("data/x.sqlite3").database_pool_size == 10
    assert load_settings(environ={"AULA__DATABASE_POOL_SIZE": "3"}, dotenv_path=None).database_pool_size == 3
