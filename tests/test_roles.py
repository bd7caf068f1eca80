"""/roles through the core: the explanation, the rendered prompt, counts, variants, form, buttons, live run."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import Aula
from bot.limits import DISCORD_MODAL_INPUTS, DISCORD_TEXT_INPUT_LABEL, SLACK_MODAL_TITLE
from bot.llm.queue import Cooldowns, LlmTraffic, TokenBudget, Upstream
from bot.replies import Columns, Image, Paragraph, Reply, Segments, Table, plain_text
from bot.roles.command import FORM_ROLES, MESSAGE_MAX
from bot.roles.templates import Message, render
from bot.settings import load_settings
from bot.tokens.encodings import get_encoding
from tests.conftest import QUIET_LOOPS, make_request, replies_of
from tests.fake_clock import ManualClock, settle
from tests.fake_llm import API_KEY, INSTRUCT_MODEL, FakeLlmServer

SYSTEM = "Eres un profesor experto en inteligencia artificial"
USER = "Explícame qué es el fine-tuning"



@pytest.fixture
def settings(database_url):
    """conftest's, on SQLite and on PostgreSQL (conftest.database_url): every test of the `aula`
    fixture runs on both."""
    return load_settings(environ=QUIET_LOOPS | {"AULA_DATABASE": database_url}, dotenv_path=None)

def parts_of(reply: Reply, kind: type) -> list:
    return [p for p in reply.parts if isinstance(p, kind)]


def prompt_of(reply: Reply) -> Segments:
    return parts_of(reply, Segments)[0]


async def roles(aula: Aula, locale: str = "es", **args) -> Reply:
    [reply] = await replies_of(aula, make_request("roles", locale=locale, args=args))
    return reply


async def click(aula: Aula, action: str, locale: str = "es", **values: str) -> list[Reply]:
    return await replies_of(aula, make_request("roles", locale=locale, action=action, values=values))


def button_id(reply: Reply, prefix: str) -> str:
    return next(b.id for b in reply.buttons if b.id.startswith(prefix))


# --- /roles alone ---------------------------------------------------------------------------


async def test_alone_it_explains_the_three_roles_with_the_course_examples(aula):
    es = plain_text(await roles(aula))
    for text in ("System (Sistema)", "Eres un profesor experto en inteligencia artificial", "User (Usuario)",
                 "Explícame qué es el fine-tuning", "Assistant (Asistente)", "El fine-tuning es un proceso donde...",
                 "el formato es crucial para el comportamiento"):
        assert text in es
    en = plain_text(await roles(aula, locale="en"))
    assert "You are an expert teacher in artificial intelligence" in en
    assert "the format is crucial for behaviour" in en


async def test_the_explanations_example_button_renders_the_course_conversation(aula):
    explained = await roles(aula)
    [reply] = await click(aula, button_id(explained, "roles:example:"))
    messages = [Message("system", SYSTEM), Message("user", USER), Message("assistant", "El fine-tuning es un proceso donde...")]
    assert "".join(s.text for s in prompt_of(reply).segments) == render(messages, "llama-3.1").prompt


# --- the rendered prompt ----------------------------------------------------------------------


async def test_the_prompt_is_the_templates_text_with_special_tokens_as_their_own_segments(aula):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER)
    segments = prompt_of(reply).segments
    prompt = "".join(s.text for s in segments)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
        f"{SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{USER}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    special = [(s.text, s.label) for s in segments if s.special]
    assert special[:3] == [("<|begin_of_text|>", "128000"), ("<|start_header_id|>", "128006"), ("<|end_header_id|>", "128007")]
    assert ("<|eot_id|>", "128009") in special and len(special) == 9  # 1 + 3 (system) + 3 (user) + 2
    # Message content is a normal segment of its own, labelled with its token count.
    content = next(s for s in segments if s.text == USER)
    assert not content.special
    assert content.label == f"{len(get_encoding('llama-3.1').encode_ordinary(USER))} tokens"
    assert reply.visibility.value == "channel" and not reply.error


async def test_counts_per_message_overhead_and_total(aula):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER)
    table = parts_of(reply, Table)[0]
    llama = get_encoding("llama-3.1")
    prompt = "".join(s.text for s in prompt_of(reply).segments)
    total = len(llama.encode(prompt, allowed_special="all"))  # the whole prompt, as an engine encodes it
    system_tokens, user_tokens = len(llama.encode_ordinary(SYSTEM)), len(llama.encode_ordinary(USER))
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["1 · sistema"][0] == str(system_tokens)
    assert rows["2 · usuario"] == (str(user_tokens), "5", str(user_tokens + 5))
    assert rows["Todo"] == (str(system_tokens + user_tokens), str(total - system_tokens - user_tokens), str(total))
    assert str(total) in prompt_of(reply).caption


async def test_gpt4o_uses_chatml_with_its_ids(aula):
    reply = await roles(aula, usuario="Hola", modelo="gpt-4o")
    segments = prompt_of(reply).segments
    assert "".join(s.text for s in segments) == "<|im_start|>user<|im_sep|>Hola<|im_end|><|im_start|>assistant<|im_sep|>"
    assert {(s.text, s.label) for s in segments if s.special} == {
        ("<|im_start|>", "200264"), ("<|im_sep|>", "200266"), ("<|im_end|>", "200265")
    }


async def test_typed_special_tokens_are_plain_text_and_the_reply_says_so(aula):
    reply = await roles(aula, usuario="Para aquí <|eot_id|> y sigue")
    segments = prompt_of(reply).segments
    typed = next(s for s in segments if "Para aquí" in s.text)
    assert typed.text == "Para aquí <|eot_id|> y sigue" and not typed.special
    assert sum(1 for s in segments if s.special and s.text == "<|eot_id|>") == 2  # system block and user block
    # Both tokenizations, with their counts: OpenAI's API (text) and a server with specials enabled.
    llama = get_encoding("llama-3.1")
    plain_eot = llama.encode_ordinary("<|eot_id|>")
    table = next(p for p in parts_of(reply, Table) if p.headers[0] == "Quién tokeniza")
    api, server = table.rows
    assert api[0].startswith("Así lo ve la API de OpenAI")
    assert api[1:] == (" ".join(map(str, plain_eot)), str(len(plain_eot)), str(render([Message("user", "Para aquí <|eot_id|> y sigue")]).count))
    assert server[0] == "Así lo ve un servidor o un entrenador que tokeniza el texto con los tokens especiales activos"
    whole = render([Message("user", "Para aquí <|eot_id|> y sigue")]).prompt
    assert server[1:] == ("128009", "1", str(len(llama.encode(whole, allowed_special="all"))))
    assert "debe escapar o rechazar" in plain_text(reply)
    english = plain_text(await roles(aula, locale="en", usuario="Para aquí <|eot_id|> y sigue"))
    assert "must escape or reject" in english and "As OpenAI's API sees it" in english


async def test_a_conversation_ending_with_the_assistant_is_a_training_example_with_its_loss_mask(aula):
    answer = "El fine-tuning adapta un modelo."
    reply = await roles(aula, sistema=SYSTEM, usuario=USER, asistente=answer)
    segments = prompt_of(reply).segments
    prompt = "".join(s.text for s in segments)
    assert prompt.endswith(f"<|start_header_id|>assistant<|end_header_id|>\n\n{answer}<|eot_id|>")  # no generation prompt
    assert "es un ejemplo de entrenamiento" in plain_text(reply)
    # Trained: the answer and its <|eot_id|>; every other segment masked.
    assert [(s.text, s.trained) for s in segments if s.trained] == [(answer, True), ("<|eot_id|>", True)]
    assert all(s.trained is False for s in segments[:-2])
    trained = len(get_encoding("llama-3.1").encode_ordinary(answer)) + 1
    total = render([Message("system", SYSTEM), Message("user", USER), Message("assistant", answer)]).count
    assert f"Entrenados: {trained} de {total} tokens." in plain_text(reply)
    [picture] = parts_of(reply, Image)
    assert picture.png.startswith(b"\x89PNG") and f"{trained} de {total}" in picture.alt
    everything = await roles(aula, sistema=SYSTEM, usuario=USER, asistente=answer, entrenar="todo")
    assert f"Entrenados: {total} de {total} tokens." in plain_text(everything)
    assert all(s.trained for s in prompt_of(everything).segments)
    english = plain_text(await roles(aula, locale="en", usuario=USER, asistente=answer, modelo="gpt-4o"))
    chatml_trained = len(get_encoding("o200k_base").encode_ordinary(answer)) + 1
    assert "it is a training example" in english and f"Trained: {chatml_trained} of " in english


async def test_a_prompt_shows_no_mask_and_keeps_its_generation_prompt(aula):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER)
    assert all(s.trained is None for s in prompt_of(reply).segments)
    assert "es un prompt" in plain_text(reply) and not parts_of(reply, Image)


async def test_without_a_system_message_llama_still_sends_its_system_block(aula):
    reply = await roles(aula, usuario=USER)
    prompt = "".join(s.text for s in prompt_of(reply).segments)
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge")
    assert "inicio, bloque de sistema y turno del asistente" in plain_text(reply)


async def test_variants_show_no_system_and_a_different_one_with_their_totals(aula):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER)
    [columns] = parts_of(reply, Columns)
    (no_title, no_parts), (other_title, other_parts) = columns.panels
    assert no_title == "Sin mensaje de sistema" and other_title == "Con otro sistema"
    yours = render([Message("system", SYSTEM), Message("user", USER)]).count
    without = render([Message("user", USER)]).count
    other_text = "Responde en una sola frase, como si hablaras con un niño de 8 años."
    other = render([Message("system", other_text), Message("user", USER)]).count
    assert f"Total: {without} tokens (−{yours - without} respecto a la tuya)" in no_parts[-1].text
    assert f"Total: {other} tokens (+{other - yours} respecto a la tuya)" in other_parts[-1].text
    assert other_text in "".join(s.text for s in other_parts[0].segments)
    assert SYSTEM not in "".join(s.text for s in no_parts[0].segments)


async def test_gpt4o_without_system_shows_that_nothing_comes_before_the_first_message(aula):
    reply = await roles(aula, sistema=SYSTEM, usuario=USER, modelo="gpt-4o")
    (_, no_parts), _ = parts_of(reply, Columns)[0].panels
    assert isinstance(no_parts[0], Paragraph) and "empieza directamente" in no_parts[0].text


async def test_a_system_message_alone_renders_without_variants(aula):
    reply = await roles(aula, sistema=SYSTEM)
    assert "".join(s.text for s in prompt_of(reply).segments) == render([Message("system", SYSTEM)]).prompt
    assert parts_of(reply, Columns) == [] and "¿Qué cambia?" not in plain_text(reply)


async def test_too_long_a_message_is_refused_in_the_users_language(aula):
    reply = await roles(aula, locale="en", usuario="x" * (MESSAGE_MAX + 1))
    assert reply.error and reply.is_private
    assert f"too long ({MESSAGE_MAX + 1:,} characters" in plain_text(reply)  # English groups thousands


# --- the form ----------------------------------------------------------------------------------


async def test_the_form_has_five_multiline_fields_within_platform_limits(aula):
    reply = await roles(aula, formulario=True, modelo="gpt-4o", sistema=SYSTEM)
    form = reply.form
    assert form is not None and form.id == "roles:form:gpt-4o"
    assert len(form.fields) == len(FORM_ROLES) == DISCORD_MODAL_INPUTS
    assert all(f.multiline and f.max_length == MESSAGE_MAX for f in form.fields)
    assert [f.required for f in form.fields] == [False, True, False, False, False]
    assert form.fields[0].value == SYSTEM  # what was typed is kept for editing
    assert len(form.title) <= SLACK_MODAL_TITLE
    assert all(len(f.label) <= DISCORD_TEXT_INPUT_LABEL for f in form.fields)


async def test_a_submitted_form_renders_a_multi_line_conversation_of_five_messages(aula):
    values = {"m1": "Responde en verso.\nDos líneas.", "m2": "¿Qué es un token?", "m3": "Un trozo.",
              "m4": "¿Y un rol?", "m5": "Quién habla."}
    [reply] = await click(aula, "roles:form:llama-3.1", **values)
    messages = [Message(role, values[f"m{i + 1}"]) for i, role in enumerate(FORM_ROLES)]
    assert "".join(s.text for s in prompt_of(reply).segments) == render(messages, "llama-3.1").prompt
    assert [row[0] for row in parts_of(reply, Table)[0].rows][:5] == [
        "1 · sistema", "2 · usuario", "3 · asistente", "4 · usuario", "5 · asistente"
    ]


async def test_blank_fields_are_no_message_and_an_all_blank_form_is_refused(aula):
    [reply] = await click(aula, "roles:form:gpt-4o", m1="  ", m2="Hola", m3="")
    assert "".join(s.text for s in prompt_of(reply).segments).startswith("<|im_start|>user<|im_sep|>Hola")
    [refused] = await click(aula, "roles:form:gpt-4o", m1=" ", m2="\n")
    assert refused.error and "La conversación está vacía" in plain_text(refused)


async def test_a_form_for_an_unknown_template_is_refused(aula):
    [reply] = await click(aula, "roles:form:gpt-5", m2="Hola")
    assert reply.error and "gpt-5" in plain_text(reply)


# --- buttons that outlive the bot ----------------------------------------------------------------


async def test_edit_and_switch_work_after_a_restart(settings):
    first = Aula(settings)
    await first.start()
    reply = await roles(first, sistema=SYSTEM, usuario=USER)
    await first.close()

    second = Aula(settings)
    await second.start()
    try:
        [edit] = await click(second, button_id(reply, "roles:edit:"))
        assert [f.value for f in edit.form.fields[:2]] == [SYSTEM, USER]
        assert edit.form.id == "roles:form:llama-3.1"
        [switched] = await click(second, button_id(reply, "roles:switch:"))
        prompt = "".join(s.text for s in prompt_of(switched).segments)
        assert prompt.startswith(f"<|im_start|>system<|im_sep|>{SYSTEM}<|im_end|>")
    finally:
        await second.close()


async def test_an_unknown_conversation_id_gets_a_clear_message(aula):
    [reply] = await click(aula, "roles:edit:999")
    assert reply.error and "ya no está guardada" in plain_text(reply)


async def test_old_conversations_are_pruned(aula):
    aula.clock = lambda: 1_000_000.0
    old = await roles(aula, usuario="viejo")
    aula.clock = lambda: 1_000_000.0 + aula.settings.roles.keep_days * 86_400 + 1
    await roles(aula, usuario="nuevo")
    [reply] = await click(aula, button_id(old, "roles:edit:"))
    assert reply.error


# --- the live run -----------------------------------------------------------------------------


async def test_without_an_endpoint_there_is_no_live_button_and_the_reply_says_how_to_configure(aula):
    reply = await roles(aula, usuario=USER)
    assert not any(b.id.startswith("roles:live:") for b in reply.buttons)
    assert "AULA_LLM_API_KEY" in plain_text(reply)
    assert aula.settings.secrets.llm_api_key is None


@pytest.fixture
async def live(tmp_path):
    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "100"},  # no queueing here
            dotenv_path=None,
        )
        app = Aula(settings)
        await app.start()
        yield app, server
        await app.close()


async def test_live_run_sends_the_conversation_and_the_other_system_to_the_instruct_model(live):
    aula, server = live
    reply = await roles(aula, sistema=SYSTEM, usuario=USER)
    live_button = reply.buttons[0]
    assert live_button.id.startswith("roles:live:") and live_button.label == "▶ Probar en vivo"
    replies = await click(aula, live_button.id)
    assert "#1 en la fila" in plain_text(replies[0])  # through the bot's shared queue for the model
    bodies = [body for path, body in server.calls if path == "/v1/chat/completions"]
    assert [b["model"] for b in bodies] == [INSTRUCT_MODEL, INSTRUCT_MODEL]
    assert bodies[0]["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    assert bodies[1]["messages"][0]["content"].startswith("Responde en una sola frase")
    assert bodies[1]["messages"][1:] == [{"role": "user", "content": USER}]
    final = plain_text(replies[-1])
    assert final.count(f"¡Claro! Sobre «{USER}»") == 2 and "Esperando" not in final


async def test_a_student_waits_the_cooldown_between_live_runs_and_an_instructor_does_not(live):
    aula, _ = live
    reply = await roles(aula, usuario=USER)
    live_id = button_id(reply, "roles:live:")
    await click(aula, live_id)
    [again] = await click(aula, live_id)
    assert again.error and "Espera 30 s antes de otra prueba en vivo" in plain_text(again)
    for _ in range(2):
        replies = await replies_of(aula, make_request("roles", instructor=True, user_id="prof", action=live_id))
        assert not replies[-1].error


async def test_a_class_clicking_the_same_live_button_shares_the_calls(tmp_path):
    async with FakeLlmServer(first_chunk_delay_s=0.2) as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY},
            dotenv_path=None,
        )
        aula = Aula(settings)
        await aula.start()
        try:
            live_id = button_id(await roles(aula, usuario=USER), "roles:live:")
            students = [make_request("roles", user_id=f"s{i}", action=live_id) for i in range(5)]
            results = await asyncio.gather(*(replies_of(aula, request) for request in students))
        finally:
            await aula.close()
    assert server.upstream_calls("/v1/chat/completions") == 2  # not 10
    assert all(plain_text(replies[-1]).count(f"¡Claro! Sobre «{USER}»") == 2 for replies in results)


async def test_a_live_run_that_would_wait_past_discords_window_is_refused_up_front(tmp_path):
    clock = ManualClock()
    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "1",
                     "AULA__LLM__TOTAL_TIMEOUT_S": "600"},  # 900 s window − 600 s call − 30 s margin: 270 s in line
            dotenv_path=None,
        )
        aula = Aula(settings)
        aula.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(aula.settings.llm.daily_token_budget))
        await aula.start()
        waiting = []
        try:
            live_ids = [button_id(await roles(aula, usuario=f"pregunta {i}"), "roles:live:") for i in range(4)]
            # Three runs, two calls each, one call a minute: the sixth call starts 5 minutes from now.
            for i, live_id in enumerate(live_ids[:3]):
                waiting.append(asyncio.create_task(click(aula, live_id)))
                for _ in range(50):
                    await settle()
                    if len(aula.services.llm_traffic.upstream.calls) == 2 * (i + 1):
                        break
                    await asyncio.sleep(0.01)
            [refused] = await asyncio.wait_for(click(aula, live_ids[3]), 5)  # refused at once, not queued
            assert refused.error and "tendrías que esperar ~6 min" in plain_text(refused)
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            await aula.close()


async def test_a_live_run_says_its_longest_wait_up_front(tmp_path):
    """Issue 14.7: the student is told, while waiting, how long the run may take at most: its
    calls' wait in line plus the deadline of a whole call (llm.total_timeout_s)."""
    from bot.i18n import t

    clock = ManualClock()
    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "1",
                     "AULA__LLM__TOTAL_TIMEOUT_S": "100"},
            dotenv_path=None,
        )
        aula = Aula(settings)
        aula.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(10**9))
        await aula.start()
        seen: list[str] = []
        try:
            live_id = button_id(await roles(aula, usuario=USER), "roles:live:")

            async def run() -> None:
                async for reply in aula.handle(make_request("roles", action=live_id)):
                    seen.append(plain_text(reply))

            task = asyncio.create_task(run())
            for _ in range(50):
                await settle()
                if seen:
                    break
                await asyncio.sleep(0.01)
            # Two calls to one model allowed once a minute: the second waits 60 s, then up to 100 s.
            assert t("es", "roles.live.deadline", seconds=160) in seen[0]
            await clock.run_until(lambda: all(call.admitted for call in aula.services.llm_traffic.upstream.calls.values()), step=10)
            await asyncio.wait_for(task, 10)
        finally:
            await aula.close()
    assert seen[-1].count(f"¡Claro! Sobre «{USER}»") == 2
    assert "⏱️" not in seen[-1]  # the end: the answers, no promise


