"""Typed arguments from a line of text (console and Slack)."""

from __future__ import annotations

import pytest

from bot.arguments import missing_required, parse_arguments, split_subcommand
from bot.command import CommandSpec, Option
from bot.errors import UserError

SPEC = CommandSpec(
    "tokens",
    "help.description",
    options=(
        Option("texto", "help.description", required=True, name_en="text"),
        Option("modelo", "help.description", choices=("gpt-4o", "gpt-4", "llama-3.1", "todos"), name_en="model"),
        Option("veces", "help.description", kind="integer"),
        Option("ciego", "help.description", kind="boolean", name_en="blind"),
    ),
)


def test_leading_text_goes_to_the_main_option():
    assert parse_arguments(SPEC, "Hola mundo") == {"texto": "Hola mundo"}


def test_named_options_in_any_order_and_language():
    assert parse_arguments(SPEC, "modelo:todos Hola mundo") == {"modelo": "todos", "texto": "Hola mundo"}
    assert parse_arguments(SPEC, "text:Hello there model:GPT-4o") == {"texto": "Hello there", "modelo": "gpt-4o"}
    assert parse_arguments(SPEC, "texto:a: b veces:3 ciego:sí") == {"texto": "a: b", "veces": 3, "ciego": True}


def test_colons_inside_text_are_kept():
    assert parse_arguments(SPEC, "El año 2024: 366 días") == {"texto": "El año 2024: 366 días"}


def test_bad_values_are_user_errors():
    with pytest.raises(UserError) as bad_choice:
        parse_arguments(SPEC, "hola modelo:gpt-9")
    assert bad_choice.value.key == "error.bad_choice"
    with pytest.raises(UserError) as bad_number:
        parse_arguments(SPEC, "hola veces:tres")
    assert bad_number.value.key == "error.bad_number"


def test_missing_required_option_is_found():
    assert missing_required(SPEC, parse_arguments(SPEC, "modelo:todos")).name == "texto"
    assert missing_required(SPEC, {"texto": "x"}) is None


def test_subcommands_are_split_off():
    spec = CommandSpec("quiz", "help.description", subcommands=(CommandSpec("start", "help.description"),))
    assert split_subcommand(spec, "start banco:x") == ("start", "banco:x")
    assert split_subcommand(SPEC, "start banco:x") == ("", "start banco:x")


def test_pasted_code_with_an_option_name_and_a_space_stays_text():
    code = "def saludar(modelo: str, texto: str):\n    return modelo"
    assert parse_arguments(SPEC, code) == {"texto": code}
    assert parse_arguments(SPEC, f"modelo:gpt-4 {code}") == {"modelo": "gpt-4", "texto": code}


@pytest.mark.parametrize("line", ["texto:", "texto:   ", "text:", "modelo:todos texto:"])
def test_an_option_name_ending_the_line_is_that_option_given_empty(line):
    args = parse_arguments(SPEC, line)
    assert args["texto"] == ""
    assert missing_required(SPEC, args).name == "texto"


def test_an_empty_option_with_fixed_choices_is_refused_not_taken_as_text():
    with pytest.raises(UserError) as refused:
        parse_arguments(SPEC, "hola modelo:")
    assert refused.value.key == "error.bad_choice"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("9007199254740991", True), ("-9007199254740991", True), ("9007199254740992", False),
     ("99999999999999999999999", False), ("-99999999999999999999999", False)],
)  # fmt: skip
def test_integers_stay_within_discords_range_so_none_overflows_storage(value, accepted):
    if accepted:
        assert parse_arguments(SPEC, f"hola veces:{value}")["veces"] == int(value)
        return
    with pytest.raises(UserError) as refused:
        parse_arguments(SPEC, f"hola veces:{value}")
    assert refused.value.key == "error.number_out_of_range"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_numbers_must_be_finite(value):
    spec = CommandSpec("next", "help.description", options=(Option("temperatura", "help.description", kind="number"),))
    with pytest.raises(UserError) as refused:
        parse_arguments(spec, f"temperatura:{value}")
    assert refused.value.key == "error.bad_number"
