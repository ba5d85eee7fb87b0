"""Typed task arguments: each converter turns the text given on the command line into the value the task uses,
or refuses it with one line naming what was expected, before the task's body runs (so before any change).

invoke would cast ``num_web=two`` with ``int()`` while parsing and print a traceback; ``TypedTask`` declares
such arguments as text to invoke and converts them itself. A task names its types with literals
(``@task(types={"num_web": "count", "engine": ["serial", "instance-refresh"]})``) so that the stand-ins
of fabulaws.tasklist read them from source. This module imports nothing heavy.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from fabric import Task as FabricTask

from .errors import UsageError


class Converter:
    """A named conversion: ``expected`` says in words what it accepts (for errors and ``--help``)."""

    expected = "a value"

    def convert(self, value: object) -> Any:
        raise NotImplementedError

    def __call__(self, value: object) -> Any:
        return self.convert(value)


class Whole(Converter):
    """A whole number no smaller than ``minimum`` (servers, batch size, images to keep)."""

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum
        self.expected = f"a whole number of at least {minimum}"

    def convert(self, value: object) -> int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            if not text.lstrip("+-").isdigit():
                raise ValueError(value)
            number = int(text)
        if number < self.minimum:
            raise ValueError(value)
        return number


class Seconds(Converter):
    """A duration in seconds, greater than 0 (``poll=0`` would poll AWS with no pause at all)."""

    expected = "a number of seconds greater than 0"

    def convert(self, value: object) -> float:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(str(value))  # ValueError for "fast"
        if not math.isfinite(number) or number <= 0:
            raise ValueError(value)
        return number


class Flag(Converter):
    """yes or no (``rollback=no``); 1.x took any string as true, so ``maybe`` is refused rather than guessed."""

    expected = "yes or no"
    YES = ("yes", "y", "true", "1", "on")
    NO = ("no", "n", "false", "0", "off", "none", "")

    def convert(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.YES:
            return True
        if text in self.NO:
            return False
        raise ValueError(value)


class Choice(Converter):
    """One of a few names (``engine=serial``)."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.expected = "one of " + ", ".join(names)

    def convert(self, value: object) -> str:
        if str(value) not in self.names:
            raise ValueError(value)
        return str(value)


WHOLE = Whole(0)
COUNT = Whole(1)
SECONDS = Seconds()
FLAG = Flag()
NAMED = {"whole": WHOLE, "count": COUNT, "seconds": SECONDS, "flag": FLAG}


def converter_of(spec: Any) -> Converter:
    """The converter a ``types=`` literal names: ``"count"``, ``"whole"``, ``"seconds"``, ``"flag"``, or a list of choices."""
    if isinstance(spec, Converter):
        return spec
    if isinstance(spec, (list, tuple)):
        return Choice(*spec)
    if spec in NAMED:
        return NAMED[spec]
    raise TypeError(f"unknown argument type {spec!r}; expected one of {', '.join(NAMED)} or a list of choices")


def implied(default: object) -> Converter | None:
    """The converter a default's type implies, for arguments ``types=`` does not name (None: keep it text)."""
    if isinstance(default, bool):
        return None  # invoke makes these --flags without a value
    if isinstance(default, int):
        return WHOLE
    if isinstance(default, float):
        return SECONDS
    return None


def converters_for(body: Callable, types: Mapping[str, Any]) -> dict[str, Converter]:
    """Every argument of ``body`` that gets converted: those named in ``types``, then those with a number default."""
    params = list(inspect.signature(body).parameters.values())[1:]  # the context first
    unknown = set(types) - {p.name for p in params}
    if unknown:
        raise TypeError(f"{body.__name__}: types= names no such argument: {', '.join(sorted(unknown))}")
    found = {}
    for param in params:
        converter = converter_of(types[param.name]) if param.name in types else implied(param.default)
        if converter is not None:
            found[param.name] = converter
    return found


def convert_arguments(task_name: str, body: Callable, converters: Mapping[str, Converter], args: tuple,
                      kwargs: dict) -> tuple[tuple, dict]:
    """``args``/``kwargs`` of a call (context first) with each typed argument converted; UsageError for a bad one.

    Defaults are converted too, so the body sees the same type either way; None (not given) stays None.
    """
    bound = inspect.signature(body).bind_partial(*args, **kwargs)
    bound.apply_defaults()
    for name, converter in converters.items():
        value = bound.arguments.get(name)
        if value is None:
            continue
        try:
            bound.arguments[name] = converter(value)
        except (ValueError, TypeError, OverflowError):
            raise UsageError(f"{task_name}: {name}={value}: expected {converter.expected}") from None
    return bound.args, bound.kwargs


class TypedTask(FabricTask):
    """A Fabric task whose typed arguments (``types=``, or a number default) reach invoke as text and are
    converted before the body runs: a bad value is one line (UsageError, exit 2), never invoke's traceback."""

    def __init__(self, body: Callable, *args: object, types: Mapping[str, Any] | None = None,
                 check: Callable[[Any, dict], None] | None = None, **kwargs: object) -> None:
        """+ check: called with the context and the converted arguments by name before the body runs."""
        self.converters = converters_for(body, types or {})
        self.check = check
        super().__init__(body, *args, **kwargs)

    def arg_opts(self, name: str, default: object, taken_names: set) -> dict:
        opts = super().arg_opts(name, default, taken_names)
        converter = self.converters.get(name)
        if converter is not None:
            opts["kind"] = str
            if opts.get("help"):
                opts["help"] = f"{opts['help']} ({converter.expected})"
        return opts

    def __call__(self, *args: object, **kwargs: object) -> Any:
        args, kwargs = convert_arguments(self.name, self.body, self.converters, args, kwargs)
        if self.check is not None and args:
            self.check(args[0], inspect.signature(self.body).bind(*args, **kwargs).arguments)
        return super().__call__(*args, **kwargs)
