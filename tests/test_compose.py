"""compose.yaml (issue 20): PostgreSQL and two Aula processes, checked without Docker. The
file parses; every Aula service runs a command the CLI has; the processes' settings load from
the environment compose gives them (variables substituted as compose does) and point at the
PostgreSQL service; the Discord shards are split between them, each shard exactly once; every
long-running service has a healthcheck; no secret is written in the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from adapters.cli import build_parser
from bot.settings import load_settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
SECRETS = ("POSTGRES_PASSWORD", "DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
           "AULA_LLM_API_KEY", "HYPERBOLIC_API_KEY")  # fmt: skip
# Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":?", "?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def aula_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("build") == "."}


def test_postgresql_and_two_aula_processes(compose):
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    runners = {name: s for name, s in aula_services(compose).items() if s["command"][0] == "run"}
    assert len(runners) == 2
    for service in runners.values():
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["healthcheck"]["test"] == ["CMD", "aula", "healthcheck"]
        assert service["restart"] == "unless-stopped"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    # Each process its own /data (its heartbeat): a dead one cannot look alive through the other's.
    volumes = [v for s in runners.values() for v in s["volumes"]]
    assert len(set(volumes)) == len(volumes) == 2


def test_every_command_exists_in_the_cli(compose):
    parser = build_parser()
    for name, service in aula_services(compose).items():
        args = parser.parse_args(service["command"])  # argparse exits on an unknown command
        assert callable(args.handler), name
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "aula"]:
            assert parser.parse_args(test[2:]).handler.__name__ == "cmd_healthcheck", name


def test_the_processes_settings_load_and_split_the_shards(compose):
    env = {"POSTGRES_PASSWORD": "s3cret", "DISCORD_TOKEN": "x" * 59}
    shards: list[int] = []
    for name, service in aula_services(compose).items():
        environ = {key: interpolate(str(value), env) for key, value in service["environment"].items()}
        settings = load_settings(environ=environ, dotenv_path=None)
        assert settings.database == "postgresql://aula:s3cret@postgres:5432/aula", name
        assert "s3cret" not in str(settings.masked())
        assert settings.llm_limits_shared()  # the rate limit and budget counted in PostgreSQL
        if service["command"] == ["run"]:
            assert settings.discord.shard_count == 2
            shards += settings.discord.shard_ids
    assert sorted(shards) == [0, 1]  # every shard run, by one process each


def test_no_secret_is_written_in_the_file(compose):
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):  # required: compose refuses to start without it
        interpolate(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if key in SECRETS:
                assert VARIABLE.fullmatch(str(value)), f"{key} must come from the environment"
            if key == "AULA_DATABASE":
                assert "${POSTGRES_PASSWORD" in value
