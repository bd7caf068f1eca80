"""/next through the core, against the loopback server's log-probabilities (tests/fake_llm.py)."""

from __future__ import annotations

import math

import pytest

import bot.help.command as help_command
import bot.next.command as next_command
from bot.actions import first_match
from bot.app import Aula
from bot.i18n import probability as percent
from bot.next.command import STEP_ACTIONS
from bot.next.logic import Candidate, Distribution, encoding_for, shown, token_bytes, token_id
from bot.replies import Columns, Image, Reply, Table, plain_text
from bot.settings import load_settings
from bot.tokens.encodings import get_encoding
from tests.conftest import make_request, replies_of
from tests.fake_llm import API_KEY, BASE_MODEL, INSTRUCT_MODEL, FakeLlmServer, Fault, next_tokens

PROMPT = "El capital de Francia es"


@pytest.fixture
async def server():
    async with FakeLlmServer() as running:
        yield running


@pytest.fixture
async def make_aula(server, database_url):
    """Apps on one database: SQLite or PostgreSQL (conftest.database_url)."""
    apps: list[Aula] = []

    async def build(**env: str) -> Aula:
        environ = {
            "AULA_DATABASE": database_url,
            "AULA_LLM_BASE_URL": server.base_url,
            "AULA_LLM_API_KEY": API_KEY,
            "AULA__LLM__MAX_RETRIES": "0",
        } | env
        app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[help_command.command, next_command.command])
        await app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        await app.close()


def next_request(user_id: str = "u1", locale: str = "es", **args):
    return make_request("next", locale=locale, user_id=user_id, args=args)


def click(action: str, user_id: str = "u1", locale: str = "es"):
    return make_request("next", locale=locale, user_id=user_id, action=action)


def expected_rows(text: str, k: int = 10) -> list[tuple[str, str, str]]:
    """(shown token, id, percent) computed from the server's own numbers and Llama 3.1's encoding."""
    encoding = get_encoding("llama-3.1")
    rows = []
    for _token, data, logprob in next_tokens(text)[:k]:
        try:
            token_id_ = str(encoding.encode_single_token(data))
        except KeyError:
            token_id_ = "—"
        rows.append((shown(Candidate("", data, None, logprob)), token_id_, f"{percent('es', math.exp(logprob))}"))
    return rows


def first_table(reply: Reply) -> Table:
    return next(p for p in reply.parts if isinstance(p, Table))


async def test_the_top_k_are_the_servers_numbers_with_llama_ids_and_coverage(make_aula, server):
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT))
    assert not reply.error and not reply.is_private
    table = first_table(reply)
    assert [(row[1], row[2], row[3]) for row in table.rows] == expected_rows(PROMPT)
    text = plain_text(reply)
    covered = sum(math.exp(lp) for _, _, lp in next_tokens(PROMPT)[:10])
    assert f"Estos 10 tokens suman el {percent('es', covered)}" in text
    assert f"el {percent('es', (1 - covered))} restante" in text
    assert BASE_MODEL in text
    # the leading-space token and the byte fragment are made visible
    shown_tokens = [row[1] for row in table.rows]
    assert "·la" in shown_tokens and "⟨e2 80⟩" in shown_tokens
    assert any(isinstance(p, Image) and p.png.startswith(b"\x89PNG") for p in reply.parts)
    # what was asked: one token, k log-probabilities, on the completions endpoint
    path, body = server.calls[-1]
    assert path == "/v1/completions" and body["logprobs"] == 10 and body["max_tokens"] == 1
    assert body["prompt"] == PROMPT


async def test_the_temperature_table_is_a_renormalisation_over_the_k(make_aula):
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT, locale="en"))
    tables = [p for p in reply.parts if isinstance(p, Table)]
    temperatures = tables[1]
    assert temperatures.headers == ("token", "T=0.2", "T=0.7", "T=1", "T=1.5")
    [spanish] = await replies_of(app, next_request(texto=PROMPT, locale="es"))
    assert [p for p in spanish.parts if isinstance(p, Table)][1].headers[1:] == ("T=0,2", "T=0,7", "T=1", "T=1,5")
    logprobs = [lp for _, _, lp in next_tokens(PROMPT)[:10]]
    for column, temp in enumerate((0.2, 0.7, 1.0, 1.5), start=1):
        weights = [math.exp(lp / temp) for lp in logprobs]
        expected = [f"{percent('en', w / sum(weights))}" for w in weights]
        assert [row[column] for row in temperatures.rows] == expected
    assert "renormalised over these 10 tokens only" in plain_text(reply)


