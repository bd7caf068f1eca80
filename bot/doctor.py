"""`aula doctor`'s checks: settings, database, platform credentials, the LLM endpoint.

Each check returns Findings (ok, warning or problem, a message key in
bot/locales/doctor.yaml and its values); the CLI renders them in the user's language
and exits 1 if any is a problem. Nothing here changes anything: the database is opened
without being created, migrated or switched to WAL, and the LLM calls generate one token per
served model, with its top log-probability, to tell whether /next can work with it (and one
token more per model when the server has no /models list to read).

Discord and Slack are asked about their tokens only when `online` is set; the LLM
endpoint always, since without it /compare and live /roles cannot work.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

from bot.llm.client import (
    DEFAULT_PROFILE,
    EndpointDecommissioned,
    InvalidApiKey,
    LlmClient,
    LlmError,
    ModelNotFound,
    Profile,
    RateLimited,
    Sampling,
    _status_error,
    profile_names,
    public_address,
    resolve_profile,
)
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.database import SQLITE_HEADER, DatabaseError, is_postgres, migrations, sqlite_path

DISCORD_API = "https://discord.com/api/v10"
SLACK_API = "https://slack.com/api/"
HTTP_TIMEOUT_S = 10.0
BUSY_WAIT_S = 2.0  # how long to wait for a lock held by a running bot before saying so
SLACK_SIGNING_SECRET_SHAPE = re.compile(r"[0-9a-f]{32}")
SLACK_TOKEN_KIND = re.compile(r"xox[a-z]-|xapp-")


class Level(Enum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    area: str  # "settings", "database", "discord", "slack", "llm" or "llm:<profile>"
    level: Level
    key: str  # a message in bot/locales/doctor.yaml
    values: dict[str, Any] = field(default_factory=dict)


def ok(area: str, key: str, **values: Any) -> Finding:
    return Finding(area, Level.OK, key, values)


def warning(area: str, key: str, **values: Any) -> Finding:
    return Finding(area, Level.WARNING, key, values)


def problem(area: str, key: str, **values: Any) -> Finding:
    return Finding(area, Level.PROBLEM, key, values)


def has_problem(findings: Iterable[Finding]) -> bool:
    return any(f.level is Level.PROBLEM for f in findings)


# --- everything ---------------------------------------------------------------------------


def load(config_path: str | None = None, **kwargs: Any) -> tuple[Settings | None, list[Finding]]:
    """The settings, or the reason they cannot be loaded (which stops the other checks)."""
    try:
        settings = load_settings(config_path, **kwargs)
    except SettingsError as exc:
        return None, [problem("settings", "doctor.settings_invalid", error=str(exc))]
    return settings, [ok("settings", "doctor.settings_ok")]


async def diagnose(
    settings: Settings,
    *,
    online: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    discord_api: str = DISCORD_API,
    slack_api: str = SLACK_API,
) -> list[Finding]:
    if is_postgres(settings.database):
        findings = await check_postgres(settings.database, settings.database_pool_size)
    else:
        try:
            findings = check_database(sqlite_path(settings.database))
        except DatabaseError as exc:
            findings = [problem("database", "doctor.db_unreadable", path=settings.database_shown, error=str(exc))]
    findings += check_discord(settings)
    findings += check_slack(settings)
    if not settings.secrets.discord_token and not settings.secrets.slack_bot_token:
        findings.append(warning("platforms", "doctor.no_platform"))
    async with httpx.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT_S) as http:
        if online:
            findings += await check_discord_online(settings, http, discord_api)
            findings += await check_slack_online(settings, http, slack_api)
        elif settings.secrets.discord_token or settings.secrets.slack_bot_token:
            findings.append(ok("platforms", "doctor.online_skipped"))
        for name in profile_names(settings):
            findings += await check_llm(settings, resolve_profile(settings, name), http, transport)
    return findings


# --- database -----------------------------------------------------------------------------


def check_database(path: str) -> list[Finding]:
    if path == ":memory:":
        return [warning("database", "doctor.db_memory")]
    file = Path(path)
    if file.is_dir():
        return [problem("database", "doctor.db_is_dir", path=path)]
    if not file.exists():
        folder = _nearest_existing(file.parent)
        if os.access(folder, os.W_OK | os.X_OK):
            return [warning("database", "doctor.db_missing", path=path)]
        return [problem("database", "doctor.db_cannot_create", path=path, folder=str(folder))]
    try:
        with file.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        return [problem("database", "doctor.db_unreadable", path=path, error=exc.strerror)]
    if header and header != SQLITE_HEADER:
        return [problem("database", "doctor.db_not_sqlite", path=path)]

    findings = check_file_modes(file)
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_WAIT_S)
    except sqlite3.Error as exc:
        return [*findings, problem("database", "doctor.db_unreadable", path=path, error=str(exc))]
    try:
        findings += _check_open_database(conn, path, file)
    except sqlite3.DatabaseError as exc:
        findings.append(problem("database", "doctor.db_unreadable", path=path, error=str(exc)))
    finally:
        conn.close()
    return findings


def check_file_modes(file: Path) -> list[Finding]:
    """The database and its -wal/-shm files: readable by their owner only."""
    findings = []
    for path in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        if not path.exists():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            findings.append(problem("database", "doctor.db_mode", path=str(path), mode=f"{mode:o}"))
    if not findings:
        findings.append(ok("database", "doctor.db_private", mode=f"{file.stat().st_mode & 0o777:o}"))
    return findings


def _check_open_database(conn: sqlite3.Connection, path: str, file: Path) -> list[Finding]:
    findings = []
    integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
    if integrity != "ok":
        return [problem("database", "doctor.db_corrupt", path=path, detail=str(integrity)[:200])]

    if not os.access(file, os.W_OK) or not os.access(file.parent, os.W_OK):
        findings.append(problem("database", "doctor.db_read_only", path=path, error="permission denied"))
    else:
        try:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock, changes nothing
            conn.execute("ROLLBACK")
            findings.append(ok("database", "doctor.db_writable", path=path))
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                findings.append(warning("database", "doctor.db_busy", path=path))
            else:
                findings.append(problem("database", "doctor.db_read_only", path=path, error=str(exc)))

    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() == "wal":
        findings.append(ok("database", "doctor.db_wal"))
    else:
        findings.append(warning("database", "doctor.db_not_wal", mode=mode))

    findings.append(_check_migrations(conn))
    return findings


def _check_migrations(conn: sqlite3.Connection) -> Finding:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")} if has_table else set()
    return _migrations_finding(applied, "sqlite")


async def check_postgres(url: str, pool_size: int) -> list[Finding]:
    """A PostgreSQL server: it answers (its version), takes writes (not a read-only standby), has
    room for this process's pool, and which migrations the database lacks. Changes nothing; the
    address is shown without its password."""
    from bot.storage.postgres import PostgresDatabase

    db = PostgresDatabase(url, pool_size=1)
    try:
        await db.open(migrate=False)
    except DatabaseError as exc:
        detail = str(exc).split(": ", 2)[-1]  # "<address>: cannot connect to PostgreSQL: <why>"
        return [problem("database", "doctor.pg_unreachable", address=db.address, error=detail)]
    try:
        findings = [ok("database", "doctor.pg_connected", address=db.address, version=await db.server_version())]
        row = await db.fetchone(
            """SELECT current_setting('transaction_read_only') AS read_only,
                      current_setting('max_connections')::bigint AS most,
                      current_setting('superuser_reserved_connections')::bigint AS reserved,
                      (SELECT COUNT(*) FROM pg_stat_activity) AS used"""
        )
        if row["read_only"] == "on":
            findings.append(problem("database", "doctor.pg_read_only", address=db.address))
        free = int(row["most"]) - int(row["reserved"]) - int(row["used"])
        if pool_size > free:
            findings.append(warning("database", "doctor.pg_pool_small", size=pool_size, free=free, most=int(row["most"])))
        else:
            findings.append(ok("database", "doctor.pg_pool", size=pool_size, free=free, most=int(row["most"])))
        applied = await db.applied_migrations()
        findings.append(_migrations_finding(applied, "postgresql"))
        findings += await _pg_privileges(db, pending=any(v not in applied for v, _, _ in migrations("postgresql")))
        return findings
    finally:
        await db.close()


async def _pg_privileges(db, pending: bool) -> list[Finding]:
    """What the connecting role lacks for Aula's work: creating tables in its schema while
    migrations are pending; reading and writing every table of the schema (SELECT, INSERT, UPDATE,
    DELETE) and using every sequence (ids) once they exist. A role that may only read passed
    every other check and then failed at start or at the first save."""
    row = await db.fetchone(
        """SELECT current_user AS who, current_schema() AS schema,
                  has_schema_privilege(current_schema(), 'CREATE') AS can_create,
                  (SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = current_schema()
                      AND ((c.relkind IN ('r', 'p') AND NOT (has_table_privilege(c.oid, 'SELECT')
                            AND has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')
                            AND has_table_privilege(c.oid, 'DELETE')))
                        OR (c.relkind = 'S' AND NOT has_sequence_privilege(c.oid, 'USAGE')))) AS lacking"""
    )
    findings = []
    if pending and not row["can_create"]:
        findings.append(problem("database", "doctor.pg_cannot_migrate", user=row["who"], schema=row["schema"]))
    if row["lacking"]:
        names = row["lacking"].split(", ")
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        findings.append(problem("database", "doctor.pg_cannot_write", user=row["who"], schema=row["schema"], tables=shown))
    return findings


def _migrations_finding(applied: set[int], dialect: str) -> Finding:
    known = {version: name for version, name, _ in migrations(dialect)}
    unknown = sorted(applied - known.keys())
    if unknown:
        return problem("database", "doctor.db_newer", versions=", ".join(map(str, unknown)))
    pending = [known[v] for v in sorted(known.keys() - applied)]
    if pending:
        return warning("database", "doctor.db_pending", names=", ".join(pending))
    return ok("database", "doctor.db_migrated", version=max(applied, default=0))


def _nearest_existing(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


# --- Discord ------------------------------------------------------------------------------


def check_discord(settings: Settings) -> list[Finding]:
    token = _secret(settings.secrets.discord_token)
    if not token:
        return [ok("discord", "doctor.discord_off")]
    application_id = discord_application_id(token)
    if not application_id:
        return [problem("discord", "doctor.discord_token_shape")]
    return [ok("discord", "doctor.discord_token_ok", id=application_id)]


def discord_application_id(token: str) -> str:
    """A bot token is three dot-separated parts, the first the application id in base64; else ""."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        return ""
    head = parts[0].replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded if decoded.isdigit() else ""


