"""A whole class at once: every student runs /tokens, /roles and answers the live quiz within
seconds of "try it now", through the Discord adapter (simcord) and the Slack adapter (signed
requests). Measures acknowledgement latency against the platforms' 3-second deadline,
completion latency, throughput and peak memory.

    /work/venv/bin/python bench/class_load.py [--students 300] [--platform discord|slack|both]
                                              [--window 2] [--seed 8] [--json results.json]
                                              [--databases sqlite,postgresql] [--processes 1,2]
                                              [--postgres URL]

Each student sends three interactions: /tokens with a pasted text (mostly the course's
examples, some paragraphs, a few long pastes up to Discord's 6,000-character option), /roles
with a conversation (system, user, assistant options), and one click on the question an
instructor opened with `/quiz start banco:seccion-2` just before. The 3 × students arrivals are
spread uniformly at random over `--window` seconds (0: all at the same instant).

Each platform runs in a fresh interpreter (so its peak memory is its own), on a fresh SQLite
file, with a bot that has just started: the instructor's /quiz start is its only earlier
request.

- Discord: the real discord.py bot on simcord, in this one process and on this one event loop
  with the simulated Discord. INTERACTION_CREATE payloads are built beforehand (simcord's own
  builders) as the gateway's zlib-stream frames; at their arrival times the bot decompresses,
  decodes and parses them as discord.py's websocket reader does, without waiting for the bot
  (simcord's slash/click settle after each one; see discord_storm for why not
  backend.emit). The time simcord's fake REST routes take on the loop is reported apart:
  Discord's servers do that work in a real deployment. Acknowledgement: from the arrival time to the
  return of the bot's first InteractionResponse call (a message, a defer or a modal), stamped
  by a wrapper around discord.py's InteractionResponse methods that this script installs.
  Completion: when the adapter has posted the last message of the answer.
- Slack: the Bolt app, each request built as Slack sends it (form-encoded, v0-signed) and
  passed to `app.async_dispatch`; the Web API is tests/fake_slack.py in another process (on
  loopback, as Slack would be elsewhere). Acknowledgement: from the arrival time to
  `async_dispatch` returning the HTTP response; the answer is then posted in the background.
  Completion: when that background work has finished (a wrapper around the adapter's
  `after_ack` installed by this script).

Databases and processes (`--databases sqlite,postgresql --processes 1,2 --postgres URL`, default
both, the server from $AULA_BENCH_POSTGRES or $AULA_TEST_POSTGRES): each platform runs on a fresh
SQLite file and on a fresh PostgreSQL database (created from the migrated template, dropped
after). With 2 processes, Slack runs as two HTTP workers behind a load balancer would: two fresh
interpreters, each an Aula on the same database with its own Bolt app, sharing one fake Web API;
the first starts the quiz, then each takes every other arrival from one agreed instant, and their
latencies are pooled (loop lag, memory: the worse process's). Discord's processes are shards that
split the guilds, so one class stays in one process: it runs with 1.

Latencies count from each interaction's planned arrival, so time an arrival waited for a busy
event loop is included. A benchmark, not a test: nothing here fails; it prints what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.runner import freeze_startup_objects  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.tokens.command import EXAMPLES  # noqa: E402

DEADLINE_MS = 3000  # both platforms drop an interaction not acknowledged within 3 seconds
TARGET_P99_MS = 250
TARGET_PEAK_MB = 400
KINDS = ("tokens", "roles", "quiz")

# --- what the students paste ----------------------------------------------------------------

PROSE = (
    "El fine-tuning ajusta un modelo preentrenado con ejemplos de la tarea que nos interesa. "
    "En vez de entrenar desde cero, partimos de un modelo que ya sabe hablar y le mostramos cómo "
    "queremos que responda: el formato, el tono y el vocabulario del dominio. ¿Cuántos ejemplos hacen "
    "falta? Depende: a veces 366 bastan, a veces 20.000 no alcanzan. 🍕☕ "
)
CODE = '''def tokenizar(texto: str, modelo: str = "gpt-4o") -> list[int]:
    """Devuelve los ids de los tokens de `texto` según la codificación del modelo."""
    import tiktoken

    codificacion = tiktoken.encoding_for_model(modelo)
    ids = codificacion.encode(texto)
    for i, token in enumerate(ids):
        print(f"{i:>3} {token:>6} {codificacion.decode([token])!r}")
    return ids
'''
JSONL = (
    '{"messages": [{"role": "system", "content": "Eres un asistente de soporte de una tienda online."}, '
    '{"role": "user", "content": "¿Dónde está mi pedido #48213? Lo compré hace 5 días."}, '
    '{"role": "assistant", "content": "Lo siento por la demora. El pedido #48213 salió ayer del almacén '
    'y llegará en 24-48 h. Te envié el número de seguimiento por correo."}]}\n'
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/content/entrenar.py", line 42, in <module>\n'
    "    trainer.train()\n"
    '  File "/usr/local/lib/python3.11/site-packages/transformers/trainer.py", line 1859, in train\n'
    "    return inner_training_loop(\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total "
    "capacity; 12.31 GiB already allocated; 1.06 GiB free; 12.60 GiB reserved in total by PyTorch)\n"
)
DISCORD_OPTION_MAX = 6000  # the longest string option Discord sends


def paste(piece: str, length: int, student: int) -> str:
    """A student's own paste of about `length` characters: `piece` repeated, read from a point
    of their own (no two students paste the same text), cut at a line or word end."""
    start = (student * 37) % len(piece)
    text = (piece * (length // len(piece) + 2))[start : start + length]
    return text[: max(text.rfind("\n"), text.rfind(" "))].strip()


def tokens_texts(student: int) -> list[tuple[str, float]]:
    """(text, weight): mostly the course's examples, as everyone pastes them; some paragraphs;
    a few long pastes up to Discord's longest option. Paragraphs and pastes are each student's own."""
    examples = [(example.es, 0.14) for example in EXAMPLES.values()]  # 70 %
    paragraphs = [
        (paste(PROSE, 600, student), 0.08),
        (paste(CODE, 450, student), 0.06),
        (paste(JSONL, 900, student), 0.06),
    ]  # 20 %
    long_pastes = [
        (paste(PROSE, 3000, student), 0.04),
        (paste(JSONL, 5500, student), 0.03),
        (paste(TRACEBACK + CODE, DISCORD_OPTION_MAX - 100, student), 0.03),
    ]  # 10 %
    return examples + paragraphs + long_pastes


ROLES_EXAMPLE = {
    "sistema": "Eres un profesor experto en inteligencia artificial",
    "usuario": "Explícame qué es el fine-tuning",
    "asistente": "El fine-tuning es un proceso donde...",
}


def roles_conversations(student: int) -> list[tuple[dict[str, str], float]]:
    """(options, weight): the course's example, students' own short ones, a few long pasted system prompts."""
    own = {
        "sistema": "Eres un asistente que responde siempre en verso y en español rioplatense.",
        "usuario": "¿Qué diferencia hay entre un modelo base y uno instruido?",
    }
    special = {"usuario": "Hola <|eot_id|> ¿qué pasa si escribo un token especial?"}
    long_system = {
        "sistema": paste(PROSE + JSONL, 2900, student),  # under the 3,000 characters an option may hold
        "usuario": "Resume esto en una frase.",
        "asistente": "Trata de cómo ajustar un modelo con ejemplos propios.",
    }
    return [
        (ROLES_EXAMPLE, 0.45),
        (ROLES_EXAMPLE | {"modelo": "gpt-4o"}, 0.2),
        (own, 0.15),
        (special, 0.1),
        (long_system, 0.1),
    ]


@dataclass(frozen=True)
class Arrival:
    student: int
    kind: str  # tokens | roles | quiz
    at: float  # seconds after the storm starts
    options: dict = field(default_factory=dict)


def plan(students: int, window: float, seed: int) -> list[Arrival]:
    """Every student's three interactions at uniformly random instants of the window, in time order."""
    rng = random.Random(seed)
    arrivals = []
    for student in range(students):
        texts, text_weights = zip(*tokens_texts(student), strict=True)
        talks, talk_weights = zip(*roles_conversations(student), strict=True)
        tokens = {"texto": rng.choices(texts, text_weights)[0]}
        if rng.random() < 0.125:
            tokens["modelo"] = "todos"  # the three encodings side by side: three times the work
        arrivals += [
            Arrival(student, "tokens", rng.uniform(0, window), tokens),
            Arrival(student, "roles", rng.uniform(0, window), dict(rng.choices(talks, talk_weights)[0])),
            Arrival(student, "quiz", rng.uniform(0, window), {"letter": "ABCD"[rng.randrange(4)]}),
        ]
    return sorted(arrivals, key=lambda a: a.at)


