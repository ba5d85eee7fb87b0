"""Fabric 1 command-line syntax, translated for invoke's parser.

``deploy_full:myproject,production,num_web=3`` becomes
``deploy-full --deployment=myproject --environment=production --num-web=3``.
Values are unescaped (``\\,`` ``\\=`` ``\\:``), booleans are parsed (1.x passed
the string "False", which is truthy), and trailing positional values go to a
task's list parameter (1.x's ``*processes``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from invoke import Collection, ParserContext

TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0", "")


def split_unescaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on ``separator`` except where it is escaped with a backslash (escapes are kept)."""
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator and maxsplit != 0:
            parts.append(current)
            current = ""
            maxsplit -= 1
        else:
            current += char
    if escaped:
        current += "\\"
    parts.append(current)
    return parts


def unescape(text: str) -> str:
    """Drop the backslash before any character (``\\,`` -> ``,``; ``\\\\`` -> ``\\``)."""
    result, escaped = "", False
    for char in text:
        if escaped or char != "\\":
            result += char
            escaped = False
        else:
            escaped = True
    return result + ("\\" if escaped else "")


def parse_bool(value: str, task: str, name: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(f"{task}: {name}={value!r}: expected true or false")


# 1.x's keyword names for arguments that have another name here (every 1.x task took ``deployment_tag=``).
ALIASES = {"deployment-tag": "deployment"}


@dataclass
class TaskToken:
    """One ``name:args`` token split into positional and keyword values."""

    name: str
    positional: list[str]
    keywords: dict[str, str]

    @classmethod
    def parse(cls, token: str) -> TaskToken:
        name, rest = (split_unescaped(token, ":", 1) + [""])[:2]
        positional: list[str] = []
        keywords: dict[str, str] = {}
        if rest:
            for part in split_unescaped(rest, ","):
                pieces = split_unescaped(part, "=", 1)
                if len(pieces) == 2:
                    keywords[unescape(pieces[0])] = unescape(pieces[1])
                else:
                    positional.append(unescape(part))
        return cls(unescape(name), positional, keywords)


class Translator:
    """Rewrites Fabric 1 tokens into invoke argv, using the loaded task collection."""

    def __init__(self, collection: Collection, contexts: dict[str, ParserContext]) -> None:
        self.collection = collection
        self.contexts = contexts
        self.fixups: dict[str, str] = {}  # placeholder -> real value

    def resolve(self, name: str) -> str | None:
        """Canonical task name for ``name`` with underscores or dashes, or None."""
        for candidate in (name, name.replace("_", "-")):
            if candidate in self.contexts:
                return candidate
        return None

    def is_fabric1(self, token: str) -> bool:
        if token.startswith("-"):
            return False
        head = split_unescaped(token, ":", 1)
        if len(head) == 2:
            return self.resolve(unescape(head[0])) is not None
        return token not in self.contexts and self.resolve(token) is not None

    def translate(self, tokens: list[str]) -> list[str]:
        """invoke argv for ``tokens``; Fabric 2 tokens pass through untouched."""
        argv: list[str] = []
        for token in tokens:
            argv += self.translate_token(token) if self.is_fabric1(token) else [token]
        return argv

    def translate_token(self, token: str) -> list[str]:
        parsed = TaskToken.parse(token)
        name = self.resolve(parsed.name) or parsed.name  # is_fabric1 resolved it
        context = self.contexts[name]
        values = self._bind(name, parsed)
        argv = [name]
        for param, value in values.items():
            arg = context.args[param]
            flag = "--" + param
            if arg.kind is bool:
                if parse_bool(value, name, param.replace("-", "_")):
                    argv.append(flag)
                elif arg.default is True:
                    argv.append("--no-" + param)
            elif arg.kind is list:
                argv += [f"{flag}={self._safe(context, item)}" for item in value]
            else:
                argv.append(f"{flag}={self._safe(context, value)}")
        return argv

    def _bind(self, name: str, parsed: TaskToken) -> dict[str, Any]:
        """Map positional and keyword values onto the task's parameters, in signature order."""
        context = self.contexts[name]
        params = [p.replace("_", "-") for p in self._parameters(name)]
        values: dict[str, Any] = {}
        for index, value in enumerate(parsed.positional):
            param = params[min(index, len(params) - 1)] if params else None
            if param is None or (index >= len(params) and context.args[param].kind is not list):
                raise UsageError(
                    f"{name} takes at most {len(params)} argument(s) ({', '.join(params) or 'none'}); "
                    f"got {len(parsed.positional)}: {', '.join(parsed.positional)}"
                )
            if context.args[param].kind is list:
                values.setdefault(param, []).append(value)
            else:
                values[param] = value
        for key, value in parsed.keywords.items():
            param = key.replace("_", "-")
            if param not in context.args and ALIASES.get(param) in context.args:
                param = ALIASES[param]
                if param in values:
                    raise UsageError(f"{name}: {key}={value!r} repeats the {param} given before it")
            if param not in context.args:
                raise UsageError(f"{name} has no argument {key!r}; its arguments: {', '.join(params)}")
            values[param] = [*values.get(param, []), value] if context.args[param].kind is list else value
        return values

    def _parameters(self, name: str) -> list[str]:
        body = self.collection[name].body
        return list(inspect.signature(body).parameters)[1:]  # drop the context

    def _safe(self, context: ParserContext, value: str) -> str:
        """invoke would read a value equal to one of the task's flags as that flag; hide it."""
        if value not in context.flags and value not in context.inverse_flags:
            return value
        placeholder = f"\x00fabulaws-{len(self.fixups)}\x00"
        self.fixups[placeholder] = value
        return placeholder

    def restore(self, parsed_contexts: list[Any]) -> None:
        """Put back the values hidden by ``_safe`` after invoke has parsed the argv."""
        for context in parsed_contexts:
            for arg in context.args.values():
                if isinstance(arg.value, str) and arg.value in self.fixups:
                    arg.set_value(self.fixups[arg.value])
                elif isinstance(arg.value, list):
                    arg.value[:] = [self.fixups.get(item, item) for item in arg.value]