async def test_the_instruct_model_is_asked_on_the_chat_endpoint(make_aula, server):
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT, modelo="instruct"))
    path, body = server.calls[-1]
    assert path == "/v1/chat/completions"
    assert body["logprobs"] is True and body["top_logprobs"] == 10
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert [(r[1], r[2], r[3]) for r in first_table(reply).rows] == expected_rows(PROMPT)
    assert INSTRUCT_MODEL in plain_text(reply)


async def test_both_models_side_by_side(make_aula, server):
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT, modelo="ambos"))
    [columns] = [p for p in reply.parts if isinstance(p, Columns)]
    titles = [title for title, _ in columns.panels]
    assert titles == [f"Base · {BASE_MODEL}", f"Instruido · {INSTRUCT_MODEL}"]
    assert sorted(p for p, _ in server.calls) == ["/v1/chat/completions", "/v1/completions"]
    for _, parts in columns.panels:
        table = next(p for p in parts if isinstance(p, Table))
        assert [(r[1], r[2], r[3]) for r in table.rows] == expected_rows(PROMPT)


async def test_a_provider_without_logprobs_is_named(make_aula, server):
    server.logprobs = False
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT))
    assert reply.error and reply.is_private
    text = plain_text(reply)
    assert "«default»" in text and "log-probabilidades" in text and BASE_MODEL in text
    assert "[llm.profiles]" in text


async def test_byte_level_token_strings_map_to_the_same_ids(make_aula, server):
    server.byte_level_tokens = True
    app = await make_aula()
    [reply] = await replies_of(app, next_request(texto=PROMPT))
    assert [(r[1], r[2], r[3]) for r in first_table(reply).rows] == expected_rows(PROMPT)


async def test_bad_input_is_refused_clearly(make_aula, server):
    app = await make_aula(AULA__LLM__CONTEXT_WINDOW="50")
    [empty] = await replies_of(app, next_request(texto="   "))
    assert empty.error and "/next texto:" in plain_text(empty)
    [long] = await replies_of(app, next_request(texto="palabra " * 80))
    assert long.error and "admite hasta 49" in plain_text(long)
    [temp] = await replies_of(app, next_request(texto=PROMPT, temperatura=3))
    assert temp.error and "entre 0" in plain_text(temp)
    assert server.calls == []  # nothing was sent for any of them


def test_token_strings_to_bytes_and_ids():
    assert token_bytes("Ġla") == b" la" and token_bytes("Ċ") == b"\n"
    assert token_bytes("bytes:\\xe2\\x80") == b"\xe2\x80"
    assert token_bytes("ñ") == "ñ".encode() and token_bytes("x", [32, 108, 97]) == b" la"
    assert encoding_for(BASE_MODEL) == "llama-3.1" and encoding_for("gpt2") is None
    encoding = get_encoding("llama-3.1")
    assert token_id(b" la", "llama-3.1") == encoding.encode_ordinary(" la")[0]
    assert token_id(b"<|eot_id|>", "llama-3.1") == 128009
    assert token_id(b" la", None) is None
    assert shown(Candidate("", b" \xe2\x80", None, 0.0)) == "·⟨e2 80⟩"
    distribution = Distribution("base", "m", (Candidate("", b"a", None, math.log(0.5)), Candidate("", b"b", None, math.log(0.25))))
    assert distribution.coverage == pytest.approx(0.75)
    assert distribution.at_temperature(1.0) == pytest.approx([2 / 3, 1 / 3])


def step_ids(reply: Reply) -> dict[str, str]:
    """Button kind ("greedy", "sample", "pick1".."pick5", "fork", "retry") -> its id."""
    out = {}
    for button in reply.buttons:
        action, values = first_match(tuple(STEP_ACTIONS), button.id)
        out[STEP_ACTIONS[action] + str(values.get("rank", ""))] = button.id
    return out


