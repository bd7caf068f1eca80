"""A classroom in a subprocess, for the SIGKILL tests: the real core on a real SQLite file.

    python -m tests.fault_driver        (AULA_DATABASE and the other settings from the environment)

Reads one JSON request per line on stdin and runs each at once, concurrently, as a platform
delivers clicks; prints one JSON line on stdout per event, flushed, at the moment an adapter
would show it to the user:

    in:  {"id": 7, "user": "ana", "action": "quiz:answer:1:0:B"}
         {"id": 8, "user": "profe", "instructor": true, "command": "quiz", "subcommand": "next"}
         {"advance": 31}                      (move this process's clock forward)
         {"disk_full": true}                  (files may no longer grow; false: room again)
         {"hang_sends": true}                 (from now on a post never returns: a platform call in
                                               flight when the process is killed; printed as "hanging")
    out: {"event": "ready", "pid": 4242, "owner": "host:4242:9f1c"}   (owner: its claims' id)
         {"event": "reply", "id": 7, "error": false, "text": "✅ Respuesta registrada: B ...", "buttons": []}
         {"event": "post", "thread": "", "text": "...", "buttons": ["quiz:answer:1:0:A", ...]}   (and "edit")
    A reply that opens a form shows its id and fields: {"form": "quiz:hw-submit:1:0,1", "fields": ["p0", "p1"]}.

FAULT_CLOCK_OFFSET_S starts the clock that far ahead of real time (a bot restarted late).

"disk_full" is a real operating-system refusal, without root: the process's file size limit
(RLIMIT_FSIZE) is lowered to the size of the SQLite WAL now, so the next commit (a WAL
append) fails in the write() call, as on a full disk.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

from bot.app import Aula
from bot.replies import Reply, plain_text
from bot.requests import Place, Request, User
from bot.settings import load_settings

PLACE = Place("console", "local", "aula")


class Clock:
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def shown(reply: Reply) -> dict[str, object]:
    fields: dict[str, object] = {
        "text": plain_text(reply),
        "buttons": [button.id for button in reply.buttons],
    }
    if reply.form is not None:
        fields |= {"form": reply.form.id, "fields": [field.id for field in reply.form.fields]}
    return fields


class PrintingMessenger:
    """Posts nobody asked for (questions, results, deadlines) go to stdout too."""

    def __init__(self) -> None:
        self.count = 0
        self.hang = False

    async def send(self, place: Place, reply: Reply) -> str:
        if self.hang:
            emit("hanging", thread=place.thread_id, **shown(reply))
            await asyncio.Event().wait()
        self.count += 1
        emit("post", message_id=str(self.count), thread=place.thread_id, **shown(reply))
        return str(self.count)

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        emit("edit", message_id=message_id, **shown(reply))

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        return Place(place.platform, place.workspace_id, place.channel_id, thread_id=f"thread-{message_id}")

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        emit("direct", user=user_id, **shown(reply))


def request_of(line: dict) -> Request:
    user = User(
        id=line["user"],
        name=line.get("name", line["user"]),
        is_instructor=bool(line.get("instructor")),
        locale=line.get("locale", "es"),
    )
    return Request(
        command=line.get("command") or line["action"].split(":", 1)[0],
        subcommand=line.get("subcommand", ""),
        args=line.get("args", {}),
        action=line.get("action", ""),
        values=line.get("values", {}),
        user=user,
        place=PLACE,
    )


async def answer(aula: Aula, number: int, request: Request) -> None:
    async for reply in aula.handle(request):
        emit("reply", id=number, error=reply.error, **shown(reply))


def set_disk_full(database: str, full: bool) -> None:
    """Full: no write may end past the WAL's current size, so the next commit (a WAL append) fails."""
    wal = Path(database + "-wal")
    limit = wal.stat().st_size if full else resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


async def main() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
    clock = Clock(float(os.environ.get("FAULT_CLOCK_OFFSET_S", "0")))
    aula = Aula(load_settings(dotenv_path=None), clock=clock)
    messenger = aula.messengers["console"] = PrintingMessenger()
    await aula.start()
    emit("ready", pid=os.getpid(), owner=aula.services.claims.owner)
    running: set[asyncio.Task] = set()
    while line := await asyncio.to_thread(sys.stdin.readline):
        data = json.loads(line)
        if "advance" in data:
            clock.offset += float(data["advance"])
            continue
        if "hang_sends" in data:
            messenger.hang = bool(data["hang_sends"])
            continue
        if "disk_full" in data:
            await asyncio.gather(*running)  # what was sent before runs with the room it had
            set_disk_full(aula.settings.database, data["disk_full"])
            emit("disk_full", full=data["disk_full"])
            continue
        task = asyncio.create_task(answer(aula, data["id"], request_of(data)))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    await aula.close()


if __name__ == "__main__":
    asyncio.run(main())
