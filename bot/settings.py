"""One typed settings object for the whole bot.

Where values come from, later wins:
  1. the defaults below,
  2. `config/aula.toml` (or the file named by AULA_CONFIG),
  3. a `.env` file in the working directory, then the real environment:
     the named variables in ENV_OVERRIDES, and `AULA__SECTION__KEY` for any other key.
Secrets (tokens, API keys) are read from the environment only, never from the file.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "aula.toml"


class SettingsError(ValueError):
    """A setting has a bad value; the message names the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DiscordSettings(Section):
    instructor_role: str = "Instructor"  # members with this role (or Manage Server) are instructors
    guild_ids: list[int] = []  # sync commands to these guilds at start (instant); empty: global sync
    # Several processes splitting the servers (issue 20): Discord's sharding, guild_id >> 22 %
    # shard_count picks a server's shard. Each process names its shards (shard_ids); unset, one
    # process runs them all. Unset shard_count: no sharding (one connection, up to 2,500 servers).
    shard_count: int | None = Field(None, ge=1)
    shard_ids: list[int] | None = None

    @model_validator(mode="after")
    def shards_fit(self) -> DiscordSettings:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shard_count is None:
            raise ValueError("discord.shard_ids needs discord.shard_count (how many shards all processes run together)")
        if not ids:
            raise ValueError("discord.shard_ids is empty: name at least one shard, or leave it unset for all")
        outside = sorted({i for i in ids if not 0 <= i < self.shard_count})
        if outside:
            raise ValueError(
                f"discord.shard_ids {outside} outside 0..{self.shard_count - 1} (discord.shard_count is {self.shard_count})"
            )
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"discord.shard_ids names shard(s) {twice} twice")
        return self

    def syncs_commands(self) -> bool:
        """Whether this process syncs the slash commands: one process is enough (the one that
        runs shard 0, or the only one), so N processes do not overwrite them N times at start."""
        return self.shard_ids is None or 0 in self.shard_ids


class SlackSettings(Section):
    mode: Literal["socket", "http"] = "socket"  # socket needs no public URL
    port: int = Field(3000, ge=1, le=65535)  # HTTP mode only
    # HTTP mode only: the address to listen on. Loopback (the default) behind a reverse proxy
    # that terminates TLS; "0.0.0.0" (or "::") for every interface, e.g. in a container.
    host: str = "127.0.0.1"
    instructor_user_ids: list[str] = []  # besides workspace admins and owners
    # Slack slash commands share one namespace per workspace: renames only (command -> "/name");
    # a command not listed keeps its own name (bot.command.slash_name).
    commands: dict[str, str] = {"help": "/aula"}


class LlmProfile(Section):
    base_url: str
    base_model: str
    instruct_model: str
    api_key_env: str = ""  # name of the environment variable holding this profile's key
    requests_per_minute: int | None = Field(None, ge=1)  # None: llm.requests_per_minute
    context_window: int | None = Field(None, ge=1)  # None: llm.context_window
    price_per_million_input: float = Field(0.0, ge=0)  # a local server costs nothing
    price_per_million_output: float = Field(0.0, ge=0)


class LlmSettings(Section):
    base_url: str = "https://api.hyperbolic.xyz/v1"
    base_model: str = "meta-llama/Meta-Llama-3.1-405B"
    instruct_model: str = "meta-llama/Meta-Llama-3.1-405B-Instruct"
    max_tokens: int = Field(200, ge=1, le=8192)
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.9, gt=0, le=1)
    stop: list[str] = []
    connect_timeout_s: float = Field(10, gt=0)
    idle_timeout_s: float = Field(60, gt=0)  # longest silence between two streamed chunks
    # A whole call, retries included; the waiting message says it up front. Discord allows 15
    # minutes (the bound), but a class waiting on one answer should wait 2 at most.
    total_timeout_s: float = Field(120, gt=0, lt=900)
    max_retries: int = Field(3, ge=0, le=10)
    requests_per_minute: int = Field(5, ge=1)  # per model; Hyperbolic's basic tier allows about 5
    user_cooldown_s: float = Field(30, ge=0)
    daily_token_budget: int = Field(200_000, ge=0)  # per class (workspace), completion + prompt
    context_window: int = Field(128_000, ge=1)
    price_per_million_input: float = 4.0
    price_per_million_output: float = 4.0
    profiles: dict[str, LlmProfile] = {}
    rate_limits: dict[str, int] = {}  # model -> requests per minute, where it differs from requests_per_minute
    blind_reveal_votes: int = Field(10, ge=1)  # blind /compare reveals the answer after this many votes
    stream_update_s: float = Field(0.5, ge=0)  # least time between two streamed versions of a reply
    # Count the rate limit, the line and the daily budget in the database, for several processes
    # on one database (bot/llm/shared.py). Unset: on for PostgreSQL, off for SQLite (one process,
    # counted in memory); set it true when several processes share one SQLite file.
    shared_limits: bool | None = None


