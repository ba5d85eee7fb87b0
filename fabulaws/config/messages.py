"""Turn pydantic's validation errors into one line a user can act on."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .yamlsource import KeyPath, YamlSource

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "path_type": "a file path",
    "string_pattern_mismatch": "an AWS region name such as us-east-1",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'deploy_user'?"`` when a close match exists, else ``""``."""
    choices = [str(c) for c in choices]
    prefixed = [c for c in choices if word and c.startswith(str(word))]
    matches = prefixed[:1] if len(prefixed) == 1 else difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def describe_value(value: object) -> str:
    """Short description of what the user wrote, for 'got ...'."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return repr(value)


def expected_text(error: Mapping[str, Any]) -> str:
    """What the value should have been, from one pydantic error dict."""
    kind = error["type"]
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return f"one of {error['ctx']['expected']}"
    if kind == "too_short":
        return "a non-empty list"
    if kind == "value_error":
        return str(error["ctx"]["error"]).removeprefix("expected ")
    message = error["msg"]
    return message[len("Input should be ") :] if message.startswith("Input should be ") else message


def annotation_at(annotation: object, path: KeyPath) -> Any:
    """The type declared for ``path`` inside ``annotation`` (a model class or a type), or None."""
    for part in path:
        annotation = _strip_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return None
    return _strip_optional(annotation)


def describe_annotation(annotation: object) -> str:
    """``list[str]`` -> 'a list of strings', for "required key is missing (expected ...)"."""
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a file path"}
    if annotation in names:
        return names[annotation]
    origin = typing.get_origin(annotation)
    if origin is list:
        plurals = {str: "strings", int: "integers", float: "numbers", Path: "file paths"}
        plural = plurals.get(typing.get_args(annotation)[0])
        return f"a list of {plural}" if plural else "a list"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a mapping"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    return "a value"


def _strip_optional(annotation: object) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def validation_error(source: YamlSource, exc: ValidationError, model: object, prefix: KeyPath = ()) -> ConfigError:
    """The first problem in ``exc`` (raised validating type ``model`` at ``prefix``) as a one-line ConfigError."""
    # An unknown key is reported first: its did-you-mean usually explains a "missing" one too.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    loc = tuple(error["loc"])
    path = prefix + loc
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    kind = error["type"]
    if kind == "missing":
        expected = describe_annotation(annotation_at(model, loc))
        message = f"required key is missing (expected {expected})"
    elif kind == "extra_forbidden":
        parent = annotation_at(model, loc[:-1])
        choices = parent.model_fields if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        message = f"unknown key{did_you_mean(path[-1], choices)}"
    elif kind in ("value_error", "too_short"):
        message = f"expected {expected_text(error)}"
    else:
        message = f"expected {expected_text(error)}, got {describe_value(error.get('input'))}"
    return source.error(path, message + more)