def chosen_lines(reply: Reply) -> list[str]:
    from bot.replies import BulletList

    lists = [p for p in reply.parts if isinstance(p, BulletList)]
    return [item.text for item in lists[0].items] if lists else []


async def test_steps_append_the_chosen_token_and_ask_again(make_aula, server):
    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    top = next_tokens(PROMPT)[0]
    [second] = await replies_of(app, click(step_ids(first)["greedy"]))
    text1 = PROMPT + top[1].decode()
    assert server.calls[-1][1]["prompt"] == text1
    assert chosen_lines(second) == [f"1. {shown(Candidate('', top[1], None, 0))} · {percent('es', math.exp(top[2]))} · el más probable"]
    assert [(r[1], r[2], r[3]) for r in first_table(second).rows] == expected_rows(text1)
    # pick the third of the top five
    third = next_tokens(text1)[2]
    [after_pick] = await replies_of(app, click(step_ids(second)["pick3"]))
    text2 = text1 + third[1].decode()
    assert server.calls[-1][1]["prompt"] == text2
    assert chosen_lines(after_pick)[1] == f"2. {shown(Candidate('', third[1], None, 0))} · {percent('es', math.exp(third[2]))} · elegido a mano (n.º 3)"
    # sample: one of the k, with its own probability shown
    next_command.rng(app).seed(7)
    [sampled] = await replies_of(app, click(step_ids(after_pick)["sample"]))
    line = chosen_lines(sampled)[2]
    options = {f"{shown(Candidate('', d, None, 0))} · {percent('es', math.exp(lp))}" for _, d, lp in next_tokens(text2)[:10]}
    assert line.startswith("3. ") and line[3:].split(" · muestreado")[0] in options
    assert "muestreado a T=1" in line


async def test_someone_elses_run_can_be_forked_not_stepped(make_aula, server):
    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    calls = len(server.calls)
    [refused] = await replies_of(app, click(step_ids(first)["greedy"], user_id="u2"))
    assert refused.is_private and "solo quien la empezó" in plain_text(refused)
    assert len(server.calls) == calls
    [forked] = await replies_of(app, click(refused.buttons[0].id, user_id="u2"))
    assert forked.is_private and first_table(forked).rows == first_table(first).rows
    [mine] = await replies_of(app, click(step_ids(forked)["greedy"], user_id="u2"))
    assert mine.is_private and len(chosen_lines(mine)) == 1
    # the owner's run did not move: its greedy button still works
    [owners] = await replies_of(app, click(step_ids(first)["greedy"]))
    assert not owners.is_private and len(chosen_lines(owners)) == 1


async def test_an_old_button_is_stale_and_a_run_survives_a_restart(make_aula, server):
    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    [second] = await replies_of(app, click(step_ids(first)["greedy"]))
    [stale] = await replies_of(app, click(step_ids(first)["pick2"]))
    assert stale.error and "paso anterior" in plain_text(stale)
    [latest] = await replies_of(app, click(step_ids(second)["greedy"]))
    await app.close()
    again = await make_aula()  # same database: the buttons of before the restart still work
    [after] = await replies_of(again, click(step_ids(latest)["greedy"]))
    assert len(chosen_lines(after)) == 3 and not after.error


async def test_a_429_mid_run_keeps_the_text_and_the_step_can_be_retried(make_aula, server):
    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    server.faults.append(Fault(status=429))
    [failed] = await replies_of(app, click(step_ids(first)["greedy"]))
    text = plain_text(failed)
    assert "429" in text and len(chosen_lines(failed)) == 1  # the chosen token is kept
    assert list(step_ids(failed)) == ["retry"]
    [retried] = await replies_of(app, click(step_ids(failed)["retry"]))
    top = next_tokens(PROMPT)[0]
    assert not retried.error and server.calls[-1][1]["prompt"] == PROMPT + top[1].decode()
    assert [(r[1], r[2], r[3]) for r in first_table(retried).rows] == expected_rows(PROMPT + top[1].decode())


