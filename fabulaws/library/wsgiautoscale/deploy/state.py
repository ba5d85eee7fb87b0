"""Putting a group's settings where they belong: the one function both finishing and rolling back use."""

from __future__ import annotations

from dataclasses import replace

from ....aws import scaling
from ....aws.launch import Launch, runs
from .fleet import ids, members, terminate
from .journal import GroupState
from .run import DeployContext

__all__ = ["GroupState", "original", "restore", "set_processes"]


def original(ctx: DeployContext) -> GroupState:
    """The group as the run found it (captured by its first step)."""
    if ctx.journal.original is None:
        raise RuntimeError("the journal has no captured group state")  # a step ran before capture: a bug
    return ctx.journal.original


def finished(ctx: DeployContext, **changes: int) -> GroupState:
    """The settings a completed run leaves: the original ones on the new launch, with ``changes``."""
    before = original(ctx)
    fields: dict[str, object] = {"launch": ctx.journal.launch or before.launch, **changes}
    return replace(before, **fields)  # type: ignore[arg-type]  # mypy cannot check fields passed by name


def set_processes(ctx: DeployContext, wanted_suspended: list[str]) -> None:
    """Make exactly ``wanted_suspended`` suspended."""
    now = scaling.suspended_processes(ctx.group())
    resume = [p for p in now if p not in wanted_suspended]
    suspend = [p for p in wanted_suspended if p not in now]
    if resume:
        scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, resume)
    if suspend:
        scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, suspend)


def restore(ctx: DeployContext, state: GroupState, surplus_of: Launch | None = None) -> None:
    """Make the group match ``state``: its launch, its capacity (surplus servers of ``surplus_of`` go first),
    its termination policies and exactly the processes that were suspended. Idempotent."""
    launch = state.launch
    group = ctx.group()
    if Launch.of(group) != launch and (launch.configuration or launch.template_id):
        ctx.report(f"restoring {launch}")
        scaling.update_group(ctx.aws.autoscaling, ctx.group_name, **launch.group_arguments())
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=min(state.min_size, group["DesiredCapacity"]))
    now = ctx.group()
    current = members(now)
    surplus = min(len(current), now["DesiredCapacity"]) - state.desired  # beyond desired: the group's own to end
    if surplus > 0:
        first = sorted(current, key=lambda i: not (surplus_of and runs(i, surplus_of)))
        terminate(ctx, ids(first)[:surplus], decrement=True)
    scaling.update_group(
        ctx.aws.autoscaling,
        ctx.group_name,
        MinSize=state.min_size,
        MaxSize=state.max_size,
        DesiredCapacity=state.desired,
        TerminationPolicies=state.termination_policies,
    )
    set_processes(ctx, state.suspended)
    ctx.report(f"Set minimum {state.min_size}, maximum {state.max_size} and desired {state.desired} capacity, "
               f"termination policies and suspended processes.")
