"""Shared fixtures: a core on a fresh SQLite file, and settings that touch no real service."""

from __future__ import annotations

import pytest

from bot.app import Aula
from bot.requests import Place, Request, User
from bot.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Default settings with the database in tmp_path and no secrets from the real environment."""
    return load_settings(environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3")}, dotenv_path=None)


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