async def test_the_number_of_steps_is_capped(make_aula, server):
    app = await make_aula(AULA__NEXT__MAX_STEPS="2")
    [reply] = await replies_of(app, next_request(texto=PROMPT))
    [reply] = await replies_of(app, click(step_ids(reply)["greedy"]))
    calls = len(server.calls)
    [reply] = await replies_of(app, click(step_ids(reply)["greedy"]))
    assert len(server.calls) == calls  # the last step is not asked for
    assert reply.buttons == () and "máximo de 2 pasos" in plain_text(reply)


async def test_steps_spend_the_class_budget(make_aula, server):
    app = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="20")
    [first] = await replies_of(app, next_request(texto=PROMPT))  # 7 prompt tokens + 1 (the server's usage)
    [second] = await replies_of(app, click(step_ids(first)["greedy"]))
    [third] = await replies_of(app, click(step_ids(second)["greedy"]))
    assert "le quedan 4 de los 20 tokens de hoy (16 ya usados" in plain_text(third)
    assert len(server.calls) == 2


async def test_the_instruct_model_continues_its_own_answer_step_by_step(make_aula, server):
    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT, modelo="instruct"))
    await replies_of(app, click(step_ids(first)["greedy"]))
    path, body = server.calls[-1]
    chosen = next_tokens(PROMPT)[0][1].decode()
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": chosen}]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


async def test_next_and_compare_share_the_class_daily_budget(make_aula, server):
    import bot.compare.command as compare

    app = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="30")
    app.commands["compare"] = compare.command
    [first] = await replies_of(app, next_request(texto=PROMPT))
    [second] = await replies_of(app, click(step_ids(first)["greedy"]))
    assert not second.error  # 16 of 30 tokens spent by /next
    replies = await replies_of(app, make_request("compare", args={"prompt": "Hola"}))
    assert replies[-1].error and "le quedan 14 de los 30 tokens de hoy (16 ya usados" in plain_text(replies[-1])


async def test_the_class_budget_survives_a_restart(make_aula, server):
    """Issue 13.5: the daily budget counts every provider call across restarts: a fresh Aula on
    the same database still knows what /next spent, and /compare reads the same total."""
    import bot.compare.command as compare

    app = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="30")
    [first] = await replies_of(app, next_request(texto=PROMPT))
    assert not (await replies_of(app, click(step_ids(first)["greedy"])))[-1].error  # 16 tokens
    await app.close()
    restarted = await make_aula(AULA__LLM__DAILY_TOKEN_BUDGET="30")
    restarted.commands["compare"] = compare.command
    replies = await replies_of(restarted, make_request("compare", args={"prompt": "Hola"}))
    assert replies[-1].error and "le quedan 14 de los 30 tokens de hoy (16 ya usados" in plain_text(replies[-1])


async def test_a_step_in_line_says_its_longest_wait(tmp_path, server):
    """Issue 14.7: the queue message says the longest wait (line + llm.total_timeout_s) up front."""
    import asyncio

    from bot.i18n import t
    from bot.llm.queue import Cooldowns, LlmTraffic, TokenBudget, Upstream
    from tests.fake_clock import ManualClock, settle

    clock = ManualClock()
    environ = {"AULA_DATABASE": str(tmp_path / "aula.sqlite3"), "AULA_LLM_BASE_URL": server.base_url,
               "AULA_LLM_API_KEY": API_KEY, "AULA__LLM__REQUESTS_PER_MINUTE": "1",
               "AULA__LLM__TOTAL_TIMEOUT_S": "100"}  # fmt: skip
    app = Aula(load_settings(environ=environ, dotenv_path=None), commands=[next_command.command])
    app.services.llm_traffic = LlmTraffic(Upstream(clock.now, clock.sleep), Cooldowns(0, clock.now), TokenBudget(10**9))
    await app.start()
    try:
        await replies_of(app, next_request(texto=PROMPT))  # the minute's one call
        seen: list[str] = []

        async def second() -> None:
            async for reply in app.handle(next_request(user_id="u2", texto="Otra cosa")):
                seen.append(plain_text(reply))

        task = asyncio.create_task(second())
        for _ in range(50):
            await settle()
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen[0] == t("es", "next.queued", position=1, seconds=60 + 100)
        await clock.run_until(lambda: all(call.admitted for call in app.services.llm_traffic.upstream.calls.values()), step=10)
        await asyncio.wait_for(task, 10)
        assert "Otra cosa" in seen[-1]
    finally:
        await app.close()


