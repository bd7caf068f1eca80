"""Every catalogue sentence that counts something with a placeholder has plural forms.

A placeholder directly followed by a counted noun ("{count} tokens", "{n} ejemplos") is a
count: its message must be a plural message (`one`/`other`, picked by `count`) and that
placeholder must be `{count}`, or the key is listed below with why it can never be 1.
"""

from __future__ import annotations

import re

import pytest

from bot.i18n import catalog, t

NOUNS = (
    "tokens|token|ejemplos|examples|mensajes|messages|preguntas|questions|respuestas|líneas|lines|"
    "errores|errors|caracteres|characters|pasos|steps|intentos|attempts|veces|times|votos|votes|piezas|pieces|"
    "bytes|épocas|epochs|opciones|options|segundos|seconds|minutos|minutes|horas|hours|días|days|"
    "estudiantes|students|filas|rows|archivos|files|palabras|words"
)
COUNTED = re.compile(r"\{(\w+)\} (" + NOUNS + r")\b")

# ("answers" is left out of NOUNS: English also uses it as a verb, "{url} answers"; the
# Spanish "respuestas" covers those messages.)
# Keys whose counted placeholder is never 1: a configured limit or budget named as such
# (thousands of tokens, 20 MB, 100,000 lines), a value over such a limit, or a count that
# only appears when it is at least 2 (a split into several tokens), or a whole rendering
# (the template alone adds several tokens).
NEVER_ONE = {
    "compare.budget": "the class's daily token budget (thousands)",
    "compare.budget_shrunk": "per-answer and reserved token limits (hundreds)",
    "compare.too_long": "a prompt over the model's context",
    "dataset.kind.line_too_long": "the line-length limit in bytes",
    "dataset.refused.too_many_lines": "the configured line limit",
    "dataset.stats.truncated": "the training context in tokens",
    "error.too_long": "a length over the limit",
    "homework.too_long": "a length over the limit",
    "next.game.long_guess": "the limit of a guess's length",
    "next.too_long": "a text over the model's context",
    "next.context_full": "a run's text over the model's context",
    "quiz.bad_time": "the bounds of a question's time",
    "quiz.schema.options_count": "the bounds of options per question",
    "quiz.schema.too_big": "the bank's size limit in bytes",
    "quiz.schema.too_long": "a length over the limit",
    "roles.error.too_long": "a length over the limit",
    "roles.live.budget": "the class's daily token budget (thousands)",
    "roles.mask.count": "a whole rendering: the template alone adds several tokens",
    "roles.mask.picture_title": "a whole rendering: the template alone adds several tokens",
    "roles.mask.alt": "a whole rendering: the template alone adds several tokens",
    "tokens.error.too_long": "a length over the limit",
    "tokens.obs.char_split": "shown only when a character splits into 2 or more tokens (and bytes)",
    "tokens.obs.code": "shown only for code of many tokens",
    "tokens.obs.emoji_many": "shown only when an emoji takes 2 or more tokens (and bytes)",
    "tokens.obs.number_groups": "shown only when a number splits into 2 or more tokens",
    "tokens.obs.number_split": "shown only when a number splits into 2 or more tokens",
    "tokens.obs.special_lookalike": "a typed special-token name is always several tokens",
    "tokens.obs.word_split": "shown only when a word splits into 2 or more pieces",
    "tokens.obs.word_split_unspaced": "shown only when a word splits into 2 or more pieces",
    "tokens.obs.spanish_costs_more": "a course sentence of several tokens in both languages",
    "tokens.obs.spanish_costs_same": "a course sentence of several tokens in both languages",
    "tokens.segments_truncated": "more tokens than the shown hundreds",
    "tokens.picture_title": "shown only for texts over the picture's width (many characters)",
    "tokens.summary": "characters of a text analysed for its tokens, and a ratio",
    # One placeholder of a plural message that counts something else with {count}:
    "roles.compare.summary:most": "the longest rendering of the conversation (several tokens)",
}


def counted_messages():
    for key, texts in sorted(catalog().items()):
        for lang in ("es", "en"):
            text = texts.get(lang)
            forms = text.values() if isinstance(text, dict) else [text]
            for form in forms:
                for match in COUNTED.finditer(form or ""):
                    yield key, lang, text, match.group(1), match.group(0)


@pytest.mark.parametrize(("key", "lang", "text", "placeholder", "where"), list(counted_messages()))
def test_a_counted_placeholder_is_a_plural_count_or_documented(key, lang, text, placeholder, where):
    if key in NEVER_ONE or f"{key}:{placeholder}" in NEVER_ONE:
        return
    assert isinstance(text, dict) and set(text) >= {"one", "other"}, f"{key} ({lang}): «{where}» needs one/other"
    assert placeholder == "count", f"{key} ({lang}): «{where}» must count with {{count}}"


def test_the_exceptions_are_still_in_the_catalogue():
    assert not {key.split(":")[0] for key in NEVER_ONE} - set(catalog())


@pytest.mark.parametrize(
    ("key", "values", "es", "en"),
    [
        ("dataset.summary", {"count": 1, "valid": 1, "format": "f", "model": "m"}, "1 ejemplo leído;", "1 example read;"),
        ("dataset.histogram.alt", {"count": 1}, "de 1 ejemplo", "of 1 example"),
        ("roles.compare.summary", {"count": 1, "least": 9, "most": 12}, "El mismo 1 mensaje cuesta", "The same 1 message costs"),
        ("next.steps_left", {"count": 1}, "Queda 1 paso.", "1 step left."),
        ("dataset.cost.epochs", {"count": 1}, "1 época", "1 epoch"),
        ("quiz.results_played", {"played": 1, "count": 1}, "1 de 1 pregunta jugada", "1 of 1 question played"),
    ],
)
def test_one_is_singular(key, values, es, en):
    assert es in t("es", key, **values) and en in t("en", key, **values)