# --- measuring --------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The database of this run: a fresh SQLite file in the run's folder, or the PostgreSQL database
# the parent created for it (--database-setting).
DATABASE_SETTING: str | None = None
# Two processes sharing a class (Slack): this process's rank, how many, and the agreed start.
SHARE = {"rank": 0, "processes": 1}


def settings_for(folder: Path, **extra: str):
    database = DATABASE_SETTING or str(folder / "aula.sqlite3")
    return load_settings(environ={"AULA_DATABASE": database, **extra}, dotenv_path=None)


async def agreed_start() -> float:
    """With several processes: say this one is set up, and return the start instant (wall clock)
    the parent sends once every one is; alone: now."""
    if SHARE["processes"] == 1:
        return time.time()
    print("ready", flush=True)
    return float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))


def my_share(arrivals: list) -> list:
    """The arrivals this process takes: every processes-th one, so all processes' interleave."""
    return [a for i, a in enumerate(arrivals) if i % SHARE["processes"] == SHARE["rank"]]


async def core_outcomes(aula) -> dict[str, int]:
    rows = await aula.db.fetchall("SELECT outcome, COUNT(*) AS n FROM command_log GROUP BY outcome")
    return {row["outcome"]: row["n"] for row in rows}


async def answers_recorded(aula) -> int:
    row = await aula.db.fetchone("SELECT COUNT(DISTINCT user_id) AS n FROM quiz_answers")
    return row["n"]


