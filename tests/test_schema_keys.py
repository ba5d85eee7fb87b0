"""No dead keys: every key fabulaws-config.yml accepts is read by the code, or deprecated with a warning.

A key counts as read when the code outside fabulaws/config/ accesses it as an attribute (``settings.key``) or names
it in a string (``role_setting("key", ...)``), comments and docstrings left out. A key still accepted but no longer
honoured must be in one of schema.py's DEPRECATED_* tables (a warning naming its replacement) or say "Deprecated"
at the start of its description.
"""

from __future__ import annotations

import ast
import typing
from functools import cache
from pathlib import Path

from fabulaws.config import schema
from pydantic import BaseModel

PACKAGE = Path(schema.__file__).resolve().parents[1]  # fabulaws/
CONFIG = PACKAGE / "config"


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (``Model``, ``dict[str, Model]``, ``Model | None``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in models_in(argument)]


def schema_keys(model: type[BaseModel] = schema.Settings, prefix: str = "") -> dict[str, tuple[str, str]]:
    """Every key, dotted (``db_settings.postgresql_tune``) -> (its own name, its description)."""
    keys: dict[str, tuple[str, str]] = {}
    for name, info in model.model_fields.items():
        keys[prefix + name] = (name, info.description or "")
        for nested in models_in(info.annotation):
            keys.update(schema_keys(nested, f"{prefix}{name}."))
    return keys


@cache
def names_read() -> frozenset[str]:
    """Attribute names accessed and string constants (docstrings left out) in fabulaws/, outside config/."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if CONFIG in path.parents or "sandbox" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                found.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.add(node.value)
    return frozenset(found)


@cache
def read_through_schema() -> frozenset[str]:
    """Keys schema.py's own properties and methods read (``self.key``), for those the code outside uses
    (``is_production`` reads ``production_environments``)."""
    used, found = names_read(), set()
    for node in ast.walk(ast.parse(Path(schema.__file__).read_text())):
        if isinstance(node, ast.FunctionDef) and node.name in used:
            found |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return frozenset(found)


def deprecated() -> set[str]:
    tables = [value for name, value in vars(schema).items() if name.startswith("DEPRECATED_") and isinstance(value, dict)]
    return {key for table in tables for key in table}


def test_the_walk_finds_nested_keys():
    keys = schema_keys()
    assert {"valid_roles", "instance_settings.ami", "db_settings.postgresql_tune_type", "secrets.store",
            "extra_log_files.tag", "remote_timeouts.command"} <= set(keys)


def test_the_scan_sees_attribute_access_and_strings_but_not_docstrings():
    read = names_read()
    assert "instance_types" in read  # role_setting("instance_types", ...)
    assert "password_names" in read  # settings.password_names
    assert "1.x" not in read
    assert "production_environments" in read_through_schema()  # Settings.is_production, used by the tasks


def test_every_key_is_read_or_deprecated():
    read, old = names_read() | read_through_schema(), deprecated()
    dead = sorted(dotted for dotted, (name, description) in schema_keys().items()
                  if name not in read and name not in old and not description.startswith("Deprecated"))
    assert dead == [], "accepted by config/schema.py, read nowhere in fabulaws/ and not deprecated"