async def check_discord_online(settings: Settings, http: httpx.AsyncClient, api: str) -> list[Finding]:
    token = _secret(settings.secrets.discord_token)
    if not token or not discord_application_id(token):
        return []  # nothing to ask, or the offline check already said what is wrong
    url = api.rstrip("/") + "/users/@me"
    try:
        response = await http.get(url, headers={"Authorization": f"Bot {token}"})
    except httpx.HTTPError as exc:
        return [problem("discord", "doctor.unreachable", url=url, error=_describe(exc))]
    if response.status_code in (401, 403):
        return [problem("discord", "doctor.discord_token_refused", status=response.status_code)]
    if response.status_code != 200:
        return [problem("discord", "doctor.http_status", url=url, status=response.status_code)]
    me = _json(response)
    return [ok("discord", "doctor.discord_online_ok", name=me.get("username", "?"), id=me.get("id", "?"))]


# --- Slack --------------------------------------------------------------------------------


def check_slack(settings: Settings) -> list[Finding]:
    secrets = settings.secrets
    bot, app, signing = (
        _secret(secrets.slack_bot_token),
        _secret(secrets.slack_app_token),
        _secret(secrets.slack_signing_secret),
    )
    if not (bot or app or signing):
        return [ok("slack", "doctor.slack_off")]
    findings = []
    if not bot:
        findings.append(problem("slack", "doctor.slack_bot_missing"))
    elif not bot.startswith("xoxb-"):
        findings.append(problem("slack", "doctor.slack_bot_shape", start=token_kind(bot)))
    if settings.slack.mode == "socket":
        if not app:
            findings.append(problem("slack", "doctor.slack_app_missing"))
        elif not app.startswith("xapp-"):
            findings.append(problem("slack", "doctor.slack_app_shape"))
    else:
        if not signing:
            findings.append(problem("slack", "doctor.slack_signing_missing"))
        elif not SLACK_SIGNING_SECRET_SHAPE.fullmatch(signing):
            findings.append(warning("slack", "doctor.slack_signing_shape"))
    if not findings:
        findings.append(ok("slack", "doctor.slack_tokens_ok", mode=settings.slack.mode))
    return findings