async def test_live_run_with_a_refused_key_says_which_setting(tmp_path):
    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": "wrong"},
            dotenv_path=None,
        )
        aula = Aula(settings)
        await aula.start()
        try:
            reply = await roles(aula, usuario=USER)
            replies = await click(aula, button_id(reply, "roles:live:"))
        finally:
            await aula.close()
    final = plain_text(replies[-1])
    assert final.count("El servidor rechazó la clave") == 2 and "AULA_LLM_API_KEY" in final
    assert not replies[-1].error  # the run itself answered; each panel says what failed


async def test_forget_removes_only_that_users_conversations(aula):
    from bot.roles.store import RolesConversations

    mine = await roles(aula, usuario="mío")
    [theirs] = await replies_of(aula, make_request("roles", user_id="u2", args={"usuario": "suyo"}))
    assert await RolesConversations(aula.db).forget("console", "u1") == 1
    assert (await click(aula, button_id(mine, "roles:edit:")))[0].error
    assert not (await click(aula, button_id(theirs, "roles:edit:")))[0].error


async def test_live_runs_count_against_the_class_budget_and_stop_when_it_is_spent(tmp_path):
    """Issue 13.5: after the budget was spent, 10 live runs still called the provider, uncounted."""
    from bot.compare.command import used_today

    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "100",
                     "AULA__LLM__DAILY_TOKEN_BUDGET": "700", "AULA__LLM__MAX_TOKENS": "150"},
            dotenv_path=None,
        )  # fmt: skip
        app = Aula(settings)
        await app.start()
        try:
            runs, refusals = 0, []
            for i in range(10):
                reply = await roles(app, usuario=f"Pregunta {i}")
                live = button_id(reply, "roles:live:")
                last = (await replies_of(app, make_request("roles", user_id=f"s{i}", action=live)))[-1]
                if last.error:
                    refusals.append(plain_text(last))
                else:
                    runs += 1
            used = await used_today(app, "console", "local")
            calls = len([p for p, _ in server.calls if p == "/v1/chat/completions"])
        finally:
            await app.close()
    assert runs >= 1 and refusals  # some ran, then the budget stopped the rest
    assert calls == 2 * runs  # no provider call for a refused run
    assert 0 < used <= 700
    assert "A la clase le quedan" in refusals[0] and "de los 700 tokens de hoy" in refusals[0]


