"""``fabulaws schema``: the JSON schema of fabulaws-config.yml, for editors (yaml-language-server & co.).

It is pydantic's schema of ``Settings`` (every key with its type, default and
description) plus the 1.x keys that still load with a warning, marked deprecated.
Cross-key rules (names that must exist elsewhere in the file) are checked only
by FabulAWS itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..report import reporter
from .schema import (
    DEPRECATED_INSTANCE_SETTINGS,
    DEPRECATED_TOP_LEVEL,
    InstanceSettings,
    Settings,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DESCRIPTION = (
    "FabulAWS configuration: environments, AWS resources, servers and the application. "
    "Every key is described in docs/configuration.rst."
)


def settings_schema() -> dict[str, Any]:
    """The JSON schema of fabulaws-config.yml (a new dict on each call)."""
    schema = Settings.model_json_schema()
    schema = {"$schema": DIALECT, **schema, "title": "fabulaws-config.yml", "description": DESCRIPTION}
    _add_deprecated(schema["properties"], DEPRECATED_TOP_LEVEL)
    _add_deprecated(schema["$defs"][InstanceSettings.__name__]["properties"], DEPRECATED_INSTANCE_SETTINGS)
    return schema


def _add_deprecated(properties: dict, keys: dict[str, str]) -> None:
    """1.x keys FabulAWS accepts with a warning: allowed, but shown as deprecated by editors."""
    for key, why in keys.items():
        properties[key] = {"deprecated": True, "description": f"Deprecated: {why}."}


def main(argv: list[str]) -> None:
    """``fabulaws schema [-o FILE]``: write the schema to stdout or FILE."""
    parser = argparse.ArgumentParser(
        prog="fabulaws schema",
        description="Write the JSON schema of fabulaws-config.yml (for editors: see docs/configuration.rst).",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    args = parser.parse_args(argv)
    text = json.dumps(settings_schema(), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        reporter().notice(f"fabulaws schema: cannot write {args.output}: {exc.strerror}")
        sys.exit(1)