def test_a_long_title_keeps_its_end_and_cuts_the_fewest_characters():
    """The picture's title line: the end of the run's text kept, cut from the start just enough to fit."""
    from PIL import Image as PilImage
    from PIL import ImageDraw

    from bot.next.picture import _fit, _font

    draw = ImageDraw.Draw(PilImage.new("L", (10, 10)))
    font = _font("DejaVuSans.ttf", 30)
    text = "El capital de Francia es París, una ciudad\ncon mucha historia " * 8
    width = 900
    fitted = _fit(draw, text, font, width)
    flat = text.replace("\n", "↵")
    assert fitted.startswith("…") and flat.endswith(fitted[1:])
    assert draw.textlength(fitted, font=font) <= width
    one_more = "…" + flat[len(flat) - len(fitted) :]  # the kept end plus the character before it
    assert draw.textlength(one_more, font=font) > width
    assert _fit(draw, "corto", font, width) == "corto"


def test_the_pictures_bars_are_the_servers_probabilities_and_its_tiles_do_not_leak():
    """Each bar's length is its probability against the largest (the rest included), in the base
    colour, the rest in grey; the tiles kept across pictures change nothing (a picture drawn
    with them cold and warm is the same PNG), and they are bounded."""
    import io

    from PIL import Image as PilImage

    from bot.next import picture

    candidates = tuple(Candidate(t, d, None, lp) for t, d, lp in next_tokens(PROMPT))
    distribution = Distribution("base", BASE_MODEL, candidates)
    picture._tile.cache_clear()
    cold = picture.distribution_png([(PROMPT, distribution)], "es")
    assert picture.distribution_png([(PROMPT, distribution)], "es") == cold
    image = PilImage.open(io.BytesIO(cold)).convert("RGB")
    assert image.width == picture.WIDTH
    bar_left = picture.MARGIN + picture.LABEL_WIDTH
    room = picture.WIDTH - bar_left - picture.VALUE_WIDTH - picture.MARGIN
    probabilities = [c.probability for c in candidates] + [distribution.rest]
    colours = [picture.BAR_COLOURS[0]] * len(candidates) + [picture.BAR_COLOURS[2]]
    highest = max(probabilities)
    pixels = image.load()
    bars = []
    for y in range(image.height):
        left = pixels[bar_left, y]
        if left in picture.BAR_COLOURS and (not bars or bars[-1][0] != y - 1 or bars[-1][1] != left):
            width = next(x for x in range(bar_left, image.width) if pixels[x, y] != left) - bar_left
            bars.append((y, left, width))
        elif bars and left == bars[-1][1] and bars[-1][0] == y - 1:
            bars[-1] = (y, left, bars[-1][2])
    assert [colour for _, colour, _ in bars] == colours
    for (_, _, width), probability in zip(bars, probabilities, strict=True):
        assert abs(width - room * probability / highest) <= 2, (width, probability)
    for number in range(picture.TILES + 50):  # many labels: the tiles kept stay bounded
        picture._tile(f"t{number}", "DejaVuSansMono.ttf", picture.LABEL_SIZE, picture.LABEL_WIDTH, picture.INK)
    assert picture._tile.cache_info().currsize <= picture.TILES
    assert picture.distribution_png([(PROMPT, distribution)], "es") == cold


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_the_chosen_temperature_is_written_in_the_readers_language(make_aula, lang):
    """T=1,5 for a Spanish reader on the sample button, in each sampled step's line and in the
    refusal of a temperature out of range (they were written T=1.5 in both languages)."""
    from bot.i18n import t

    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT, temperatura=1.5, locale=lang))
    sample = next(b for b in first.buttons if b.id == step_ids(first)["sample"])
    assert sample.label == t(lang, "next.button.sample", temperature=1.5)
    [sampled] = await replies_of(app, click(sample.id, locale=lang))
    assert chosen_lines(sampled)[0].endswith(" · " + t(lang, "next.how.sample", temperature=1.5, rank=1))
    [refused] = await replies_of(app, next_request(texto=PROMPT, temperatura=2.5, locale=lang))
    assert refused.error and t(lang, "next.bad_temperature", value=2.5) in plain_text(refused)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_class_distribution_that_adds_up_to_one_draws_no_rest_bar(lang):
    """The game's picture showed the class's answers with a "(el resto) 0 %" bar under them: a
    class's shares add up to 1, so there is no rest to show; a model's top k keeps its rest."""
    import io

    from PIL import Image as PilImage

    from bot.i18n import t
    from bot.next import picture

    answers = tuple(Candidate(text, text.encode(), None, math.log(share)) for text, share in
                    (("la", 0.5), ("un", 0.25), ("el", 0.25)))  # fmt: skip
    class_rows = picture.bar_rows(Distribution("class", "", answers), lang)
    assert [(label, rest) for label, _, rest in class_rows] == [("la", False), ("un", False), ("el", False)]
    model = Distribution("base", BASE_MODEL, tuple(Candidate(t_, d, None, lp) for t_, d, lp in next_tokens(PROMPT)[:3]))
    model_rows = picture.bar_rows(model, lang)
    assert model_rows[-1][0] == t(lang, "next.picture_rest") and model_rows[-1][1] == pytest.approx(model.rest)

    def height(distribution: Distribution) -> int:
        return PilImage.open(io.BytesIO(picture.distribution_png([("x", distribution)], lang))).height

    assert height(model) - height(Distribution("class", "", answers)) == picture.ROW  # one bar fewer