class Stopwatch:
    """Arrival, acknowledgement and completion instants (perf_counter) by interaction key."""

    def __init__(self, arrivals: list[Arrival]) -> None:
        self.kind: dict[str, str] = {}
        self.arrived: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.ack_kind: dict[str, str] = {}
        self.completed: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.expected = len(arrivals)
        self.all_done = asyncio.Event()

    def complete(self, key: str) -> None:
        self.completed.setdefault(key, time.perf_counter())
        if len(self.completed) >= self.expected:
            self.all_done.set()

    def report(self, t0: float) -> dict:
        by_kind: dict[str, dict] = {}
        for kind in (*KINDS, "all"):
            keys = [k for k, v in self.kind.items() if kind in ("all", v)]
            ack = [(self.acked[k] - self.arrived[k]) * 1000 for k in keys if k in self.acked]
            done = [(self.completed[k] - self.arrived[k]) * 1000 for k in keys if k in self.completed]
            by_kind[kind] = {
                "sent": len(keys),
                "acknowledged": len(ack),
                "within_deadline": sum(1 for a in ack if a <= DEADLINE_MS),
                "ack_p50_ms": statistics.median(ack) if ack else None,
                "ack_p99_ms": percentile(ack, 99) if ack else None,
                "ack_max_ms": max(ack) if ack else None,
                "done": len(done),
                "done_p50_ms": statistics.median(done) if done else None,
                "done_p99_ms": percentile(done, 99) if done else None,
                "done_max_ms": max(done) if done else None,
                "deferred": sum(1 for k in keys if self.ack_kind.get(k) == "defer"),
                "ack_ms": ack,  # each one, to merge the processes of a shared run
                "done_ms": done,
            }
        last_ack = max(self.acked.values(), default=t0)
        last_done = max(self.completed.values(), default=t0)
        return {
            "kinds": by_kind,
            "last_ack_s": last_ack - t0,
            "last_done_s": last_done - t0,
            "acks_per_s": len(self.acked) / (last_ack - t0) if last_ack > t0 else None,
            "done_per_s": len(self.completed) / (last_done - t0) if last_done > t0 else None,
            "failures": dict(Counter(self.failed.values())),
        }


class LoopLag:
    """How late a 5 ms sleep wakes up: how long anything ready on the event loop waits its turn."""

    PERIOD_S = 0.005

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.task = asyncio.create_task(self.probe())

    async def probe(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.PERIOD_S)
            self.samples.append((time.perf_counter() - before - self.PERIOD_S) * 1000)

    def stop(self) -> dict:
        self.task.cancel()
        lag = self.samples or [0.0]
        return {
            "loop_lag_p50_ms": statistics.median(lag),
            "loop_lag_p99_ms": percentile(lag, 99),
            "loop_lag_max_ms": max(lag),
        }


class SimulatedDiscordTime:
    """The time simcord's fake REST routes (the simulated Discord's side of each reply, defer
    included) ran on this one event loop: work a real deployment leaves to Discord's servers."""

    def __init__(self) -> None:
        from simcord.http import router

        self.router = router
        self.original = router.dispatch
        self.spans: list[tuple[float, float]] = []

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.spans.append((start, time.perf_counter()))

        router.dispatch = timed

    def within(self, start: float, end: float) -> float:
        """Milliseconds of it between two instants."""
        return 1000 * sum(min(e, end) - max(s, start) for s, e in self.spans if e > start and s < end)

    def stop(self) -> None:
        self.router.dispatch = self.original


async def launch(arrivals: list[Arrival], send) -> float:
    """Call `send(arrival, planned_instant)` at each planned instant; returns the storm's t0.

    A late wake-up (busy loop) sends everything already due at once, as a socket reader
    hands over what arrived meanwhile; the arrivals keep their planned instants, so the
    wait counts in their latency.
    """
    start = await agreed_start()
    t0 = time.perf_counter() + (start - time.time()) + 0.05
    for arrival in arrivals:
        due = t0 + arrival.at
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        send(arrival, due)
    return t0


# --- Discord, through simcord -----------------------------------------------------------------


