"""Read a YAML file into plain data plus the line of every key, for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

KeyPath = tuple[Any, ...]


def format_path(path: KeyPath) -> str:
    """``('a', 0, 'b')`` -> ``a[0].b``, the way users write keys in docs."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class YamlSource:
    """A parsed YAML document that remembers where each key was written."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of the deepest written prefix of ``path`` (None if not in the file)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def where(self, path: KeyPath = ()) -> str:
        """``fabulaws-config.yml:12`` (or just the file name) for messages."""
        line = self.line_of(path) if path else None
        return f"{self.path.name}:{line}" if line else self.path.name

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """One-line error naming the file, the line, the key path and the problem."""
        key = format_path(path)
        return ConfigError(f"{self.where(path)}: {key}: {message}" if key else f"{self.where(path)}: {message}")


def read_yaml(path: Path) -> YamlSource:
    """Parse ``path`` with the safe loader; duplicate keys are errors, not silent overrides."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        source = YamlSource(path, None)
        if node is not None:
            _record_lines(source, node, ())
            source.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return source


def _record_lines(source: YamlSource, node: yaml.Node, path: KeyPath) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                source.lines[path + (key,)] = line
                raise source.error(path + (key,), f"duplicate key (first written on line {seen[key]})")
            seen[key] = line
            source.lines[path + (key,)] = line
            _record_lines(source, value_node, path + (key,))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines[path + (index,)] = item.start_mark.line + 1
            _record_lines(source, item, path + (index,))