class ModelCost(Section):
    model: str  # what students see
    encoding: Literal[
        "o200k_base", "cl100k_base", "llama-3.1", "o200k_harmony", "qwen3", "mistral-tekken", "mistral-v3"
    ]
    context_window: int = Field(gt=0)
    usd_per_million_input: float = Field(ge=0)


class TokensSettings(Section):
    max_chars: int = Field(20_000, ge=1)
    models: list[ModelCost] = [
        ModelCost(model="GPT-4o", encoding="o200k_base", context_window=128_000, usd_per_million_input=2.50),
        ModelCost(model="GPT-4", encoding="cl100k_base", context_window=8_192, usd_per_million_input=30.00),
        ModelCost(
            model="Llama 3.1 405B Instruct (Hyperbolic)",
            encoding="llama-3.1",
            context_window=128_000,
            usd_per_million_input=4.00,
        ),
    ]


class RolesSettings(Section):
    keep_days: float = Field(30, gt=0)  # how long /roles keeps a conversation for its buttons


class DatasetSettings(Section):
    """/dataset and `aula dataset check`: what a fine-tuning file may be, and what training costs."""

    max_bytes: int = Field(20 * 1024 * 1024, ge=1)  # a larger file is refused, the limit named
    max_lines: int = Field(100_000, ge=1)
    max_line_bytes: int = Field(1024 * 1024, ge=1)  # one example's line; longer ones are skipped and reported
    max_errors: int = Field(100, ge=1)  # errors listed one by one (all are counted)
    template: str = "llama-3.1"  # the chat template examples are rendered in
    context_tokens: int = Field(8192, ge=1)  # the training run's sequence length: longer examples are truncated
    epochs: int = Field(3, ge=1, le=100)
    # The estimate: trained tokens × epochs × this price. Edit the three together.
    # Source: OpenAI's pricing page (platform.openai.com/docs/pricing, "Fine-tuning" table),
    # gpt-4o-2024-08-06 "Training $25.00 / 1M tokens", announced 2024-08-20 with GPT-4o
    # fine-tuning and unchanged on that page in 2025 (checked against a mid-2025 copy).
    price_per_million: float = Field(25.0, ge=0, le=1_000_000, allow_inf_nan=False)  # USD per million training tokens
    price_provider: str = "OpenAI, fine-tuning gpt-4o-2024-08-06"
    price_date: str = "2024-08-20"  # when OpenAI published that price (or when you set yours)
    concurrent_checks: int = Field(1, ge=1, le=8)  # files checked at once by the bot; others wait their turn
    # Slack: /dataset takes the user's newest file shared in the channel this many minutes before.
    slack_file_minutes: int = Field(10, ge=1, le=1440)


class QuizSettings(Section):
    banks_dir: str = "config/quizzes"
    seconds_per_question: int = Field(30, ge=5, le=3600)
    change_rule: Literal["never", "once", "free"] = "never"  # may a student change an answer?
    points: int = Field(1000, ge=0)
    speed_bonus: bool = True
    streaks: bool = False
    anonymous: bool = False
    leaderboard_size: int = Field(10, ge=1, le=25)
    refresh_seconds: float = Field(5, ge=1)  # how often an open question's count and countdown are updated
    tick_seconds: float = Field(1, ge=0)  # how often timers are checked; 0: never in the background (tests)


