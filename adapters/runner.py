"""`aula run`: every platform that has credentials, in one process, on one core.

SIGTERM and SIGINT stop the platforms and close the database cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path

from bot.app import Aula
from bot.i18n import t
from bot.settings import Settings
from bot.storage.database import is_postgres, sqlite_path

log = logging.getLogger("aula.run")


def configured_platforms(settings: Settings) -> list[str]:
    secrets = settings.secrets
    platforms = []
    if secrets.discord_token:
        platforms.append("discord")
    if secrets.slack_bot_token and (secrets.slack_app_token or secrets.slack_signing_secret):
        platforms.append("slack")
    return platforms


def credential_problems(settings: Settings) -> list:
    """What `aula doctor` finds wrong with the platforms' tokens, offline: a missing half of
    Slack's pair (SLACK_APP_TOKEN or SLACK_SIGNING_SECRET), a token of the wrong shape."""
    from bot.doctor import Level, check_discord, check_slack

    return [f for f in (*check_discord(settings), *check_slack(settings)) if f.level is Level.PROBLEM]


def run_platforms(settings: Settings, lang: str) -> int:
    problems = credential_problems(settings)
    if problems:
        lines = [t(lang, "cli.credential_problems")] + [f"  ✗ {t(lang, f.key, **f.values)}" for f in problems]
        print("\n".join(lines), file=sys.stderr)
        return 2
    platforms = configured_platforms(settings)
    if not platforms:
        print(t(lang, "cli.no_credentials"), file=sys.stderr)
        return 2
    lock = hold_database(settings.database)
    if isinstance(lock, str):
        print(t(lang, "cli.already_running", database=settings.database_shown, holder=lock), file=sys.stderr)
        return 2
    try:
        print(t(lang, "cli.starting", platforms=", ".join(platforms)), file=sys.stderr)
        return asyncio.run(_serve(settings, platforms))
    finally:
        lock.close()  # closing the file releases the lock


def lock_path(database: str) -> Path:
    """`<file>.lock` beside the SQLite file the setting names (a path or `sqlite:///path`)."""
    file = Path(sqlite_path(database))
    return file.with_name(file.name + ".lock")


def hold_database(database: str):
    """An exclusive lock on `<database>.lock`, held by the returned open file until it is closed
    (or the process ends, however it ends: the kernel releases flock locks). Two `aula run` on
    one SQLite file would both post every quiz result; until several processes share the work,
    the second is refused. Returns what the holder wrote (its pid) when another process has it.
    The console and the CLI do not take it: several consoles on one database are a class.
    A PostgreSQL database is not a file: processes on any host share it (the job claims keep each
    result to one post) and its URL, which may hold a password, must never become a path: for it
    this locks nothing."""
    import fcntl
    import io

    if is_postgres(database):
        return io.StringIO()  # close() does nothing that matters

    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        return holder
    os.chmod(path, 0o600)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


async def _serve(settings: Settings, platforms: list[str]) -> int:
    aula = Aula(settings)
    await aula.start()
    tasks: list[asyncio.Task] = []
    if "discord" in platforms:
        from adapters.discord import create_bot

        tasks.append(
            asyncio.create_task(
                supervise("discord", lambda: _run_discord(create_bot(settings, aula=aula), settings)), name="discord"
            )
        )
    if "slack" in platforms:
        from adapters.slack import create_app, serve

        app = create_app(settings, aula=aula)
        tasks.append(asyncio.create_task(supervise("slack", lambda: serve(app, settings, check_token=True)), name="slack"))
    freeze_startup_objects()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait(), name="signal")
    heartbeat = asyncio.create_task(_beat(heartbeat_path(settings)), name="heartbeat")
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    for task in done:
        if task is not stopper and task.exception():
            log.error("platform %s stopped: %s", task.get_name(), task.exception())
            code = 1
    for task in [*tasks, stopper, heartbeat]:
        task.cancel()
    await asyncio.gather(*tasks, stopper, heartbeat, return_exceptions=True)
    await aula.close()
    log.info("stopped")
    return code


RETRY_FIRST_S = 5.0
RETRY_MAX_S = 300.0
STEADY_S = 600.0  # a platform that ran this long before failing starts its back-off afresh

# What to fix, by what the platform answered (the exception's text), for the one log line.
FIXES = (
    (("invalid_auth", "not_authed", "token_revoked", "account_inactive"),
     "Slack refused the token: copy SLACK_BOT_TOKEN (xoxb-) and SLACK_APP_TOKEN (xapp-) again from the app's settings"),
    (("Improper token", "LoginFailure", "401 Unauthorized"),
     "Discord refused DISCORD_TOKEN: reset it on the Bot page of the developer portal and set it again"),
    (("PrivilegedIntentsRequired",),
     "enable the Server Members intent on the Bot page of Discord's developer portal"),
    (("Cannot connect", "Name or service not known", "Temporary failure in name resolution", "timed out"),
     "the platform could not be reached: check this machine's network and proxy"),
)  # fmt: skip


def what_to_fix(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    for needles, fix in FIXES:
        if any(needle in text for needle in needles):
            return fix
    return "see the error; `aula doctor --online` checks the tokens with the platform"


async def supervise(name: str, start, sleep=asyncio.sleep, clock=time.monotonic) -> None:
    """Run a platform; when it fails, log one line (what failed, what to fix, when the next
    attempt is) and start it again after a back-off that doubles from RETRY_FIRST_S to
    RETRY_MAX_S. Never returns by itself: only cancellation (SIGTERM) stops it."""
    delay = RETRY_FIRST_S
    attempt = 0
    while True:
        started = clock()
        try:
            await start()
            raise RuntimeError(f"{name} stopped by itself")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one line, no traceback: it repeats while unfixed
            attempt += 1
            if clock() - started >= STEADY_S:
                delay = RETRY_FIRST_S
            log.error(
                "platform %s failed (attempt %d): %s: %s; fix: %s; next attempt in %.0f s",
                name, attempt, type(error).__name__, str(error).splitlines()[0][:300] if str(error) else "-",
                what_to_fix(error), delay,
            )  # fmt: skip
        await sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, vocabularies, fonts, the platforms' clients) out of
    every later garbage collection: they live as long as the process, and a full collection
    walking them paused the event loop for 50–150 ms during a class's burst, in the middle
    of the acknowledgements (bench/class_load.py)."""
    gc.collect()
    gc.freeze()
    log.info("start-up objects frozen: %d", gc.get_freeze_count())


async def _run_discord(bot, settings: Settings) -> None:
    async with bot:  # closes the gateway and HTTP session however start() ends
        await bot.start(settings.secrets.discord_token.get_secret_value())


HEARTBEAT_EVERY_S = 30


def heartbeat_path(settings: Settings) -> Path:
    return settings.data_dir / "heartbeat"


async def _beat(path: Path) -> None:
    """Touch a file while the event loop runs, so a container healthcheck can tell it is alive.
    Its folder is made first: on PostgreSQL it is `data` in the working directory, which
    nothing else creates."""
    with contextlib.suppress(OSError):
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    while True:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.touch)
        await asyncio.sleep(HEARTBEAT_EVERY_S)


def healthy(settings: Settings, now: float | None = None) -> bool:
    path = heartbeat_path(settings)
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age < HEARTBEAT_EVERY_S * 3
