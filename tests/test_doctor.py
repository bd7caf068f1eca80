"""`aula doctor`: each check on a real temporary database, the loopback LLM server
(tests/fake_llm.py), the loopback Slack API (tests/fake_slack.py) and, for Discord,
an httpx mock transport; the CLI end to end in a subprocess."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.cli import main
from adapters.cli.doctor import render
from bot import doctor
from bot.doctor import Level, check_database, check_discord, check_slack, diagnose, has_problem
from bot.i18n import t
from bot.llm.client import resolve_profile
from bot.settings import load_settings
from bot.storage import Database
from bot.storage.database import migrations
from tests.fake_llm import API_KEY, BASE_MODEL, DECOMMISSIONED, INSTRUCT_MODEL, FakeLlmServer, Fault
from tests.fake_slack import FakeSlack

ROOT = os.geteuid() == 0  # root writes anywhere: the permission-denied cases cannot happen
APP_ID = "123456789012345678"
DISCORD_TOKEN = base64.b64encode(APP_ID.encode()).decode().rstrip("=") + ".GaBcDe." + "x" * 38
SIGNING_SECRET = "0123456789abcdef" * 2  # shaped like Slack's: 32 hex digits
SECRET_VARS = (
    "DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
    "HYPERBOLIC_API_KEY", "AULA_LLM_API_KEY", "AULA_CONFIG",
)  # fmt: skip


def settings_with(tmp_path, **env):
    return load_settings(environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), **env}, dotenv_path=None)


def keys(findings, level: Level | None = None) -> list[str]:
    return [f.key for f in findings if level is None or f.level is level]


async def migrated_database(path) -> None:
    db = await Database(path).open()
    await db.close()


# --- database -------------------------------------------------------------------------------


async def test_a_migrated_database_is_private_writable_wal_and_up_to_date(tmp_path):
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    findings = check_database(str(path))
    assert keys(findings) == [
        "doctor.db_private",
        "doctor.db_writable",
        "doctor.db_wal",
        "doctor.db_migrated",
    ]
    assert findings[-1].values["version"] == max(v for v, _, _ in migrations())
    assert not has_problem(findings)


def test_a_missing_database_is_a_warning_and_doctor_does_not_create_it(tmp_path):
    path = tmp_path / "data" / "aula.sqlite3"
    assert keys(check_database(str(path)), Level.WARNING) == ["doctor.db_missing"]
    assert not path.exists() and not path.parent.exists()


@pytest.mark.skipif(ROOT, reason="root may create files in any folder")
def test_a_database_that_cannot_be_created_is_a_problem(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    findings = check_database(str(locked / "sub" / "aula.sqlite3"))
    assert keys(findings, Level.PROBLEM) == ["doctor.db_cannot_create"]
    assert findings[0].values["folder"] == str(locked)


async def test_pending_migrations_are_listed_and_not_applied(tmp_path):
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    first, *later = migrations()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version > ?", (first[0],))
    [pending] = [f for f in check_database(str(path)) if f.key == "doctor.db_pending"]
    assert pending.level is Level.WARNING
    assert pending.values["names"] == ", ".join(name for _, name, _ in later)
    with sqlite3.connect(path) as conn:  # doctor only looked
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1


async def test_a_database_written_by_a_newer_aula_is_a_problem(tmp_path):
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)")
    [newer] = [f for f in check_database(str(path)) if f.level is Level.PROBLEM]
    assert newer.key == "doctor.db_newer" and newer.values["versions"] == "9999"


def test_a_database_not_in_wal_mode_is_reported_and_left_as_it_is(tmp_path):
    path = tmp_path / "aula.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    os.chmod(path, 0o600)
    findings = check_database(str(path))
    [not_wal] = [f for f in findings if f.key == "doctor.db_not_wal"]
    assert not_wal.level is Level.WARNING and not_wal.values["mode"] == "delete"
    assert "doctor.db_pending" in keys(findings)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


async def test_a_database_others_can_read_is_a_problem_that_names_the_fix(tmp_path):
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    os.chmod(path, 0o644)
    [mode] = [f for f in check_database(str(path)) if f.level is Level.PROBLEM]
    assert mode.key == "doctor.db_mode" and mode.values == {"path": str(path), "mode": "644"}
    assert f"chmod 600 {path}" in render([mode], "en")


def test_a_file_that_is_not_sqlite_is_a_problem(tmp_path):
    path = tmp_path / "aula.sqlite3"
    path.write_text("these are my notes, not a database\n")
    assert keys(check_database(str(path))) == ["doctor.db_not_sqlite"]


def test_a_damaged_database_is_a_problem(tmp_path):
    path = tmp_path / "aula.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 50)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's tree: the schema is unreadable
    path.write_bytes(bytes(data))
    os.chmod(path, 0o600)
    findings = check_database(str(path))
    assert has_problem(findings)
    assert {"doctor.db_corrupt", "doctor.db_unreadable"} & set(keys(findings, Level.PROBLEM))


async def test_a_database_locked_by_another_process_is_a_warning_not_a_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "BUSY_WAIT_S", 0.05)
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        findings = check_database(str(path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "doctor.db_busy" in keys(findings, Level.WARNING)
    assert not has_problem(findings)


def test_an_in_memory_database_is_a_warning():
    assert [(f.level, f.key) for f in check_database(":memory:")] == [(Level.WARNING, "doctor.db_memory")]


# --- Discord --------------------------------------------------------------------------------


def test_a_well_formed_discord_token_names_its_application(tmp_path):
    [finding] = check_discord(settings_with(tmp_path, DISCORD_TOKEN=DISCORD_TOKEN))
    assert (finding.level, finding.key, finding.values) == (Level.OK, "doctor.discord_token_ok", {"id": APP_ID})


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "two.parts",
        "MTIz.a.b.c",  # four parts
        base64.b64encode(b"not digits").decode() + ".GaBcDe." + "x" * 38,
        "!!!!.GaBcDe." + "x" * 38,
        DISCORD_TOKEN.replace(".GaBcDe.", ".."),
    ],
)
def test_a_malformed_discord_token_is_a_problem(tmp_path, token):
    assert [(f.level, f.key) for f in check_discord(settings_with(tmp_path, DISCORD_TOKEN=token))] == [
        (Level.PROBLEM, "doctor.discord_token_shape")
    ]


def discord_api(status: int, seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status == 200:
            return httpx.Response(200, json={"id": APP_ID, "username": "aula-bot"})
        return httpx.Response(status, json={"message": "401: Unauthorized", "code": 0})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, (Level.OK, "doctor.discord_online_ok")), (401, (Level.PROBLEM, "doctor.discord_token_refused"))],
)
async def test_online_asks_discord_who_the_token_is(tmp_path, status, expected):
    settings = settings_with(tmp_path, DISCORD_TOKEN=DISCORD_TOKEN)
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=discord_api(status, seen)) as http:
        [finding] = await doctor.check_discord_online(settings, http, "https://discord.test/api/v10")
    assert (finding.level, finding.key) == expected
    assert [(r.method, str(r.url)) for r in seen] == [("GET", "https://discord.test/api/v10/users/@me")]
    assert seen[0].headers["Authorization"] == f"Bot {DISCORD_TOKEN}"


async def test_without_online_discord_and_slack_are_not_asked(tmp_path):
    settings = settings_with(
        tmp_path, DISCORD_TOKEN=DISCORD_TOKEN, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1",
        AULA_LLM_BASE_URL="http://127.0.0.1:9/v1",
    )  # fmt: skip
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("no network in this test")

    findings = await diagnose(settings, transport=httpx.MockTransport(refuse))
    assert "doctor.online_skipped" in keys(findings)
    assert {r.url.host for r in seen} == {"127.0.0.1"}  # only the LLM endpoint


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/x", "sqlite://u:s3cret@h/x"])
async def test_a_database_url_that_cannot_be_opened_is_shown_without_its_password(tmp_path, url):
    settings = settings_with(tmp_path, AULA_DATABASE=url, AULA_LLM_BASE_URL="http://127.0.0.1:9/v1")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network in this test")

    findings = await diagnose(settings, transport=httpx.MockTransport(refuse))
    database = [f for f in findings if f.area == "database"]
    assert [(f.level, f.key) for f in database] == [(Level.PROBLEM, "doctor.db_unreadable")]
    for lang in ("es", "en"):
        text = render(findings, lang)
        assert "s3cret" not in text
        assert t(lang, "doctor.db_unreadable", **database[0].values) in text
    assert not any(tmp_path.iterdir())


# --- Slack ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, [(Level.OK, "doctor.slack_off")]),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, [(Level.OK, "doctor.slack_tokens_ok")]),
        ({"SLACK_APP_TOKEN": "xapp-1"}, [(Level.PROBLEM, "doctor.slack_bot_missing")]),
        ({"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_APP_TOKEN": "xapp-1"}, [(Level.PROBLEM, "doctor.slack_bot_shape")]),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, [(Level.PROBLEM, "doctor.slack_app_missing")]),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, [(Level.PROBLEM, "doctor.slack_app_shape")]),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "AULA__SLACK__MODE": "http"},
            [(Level.PROBLEM, "doctor.slack_signing_missing")],
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "AULA__SLACK__MODE": "http", "SLACK_SIGNING_SECRET": "verification-tok"},
            [(Level.WARNING, "doctor.slack_signing_shape")],
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "AULA__SLACK__MODE": "http", "SLACK_SIGNING_SECRET": SIGNING_SECRET},
            [(Level.OK, "doctor.slack_tokens_ok")],
        ),
    ],
)
def test_slack_tokens_are_checked_for_the_configured_mode(tmp_path, env, expected):
    assert [(f.level, f.key) for f in check_slack(settings_with(tmp_path, **env))] == expected


@pytest.mark.parametrize(("token", "shown"), [("xoxp-1234-user", "xoxp-"), ("0123456789abcdef", "?")])
def test_a_wrong_slack_token_is_described_by_its_kind_only(tmp_path, token, shown):
    [finding] = check_slack(settings_with(tmp_path, SLACK_BOT_TOKEN=token, SLACK_APP_TOKEN="xapp-1"))
    assert finding.values == {"start": shown}


async def test_online_asks_slack_about_both_tokens(tmp_path):
    settings = settings_with(tmp_path, SLACK_BOT_TOKEN="xoxb-good", SLACK_APP_TOKEN="xapp-good")
    async with FakeSlack() as slack, httpx.AsyncClient() as http:
        findings = await doctor.check_slack_online(settings, http, slack.api_url)
        assert [c.method for c in slack.calls] == ["auth.test", "apps.connections.open"]
        slack.failures["auth.test"] = "invalid_auth"
        slack.failures["apps.connections.open"] = "invalid_auth"
        refused = await doctor.check_slack_online(settings, http, slack.api_url)
    assert [(f.level, f.key) for f in findings] == [
        (Level.OK, "doctor.slack_auth_ok"),
        (Level.OK, "doctor.slack_app_ok"),
    ]
    assert findings[0].values == {"team": "Aula", "user": "UBOT"}
    assert [(f.level, f.key, f.values["error"]) for f in refused] == [
        (Level.PROBLEM, "doctor.slack_bot_refused", "invalid_auth"),
        (Level.PROBLEM, "doctor.slack_app_refused", "invalid_auth"),
    ]


# --- the LLM endpoint -----------------------------------------------------------------------


@pytest.fixture
async def llm():
    async with FakeLlmServer() as server:
        yield server


def llm_settings(tmp_path, server, key: str | None = API_KEY, **env):
    values = {"AULA_LLM_BASE_URL": server.base_url, **env}
    if key:
        values["AULA_LLM_API_KEY"] = key
    return settings_with(tmp_path, **values)


async def llm_findings(settings, transport=None):
    async with httpx.AsyncClient(transport=transport) as http:
        return await doctor.check_llm(settings, resolve_profile(settings), http, transport)


async def test_a_working_endpoint_accepts_the_key_serves_both_models_and_their_logprobs(tmp_path, llm):
    findings = await llm_findings(llm_settings(tmp_path, llm))
    assert [(f.level, f.key, f.values.get("model")) for f in findings] == [
        (Level.OK, "doctor.llm_key_ok", None),
        (Level.OK, "doctor.llm_model_ok", BASE_MODEL),
        (Level.OK, "doctor.llm_model_ok", INSTRUCT_MODEL),
        (Level.OK, "doctor.llm_logprobs_ok", BASE_MODEL),
        (Level.OK, "doctor.llm_logprobs_ok", INSTRUCT_MODEL),
    ]
    # the list, one token from each model (listed is not served), then one token with its top
    # log-probability from each (what /next needs)
    asked = [(path, body.get("max_tokens"), body.get("logprobs"), body.get("top_logprobs")) for path, body in llm.calls]
    assert asked == [("/v1/models", None, None, None),
                     ("/v1/completions", 1, None, None), ("/v1/chat/completions", 1, None, None),
                     ("/v1/completions", 1, 1, None), ("/v1/chat/completions", 1, True, 1)]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        (DECOMMISSIONED, "doctor.llm_decommissioned"),
        (Fault(status=401), "doctor.llm_key_refused"),
        (Fault(status=500), "doctor.llm_failed"),
    ],
)
async def test_both_models_listed_but_generation_failing_is_a_problem(tmp_path, llm, fault, key):
    """Issue 14.10: /v1/models listed both models, /v1/completions answered 404 code 40401 (or
    401, or 500), and doctor said "Todo en orden"."""
    llm.faults.append(Fault(status=fault.status, body=fault.body, path="/v1/completions"))
    findings = await llm_findings(llm_settings(tmp_path, llm))
    [failed] = [f for f in findings if f.level is Level.PROBLEM]
    assert failed.key == key and doctor.has_problem(findings)
    served = [f.values["model"] for f in findings if f.key == "doctor.llm_model_ok"]
    assert served == [INSTRUCT_MODEL]  # the base model is listed, but does not answer
    if fault is DECOMMISSIONED:
        shown = render([failed], "es")
        assert "«This inference endpoint has been decommissioned»" in shown and "40401" in shown


async def test_models_without_logprobs_are_a_warning_naming_the_profile(tmp_path, llm):
    llm.logprobs = False
    findings = await llm_findings(llm_settings(tmp_path, llm))
    missing = [f for f in findings if f.key == "doctor.llm_no_logprobs"]
    assert [(f.level, f.values["model"], f.values["profile"]) for f in missing] == [
        (Level.WARNING, BASE_MODEL, "default"), (Level.WARNING, INSTRUCT_MODEL, "default")]
    assert "/next" in render(missing, "es") and "log-probabilidades" in render(missing, "es")
    assert not doctor.has_problem(findings)


async def test_a_refused_key_is_a_problem_naming_where_the_key_is_set(tmp_path, llm):
    [finding] = await llm_findings(llm_settings(tmp_path, llm, key="sk-wrong"))
    assert (finding.level, finding.key, finding.values["status"]) == (Level.PROBLEM, "doctor.llm_key_refused", 401)
    assert finding.values["setting"] == "AULA_LLM_API_KEY / HYPERBOLIC_API_KEY"


async def test_a_model_the_server_does_not_serve_is_a_problem_naming_its_setting(tmp_path, llm):
    llm.models = (BASE_MODEL, "meta-llama/Llama-3.3-70B-Instruct")
    findings = await llm_findings(llm_settings(tmp_path, llm))
    [missing] = [f for f in findings if f.level is Level.PROBLEM]
    assert missing.key == "doctor.llm_model_missing"
    assert missing.values["model"] == INSTRUCT_MODEL
    assert missing.values["setting"] == "llm.instruct_model (AULA_INSTRUCT_MODEL)"
    assert "meta-llama/Llama-3.3-70B-Instruct" in missing.values["served"]


async def test_hyperbolics_decommissioned_answer_names_the_url_setting(tmp_path, llm):
    llm.faults.append(Fault(status=404, body=DECOMMISSIONED.body, path="/v1/models"))
    [finding] = await llm_findings(llm_settings(tmp_path, llm))
    assert (finding.level, finding.key) == (Level.PROBLEM, "doctor.llm_decommissioned")
    assert finding.values["setting"] == "llm.base_url (AULA_LLM_BASE_URL)"
    assert "40401" in render([finding], "es") and "llm.base_url" in render([finding], "es")
    assert "«This inference endpoint has been decommissioned»" in render([finding], "es")  # the server's words


async def test_without_a_models_list_each_model_is_asked_for_one_token(tmp_path):
    async with FakeLlmServer(list_models=False) as server:
        server.models = (BASE_MODEL,)
        findings = await llm_findings(llm_settings(tmp_path, server))
    assert [(f.level, f.key, f.values.get("model")) for f in findings] == [
        (Level.OK, "doctor.llm_model_ok", BASE_MODEL),
        (Level.PROBLEM, "doctor.llm_model_missing", INSTRUCT_MODEL),
        (Level.OK, "doctor.llm_logprobs_ok", BASE_MODEL),
    ]
    asked = [(path, body["model"], body["max_tokens"]) for path, body in server.calls if body]
    assert asked == [("/v1/completions", BASE_MODEL, 1), ("/v1/chat/completions", INSTRUCT_MODEL, 1),
                     ("/v1/completions", BASE_MODEL, 1)]  # fmt: skip


async def test_a_decommissioned_answer_to_the_one_token_calls_is_said_once(tmp_path):
    async with FakeLlmServer(list_models=False) as server:
        server.faults += [DECOMMISSIONED, DECOMMISSIONED]
        findings = await llm_findings(llm_settings(tmp_path, server))
    assert [(f.level, f.key) for f in findings] == [(Level.PROBLEM, "doctor.llm_decommissioned")]


async def test_an_unreachable_endpoint_is_a_problem(tmp_path):
    with socket_that_refuses() as port:
        settings = settings_with(tmp_path, AULA_LLM_BASE_URL=f"http://127.0.0.1:{port}/v1", AULA_LLM_API_KEY="k")
        [finding] = await llm_findings(settings)
    assert (finding.level, finding.key) == (Level.PROBLEM, "doctor.llm_unreachable")
    assert finding.values["setting"] == "llm.base_url (AULA_LLM_BASE_URL)"


async def test_an_address_with_credentials_is_printed_without_them(tmp_path):
    """Issue 13.8: the provider's address may carry a user, a password or ?api_key=."""
    with socket_that_refuses() as port:
        url = f"http://ana:s3cr3t-pw@127.0.0.1:{port}/v1?api_key=k3y-in-url"
        settings = settings_with(tmp_path, AULA_LLM_BASE_URL=url, AULA_LLM_API_KEY="k")
        [finding] = await llm_findings(settings)
    assert finding.values["url"] == f"http://127.0.0.1:{port}/v1"
    assert "s3cr3t" not in str(finding.values) and "k3y-in-url" not in str(finding.values)


