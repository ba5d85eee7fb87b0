"""``fabulaws schema``: the JSON schema editors use, and docs/configuration.rst, describe the same keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from fabulaws.config.jsonschema import settings_schema

from conftest import REPO, run_cli

DOCS = REPO / "docs" / "configuration.rst"
CONFIGS = [
    REPO / "fabulaws-config.yml.example",
    REPO / "examples" / "myproject" / "fabulaws-config.yml",
    REPO / "tests" / "data" / "fabulaws-1x-sample" / "fabulaws-config.yaml",
]


def schema_keys(schema: dict) -> tuple[set[str], set[str]]:
    """(keys, deprecated keys) as dotted paths; ``*`` stands for a name the user picks (extra_log_files.*.tag)."""
    defs = schema["$defs"]

    def model(prop: dict) -> dict | None:
        refs = [prop.get("$ref")] + [alt.get("$ref") for alt in prop.get("anyOf", [])]
        names = [ref.rsplit("/", 1)[-1] for ref in refs if ref]
        return defs[names[0]] if names else None

    keys: set[str] = set()
    deprecated: set[str] = set()

    def walk(properties: dict, prefix: str) -> None:
        for name, prop in properties.items():
            key = prefix + name
            (deprecated if prop.get("deprecated") else keys).add(key)
            if (inner := model(prop)) is not None:
                walk(inner["properties"], key + ".")
            values = prop.get("additionalProperties")
            if isinstance(values, dict) and (inner := model(values)) is not None:
                walk(inner["properties"], key + ".*.")

    walk(schema["properties"], "")
    return keys, deprecated


def docs_section(title: str) -> str:
    """The text of a ``---``-underlined section of docs/configuration.rst."""
    text = DOCS.read_text()
    start = text.index(f"\n{title}\n{'-' * len(title)}\n")
    following = re.search(r"\n[^\n]+\n-{3,}\n", text[start + len(title) + 2:])
    return text[start: start + len(title) + 2 + following.start()] if following else text[start:]


def documented_keys() -> set[str]:
    """Every ````key```` that starts a definition in the key reference."""
    return set(re.findall(r"^``([\w.*]+)``$", docs_section("Key reference"), re.MULTILINE))


def test_every_key_is_in_the_docs_key_reference_and_nothing_else():
    keys, _ = schema_keys(settings_schema())
    documented = documented_keys()
    assert sorted(keys - documented) == [], "in the schema, missing from docs/configuration.rst's Key reference"
    assert sorted(documented - keys) == [], "in docs/configuration.rst's Key reference, not a key of the schema"


def test_every_deprecated_key_is_named_in_the_docs():
    _, deprecated = schema_keys(settings_schema())
    section = docs_section("Deprecated keys")
    assert deprecated and sorted(k for k in deprecated if f"``{k}``" not in section) == []


def test_the_schema_names_keys_the_way_the_docs_do():
    keys, deprecated = schema_keys(settings_schema())
    assert {"region", "aws_profile", "instance_settings.ami", "db_settings.postgresql_networks", "secrets.store",
            "extra_log_files.*.tag"} <= keys
    assert {"database_host", "instance_settings.secure_root"} <= deprecated


def test_every_key_has_a_description():
    schema = settings_schema()
    models = [schema, *schema["$defs"].values()]
    missing = [f"{model.get('title')}.{name}" for model in models for name, prop in model["properties"].items()
               if not prop.get("description")]
    assert missing == []


def test_fabulaws_schema_writes_it_to_stdout(tmp_path):
    result = run_cli(["schema"], tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    assert written == settings_schema()
    assert written["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert written["properties"]["region"]["description"].startswith("Region for every AWS call")


def test_fabulaws_schema_o_writes_a_file(tmp_path):
    result = run_cli(["schema", "-o", "fabulaws-config.schema.json"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert json.loads((tmp_path / "fabulaws-config.schema.json").read_text()) == settings_schema()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name if p.parent.name != "myproject" else "example project")
def test_the_shipped_configurations_satisfy_the_schema(path: Path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(settings_schema())
    assert [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))] == []


def test_the_schema_flags_what_the_loader_refuses():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(settings_schema())
    data = yaml.safe_load(CONFIGS[1].read_text())
    for key, value in (("deploy_usr", "x"), ("server_ports", {"testing": 70000}), ("static_hosting", "cdn")):
        assert list(validator.iter_errors({**data, key: value})), f"{key}: {value!r} passed the schema"