def test_a_character_split_across_steps_is_one_segment_of_the_text_so_far():
    """Byte-level tokens can split a character ("—" is e2 80 94) across steps: the text so far
    showed "��" for it. Now the steps that only make whole characters together share a segment,
    and bytes still waiting for the rest of their character are marked as the table marks them."""
    from bot.next.display import run_reply
    from bot.next.logic import Generation, Step
    from bot.replies import Segments

    def step(data: bytes, chosen: bool = True) -> Step:
        others = (Candidate("x", b"x", None, math.log(0.1)),)
        distribution = Distribution("base", BASE_MODEL, (Candidate("?", data, None, math.log(0.5)), *others))
        return Step(distribution, 0 if chosen else None, "greedy" if chosen else "")

    def segments(*chosen: bytes) -> list[tuple[str, int]]:
        generation = Generation("base", BASE_MODEL, "Hola", [*map(step, chosen), step(b"?", chosen=False)])
        reply = run_reply("es", generation, run_id=1, temperature=1.0, temperatures=[1.0], max_steps=10)
        [part] = [p for p in reply.parts if isinstance(p, Segments)]
        return [(s.text, s.colour) for s in part.segments]

    half = percent("es", 0.5)
    assert segments(b" \xe2\x80", b"\x94", b" muy") == [("Hola", 0), (" —", 1), (" muy", 3)]
    generation = Generation("base", BASE_MODEL, "Hola", [step(b"\xe2\x80"), step(b"\x94"), step(b"?", chosen=False)])
    reply = run_reply("es", generation, run_id=1, temperature=1.0, temperatures=[1.0], max_steps=10)
    [part] = [p for p in reply.parts if isinstance(p, Segments)]
    assert part.segments[1].label == f"{half} + {half}"  # both steps' probabilities
    assert segments(b" muy", b"\xe2\x80") == [("Hola", 0), (" muy", 1), ("⟨e2 80⟩", 2)]  # not U+FFFD


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_a_step_button_clicked_again_after_the_last_step_asks_nothing(make_aula, server, lang):
    """At the cap the last click chose a token and asked nothing more, so the run still had as many
    steps as that message's buttons said: clicking one of them again (a double click) asked the
    provider for one more distribution past the cap and showed it. Now it is refused."""
    from bot.i18n import t

    app = await make_aula(AULA__NEXT__MAX_STEPS="1")
    [first] = await replies_of(app, next_request(texto=PROMPT, locale=lang))
    greedy = step_ids(first)["greedy"]
    [last] = await replies_of(app, click(greedy, locale=lang))
    assert not last.error and last.buttons == () and t(lang, "next.cap", count=1) in plain_text(last)
    asked = len(server.calls)
    for again in (greedy, step_ids(first)["sample"], step_ids(first)["pick2"]):
        [refused] = await replies_of(app, click(again, locale=lang))
        assert refused.error and t(lang, "next.cap", count=1) in plain_text(refused)
    assert len(server.calls) == asked