def socket_that_refuses():
    """A port nobody listens on: bound, never listening, so connections are refused."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def bound():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            yield sock.getsockname()[1]

    return bound()


def remote_models_api(status: int) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if "Authorization" in request.headers:
            raise AssertionError("no key was set, so none may be sent")
        if status == 200:
            return httpx.Response(200, json={"data": [{"id": BASE_MODEL}, {"id": INSTRUCT_MODEL}]})
        return httpx.Response(status, json={"error": {"message": "missing key"}})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("status", "after"),
    [(401, []), (200, ["doctor.llm_reachable", "doctor.llm_model_ok", "doctor.llm_model_ok"])],
)
async def test_no_key_is_a_warning_that_says_how_to_set_it(tmp_path, status, after):
    findings = await llm_findings(settings_with(tmp_path), transport=remote_models_api(status))
    assert findings[0].level is Level.WARNING and findings[0].key == "doctor.llm_no_key"
    assert "AULA_LLM_API_KEY" in render(findings[:1], "en")
    assert keys(findings[1:]) == after
    assert not has_problem(findings)


async def test_another_profiles_failures_are_warnings(tmp_path, llm):
    config = tmp_path / "aula.toml"
    config.write_text(
        f'[llm]\nbase_url = "{llm.base_url}"\n'
        f'[llm.profiles.local]\nbase_url = "{llm.base_url}"\nbase_model = "llama3.1:8b"\ninstruct_model = "x"\n'
    )
    settings = load_settings(
        config, environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_API_KEY": API_KEY}, dotenv_path=None
    )
    llm.api_key = None
    findings = await diagnose(settings)
    local = [f for f in findings if f.area == "llm:local"]
    assert [(f.level, f.key) for f in local] == [
        (Level.OK, "doctor.llm_reachable"),  # a local server: no key sent
        (Level.WARNING, "doctor.llm_model_missing"),
        (Level.WARNING, "doctor.llm_model_missing"),
    ]
    assert local[1].values["setting"] == "llm.profiles.local.base_model"


# --- the command ----------------------------------------------------------------------------


def clean_environment(monkeypatch, tmp_path, **env):
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_invalid_settings_are_a_problem_and_the_other_checks_wait(tmp_path, monkeypatch, capsys):
    clean_environment(monkeypatch, tmp_path, AULA__QUIZ__POINTS="-5", AULA_DATABASE=str(tmp_path / "a.sqlite3"))
    assert main(["doctor", "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "the settings are not valid" in out and "quiz.points" in out
    assert "Database" not in out


async def run_cli(tmp_path, *args, **env) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if k not in SECRET_VARS and not k.startswith("AULA")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "doctor", *args,
        env=environment | {"PYTHONPATH": os.getcwd(), **env}, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return process.returncode, out.decode()


async def test_the_command_exits_0_when_ready_and_1_with_a_problem_in_the_users_language(tmp_path, llm):
    path = tmp_path / "aula.sqlite3"
    await migrated_database(path)
    env = {
        "AULA_DATABASE": str(path),
        "AULA_LLM_BASE_URL": llm.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "DISCORD_TOKEN": DISCORD_TOKEN,
    }
    code, out = await run_cli(tmp_path, **env, LANG="es_ES.UTF-8")
    assert code == 0, out
    assert "Revisión de Aula" in out and "Todo en orden" in out and f"sirve {INSTRUCT_MODEL}" in out
    assert DISCORD_TOKEN not in out and API_KEY not in out

    os.chmod(path, 0o640)
    code, out = await run_cli(tmp_path, "--lang", "en", **(env | {"AULA_LLM_API_KEY": "sk-revoked"}))
    assert code == 1, out
    assert f"Run: chmod 600 {path}" in out and "refuses the key (HTTP 401)" in out
    assert "Problems: 2" in out and "sk-revoked" not in out


def test_findings_render_every_message_in_both_languages():
    """Every key a check can produce has both languages and all its placeholders filled."""
    source = Path(doctor.__file__)
    messages = yaml.safe_load((source.parent / "locales" / "doctor.yaml").read_text(encoding="utf-8"))
    used = set(re.findall(r'"(doctor\.[a-z_]+)"', source.read_text(encoding="utf-8")))
    assert len(used) > 40 and used <= messages.keys()
    for key, texts in messages.items():
        assert set(texts) == {"es", "en"}, key
        assert set(re.findall(r"{(\w+)}", texts["es"])) == set(re.findall(r"{(\w+)}", texts["en"])), key