def token_kind(token: str) -> str:
    """A Slack token's kind prefix (xoxp-, xapp-...), never any of its secret part."""
    match = SLACK_TOKEN_KIND.match(token)
    return match.group(0) if match else "?"


async def check_slack_online(settings: Settings, http: httpx.AsyncClient, api: str) -> list[Finding]:
    bot = _secret(settings.secrets.slack_bot_token)
    app = _secret(settings.secrets.slack_app_token)
    findings = []
    if bot.startswith("xoxb-"):
        answer = await _slack_call(http, api, "auth.test", bot)
        if isinstance(answer, Finding):
            findings.append(answer)
        elif answer.get("ok"):
            findings.append(
                ok("slack", "doctor.slack_auth_ok", team=answer.get("team", "?"), user=answer.get("user_id", "?"))
            )
        else:
            findings.append(problem("slack", "doctor.slack_bot_refused", error=answer.get("error", "?")))
    if settings.slack.mode == "socket" and app.startswith("xapp-"):
        # The only call an app-level token can make; the socket URL it returns is left unused.
        answer = await _slack_call(http, api, "apps.connections.open", app)
        if isinstance(answer, Finding):
            findings.append(answer)
        elif answer.get("ok"):
            findings.append(ok("slack", "doctor.slack_app_ok"))
        else:
            findings.append(problem("slack", "doctor.slack_app_refused", error=answer.get("error", "?")))
    return findings


