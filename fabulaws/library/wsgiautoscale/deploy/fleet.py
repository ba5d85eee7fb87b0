"""The group's instances as an operation sees them, and the waits on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ....aws import balancers as lb
from ....aws import scaling
from ....aws.launch import Launch, runs
from ....waits import Pace, Wait, wait_for
from .run import DeployContext


def members(group: dict, launch: Launch | None = None, states: tuple[str, ...] = ("Pending", "InService")) -> list[dict]:
    """Group instances in ``states``, of ``launch`` only when given."""
    found = [i for i in group["Instances"] if i["LifecycleState"].split(":")[0] in states]
    return [i for i in found if launch is None or runs(i, launch)]


def ids(instances: list[dict]) -> list[str]:
    return [i["InstanceId"] for i in instances]


def health(ctx: DeployContext, instance_ids: list[str]) -> dict[str, dict[str, str]]:
    return lb.health(ctx.aws, ctx.balancers(), instance_ids)


def wait_in_service(ctx: DeployContext, launch: Launch, count: int, exclude: Sequence[str] = (),
                    pace: Pace | None = None) -> dict:
    """Until ``count`` instances of ``launch`` (other than ``exclude``: servers the run found) are InService; the
    group as that look saw it (its new and old servers both).

    One DescribeAutoScalingGroups a look; with ``pace``, the first look is when they can first be InService."""
    def found(group: dict) -> list[dict]:
        return [i for i in members(group, launch) if i["InstanceId"] not in exclude]

    return wait_for(
        Wait(
            what=f"{count} instance(s) of {launch} InService in {ctx.group_name}",
            look=ctx.group,
            done=lambda group: len([i for i in found(group) if i["LifecycleState"] == "InService"]) >= count,
            progress=lambda group: ", ".join(f"{i['InstanceId']} {i['LifecycleState']}" for i in found(group))
            or "none launched yet",
            deadline=ctx.wait_deadline(),
        ),
        ctx.polling,
        ctx.report,
        pace,
    )


def wait_healthy(ctx: DeployContext, instance_ids: list[str], pace: Pace | None = None) -> None:
    """Until every instance is InService/healthy in every load balancer and target group.

    A look is one describe per load balancer for all the instances; every second look that finds some not healthy
    yet also reads the group (one DescribeAutoScalingGroups), to fail soon if one left it. With ``pace``, the first
    look is when they can first be healthy."""
    if not instance_ids or not ctx.balancers():
        return
    misses = 0

    def look() -> tuple[dict[str, dict[str, str]], list[str]]:
        nonlocal misses
        seen = health(ctx, instance_ids)
        if all(s in lb.HEALTHY for per in seen.values() for s in per.values()):
            return seen, []
        misses += 1
        if misses % 2:  # the first miss is the one a pace expects: a look one delay early
            return seen, []
        active = ids(members(ctx.group()))
        return seen, [i for i in instance_ids if i not in active]

    what = f"{len(instance_ids)} instance(s) healthy in {len(ctx.balancers())} load balancer(s)"
    wait_for(healthy_everywhere(what, look, "left the group (terminated or replaced)", ctx.wait_deadline()), ctx.polling,
             ctx.report, pace)


def healthy_everywhere(what: str, look: Callable[[], tuple[dict, list[str]]], gone: str, deadline: float) -> Wait:
    """Until every instance is healthy in every load balancer; ``look`` returns (lb.health(...), instances gone),
    and any instance gone fails the wait (``gone`` says how)."""
    return Wait(
        what=what,
        look=look,
        done=lambda seen: all(s in lb.HEALTHY for per in seen[0].values() for s in per.values()),
        progress=lambda seen: lb.describe_health(seen[0]),
        failed=lambda seen: f"{', '.join(seen[1])} {gone}" if seen[1] else None,
        deadline=deadline,
    )


def wait_gone(ctx: DeployContext, instance_ids: list[str]) -> None:
    """Until the instances have left the group and no load balancer routes to them."""
    if not instance_ids:
        return

    def look() -> tuple[list[str], dict[str, dict[str, str]]]:
        still = [i for i in ids(ctx.group()["Instances"]) if i in instance_ids]
        return still, health(ctx, instance_ids)

    wait_for(
        Wait(
            what=f"{len(instance_ids)} old instance(s) out of service and out of {ctx.group_name}",
            look=look,
            done=lambda seen: not seen[0] and not any(s in lb.HEALTHY for per in seen[1].values() for s in per.values()),
            progress=lambda seen: f"still in the group: {', '.join(seen[0]) or 'none'}",
            deadline=ctx.wait_deadline(),
        ),
        ctx.polling,
        ctx.report,
    )


def register_everywhere(ctx: DeployContext, instance_ids: list[str]) -> None:
    """Register instances in every load balancer and target group where they are not yet."""
    states = health(ctx, instance_ids)
    for balancer in ctx.balancers():
        missing = [i for i in instance_ids if states[i].get(str(balancer)) in ("OutOfService", "unused")]
        if missing:
            ctx.report(f"registering {', '.join(missing)} with {balancer}")
            lb.register(ctx.aws, balancer, missing)


def terminate(ctx: DeployContext, instance_ids: list[str], decrement: bool) -> None:
    for instance_id in instance_ids:
        ctx.report(f"terminating {instance_id}{' (desired capacity -1)' if decrement else ''}")
        scaling.terminate_instance(ctx.aws.autoscaling, instance_id, decrement)