async def test_the_budget_live_runs_spent_survives_a_restart(tmp_path):
    """Issue 13.5: live /roles counted its usage in memory only, so a restart gave the class its
    budget back. A fresh Aula on the same database refuses without calling the provider."""
    from bot.compare.command import used_today

    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "100",
                     "AULA__LLM__DAILY_TOKEN_BUDGET": "700", "AULA__LLM__MAX_TOKENS": "150"},
            dotenv_path=None,
        )  # fmt: skip

        async def live_run(app: Aula, i: int):
            reply = await roles(app, usuario=f"Pregunta {i}")
            return (await replies_of(app, make_request("roles", user_id=f"s{i}", action=button_id(reply, "roles:live:"))))[-1]

        app = Aula(settings)
        await app.start()
        try:
            assert not (await live_run(app, 0)).error
            used_before = await used_today(app, "console", "local")
        finally:
            await app.close()
        chat_calls = len([p for p, _ in server.calls if p == "/v1/chat/completions"])
        assert used_before > 0 and chat_calls == 2

        app = Aula(settings)  # a restart: nothing in memory
        await app.start()
        try:
            assert await used_today(app, "console", "local") == used_before
            runs = 1
            while not (last := await live_run(app, runs)).error:
                runs += 1
                assert runs < 10
            used_after = await used_today(app, "console", "local")
        finally:
            await app.close()
        chat_calls = len([p for p, _ in server.calls if p == "/v1/chat/completions"])
    assert chat_calls == 2 * runs  # the refused run sent nothing
    assert used_before < used_after <= 700
    assert "de los 700 tokens de hoy" in plain_text(last)


async def test_a_failed_live_run_does_not_start_the_cooldown(tmp_path):
    from tests.fake_llm import Fault

    async with FakeLlmServer() as server:
        settings = load_settings(
            environ={"AULA_DATABASE": str(tmp_path / "a.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
                     "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__USER_COOLDOWN_S": "30",
                     "AULA__LLM__MAX_RETRIES": "0"},
            dotenv_path=None,
        )  # fmt: skip
        app = Aula(settings)
        await app.start()
        try:
            server.faults += [Fault(status=500), Fault(status=500)]
            live = button_id(await roles(app, usuario=USER), "roles:live:")
            await click(app, live)
            [*_, retried] = await click(app, live)
        finally:
            await app.close()
    assert "Espera" not in plain_text(retried) and f"¡Claro! Sobre «{USER}»" in plain_text(retried)
