"""The ``task`` decorator our built-in tasks use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fabric import task as fabric_task

from ....arguments import FLAG, TypedTask
from ....dryrun import is_dry
from ....errors import UsageError

if TYPE_CHECKING:
    from invoke import Context


def task(*args: object, **kwargs: object) -> Any:
    """Fabric's ``@task``, marked so the ``fabulaws`` executor never runs it once per ``-H`` host.

    Our tasks find their own hosts from EC2 tags; ``-H`` narrows those instead. ``types=`` maps argument
    names to converters (fabulaws/arguments.py); arguments with a number default are converted too.
    """

    def decorate(body: Callable) -> Any:
        options = {"klass": TypedTask, "check": environment_checked, **kwargs}
        made = fabric_task(**options)(planned(body, str(kwargs.get("name") or body.__name__)))
        made.discovers_hosts = True
        return made

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate


def environment_checked(c: Context, arguments: dict) -> None:
    """A task naming an environment stops before any AWS call if fabulaws-config.yml has a gap or a bad value for
    it (the other environments' problems are warnings): see fabulaws/config/environments.py."""
    environment = arguments.get("environment")
    if isinstance(environment, str):
        from ....config.environments import check_selected
        from ..context import settings_for

        check_selected(settings_for(c), arguments.get("deployment"), environment)


def planned(body: Callable, name: str) -> Callable:
    """``body``, except that under ``-R/--dry`` the task plans instead of running (or refuses): see ../plans.py.

    It wraps the body itself, so arguments are converted and checked first, and a task that calls another
    task (``update_environment``) is dispatched too.
    """

    @functools.wraps(body)
    def run(c: Context, *args: object, **kwargs: object) -> Any:
        if is_dry(c):
            from ..plans import dry_run

            return dry_run(c, name, body, args, kwargs)
        return body(c, *args, **kwargs)

    return run


def flag(value: object) -> bool:
    """A yes/no task argument as given on the command line (``keep_failed=yes``); 1.x took any string as true."""
    try:
        return FLAG(value)
    except ValueError:
        raise UsageError(f"expected yes or no, got {value!r}") from None