async def run_discord(students: int, window: float, seed: int) -> dict:
    from simcord import Env

    from adapters.discord import create_bot
    from bot.app import Aula

    folder = Path(tempfile.mkdtemp(prefix="aula-class-"))
    # Quiz timers: simcord waits for a bot to go idle, so this script ticks them itself.
    settings = settings_for(folder, AULA__QUIZ__TICK_SECONDS="0")
    aula = Aula(settings)
    # simcord's default settle timeout: a longer one counts discord.py's own long timers as
    # work to wait for, and the setup never settles.
    env = Env(create_bot(settings, aula=aula))
    await env.start()
    freeze_startup_objects()  # as `aula run` does once the core and the platforms are built
    try:
        return await discord_storm(env, aula, settings, students, window, seed)
    finally:
        await env.shutdown()
        await aula.close()


async def discord_storm(env, aula, settings, students: int, window: float, seed: int) -> dict:
    import discord
    from simcord import interactions as payloads
    from simcord.backend import serializers

    from adapters.discord.client import AulaBot

    guild = env.create_guild()
    channel = guild.create_text_channel("clase")
    teacher = guild.add_member(
        env.create_user("profe", global_name="Profe"), roles=[guild.create_role("Instructor")]
    )
    members = [
        guild.add_member(env.create_user(f"est{i:03}", global_name=f"Estudiante {i:03}"))
        for i in range(students)
    ]
    started = await teacher.slash(channel, "quiz start", banco="seccion-2", tiempo=600)
    assert started.acknowledged and "⚠️" not in started.response.content, started
    question = env.backend.get_message(channel.id, channel.last_message.id)
    session = await aula.db.fetchone("SELECT id FROM quiz_sessions")

    arrivals = plan(students, window, seed)
    watch = Stopwatch(arrivals)
    records: dict[str, object] = {}

    def command(name: str) -> dict:
        return next(
            c
            for c in env.backend.visible_commands(user_id=teacher.id, channel_id=channel.id)
            if c["name"] == name
        )

    roots = {name: command(name) for name in ("tokens", "roles")}

    def build(arrival: Arrival) -> dict:
        member = members[arrival.student]
        if arrival.kind == "quiz":
            data = {
                "custom_id": f"quiz:answer:{session['id']}:0:{arrival.options['letter']}",
                "component_type": 2,
            }
            kind = 3  # MESSAGE_COMPONENT
        else:
            root = roots[arrival.kind]
            options, resolved = payloads.build_options(
                member, arrival.kind, root, arrival.options, channel_id=channel.id
            )
            data = {"id": root["id"], "name": root["name"], "type": 1, "options": options}
            kind = 2  # APPLICATION_COMMAND
        record, payload = payloads.base_payload(
            env.backend, type=kind, channel_id=channel.id, guild_id=guild.id, user_id=member.id, data=data
        )
        payload["locale"] = "es-ES"
        if kind == 3:
            payload["message"] = dict(serializers.message_payload(env.backend, question))
            record.source_message_id = question.id
        key = str(record.id)
        watch.kind[key] = arrival.kind
        records[key] = record
        return payload

    built = {id(a): build(a) for a in arrivals}

    # Bench-only stopwatches around discord.py's acknowledgement calls and the adapter's answer.
    def stamped(method, label: str):
        async def wrapper(self, *args, **kwargs):
            result = await method(self, *args, **kwargs)
            key = str(self._parent.id)
            if key in watch.arrived and key not in watch.acked:
                watch.acked[key] = time.perf_counter()
                watch.ack_kind[key] = label
            return result

        return wrapper

    response_type = discord.InteractionResponse
    for name, label in (("send_message", "message"), ("defer", "defer"), ("send_modal", "modal")):
        setattr(response_type, name, stamped(getattr(response_type, name), label))
    original_respond = AulaBot._respond

    async def respond_timed(self, interaction, *args, **kwargs):
        try:
            return await original_respond(self, interaction, *args, **kwargs)
        finally:
            if str(interaction.id) in watch.arrived:
                watch.complete(str(interaction.id))

    AulaBot._respond = respond_timed

    async def quiz_timers() -> None:
        while True:  # what the bot's own timer loop does every second
            await asyncio.sleep(settings.quiz.tick_seconds or 1)
            await aula.services.quiz.tick()

    ticking = asyncio.create_task(quiz_timers())

    # simcord's own delivery (backend.emit) runs the bot in its tracked scope: every task,
    # callback and timer is recorded so that settle() can wait for them, and a timer's
    # real-time fallback settles the whole bot. Under 900 concurrent interactions that
    # bookkeeping took most of the CPU (py-spy) and the storm 47 s. Its gateway.feed also
    # deep-copies each payload (0.3 ms apiece, 3/4 of the burst's parsing in cProfile).
    # So the bot reads the storm as discord.py's websocket reads Discord: each
    # INTERACTION_CREATE is a zlib-stream frame (Discord's work, done before the clock
    # starts) that the bot decompresses, decodes and hands to the shard's parser, as
    # DiscordWebSocket.received_message does. Replies still go through discord.py's HTTP
    # client to simcord's fake REST routes (validated, in this process).
    parse = env.bot._connection.parsers["INTERACTION_CREATE"]
    compressor = zlib.compressobj()
    frames = {}
    for arrival in arrivals:  # one stream, in arrival order, as the gateway sends it
        text = json.dumps({"op": 0, "t": "INTERACTION_CREATE", "s": 0, "d": built[id(arrival)]})
        frames[id(arrival)] = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stream = discord.utils._ActiveDecompressionContext()

    def send(arrival: Arrival, due: float) -> None:
        watch.arrived[built[id(arrival)]["id"]] = due
        message = discord.utils._from_json(stream.decompress(frames[id(arrival)]))
        parse(message["d"])

    rss_before = rss_mb()
    load_before = os.getloadavg()
    lag = LoopLag()
    simulated = SimulatedDiscordTime()
    t0 = await launch(arrivals, send)
    try:
        await asyncio.wait_for(watch.all_done.wait(), timeout=300)
    except TimeoutError:
        pass
    load_after = os.getloadavg()
    simulated.stop()
    result = watch.report(t0) | lag.stop()
    result["simulated_discord_ms_to_last_ack"] = simulated.within(t0, t0 + result["last_ack_s"])
    ticking.cancel()
    await env.settle()  # the instructor's setup was tracked; the storm's own work is done

    errors: list[str] = []
    for key, record in records.items():
        if not record.responded:
            watch.failed[key] = "not acknowledged"
            continue
        message = env.backend.get_message(record.channel_id, record.message_id) if record.message_id else None
        if message is None:
            watch.failed[key] = "no answer"
        elif message.content.startswith("⚠️"):  # how the core's error replies begin
            errors.append(f"{watch.kind[key]}: {message.content[:120]}")
    result["failures"] = dict(Counter(watch.failed.values()))
    result["error_replies"] = errors
    result |= {
        "core_outcomes": await core_outcomes(aula),
        "answers_recorded": await answers_recorded(aula),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "load_before": load_before,
        "load_after": load_after,
    }
    return result


