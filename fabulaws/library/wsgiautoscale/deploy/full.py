"""deploy_full: new servers alongside the old, maintenance page, migrate, swap them all.

Corrected from 1.x: it waits for the desired count (not the minimum), waits only
for observable conditions (no fixed sleeps), removes the old servers itself
(no reliance on a termination policy that AZ rebalancing can override), and
restores max size, termination policies and exactly the processes that were
suspended before the run.
"""

from __future__ import annotations

from ....aws import scaling
from ....aws.launch import Launch
from . import fleet, launches
from .context import DeployContext
from .operation import Operation, Step, capture
from .state import original, set_processes


def _launch(ctx: DeployContext) -> Launch:
    return Launch.from_dict(ctx.journal.plan("launch"))


def suspend_launch(ctx: DeployContext) -> None:
    scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, ["Launch"])
    ctx.report("Suspended 'Launch' autoscaling process.")


def use_launch(ctx: DeployContext) -> None:
    """Point the group at the new launch and (re)write the four tags its web servers carry."""
    launch = _launch(ctx)
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, **launch.group_arguments())
    tags = {
        "Name": f"{ctx.deployment}_{ctx.environment}_web",
        "deployment": ctx.deployment,
        "environment": ctx.environment,
        "role": "web",
    }
    scaling.set_tags(ctx.aws.autoscaling, ctx.group_name, tags, propagate=True)
    ctx.report(f"Autoscaling group {ctx.group_name} has been updated to use {launch}.")


def scale_out(ctx: DeployContext) -> None:
    """Room for a full new set of servers beside the old ones (sizes of 0 use num_web, as in 1.x)."""
    if ctx.journal.plan("target") is None:
        group = ctx.group()
        num_web = int(ctx.journal.data["params"].get("num_web", 2))
        minimum = group["MinSize"] or num_web
        desired = group["DesiredCapacity"] or num_web
        servers = len(fleet.members(group))
        ctx.journal.remember("minimum", minimum)
        ctx.journal.remember("desired", desired)
        ctx.journal.remember("old", fleet.ids(fleet.members(group)))
        ctx.journal.remember("target", servers + desired)
    target = ctx.journal.plan("target")
    maximum = max(original(ctx).max_size, target)
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=target, DesiredCapacity=target, MaxSize=maximum)
    ctx.report(f"Temporarily updated the autoscaling group's minimum/desired instance capacity to {target}")


HELD = ["AddToLoadBalancer", "AZRebalance", "HealthCheck", "ReplaceUnhealthy"]


def hold_balancers(ctx: DeployContext) -> None:
    """New servers stay out of the load balancers until the new code runs; zones are not rebalanced meanwhile.

    Health checks are held too: a server kept out of its load balancers (or registered late, still
    OutOfService) after the grace period would otherwise be replaced mid-deploy (1.x's hazard when
    deploy_worker outlasted the grace period). restore_settings brings them back once the new servers are healthy.
    """
    scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, HELD)
    scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, ["Launch"])
    ctx.report(f"Suspended {', '.join(repr(p) for p in HELD)}; resumed 'Launch'.")


def wait_new(ctx: DeployContext) -> None:
    new = fleet.wait_in_service(ctx, _launch(ctx), ctx.journal.plan("desired"), exclude=ctx.journal.plan("old"))
    ctx.journal.remember("new", fleet.ids([i for i in new if i["LifecycleState"] == "InService"]))


def servers_ready(ctx: DeployContext) -> None:
    ctx.steps.servers_ready(ctx, ctx.journal.plan("new"))


def begin_upgrade(ctx: DeployContext) -> None:
    ctx.journal.remember("maintenance", True)
    ctx.steps.begin_upgrade(ctx, ctx.stack().by_role("web"))


def deploy_worker(ctx: DeployContext) -> None:
    ctx.steps.deploy_worker(ctx, ctx.journal.plan("changeset"))


def register_new(ctx: DeployContext) -> None:
    fleet.register_everywhere(ctx, ctx.journal.plan("new"))


def wait_new_healthy(ctx: DeployContext) -> None:
    fleet.wait_healthy(ctx, ctx.journal.plan("new"))


def retire_old(ctx: DeployContext) -> None:
    """Lower the minimum, then terminate each old server, decrementing the desired capacity."""
    group = ctx.group()
    old = [i for i in fleet.ids(fleet.members(group)) if i in ctx.journal.plan("old")]
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=min(ctx.journal.plan("minimum"), group["DesiredCapacity"]))
    fleet.terminate(ctx, old, decrement=True)


def wait_old_gone(ctx: DeployContext) -> None:
    fleet.wait_gone(ctx, ctx.journal.plan("old"))


def restore_settings(ctx: DeployContext) -> None:
    """min/desired as before the run (or num_web), max and policies as before, the same processes suspended."""
    before = original(ctx)
    scaling.update_group(
        ctx.aws.autoscaling,
        ctx.group_name,
        MinSize=ctx.journal.plan("minimum"),
        DesiredCapacity=ctx.journal.plan("desired"),
        MaxSize=max(before.max_size, ctx.journal.plan("desired")),
        TerminationPolicies=before.termination_policies,
    )
    set_processes(ctx, before.suspended)
    ctx.report("Reset minimum, desired and maximum capacity, termination policies and suspended processes.")


def end_upgrade(ctx: DeployContext) -> None:
    ctx.steps.end_upgrade(ctx, ctx.stack().by_role("web"))
    ctx.journal.remember("maintenance", False)


DEPLOY_FULL = Operation(
    "deploy_full",
    (
        Step("capture", capture),
        Step("prepare_launch", launches.prepare),
        Step("suspend_launch", suspend_launch),
        Step("use_launch", use_launch),
        Step("scale_out", scale_out),
        Step("hold_balancers", hold_balancers),
        Step("wait_new", wait_new),
        Step("servers_ready", servers_ready),
        Step("begin_upgrade", begin_upgrade),
        Step("deploy_worker", deploy_worker, commits=True),
        Step("register_new", register_new),
        Step("wait_new_healthy", wait_new_healthy),
        Step("retire_old", retire_old),
        Step("wait_old_gone", wait_old_gone),
        Step("restore_settings", restore_settings),
        Step("end_upgrade", end_upgrade),
    ),
)
