"""Fabric 1 command-line syntax, translated for invoke's parser.

``deploy_full:myproject,production,num_web=3`` becomes
``deploy-full --deployment=myproject --environment=production --num-web=3``.
Values are unescaped (``\\,`` ``\\=`` ``\\:``), booleans are parsed (1.x passed
the string "False", which is truthy), and trailing positional values go to a
task's list parameter (1.x's ``*processes``). 1.x's per-task ``roles=`` and ``hosts=`` (values separated by
``;``) narrow the servers of that one task (``supervisor:restart,celery,roles=worker``): see ``NarrowedCall``.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoke import Argument, Call

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
TASK_ALIASES = {"managepy": {"cmd": "command"}}  # one task's 1.x keyword -> its argument here

NARROWING = ("roles", "hosts")  # 1.x's per-task host selection keywords (Fabric 1 took them on any task)
NARROWING_ARG = "fabulaws_narrowing"  # the hidden argument that carries them to the executor


def narrowable(task: object) -> bool:
    """Whether a task honours roles=/hosts=: a fabfile's task (Fabric runs it per host, as 1.x did), or a built-in
    task marked ``narrows`` (our tasks find their servers themselves; the others refuse rather than ignore it)."""
    return not getattr(task, "discovers_hosts", False) or getattr(task, "narrows", False)


class NarrowedCall(Call):
    """A task call that puts its own roles=/hosts= (or none) where ``context.py`` reads them, before it runs."""

    def __init__(self, *args: Any, narrowing: dict[str, list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.narrowing = narrowing or {}
        self.hosts: list[str] | None = None  # Fabric's Executor runs a call once per host of ``call.hosts``

    def make_context(self, config: Any) -> Any:
        from .cli import NAMESPACE

        data = dict(config.get(NAMESPACE) or {})
        data.update(task_roles=self.narrowing.get("roles", []), task_hosts=self.narrowing.get("hosts", []))
        config[NAMESPACE] = data
        return super().make_context(config)

    def __eq__(self, other: object) -> bool:  # the same task twice with other roles= is two runs, not one
        return super().__eq__(other) and self.narrowing == getattr(other, "narrowing", {})

    __hash__ = None  # type: ignore[assignment]


def narrowed_calls(calls: list[Call]) -> list[Call]:
    """``calls`` with each one's roles=/hosts= taken out of its arguments (see ``NarrowedCall``).

    A fabfile task given hosts= runs once per host, with a Connection to it, as in 1.x.
    """
    result: list[Call] = []
    for call in calls:
        kwargs = dict(call.kwargs)
        narrowing = json.loads(kwargs.pop(NARROWING_ARG, None) or "{}")
        made = NarrowedCall(call.task, args=call.args, kwargs=kwargs, called_as=call.called_as, narrowing=narrowing)
        if narrowing.get("hosts") and not getattr(call.task, "discovers_hosts", False):
            made.hosts = narrowing["hosts"]
        result.append(made)
    return result


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
        narrowing = self._narrowing(name, parsed)
        values = self._bind(name, parsed)
        argv = [name]
        if narrowing:
            if NARROWING_ARG not in context.args:
                context.add_arg(Argument(names=(NARROWING_ARG,), kind=str))
            argv.append(f"--{NARROWING_ARG.replace('_', '-')}={self._safe(context, json.dumps(narrowing))}")
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

    def _narrowing(self, name: str, parsed: TaskToken) -> dict[str, list[str]]:
        """Take roles=/hosts= out of ``parsed`` (unless the task has an argument of that name): 1.x's ``;``-lists."""
        found: dict[str, list[str]] = {}
        for key in NARROWING:
            if key in parsed.keywords and key not in self.contexts[name].args:
                values = [v.strip() for v in parsed.keywords.pop(key).split(";") if v.strip()]
                if not values:
                    raise UsageError(f"{name}: {key}= is empty; give one or more names separated by ';'")
                found[key] = values
        if found and not narrowable(self.collection[name]):
            raise UsageError(f"{name}: roles=/hosts= do not apply to this task (it acts on the servers it is for); "
                             "run it without them")
        return found

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
            aliases = {**ALIASES, **TASK_ALIASES.get(name.replace("-", "_"), {})}
            if param not in context.args and aliases.get(param) in context.args:
                param = aliases[param]
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
