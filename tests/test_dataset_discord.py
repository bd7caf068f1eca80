"""/dataset through the Discord adapter on simcord: the file as the command's attachment."""

from __future__ import annotations

from pathlib import Path

import pytest
from simcord.backend.cdn import CdnStore

import bot.dataset.command as dataset
import bot.roles.command as roles
from adapters.discord import create_bot
from bot.app import Aula
from bot.settings import load_settings
from tests.discord_support import assert_within_limits, messages_of, speak

FIXTURES = Path(__file__).parent / "fixtures" / "dataset"


@pytest.fixture
async def simcord_bot(tmp_path):
    settings = load_settings(environ={"AULA_DATABASE": str(tmp_path / "aula.sqlite3")}, dotenv_path=None)
    bot = create_bot(settings, aula=Aula(settings, commands=[dataset.command, roles.command]))
    yield bot
    await bot.aula.close()


def classroom(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("clase")
    ana = guild.add_member(simcord_env.create_user("ana"))
    return channel, ana


def shown(result) -> str:
    return "\n".join(m.content or "" for m in messages_of(result))


async def test_an_attached_file_is_checked_privately_with_errors_stats_and_pictures(simcord_env, monkeypatch):
    speak(monkeypatch, "es-ES")
    channel, ana = classroom(simcord_env)
    content = (FIXTURES / "errors.jsonl").read_bytes()
    result = await ana.slash(channel, "dataset", archivo=("errores.jsonl", content), contexto=200)
    text = shown(result)
    assert result.ephemeral
    assert "Revisión de «errores.jsonl»" in text and "Errores: 12" in text
    assert "duplicado exacto de la línea 1" in text and "messages[1].weight" in text
    files = [a.filename for m in messages_of(result) for a in m.attachments]
    assert "dataset-lengths.png" in files and "roles-mask.png" in files
    for message in messages_of(result):
        assert_within_limits(message)


async def test_bad_files_get_clear_messages_and_the_bot_keeps_serving(simcord_env):
    channel, ana = classroom(simcord_env)
    array = await ana.slash(channel, "dataset", archivo=("datos.json", (FIXTURES / "array.json").read_bytes()))
    assert array.ephemeral and "It is a JSON array" in array.response.content
    binary = await ana.slash(channel, "dataset", archivo=("foto.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50))
    assert "It is not a text file" in binary.response.content
    nothing = await ana.slash(channel, "dataset")
    assert nothing.ephemeral and "Attach the JSONL file" in nothing.response.content
    big = b'{"prompt": "a", "completion": "b"}\r\n' * 5_000
    finished = await ana.slash(channel, "dataset", archivo=("grande.jsonl", big))
    assert "5,000 examples read" in shown(finished) and "exact duplicate of line 1" in shown(finished)
    assert "Windows line endings (CRLF)" in shown(finished)


async def test_an_attachment_no_longer_there_is_explained(simcord_env, monkeypatch):
    store = CdnStore.store_attachment

    def stored_then_deleted(self, *args, **kwargs):
        record = store(self, *args, **kwargs)
        self._blobs.pop(record["url"])  # the file is gone from the CDN before the bot downloads it
        return record

    monkeypatch.setattr(CdnStore, "store_attachment", stored_then_deleted)
    channel, ana = classroom(simcord_env)
    result = await ana.slash(channel, "dataset", archivo=("datos.jsonl", b'{"prompt": "a", "completion": "b"}\n'))
    assert result.ephemeral and "I couldn't download «datos.jsonl»: it is no longer there" in result.response.content


async def test_an_attachment_over_the_limit_is_refused_while_streaming_whatever_its_declared_size(
    simcord_env, monkeypatch, simcord_bot
):
    """Discord and its CDN both claim 10 bytes; the adapter counts what arrives and stops there."""
    from adapters.discord import client
    from bot.dataset.display import megabytes
    from bot.i18n import t
    from bot.uploads import CHUNK_BYTES
    from tests.discord_support import simcord_cdn

    store = CdnStore.store_attachment

    def declared_tiny(self, *args, **kwargs):
        return {**store(self, *args, **kwargs), "size": 10}

    monkeypatch.setattr(CdnStore, "store_attachment", declared_tiny)
    served: dict[str, int] = {}
    monkeypatch.setattr(client, "cdn_transport", lambda: simcord_cdn(simcord_env, declared_length=10, served=served))
    simcord_bot.aula.settings.dataset.max_bytes = cap = 256 * 1024
    channel, ana = classroom(simcord_env)
    big = b'{"prompt": "a", "completion": "b"}\n' * (4 * 1024 * 1024 // 35)
    result = await ana.slash(channel, "dataset", archivo=("grande.jsonl", big))
    assert result.ephemeral
    shown = result.response.content.replace("\\_", "_")  # Discord markdown escapes the underscore
    assert t("en", "dataset.refused.too_large", limit=megabytes("en", cap)) in shown
    [pulled] = served.values()
    assert cap < pulled <= cap + CHUNK_BYTES + 16 * 1024  # one chunk past the cap (the CDN sends 16 KB pieces)