async def test_an_older_step_button_after_a_failed_step_points_to_the_retry(make_aula, server):
    """The step's token was chosen and its call failed: the latest message offers a retry; the
    older message's step buttons used to act as that retry, now they say to use the latest."""
    from bot.i18n import t

    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    server.faults.append(Fault(status=500, path="/v1/completions"))
    [failed] = await replies_of(app, click(step_ids(first)["greedy"]))
    assert "retry" in step_ids(failed)
    asked = len(server.calls)
    [refused] = await replies_of(app, click(step_ids(first)["greedy"]))
    assert refused.error and t("es", "next.stale", steps=1) in plain_text(refused)
    assert len(server.calls) == asked
    [retried] = await replies_of(app, click(step_ids(failed)["retry"]))
    assert not retried.error and len(server.calls) == asked + 1


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_a_run_that_fills_the_models_context_ends_without_a_retry(make_aula, server, lang):
    """A run whose text grew past the model's context was refused with "Shorten it" and a retry
    button that could only be refused again. Now the choice is kept, the run says it ends there,
    and there is nothing to click."""
    from bot.i18n import t
    from bot.next.logic import counted_tokens

    tokens = counted_tokens("base", PROMPT, "")
    app = await make_aula(AULA__LLM__CONTEXT_WINDOW=str(tokens + 1))  # the prefix and its one token fit
    [first] = await replies_of(app, next_request(texto=PROMPT, locale=lang))
    asked = len(server.calls)
    [ended] = await replies_of(app, click(step_ids(first)["greedy"], locale=lang))
    grown = counted_tokens("base", PROMPT, next_tokens(PROMPT)[0][1].decode())
    assert t(lang, "next.context_full", tokens=grown, model=BASE_MODEL, limit=tokens) in plain_text(ended)
    assert ended.buttons == () and len(server.calls) == asked
    assert chosen_lines(ended)[0].startswith("1. ")  # the chosen token is kept in the text so far


async def test_a_step_is_one_read_and_one_write_and_a_stale_write_spends_nothing(make_aula, server, database_url):
    """A step's database round trips (bench/next.py: each one waits for a core): the run and the
    class's tokens today in one read, the choice, the new step and the tokens spent in one write
    (one statement on PostgreSQL, one transaction on SQLite). A write against steps another click
    changed first stores nothing and adds no tokens, on both backends."""
    from bot.llm.usage import UsageRepository
    from bot.next.store import NextRepository, dump_steps

    app = await make_aula(AULA__LLM__SHARED_LIMITS="false")  # one process: the budget is read, not held
    [first] = await replies_of(app, next_request(texto=PROMPT))
    trips: list[str] = []  # the backend's public calls made by the step (not those they make themselves)
    inside = [0]
    for name in ("fetchone", "fetchall", "execute", "execute_returning", "execute_grouped"):
        original = getattr(app.db, name)

        async def counting(*args, _name=name, _original=original, **kwargs):
            if not inside[0]:
                trips.append(_name)
            inside[0] += _name != "execute_grouped"
            try:
                return await _original(*args, **kwargs)
            finally:
                inside[0] -= _name != "execute_grouped"

        setattr(app.db, name, counting)
    transaction = app.db.transaction

    def counted_transaction():
        trips.append("transaction")
        return transaction()

    app.db.transaction = counted_transaction
    [second] = await replies_of(app, click(step_ids(first)["greedy"]))
    assert not second.error
    write = "execute_returning" if app.db.dialect == "postgresql" else "transaction"
    # users seen and the command log are every command's (group commit, bot/storage/users.py)
    assert [trip for trip in trips if trip != "execute_grouped"] == ["fetchone", write]

    repo, usage = NextRepository(app.db), UsageRepository(app.db)
    run_id = int(first_match(tuple(STEP_ACTIONS), step_ids(second)["greedy"])[1]["run"])
    record = await repo.get(run_id, usage_at=app.clock())
    used = await usage.used_on("console", record.workspace_id, app.clock())
    assert record.used_today == used == 16  # the server's usage for the two calls (test_steps_spend_the_class_budget)
    steps = record.generation.steps
    stale = dump_steps(steps[:1])
    assert not await repo.save_steps(run_id, steps, stale, app.clock(), usage=("console", record.workspace_id, 5))
    assert await usage.used_on("console", record.workspace_id, app.clock()) == 16
    assert (await repo.get(run_id)).generation.steps[-1].chosen is None
    current = dump_steps((await repo.get(run_id)).generation.steps)
    steps[-1].chosen, steps[-1].how = 0, "greedy"
    assert await repo.save_steps(run_id, steps, current, app.clock(), usage=("console", record.workspace_id, 5))
    assert await usage.used_on("console", record.workspace_id, app.clock()) == 21
    assert (await repo.get(run_id, usage_at=app.clock())).used_today == 21
    assert (await repo.get(run_id)).generation.steps[-1].chosen == 0


