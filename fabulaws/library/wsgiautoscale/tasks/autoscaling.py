"""Suspend and resume Auto Scaling processes (1.x ``suspend_autoscaling_processes``...)."""

from __future__ import annotations

from collections.abc import Callable

from invoke import Context

from ....aws import scaling
from ....report import reporter
from ..announce import announce_change
from ..context import aws_for, environment_of
from .base import task


def _change_processes(c: Context, deployment: str, environment: str, processes: list[str] | None,
                      change: Callable[..., None], verb: str) -> None:
    env = environment_of(c, deployment, environment)
    names = scaling.canonical_processes(list(processes or []))
    group_name = env.group_name
    autoscaling = aws_for(c).autoscaling
    scaling.find_group(autoscaling, group_name)
    announce_change(c, env)
    change(autoscaling, group_name, names)
    listed = ", ".join(names) if names else "all processes"
    reporter().info(f"{verb} these processes for the autoscaling group named '{group_name}': {listed}")


@task(iterable=["processes"], help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "processes": "a process to suspend (repeatable); all processes when none given",
})
def suspend_autoscaling_processes(c: Context, deployment: str, environment: str, processes: list[str] | None = None
                                  ) -> None:
    """Suspend Auto Scaling processes on the environment's group (all of them when none are named)."""
    _change_processes(c, deployment, environment, processes, scaling.suspend_processes, "Suspended")


@task(iterable=["processes"], help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "processes": "a process to resume (repeatable); all processes when none given",
})
def resume_autoscaling_processes(c: Context, deployment: str, environment: str, processes: list[str] | None = None
                                 ) -> None:
    """Resume Auto Scaling processes on the environment's group (all of them when none are named)."""
    _change_processes(c, deployment, environment, processes, scaling.resume_processes, "Resumed")
