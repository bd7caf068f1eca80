"""Shared fixtures: a core on a fresh SQLite file, and settings that touch no real service."""

from __future__ import annotations

import pytest

from bot.app import Aula
from bot.requests import Place, Request, User
from bot.settings import Settings, load_settings

QUIET_LOOPS = {"AULA__QUIZ__TICK_SECONDS": "0", "AULA__HOMEWORK__TICK_SECONDS": "0", "AULA__NEXT__TICK_SECONDS": "0"}


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Default settings with the database in tmp_path and no secrets from the real environment.
    Quiz and homework timers are ticked by the tests that need them, not by background loops
    (a loop would keep every "wait for the bot's background work" waiting until its timeout)."""
    return load_settings(environ=QUIET_LOOPS | {"AULA_DATABASE": str(tmp_path / "aula.sqlite3")}, dotenv_path=None)


@pytest.fixture
async def aula(settings):
    app = Aula(settings)
    await app.start()
    yield app
    await app.close()


def make_request(command: str, locale: str = "es", instructor: bool = False, user_id: str = "u1", **kw) -> Request:
    user = User(id=user_id, name=f"name-{user_id}", is_instructor=instructor, locale=locale)
    return Request(command=command, user=user, place=Place("console", "local", "aula"), **kw)


async def replies_of(aula: Aula, request: Request):
    return [reply async for reply in aula.handle(request)]


@pytest.fixture(autouse=True, scope="session")
def simcord_cdn_over_http():
    """In every simcord test the Discord adapter streams attachments through its own httpx
    client, as from Discord's CDN, out of the simulator's store (tests/discord_support.py)."""
    from tests.discord_support import route_simcord_cdn

    with pytest.MonkeyPatch.context() as patch:
        route_simcord_cdn(patch)
        yield


@pytest.fixture
def discord_settings(tmp_path) -> Settings:
    """Settings for the simulated Discord: quiz timers are ticked by the tests, not by a
    background loop (simcord waits for the bot to go idle after every action)."""
    return load_settings(
        environ=QUIET_LOOPS | {"AULA_DATABASE": str(tmp_path / "aula.sqlite3")},
        dotenv_path=None,
    )


@pytest.fixture
async def simcord_bot(discord_settings):
    """The Discord bot on a fresh database, for simcord's `simcord_env` (tests/test_discord_*.py)."""
    from adapters.discord import create_bot

    bot = create_bot(discord_settings)
    yield bot
    await bot.aula.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path):
    """A `database` setting for a fresh, migrated database: a file in tmp_path ("sqlite"), or a new
    database on AULA_TEST_POSTGRES ("postgresql": skipped when unset or unreachable, failed under
    CI). Open it with bot.storage.database.database_for / open_database."""
    if request.param == "sqlite":
        yield str(tmp_path / "aula.sqlite3")
        return
    from tests.pg_support import create_database, drop_database

    url, name = await create_database()
    yield url
    await drop_database(name)


@pytest.fixture
async def postgres_url():
    """A fresh, migrated PostgreSQL database (as database_url's "postgresql")."""
    from tests.pg_support import create_database, drop_database

    url, name = await create_database()
    yield url
    await drop_database(name)


@pytest.fixture
async def empty_postgres_url():
    """A fresh PostgreSQL database with no tables (migrations not run)."""
    from tests.pg_support import create_database, drop_database

    url, name = await create_database(migrated=False)
    yield url
    await drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request, tmp_path):
    """As database_url, but with no tables: migrations not run yet (a test chooses which run)."""
    if request.param == "sqlite":
        yield str(tmp_path / "aula.sqlite3")
        return
    from tests.pg_support import create_database, drop_database

    url, name = await create_database(migrated=False)
    yield url
    await drop_database(name)