class NextSettings(Section):
    top: int = Field(10, ge=1, le=20)  # tokens shown per step (k of logprobs / top_logprobs)
    max_steps: int = Field(20, ge=1, le=200)  # tokens one /next run may append, step by step
    temperature: float = Field(1.0, gt=0, le=2)  # of the "sample" button when /next names none
    temperatures: list[float] = [0.2, 0.7, 1.0, 1.5]  # the columns of the temperature table
    game_seconds: int = Field(30, ge=5, le=600)  # how long the class may guess
    game_options: int = Field(8, ge=2, le=20)  # guess buttons: the model's top choices and others
    leaderboard_size: int = Field(10, ge=1, le=25)
    tick_seconds: float = Field(1, ge=0)  # how often rounds are checked for closing; 0: never (tests)


class HomeworkSettings(Section):
    reminder_hours_before: float = Field(24, ge=0)  # 0: no reminders
    publish: Literal["on_submit", "at_deadline"] = "at_deadline"
    anonymous: bool = False
    timezone: str = "America/Argentina/Buenos_Aires"  # how deadlines are typed and shown
    default_days: int = Field(7, ge=1, le=365)  # /quiz assign without vence: that many days, at 23:59
    accept_late_hours: float = Field(168, ge=0)  # late answers (flagged) until this long after the deadline
    max_answer_chars: int = Field(4000, ge=1, le=4000)  # a Discord text input holds 4,000
    tick_seconds: float = Field(30, ge=0)  # how often deadlines and reminders are checked; 0: never (tests)

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. America/Argentina/Buenos_Aires, UTC)") from None
        return value


class TimersSettings(Section):
    """What several processes on one database share: who does a timer's job (bot/storage/claims.py)."""

    # A job held by a process that died is taken over this long after its last renewal (plus
    # one tick); a holder renews every third of it while it works.
    lease_seconds: float = Field(15, ge=1, le=600)


class Secrets(Section):
    """Only from the environment; masked wherever settings are shown."""

    discord_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    llm_api_key: SecretStr | None = None


class Settings(Section):
    default_locale: Literal["es", "en"] = "es"
    # A file path or `sqlite:///path` (SQLite, the default), or `postgresql://user@host:5432/db`
    # (PostgreSQL; the password belongs in AULA_DATABASE, not in this file, and is never shown).
    database: str = "data/aula.sqlite3"
    database_pool_size: int = Field(10, ge=1, le=200)  # PostgreSQL: most connections per process
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    discord: DiscordSettings = DiscordSettings()
    slack: SlackSettings = SlackSettings()
    llm: LlmSettings = LlmSettings()
    tokens: TokensSettings = TokensSettings()
    roles: RolesSettings = RolesSettings()
    dataset: DatasetSettings = DatasetSettings()
    quiz: QuizSettings = QuizSettings()
    homework: HomeworkSettings = HomeworkSettings()
    next: NextSettings = NextSettings()
    timers: TimersSettings = TimersSettings()
    secrets: Secrets = Secrets()

    @property
    def data_dir(self) -> Path:
        """Where Aula keeps files beside the database (console files, the heartbeat): the SQLite
        file's folder, or `data` when the database is on a server."""
        if self.database.startswith(("postgresql://", "postgres://")):
            return Path("data")
        return Path(self.database.removeprefix("sqlite:///")).parent

    def llm_limits_shared(self) -> bool:
        """Whether the LLM rate limit and budget are counted in the database (llm.shared_limits)."""
        if self.llm.shared_limits is not None:
            return self.llm.shared_limits
        return self.database.startswith(("postgresql://", "postgres://"))

    @property
    def database_shown(self) -> str:
        """`database` as messages and logs may show it: a URL without its password."""
        return masked_url(self.database) if "://" in self.database else self.database

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown only as set or not."""
        data = self.model_dump(mode="json", exclude={"secrets"})
        data["database"] = self.database_shown
        data["llm"]["base_url"] = masked_url(data["llm"]["base_url"])
        for profile in data["llm"]["profiles"].values():
            profile["base_url"] = masked_url(profile["base_url"])
        data["secrets"] = {
            name: ("****" if getattr(self.secrets, name) else "(not set)") for name in Secrets.model_fields
        }
        return data


def split_address(url: str) -> tuple[urllib.parse.SplitResult | None, str]:
    """(the URL's parts, its "host[:port]" without user name or password), or (None, "") when
    the URL does not parse (a port out of range, a bad IPv6 literal)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None, ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return parts, host + (f":{port}" if port else "")


def unencoded_credentials(url: str) -> bool:
    """Whether the part of `url` before its last `@` (the user name and password) holds `@`, `/`,
    `?` or `#` as they are: URL parsers then split the password as a host, a port, a path, a
    query or a fragment, and their errors quote those pieces. Written percent-encoded (`%40`,
    `%2F`, `%3F`, `%23`) they are fine."""
    if "://" not in url:
        return False
    rest = url.split("://", 1)[1]
    at = rest.rfind("@")
    return at >= 0 and any(c in rest[:at] for c in "@/?#")


def masked_url(url: str) -> str:
    """url with its credentials masked: `https://user:pass@host/v1?api_key=k` becomes
    `https://****@host/v1?****` (a fragment, too, is masked). A URL that does not parse is
    masked whole, since it may hold anything. A user name or password holding a character a URL
    reserves (`@ / ? #`, not percent-encoded) is masked up to the last `@`, where it ends."""
    if unencoded_credentials(url):
        scheme, rest = url.split("://", 1)
        return masked_url(f"{scheme}://x@{rest[rest.rfind('@') + 1 :]}")
    parts, host = split_address(url)
    if parts is None:
        return "****"
    netloc = ("****@" if "@" in parts.netloc else "") + host
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, "****" if parts.query else "", "****" if parts.fragment else "")
    )