# --- Slack, through Bolt with signed requests ---------------------------------------------------

TEACHER = "U0PROFE"


def student_id(index: int) -> str:
    return f"U{index:07d}"


async def serve_fake_slack() -> None:
    """The fake Web API for the Slack run, in its own process: prints its URL, serves until
    stdin closes, then prints a JSON summary of the calls it received."""
    from tests.fake_slack import FakeSlack

    async with FakeSlack() as slack:
        slack.users[TEACHER] = {"is_admin": True}
        print(slack.api_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        summary = {
            "methods": Counter(c.method for c in slack.calls),
            "error_replies": [
                f"{c.payload.get('url_name', c.method).split('-')[0]}: {c.payload['text'][:120]}"
                for c in slack.calls
                if str(c.payload.get("text", "")).startswith("⚠️")
            ],
            "answered_urls": sorted({c.payload["url_name"] for c in slack.calls_to("response_url")}),
        }
        print(json.dumps(summary), flush=True)


async def run_slack(students: int, window: float, seed: int, api_url: str = "") -> dict:
    """The Slack run; with api_url, one of several processes sharing the class and that fake Slack
    (the parent started it and reads what it received)."""
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack import create_app
    from bot.app import Aula
    from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET

    server = None
    if not api_url:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-fake-slack",
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        api_url = (await server.stdout.readline()).decode().strip()
    folder = Path(tempfile.mkdtemp(prefix="aula-class-"))
    settings = settings_for(folder, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    aula = Aula(settings)
    await aula.start()
    try:
        app = create_app(settings, aula=aula, client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url))
        freeze_startup_objects()  # as `aula run` does once the core and the platforms are built
        result = await slack_storm(app, aula, api_url.removesuffix("/api/"), students, window, seed)
    finally:
        await aula.close()
        if server is not None:
            server.stdin.close()
    if server is None:
        return result  # the parent reads the fake Slack's summary once every process is done
    fake = json.loads(await server.stdout.readline())  # what the fake Slack received
    await server.wait()
    missing = [s for s in range(students) if f"quiz-{s}" not in fake["answered_urls"]]
    if missing:
        result["failures"]["quiz click without its private answer"] = len(missing)
    result["fake_slack_calls"] = fake["methods"]
    result["error_replies"] = fake["error_replies"]
    return result


async def slack_storm(app, aula, base: str, students: int, window: float, seed: int) -> dict:
    from slack_bolt.request.async_request import AsyncBoltRequest

    import adapters.slack as slack_adapter
    from tests.fake_slack import click_body, command_body, signed_headers

    arrivals = my_share(plan(students, window, seed))
    watch = Stopwatch(arrivals)
    original_after_ack = slack_adapter.SlackAdapter.after_ack

    async def after_ack_timed(self, work, body, respond):
        try:
            return await original_after_ack(self, work, body, respond)
        finally:
            key = body.get("trigger_id", "")
            if key in watch.arrived:
                watch.complete(key)

    slack_adapter.SlackAdapter.after_ack = after_ack_timed

    if SHARE["rank"] == 0:  # with several processes, the first starts the quiz; the others find it
        start = command_body(
            "/quiz", "start banco:seccion-2 tiempo:600", user_id=TEACHER, response_url=f"{base}/response/start"
        )
        response = await app.async_dispatch(AsyncBoltRequest(body=start, headers=signed_headers(start)))
        assert response.status == 200, response
    for _ in range(3000):  # the question is posted after the ack
        session = await aula.db.fetchone("SELECT session_id AS id FROM quiz_questions WHERE message_id != ''")
        if session:
            break
        await asyncio.sleep(0.01)

    def build(arrival: Arrival) -> tuple[str, str, dict]:
        user = student_id(arrival.student)
        url = f"{base}/response/{arrival.kind}-{arrival.student}"
        if arrival.kind == "quiz":
            body = click_body(
                f"aula:quiz:answer:{session['id']}:0:{arrival.options['letter']}",
                user_id=user,
                response_url=url,
                message_ts="1700000000.000002",
            )
            key = json.loads(dict(parse_qsl(body))["payload"])["trigger_id"]
        else:
            text = " ".join(f"{name}:{value}" for name, value in arrival.options.items())
            body = command_body(f"/{arrival.kind}", text, user_id=user, response_url=url)
            key = dict(parse_qsl(body))["trigger_id"]
        watch.kind[key] = arrival.kind
        return key, body, signed_headers(body)  # signing is Slack's work, done before the clock starts

    built = {id(a): build(a) for a in arrivals}
    in_flight: set[asyncio.Task] = set()
    statuses: Counter = Counter()

    async def dispatch(key: str, body: str, headers: dict) -> None:
        response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        watch.acked[key] = time.perf_counter()
        watch.ack_kind[key] = "ack"
        statuses[response.status] += 1
        if response.status != 200:
            watch.failed[key] = f"HTTP {response.status}"

    def send(arrival: Arrival, due: float) -> None:
        key, body, headers = built[id(arrival)]
        watch.arrived[key] = due
        task = asyncio.create_task(dispatch(key, body, headers))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    rss_before = rss_mb()
    load_before = os.getloadavg()
    lag = LoopLag()
    t0 = await launch(arrivals, send)
    try:
        await asyncio.wait_for(watch.all_done.wait(), timeout=300)
    except TimeoutError:
        pass
    if in_flight:  # Bolt returns the ack when its 10 ms poll sees it: it may come after the answer
        await asyncio.wait(in_flight, timeout=30)
    load_after = os.getloadavg()
    result = watch.report(t0) | lag.stop()
    for key in set(watch.kind) - set(watch.acked):
        watch.failed[key] = "not acknowledged"
    result["failures"] = dict(Counter(watch.failed.values()))
    return result | {
        "http_statuses": dict(statuses),
        "core_outcomes": await core_outcomes(aula),
        "answers_recorded": await answers_recorded(aula),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "load_before": load_before,
        "load_after": load_after,
    }


# --- output -------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}" if value >= 100 else f"{value:.1f}{unit}"


def table(results: dict[str, dict], students: int, window: float) -> str:
    when = "all at the same instant" if window == 0 else f"spread uniformly over {window:g} s"
    lines = [
        f"{students} students × (/tokens, /roles, one quiz click) = {3 * students} interactions, {when}",
        "",
        "| platform | kind | acknowledged ≤ 3 s | ack p50 | ack p99 | ack max | deferred | answered p50 | p99 | max |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        for kind in (*KINDS, "all"):
            k = result["kinds"][kind]
            lines.append(
                f"| {name} | {kind} | {k['within_deadline']}/{k['sent']} | {fmt(k['ack_p50_ms'], ' ms')} | "
                f"{fmt(k['ack_p99_ms'], ' ms')} | {fmt(k['ack_max_ms'], ' ms')} | {k['deferred']} | "
                f"{fmt(k['done_p50_ms'], ' ms')} | {fmt(k['done_p99_ms'], ' ms')} | {fmt(k['done_max_ms'], ' ms')} |"
            )
    lines += [
        "",
        "| platform | last ack | last answer | answered/s | loop lag p50 / p99 / max | peak RSS | before storm "
        "| quiz answers | error replies | failures | load avg before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, r in results.items():
        lag = " / ".join(fmt(r[f"loop_lag_{p}_ms"]) for p in ("p50", "p99", "max"))
        lines.append(
            f"| {name} | {r['last_ack_s']:.2f} s | {r['last_done_s']:.2f} s | {fmt(r['done_per_s'])} | {lag} ms | "
            f"{r['peak_rss_mb']:.0f} MB | {r['rss_before_mb']:.0f} MB | {r['answers_recorded']}/{students} | "
            f"{len(r['error_replies'])} | {r['failures'] or 'none'} | "
            f"{r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |"
        )
    lines.append("")
    for name, r in results.items():
        every = r["kinds"]["all"]
        p99 = every["ack_p99_ms"]
        verdict = [
            "every interaction acknowledged within 3 s: "
            + ("yes" if every["within_deadline"] == every["sent"] and not r["failures"] else "NO"),
            f"ack p99 {fmt(p99, ' ms')} (target ≤ {TARGET_P99_MS} ms: "
            + ("met)" if p99 is not None and p99 <= TARGET_P99_MS else "MISSED)"),
            f"peak {r['peak_rss_mb']:.0f} MB (target ≤ {TARGET_PEAK_MB} MB: "
            + ("met)" if r["peak_rss_mb"] <= TARGET_PEAK_MB else "MISSED)"),
        ]
        lines.append(f"{name}: " + "; ".join(verdict))
        if "simulated_discord_ms_to_last_ack" in r:
            lines.append(
                f"  of the {r['last_ack_s'] * 1000:,.0f} ms to the last ack, simcord's fake Discord REST "
                f"routes ran {r['simulated_discord_ms_to_last_ack']:,.0f} ms on the bot's event loop"
            )
        for error in sorted(Counter(r["error_replies"]).items()):
            lines.append(f"  error reply ×{error[1]}: {error[0]}")
    return "\n".join(lines)


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        "?",
    )
    memory = (
        next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")) / 1024**2
    )
    return f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GB RAM, Python {platform.python_version()}"


def command_line(name: str, options: argparse.Namespace, setting: str | None) -> list[str]:
    command = [sys.executable, __file__, "--platform", name, "--students", str(options.students),
               "--window", str(options.window), "--seed", str(options.seed), "--raw"]  # fmt: skip
    return command + (["--database-setting", setting] if setting else [])


def run_in_fresh_interpreter(name: str, options: argparse.Namespace, setting: str | None = None) -> dict:
    out = subprocess.run(command_line(name, options, setting), cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_shared_slack(options: argparse.Namespace, setting: str, processes: int) -> dict:
    """Slack's run in `processes` fresh interpreters sharing the database and one fake Slack (as
    HTTP workers behind a load balancer): each takes every processes-th arrival, all from one
    agreed instant; their figures merged."""
    server = subprocess.Popen([sys.executable, __file__, "--serve-fake-slack"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    api_url = server.stdout.readline().strip()
    base = command_line("slack", options, setting) + ["--processes", str(processes), "--slack-api", api_url]
    workers = []
    for rank in range(processes):
        workers.append(subprocess.Popen(base + ["--rank", str(rank)], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
        if rank == 0:  # it starts the quiz: the others find it set up
            assert workers[0].stdout.readline().strip() == "ready"
    for worker in workers[1:]:
        assert worker.stdout.readline().strip() == "ready"
    start = time.time() + 0.3
    for worker in workers:
        worker.stdin.write(f"{start}\n")
        worker.stdin.flush()
    parts = []
    for worker in workers:
        out, _ = worker.communicate(timeout=900)
        parts.append(json.loads(out.strip().splitlines()[-1]))
    server.stdin.close()
    fake = json.loads(server.stdout.readline())
    server.wait()
    merged = merge(parts)
    missing = [s for s in range(options.students) if f"quiz-{s}" not in fake["answered_urls"]]
    if missing:
        merged["failures"]["quiz click without its private answer"] = len(missing)
    merged["error_replies"] = fake["error_replies"]
    merged["fake_slack_calls"] = fake["methods"]
    merged |= asyncio.run(stored_figures(setting))
    return merged


async def stored_figures(setting: str) -> dict:
    from bot.storage.database import open_database

    db = await open_database(setting, migrate=False)
    try:
        rows = await db.fetchall("SELECT outcome, COUNT(*) AS n FROM command_log GROUP BY outcome")
        answered = await db.fetchone("SELECT COUNT(DISTINCT user_id) AS n FROM quiz_answers")
        return {"core_outcomes": {r["outcome"]: r["n"] for r in rows}, "answers_recorded": answered["n"]}
    finally:
        await db.close()


def merge(parts: list[dict]) -> dict:
    """One run's figures from its processes': latencies pooled, last instants and peaks the latest/highest."""
    kinds = {}
    for kind in (*KINDS, "all"):
        ack = [x for p in parts for x in p["kinds"][kind]["ack_ms"]]
        done = [x for p in parts for x in p["kinds"][kind]["done_ms"]]
        kinds[kind] = {
            "sent": sum(p["kinds"][kind]["sent"] for p in parts),
            "acknowledged": len(ack),
            "within_deadline": sum(1 for a in ack if a <= DEADLINE_MS),
            "ack_p50_ms": statistics.median(ack) if ack else None,
            "ack_p99_ms": percentile(ack, 99) if ack else None,
            "ack_max_ms": max(ack) if ack else None,
            "done": len(done),
            "done_p50_ms": statistics.median(done) if done else None,
            "done_p99_ms": percentile(done, 99) if done else None,
            "done_max_ms": max(done) if done else None,
            "deferred": sum(p["kinds"][kind]["deferred"] for p in parts),
            "ack_ms": ack,
            "done_ms": done,
        }
    last_ack, last_done = max(p["last_ack_s"] for p in parts), max(p["last_done_s"] for p in parts)
    failures: Counter = Counter()
    for p in parts:
        failures.update(p["failures"])
    return {
        "kinds": kinds,
        "last_ack_s": last_ack,
        "last_done_s": last_done,
        "acks_per_s": kinds["all"]["acknowledged"] / last_ack if last_ack else None,
        "done_per_s": kinds["all"]["done"] / last_done if last_done else None,
        "failures": dict(failures),
        "loop_lag_p50_ms": max(p["loop_lag_p50_ms"] for p in parts),
        "loop_lag_p99_ms": max(p["loop_lag_p99_ms"] for p in parts),
        "loop_lag_max_ms": max(p["loop_lag_max_ms"] for p in parts),
        "http_statuses": dict(sum((Counter(p["http_statuses"]) for p in parts), Counter())),
        "rss_before_mb": max(p["rss_before_mb"] for p in parts),
        "peak_rss_mb": max(p["peak_rss_mb"] for p in parts),
        "load_before": min((p["load_before"] for p in parts), key=lambda x: x[0]),
        "load_after": max((p["load_after"] for p in parts), key=lambda x: x[0]),
    }


async def fresh_postgres(url: str) -> tuple[str, str]:
    os.environ["AULA_TEST_POSTGRES"] = url
    from tests.pg_support import create_database

    return await create_database()


async def drop_postgres(name: str) -> None:
    from tests.pg_support import drop_database

    await drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--platform", choices=("discord", "slack", "both"), default="both")
    parser.add_argument(
        "--window", type=float, default=2.0, help="seconds the arrivals spread over; 0: all at once"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--databases", default="sqlite,postgresql", type=lambda v: v.split(","))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("AULA_BENCH_POSTGRES") or os.environ.get("AULA_TEST_POSTGRES"),
        help="a PostgreSQL server where the benchmark may create and drop databases",
    )
    parser.add_argument(
        "--processes", default="1,2", type=lambda v: [int(p) for p in v.split(",")],
        help="Aula processes sharing the class: 2 runs Slack as two HTTP workers (Discord splits guilds by shard)",
    )  # fmt: skip
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)  # one platform, JSON on stdout
    parser.add_argument("--serve-fake-slack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-setting", help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--slack-api", default="", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_fake_slack:
        asyncio.run(serve_fake_slack())
        return
    if options.raw:
        global DATABASE_SETTING
        DATABASE_SETTING = options.database_setting
        SHARE.update(rank=options.rank, processes=options.processes[0])
        if options.platform == "slack":
            result = asyncio.run(run_slack(options.students, options.window, options.seed, options.slack_api))
        else:
            result = asyncio.run(run_discord(options.students, options.window, options.seed))
        print(json.dumps(result))
        return
    names = ("discord", "slack") if options.platform == "both" else (options.platform,)
    print(f"{machine()}; {time.strftime('%Y-%m-%d %H:%M')}")
    results = {}
    for database in options.databases:
        if database == "postgresql" and not options.postgres:
            print("postgresql: skipped (no server: --postgres URL, AULA_BENCH_POSTGRES or AULA_TEST_POSTGRES)")
            continue
        for processes in options.processes:
            for name in names:
                if processes > 1 and name != "slack":
                    continue  # Discord's processes are shards, each with its own guilds: one class is one process
                setting, created = None, None
                if database == "postgresql":
                    setting, created = asyncio.run(fresh_postgres(options.postgres))
                elif processes > 1:
                    setting = str(Path(tempfile.mkdtemp(prefix="aula-class-")) / "aula.sqlite3")
                try:
                    label = f"{name} · {database}" + (f" · {processes} processes" if processes > 1 else "")
                    if processes > 1:
                        results[label] = run_shared_slack(options, setting, processes)
                    else:
                        results[label] = run_in_fresh_interpreter(name, options, setting)
                    print(f"{label}: done (load average {os.getloadavg()[0]:.2f})", flush=True)
                finally:
                    if created:
                        asyncio.run(drop_postgres(created))
    for result in results.values():
        for kind in result["kinds"].values():
            kind.pop("ack_ms", None)
            kind.pop("done_ms", None)
    print(table(results, options.students, options.window))
    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "options": vars(options) | {"json": str(options.json)},
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
