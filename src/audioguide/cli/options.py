"""The options every command that builds or plans takes, made from the options table."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..language.yamlfile import show
from ..options import OPTIONS, Option, OptionError, options_from
from ..text import MAX_CELL_CHARS, printable, problem
from .progress import PROGRESS

F = TypeVar("F", bound=Callable[..., Any])


def _parse_vars(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip()
        if wrong := problem(item, "var", MAX_CELL_CHARS):
            raise click.BadParameter(f"'{printable(name)}': {wrong}")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' should look like name=value, e.g. client=Sam")
        if name in out:
            raise click.BadParameter(
                f"'{name}' is set twice ({name}={out[name]} and {item}): keep one"
            )
        out[name] = value
    return out


VAR = click.option(
    "--var",
    "variables",
    multiple=True,
    callback=_parse_vars,
    metavar="NAME=VALUE",
    help="Set a routine var, e.g. --var client=Sam (each var once).",
)


def _click_option(option: Option) -> Callable[[F], F]:
    def parse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        values = value if option.multiple else () if value is None else (value,)
        parsed = []
        for text in values:
            try:
                parsed.append(option.parse(text))
            except OptionError as e:
                raise click.BadParameter(f"{show(text)} is not {e}") from None
        return parsed if option.multiple else (parsed[0] if parsed else None)

    default = f" [default: {option.default}]" if option.default else ""
    return click.option(
        option.flag,
        option.field,
        metavar=option.metavar,
        multiple=option.multiple,
        callback=parse,
        help=option.help + default,
    )


def build_options(*, argument: str = "routine", sound: bool = True) -> Callable[[F], F]:
    """The `argument` (a routine, or a program), --var, --progress (as `show_progress`) and every
    build option (with `sound` False, only those that change the plan) gathered into one
    `options` for the command."""
    chosen = [o for o in OPTIONS if sound or o.plans]

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def command(**kw: Any) -> Any:
            kw["options"] = options_from({o.field: kw.pop(o.field) for o in chosen})
            return f(**kw)

        for option in reversed(chosen):
            command = _click_option(option)(command)
        return click.argument(argument)(VAR(PROGRESS(command)))  # type: ignore[return-value]

    return decorate