# Environment variable -> settings path. Secrets are only settable this way.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "AULA_DATABASE": ("database",),
    "AULA_LOCALE": ("default_locale",),
    "AULA_LOG_LEVEL": ("log_level",),
    "AULA_LLM_BASE_URL": ("llm", "base_url"),
    "AULA_BASE_MODEL": ("llm", "base_model"),
    "AULA_INSTRUCT_MODEL": ("llm", "instruct_model"),
    "DISCORD_TOKEN": ("secrets", "discord_token"),
    "SLACK_BOT_TOKEN": ("secrets", "slack_bot_token"),
    "SLACK_APP_TOKEN": ("secrets", "slack_app_token"),
    "SLACK_SIGNING_SECRET": ("secrets", "slack_signing_secret"),
    # AULA_LLM_API_KEY wins over HYPERBOLIC_API_KEY: later entries overwrite earlier ones.
    "HYPERBOLIC_API_KEY": ("secrets", "llm_api_key"),
    "AULA_LLM_API_KEY": ("secrets", "llm_api_key"),
}


def load_settings(
    config_path: str | Path | None = None,
    environ: dict[str, str] | None = None,
    dotenv_path: str | Path | None = ".env",
) -> Settings:
    """Read the file, overlay the environment, validate. Raises SettingsError naming the key."""
    env = dict(os.environ if environ is None else environ)
    if dotenv_path and Path(dotenv_path).is_file():
        env = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None} | env

    path = Path(config_path or env.get("AULA_CONFIG") or _default_config_path())
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
        if "secrets" in data:
            raise SettingsError(f"{path}: [secrets] may not be in the file; set them in the environment")
    elif config_path or env.get("AULA_CONFIG"):
        raise SettingsError(f"config file {path} does not exist")

    for var, key_path in ENV_OVERRIDES.items():
        if env.get(var):
            _set(data, key_path, env[var])
    for var, value in env.items():
        if var.startswith("AULA__") and value != "":
            _set(data, tuple(p.lower() for p in var[len("AULA__") :].split("__")), _parse_env_value(value))

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None


def _default_config_path() -> Path:
    local = Path("config/aula.toml")
    return local if local.is_file() else REPO_CONFIG


def _set(data: dict[str, Any], key_path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in key_path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SettingsError(f"{'.'.join(key_path)}: {key} is not a section")
    node[key_path[-1]] = value


def _parse_env_value(value: str) -> Any:
    """`AULA__X__Y` values may be TOML literals (numbers, booleans, lists); else plain text."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
