"""The ``task`` decorator our built-in tasks use."""

from __future__ import annotations

from typing import Any, Callable

from fabric import task as fabric_task


def task(*args: Any, **kwargs: Any) -> Any:
    """Fabric's ``@task``, marked so the ``fabulaws`` executor never runs it once per ``-H`` host.

    Our tasks find their own hosts from EC2 tags; ``-H`` narrows those instead.
    """

    def decorate(body: Callable) -> Any:
        made = fabric_task(**kwargs)(body)
        made.discovers_hosts = True
        return made

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate
