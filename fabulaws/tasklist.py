"""The built-in tasks as ``--list``, ``--help TASK`` and ``--complete`` show them, read from source.

Importing the tasks imports boto3, pydantic and every module they use (0.3-0.5 s),
which a shell completion on every TAB cannot afford. When the program will only
list, complete or show help, the api builds these stand-ins instead: same names,
signatures, docstrings, help texts and iterables, taken from the task modules'
source with ``ast`` (nothing of theirs is imported), and environment tasks from
the configuration's ``environments`` read as plain YAML (not validated: only
running a task needs that). Calling a stand-in runs the real task.
tests/test_fab_cli.py checks the stand-ins against the real tasks.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabric import task as fabric_task

from .arguments import TypedTask

if TYPE_CHECKING:
    from invoke import Program

TASKS_PACKAGE = "fabulaws.library.wsgiautoscale.tasks"
TASKS_DIR = Path(__file__).parent / "library" / "wsgiautoscale" / "tasks"
SKIPPED_MODULES = ("__init__", "base", "environment")  # environment tasks are made per configured environment


def wants_listing_only(program: Program | None) -> bool:
    """True when ``program`` (a running invoke Program) will only list, complete or show help, never run a task."""
    if program is None or getattr(program, "core", None) is None:
        return False
    args = program.core[0].args
    return any(name in args and args[name].value for name in ("list", "complete", "help"))


def _task_decorator(node: ast.FunctionDef) -> dict | None:
    """The literal keyword arguments of ``@task``/``@task(...)`` on ``node``, or None if it is not a task."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id == "task":
            return {}
        if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name) and decorator.func.id == "task":
            return {kw.arg: ast.literal_eval(kw.value) for kw in decorator.keywords if kw.arg}
    return None


def _signature_source(node: ast.FunctionDef) -> tuple[str, str]:
    """``(parameters, call arguments)`` source for a stand-in with ``node``'s signature (defaults are literals)."""
    args = node.args
    params, call = [], []
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(args.args, defaults, strict=True):
        params.append(arg.arg if default is None else f"{arg.arg}={ast.unparse(default)}")
        call.append(arg.arg)
    return ", ".join(params), ", ".join(call)


def _stand_in(spec: dict) -> Any:
    """A Task with the signature, docstring and options of ``spec`` (from ``_specs``) that runs the real one."""
    namespace: dict[str, Any] = {"_run": _runner(spec["module"], spec["name"])}
    source = f"def {spec['name']}({spec['params']}):\n    return _run({spec['call']})\n"
    exec(source, namespace)  # noqa: S102 - a signature copied from our own task modules
    body = namespace[spec["name"]]
    body.__doc__ = spec["doc"]
    body.__module__ = f"{TASKS_PACKAGE}.{spec['module']}"
    made = fabric_task(klass=TypedTask, **spec["options"])(body)  # converts its typed arguments as the real one does
    made.discovers_hosts = True
    return made


def _runner(module: str, name: str) -> Any:
    def run(*args: object) -> Any:
        real = getattr(importlib.import_module(f"{TASKS_PACKAGE}.{module}"), name)
        return real.body(*args)

    return run


def _specs() -> list[dict]:
    """What each ``@task`` function of the task modules looks like, from their source (cached per file version)."""
    paths = [p for p in sorted(TASKS_DIR.glob("*.py")) if p.stem not in SKIPPED_MODULES]
    key = [[p.name, p.stat().st_mtime_ns, p.stat().st_size] for p in paths]
    cache = TASKS_DIR / "__pycache__" / "fabulaws-tasklist.json"
    try:
        cached = json.loads(cache.read_text())
        if cached["key"] == key:
            return cached["specs"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    specs = []
    for path in paths:
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.FunctionDef):
                options = _task_decorator(node)
                if options is not None:
                    params, call = _signature_source(node)
                    specs.append({"module": path.stem, "name": node.name, "params": params, "call": call,
                                  "doc": ast.get_docstring(node, clean=False), "options": options})
    with contextlib.suppress(OSError):  # a read-only installation just parses every time
        cache.parent.mkdir(exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"key": key, "specs": specs}))
        temporary.replace(cache)
    return specs


def static_tasks() -> dict[str, Any]:
    """Stand-ins for every ``@task`` function defined in the task modules, by name."""
    return {spec["name"]: _stand_in(spec) for spec in _specs()}


def environment_tasks(config_file: Path) -> dict[str, Any] | None:
    """Stand-ins for the environment tasks of ``config_file``; None if it has no list of environments to read."""
    from invoke.vendor import yaml  # already imported by invoke: free

    try:
        data = yaml.safe_load(config_file.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("environments"), list):
        return None
    default = data.get("default_deployment")
    return {str(env): _environment_stand_in(str(env), str(default)) for env in data["environments"]}


def _environment_stand_in(environment: str, default_deployment: str) -> Any:
    def select_environment(c, deployment_tag=default_deployment, answer=None):
        from .library.wsgiautoscale.context import project_settings
        from .library.wsgiautoscale.tasks.environment import environment_task

        return environment_task(project_settings(), environment).body(c, deployment_tag, answer)

    select_environment.__name__ = environment.replace("-", "_")
    select_environment.__doc__ = (
        f"Select the {environment} environment (of deployment {default_deployment} unless deployment_tag is given)."
    )
    made = fabric_task(name=environment, help={
        "deployment_tag": f"deployment to select (default: {default_deployment}, the config's default_deployment)",
        "answer": "y selects a production environment without asking; n refuses (default: ask on the terminal)",
    })(select_environment)
    made.discovers_hosts = True
    return made
