"""How long /roles takes to render a conversation and build its reply (no I/O, warm encodings).

    /work/venv/bin/python bench/roles.py

Cases: the course's three-message example, and the largest conversation the form
accepts (five messages of MESSAGE_MAX characters of Spanish prose), in every format. The
reply also renders the two variants, so it costs about three renders; a training example
(these end with the assistant) also draws the loss-mask picture. Then `comparar:sí`: every
format and the picture with one row per format.
"""

from __future__ import annotations

import statistics
import time

from bot.roles.command import FORM_ROLES, MESSAGE_MAX, comparison_reply, conversation_reply, course_example
from bot.roles.templates import TEMPLATES, Message, render
from bot.settings import load_settings

PROSE = "El fine-tuning ajusta un modelo preentrenado con ejemplos de la tarea; así aprende el formato. "


def timed_ms(action, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    settings = load_settings(environ={}, dotenv_path=None)
    largest = [Message(role, (PROSE * 40)[:MESSAGE_MAX]) for role in FORM_ROLES]
    cases = {"course example (3 messages)": course_example("es"), "largest form (5 × 3000 chars)": largest}
    for template in TEMPLATES:
        render(cases["course example (3 messages)"], template)  # load the encoding once, outside the timing
        for name, messages in cases.items():
            render_ms = timed_ms(lambda m=messages, t=template: render(m, t), 50)
            reply_ms = timed_ms(lambda m=messages, t=template: conversation_reply("es", t, m, 1, settings), 50)
            tokens = render(messages, template).count
            print(f"{template:10} {name:30} {tokens:6} tokens  render {render_ms:6.2f} ms  reply {reply_ms:6.2f} ms")
    # comparar:sí: five renders, five segment lists and a picture with a row per format.
    for name, messages in cases.items():
        compare_ms = timed_ms(lambda m=messages: comparison_reply("es", m, 1), 10)
        print(f"{'all':10} {name:30} {'':6}         comparison reply (with picture) {compare_ms:7.2f} ms")


if __name__ == "__main__":
    main()