async def _slack_call(http: httpx.AsyncClient, api: str, method: str, token: str) -> dict[str, Any] | Finding:
    url = api.rstrip("/") + "/" + method
    try:
        response = await http.post(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return problem("slack", "doctor.unreachable", url=url, error=_describe(exc))
    if response.status_code != 200:
        return problem("slack", "doctor.http_status", url=url, status=response.status_code)
    return _json(response)


# --- the LLM endpoint ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """Where each of a profile's values is set, for messages."""

    base_url: str
    base_model: str
    instruct_model: str

    @classmethod
    def of(cls, profile: Profile) -> _Setting:
        if profile.name == DEFAULT_PROFILE:
            return cls(
                "llm.base_url (AULA_LLM_BASE_URL)",
                "llm.base_model (AULA_BASE_MODEL)",
                "llm.instruct_model (AULA_INSTRUCT_MODEL)",
            )
        prefix = f"llm.profiles.{profile.name}."
        return cls(prefix + "base_url", prefix + "base_model", prefix + "instruct_model")


async def check_llm(
    settings: Settings,
    profile: Profile,
    http: httpx.AsyncClient,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Finding]:
    """Reachable, key accepted, both models served. Another profile than the default one
    is optional (a local server may be off), so its failures are warnings."""
    area = "llm" if profile.name == DEFAULT_PROFILE else f"llm:{profile.name}"
    bad = problem if profile.name == DEFAULT_PROFILE else warning
    where = _Setting.of(profile)
    url = public_address(profile.base_url)  # printed: never the credentials an address may hold
    findings = []
    no_key = profile.needs_key and not profile.api_key
    if no_key:
        findings.append(warning(area, "doctor.llm_no_key", url=url, setting=profile.key_setting))

    headers = {"Authorization": f"Bearer {profile.api_key}"} if profile.api_key else {}
    try:
        response = await http.get(url + "/models", headers=headers)
    except httpx.HTTPError as exc:
        return [*findings, bad(area, "doctor.llm_unreachable", url=url, error=_describe(exc), setting=where.base_url)]

    if response.status_code == 200:
        served = {str(m.get("id")) for m in _json(response).get("data") or () if isinstance(m, dict)}
        findings.append(ok(area, "doctor.llm_key_ok" if profile.api_key else "doctor.llm_reachable", url=url))
        roles = []
        for role, model, setting in (("base", profile.base_model, where.base_model),
                                     ("instruct", profile.instruct_model, where.instruct_model)):  # fmt: skip
            if model in served:
                findings.append(ok(area, "doctor.llm_model_ok", url=url, model=model))
                roles.append(role)
            else:
                findings.append(
                    bad(area, "doctor.llm_model_missing", url=url, model=model, setting=setting, served=_few(served))
                )
        if not no_key:
            # Listed is not served: ask each listed model for one token, as class will (issue 14.10).
            listed = {model for role, model in (("base", profile.base_model), ("instruct", profile.instruct_model))
                      if role in roles}  # fmt: skip
            probed = await _probe_models(settings, profile, transport, area, bad, where, only=listed)
            answering = {f.values.get("model") for f in probed if f.key == "doctor.llm_model_ok"}
            findings = [f for f in findings if not (f.key == "doctor.llm_model_ok" and f.values["model"] not in answering)]
            findings += [f for f in probed if f.key != "doctor.llm_model_ok"]
            roles = [role for role in roles
                     if (profile.base_model if role == "base" else profile.instruct_model) in answering]  # fmt: skip
            findings += await check_logprobs(settings, profile, transport, area, roles)
        return findings

    error = _status_error(response, profile, "", attempts=1)
    if isinstance(error, InvalidApiKey):
        if no_key:
            return findings  # the missing key already said it all
        return [*findings, bad(area, "doctor.llm_key_refused", url=url, status=response.status_code, setting=profile.key_setting)]
    if isinstance(error, EndpointDecommissioned):
        return [*findings, bad(area, "doctor.llm_decommissioned", url=url, setting=where.base_url, said=_quoted(error.message))]
    if isinstance(error, ModelNotFound) or response.status_code == 405:
        if no_key:  # /models is missing and nothing can be generated without the key
            return findings
        probed = await _probe_models(settings, profile, transport, area, bad, where)
        served_models = {f.values.get("model") for f in probed if f.key == "doctor.llm_model_ok"}
        roles = [role for role, model in (("base", profile.base_model), ("instruct", profile.instruct_model))
                 if model in served_models]  # fmt: skip
        return [*findings, *probed, *await check_logprobs(settings, profile, transport, area, roles)]
    return [*findings, bad(area, "doctor.http_status", url=url + "/models", status=response.status_code)]


async def _probe_models(
    settings, profile, transport, area, bad, where: _Setting, only: set[str] | None = None
) -> list[Finding]:
    """Ask each model (or those in `only`) for one token, once, without retrying: a /models list
    says nothing of whether generation works (a 40401, a refused key, a 500)."""
    quick = settings.llm.model_copy(
        update={"max_retries": 0, "total_timeout_s": 30.0, "connect_timeout_s": HTTP_TIMEOUT_S, "idle_timeout_s": 30.0}
    )
    client = LlmClient(quick, profile, transport=transport)
    one_token = Sampling.from_settings(quick, max_tokens=1)
    findings = []
    try:
        probes = (
            (profile.base_model, where.base_model, lambda: client.complete(".", sampling=one_token)),
            (
                profile.instruct_model,
                where.instruct_model,
                lambda: client.chat([{"role": "user", "content": "."}], sampling=one_token),
            ),
        )
        for model, setting, call in probes:
            if only is not None and model not in only:
                continue
            url = public_address(profile.base_url)
            try:
                await call()
            except ModelNotFound:
                findings.append(bad(area, "doctor.llm_model_missing", url=url, model=model, setting=setting, served="-"))
            except InvalidApiKey:
                findings.append(bad(area, "doctor.llm_key_refused", url=url, status=401, setting=profile.key_setting))
            except EndpointDecommissioned as exc:
                findings.append(bad(area, "doctor.llm_decommissioned", url=url, setting=where.base_url, said=_quoted(exc.message)))
            except RateLimited:
                findings.append(warning(area, "doctor.llm_rate_limited", url=url, model=model))
            except LlmError as exc:
                findings.append(bad(area, "doctor.llm_failed", url=url, model=model, error=str(exc)))
            else:
                findings.append(ok(area, "doctor.llm_model_ok", url=url, model=model))
    finally:
        await client.aclose()
    # A refused key or a dead endpoint is said once, not once per model.
    unique = {(f.level, f.key, tuple(sorted(f.values.items()))): f for f in findings}
    return list(unique.values())


async def check_logprobs(settings, profile: Profile, transport, area: str, roles: list[str]) -> list[Finding]:
    """Does each served model return log-probabilities (/next needs them)? One token with the top
    one, once, without retrying. Only /next depends on it, so a model without them is a warning."""
    from bot.next.logic import NoLogprobs, fetch

    quick = settings.llm.model_copy(
        update={"max_retries": 0, "total_timeout_s": 30.0, "connect_timeout_s": HTTP_TIMEOUT_S, "idle_timeout_s": 30.0}
    )
    client = LlmClient(quick, profile, transport=transport)
    findings = []
    try:
        for role in roles:
            model = profile.base_model if role == "base" else profile.instruct_model
            try:
                await fetch(client, profile, role, "El", "", top=1)
            except NoLogprobs:
                findings.append(warning(area, "doctor.llm_no_logprobs", url=public_address(profile.base_url), model=model,
                                        profile=profile.name))  # fmt: skip
            except RateLimited:
                findings.append(warning(area, "doctor.llm_rate_limited", url=public_address(profile.base_url), model=model))
            except LlmError as exc:
                findings.append(warning(area, "doctor.llm_logprobs_failed", url=public_address(profile.base_url), model=model,
                                        error=str(exc)))  # fmt: skip
            else:
                findings.append(ok(area, "doctor.llm_logprobs_ok", url=public_address(profile.base_url), model=model))
    finally:
        await client.aclose()
    return findings


# --- small helpers ------------------------------------------------------------------------


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _quoted(said: str, limit: int = 200) -> str:
    """What a server said, on one line and bounded, to quote in a finding."""
    said = " ".join(said.split()) or "-"
    return said if len(said) <= limit else said[: limit - 1] + "…"


def _describe(exc: Exception) -> str:
    return str(exc) or exc.__class__.__name__


def _few(names: set[str], limit: int = 8) -> str:
    shown = sorted(names)[:limit]
    return ", ".join(shown) + (", …" if len(names) > limit else "") if shown else "-"
