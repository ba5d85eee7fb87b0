"""``-R/--dry`` for the built-in tasks: each task that changes something prints its plan instead, or refuses.

``dry_run`` is what tasks/base.py's ``@task`` calls under ``--dry``: a task that only reads runs as usual;
a task with a planner here checks its arguments and the environment as the real run would, then prints what
it would do, with read calls only; any other task refuses with one line (exit 2). Under all of it,
fabulaws.dryrun's safety net makes the AWS clients refuse every non-read call. Planners open no SSH
connection. The deploy operations' planners live in plans_deploy.py, server creation's in plans_servers.py.
"""

from __future__ import annotations

import inspect
import posixpath
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ...aws import scaling
from ...dryrun import Plan, cannot_plan, enable
from ...secrets import GENERATED, Secrets
from .context import aws_for, discover, selected, settings_for
from .environment import Environment, check_selection

if TYPE_CHECKING:
    from invoke import Context

Planner = Callable[[Any, SimpleNamespace], Plan]
PLANNERS: dict[str, Planner] = {}
# Tasks that change nothing (the marker): under --dry they simply run. Environment tasks (``testing``...)
# only remember the selection, so they run too (see reads_only).
READS_ONLY = frozenset({"describe", "current_changeset"})


def planner(*names: str) -> Callable[[Planner], Planner]:
    """Register a planner for the tasks ``names``; it takes the context and the task's arguments by name."""

    def register(plan_of: Planner) -> Planner:
        for name in names:
            PLANNERS[name] = plan_of
        return plan_of

    return register


def reads_only(c: Context, name: str) -> bool:
    """Whether task ``name`` changes nothing: marked in READS_ONLY, or an environment task."""
    return name in READS_ONLY or name in settings_for(c).environments


def arguments(body: Callable, c: Context, args: tuple, kwargs: dict) -> SimpleNamespace:
    """The task's arguments by name, with the body's own defaults (so a planner never drifts from the task)."""
    bound = inspect.signature(body).bind(c, *args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop(next(iter(values)))  # the context
    return SimpleNamespace(**values)


def dry_run(c: Context, name: str, body: Callable, args: tuple, kwargs: dict) -> Any:
    """Run a read-only task, print a planning task's plan, or refuse (UsageError: exit 2, nothing changed)."""
    enable()
    if reads_only(c, name):
        return body(c, *args, **kwargs)
    task_name = name.replace("-", "_")
    from . import plans_deploy, plans_servers  # noqa: F401 - importing them registers their planners

    plan_of = PLANNERS.get(task_name)
    if plan_of is None:
        raise cannot_plan(task_name)
    plan_of(c, arguments(body, c, args, kwargs)).show()
    return None


# --- small planners -------------------------------------------------------------------------------------------
def target(c: Context, deployment: str, environment: str) -> str:
    """``account A, region R, dep/env``: what the real run would announce (STS GetCallerIdentity is a read)."""
    aws = aws_for(c)
    return f"account {aws.account}, region {aws.region}, {deployment}/{environment}"


def _processes(c: Context, a: SimpleNamespace, suspend: bool) -> Plan:
    settings = settings_for(c)
    check_selection(settings, a.deployment, a.environment)
    names = scaling.canonical_processes(list(a.processes or []))
    group_name = Environment(settings, a.deployment, a.environment).group_name
    group = scaling.find_group(aws_for(c).autoscaling, group_name)
    now = scaling.suspended_processes(group)
    wanted = names or list(scaling.PROCESSES)
    verb = "suspend" if suspend else "resume"
    change = [p for p in wanted if (p not in now) == suspend]
    plan = Plan(f"{verb}_autoscaling_processes {a.deployment}/{a.environment}")
    plan.add("target", target(c, a.deployment, a.environment))
    plan.add("group", group_name)
    plan.add("suspended now", ", ".join(now) or "none")
    plan.add(f"would {verb}", ", ".join(change) or f"nothing: already {verb}d ({', '.join(wanted)})")
    after = [p for p in scaling.PROCESSES if (p in now or p in change)] if suspend else [p for p in now if p not in change]
    plan.add("suspended after", ", ".join(after) or "none")
    return plan


@planner("suspend_autoscaling_processes")
def plan_suspend(c: Context, a: SimpleNamespace) -> Plan:
    return _processes(c, a, suspend=True)


@planner("resume_autoscaling_processes")
def plan_resume(c: Context, a: SimpleNamespace) -> Plan:
    return _processes(c, a, suspend=False)


def secrets_plan(c: Context, deployment: str, environment: str, names: list[str]) -> tuple[list[str], list[str]]:
    """(found, missing) secret names (values never shown). A missing one with no terminal to ask on is the real
    run's error (MissingSecret); with a terminal, the real run would ask for it."""
    settings = settings_for(c)
    store = Secrets(settings, deployment, environment, aws_for(c))
    values = store.local_only(names)
    missing = [name for name, value in values.items() if value is None]
    asked = [name for name in missing if name not in GENERATED]  # the real run makes those, never asks
    if asked and not (sys.stdin and sys.stdin.isatty()):
        store.ask(asked[0])  # raises the real run's one line
    return [name for name in names if name not in missing], missing


@planner("update_server_passwords")
def plan_update_server_passwords(c: Context, a: SimpleNamespace) -> Plan:
    selection = selected(c)
    settings = settings_for(c)
    stack = discover(c, selection.deployment, selection.environment)
    found, missing = secrets_plan(c, selection.deployment, selection.environment, list(settings.password_names))
    servers = stack.all_servers()
    plan = Plan(f"update_server_passwords {selection.deployment}/{selection.environment}")
    plan.add("target", target(c, selection.deployment, selection.environment))
    plan.add("secrets", ", ".join(found) + (f"; would ask for {', '.join(missing)}" if missing else ""))
    plan.add("files", f"{posixpath.join(settings.home, '<name>')}, owner {settings.deploy_user}, mode 0600 (unchanged files are left alone)")
    plan.add("servers", f"{len(servers)}: " + (", ".join(
        f"{s.instance_id} ({'/'.join(stack.roles_of(s))}, {s.private_ip})" for s in servers) or "none"))
    return plan