@pytest.mark.parametrize("lang", ["es", "en"])
def test_tiny_probabilities_read_as_below_the_smallest_shown(lang):
    """At T=0.2 the tail of a distribution is ~1e-11: the table said '0,0000000037 %'. Below
    0.01 % a probability now reads '<0,01 %' ('<0.01%'), the bound through the locale's percent
    format; a share above it keeps its digits, and the candidates table reads the same way."""
    from bot import i18n
    from bot.next.display import candidates_table, temperature_parts

    candidates = tuple(Candidate(text, text.encode(), None, logprob)
                       for text, logprob in ((" la", -0.05), (" una", -3.2), (" el", -5.0), (" mi", -11.0)))  # fmt: skip
    distribution = Distribution("base", BASE_MODEL, candidates)
    [table] = [p for p in temperature_parts(lang, distribution, [0.2, 1.0]) if isinstance(p, Table)]
    below = "<" + i18n.percent(lang, 0.0001)
    assert below == {"es": "<0,01\xa0%", "en": "<0.01%"}[lang]  # CLDR's percent format (Babel)
    cold = distribution.at_temperature(0.2)
    assert cold[3] < 1e-20 and 0 < cold[1] < 0.0001  # the tail the table used to spell out
    assert [row[1] for row in table.rows] == [i18n.percent(lang, cold[0]), below, below, below]
    warm = distribution.at_temperature(1.0)
    assert warm[2] > 0.0001 and [row[2] for row in table.rows][:3] == [i18n.percent(lang, p) for p in warm[:3]]
    assert table.rows[3][2] == (below if warm[3] < 0.0001 else i18n.percent(lang, warm[3]))
    assert candidates_table(lang, distribution).rows[3][3] == below  # e^-11 = 0.0017 %
    assert i18n.probability(lang, 0.0) == i18n.percent(lang, 0.0)  # zero is zero, not "less than"


async def test_two_clicks_on_one_step_at_once_store_it_and_spend_its_tokens_once(make_aula, server, database_url):
    """A double click races: both clicks read the run (and share one provider call, or make one
    each when the first call ended already); one write wins, the other (its reply drawn
    meanwhile) is dropped and says how far the run is, and every call made is in the budget."""
    import asyncio

    from bot.i18n import t
    from bot.llm.usage import UsageRepository

    app = await make_aula()
    [first] = await replies_of(app, next_request(texto=PROMPT))
    greedy = step_ids(first)["greedy"]
    calls = len(server.calls)
    results = await asyncio.gather(replies_of(app, click(greedy)), replies_of(app, click(greedy)))
    finals = [replies[-1] for replies in results]
    assert sorted(reply.error for reply in finals) == [False, True]
    [refused] = [reply for reply in finals if reply.error]
    assert t("es", "next.stale", steps=1) in plain_text(refused)
    assert len(server.calls) in (calls + 1, calls + 2)
    used = await UsageRepository(app.db).used_on("console", "local", app.clock())
    assert used == 8 * len(server.calls)  # 8 tokens a call here (test_steps_spend_the_class_budget)
    [winner] = [reply for reply in finals if not reply.error]
    [next_step] = await replies_of(app, click(step_ids(winner)["greedy"]))
    assert not next_step.error
