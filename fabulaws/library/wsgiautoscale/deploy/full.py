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
from ....errors import DeployError
from . import fleet, launches
from .journal import recorded
from .operation import CAPTURE, Operation, Step
from .run import DeployContext
from .state import finished, original, restore


def _launch(ctx: DeployContext) -> Launch:
    return recorded(ctx.journal.launch, "launch")


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
    journal = ctx.journal
    if journal.target is None:
        group = ctx.group()
        num_web = int(journal.params.get("num_web", 2))
        journal.minimum = group["MinSize"] or num_web
        journal.desired = group["DesiredCapacity"] or num_web
        journal.old = fleet.ids(fleet.members(group))
        journal.target = len(journal.old) + journal.desired
        journal.save()
    target = journal.target
    maximum = max(original(ctx).max_size, target)
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=target, DesiredCapacity=target, MaxSize=maximum)
    ctx.report(f"Temporarily updated the autoscaling group's minimum/desired instance capacity to {target}")


HELD = ["AddToLoadBalancer", "AZRebalance", "HealthCheck", "ReplaceUnhealthy"]


def hold_balancers(ctx: DeployContext) -> None:
    """New servers stay out of the load balancers until the new code runs; zones are not rebalanced meanwhile.

    Health checks are held too: a server kept out of its load balancers (or registered late, still
    OutOfService) after the grace period would otherwise be replaced mid-deploy (1.x's hazard when
    deploy_worker outlasted the grace period). settle brings them back once the new servers are healthy.
    """
    scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, HELD)
    scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, ["Launch"])
    ctx.report(f"Suspended {', '.join(repr(p) for p in HELD)}; resumed 'Launch'.")


def wait_new(ctx: DeployContext) -> None:
    launch, old = _launch(ctx), ctx.journal.old
    group = fleet.wait_in_service(ctx, launch, recorded(ctx.journal.desired, "desired count"), exclude=old)
    ctx.journal.new = [i for i in fleet.ids(fleet.members(group, launch, ("InService",))) if i not in old]
    ctx.journal.save()


def servers_ready(ctx: DeployContext) -> None:
    ctx.steps.servers_ready(ctx, ctx.journal.new)


def begin_upgrade(ctx: DeployContext) -> None:
    ctx.journal.maintenance = True
    ctx.journal.save()
    ctx.steps.begin_upgrade(ctx, ctx.stack().by_role("web"))


def end_maintenance(ctx: DeployContext) -> None:
    """Undo of begin_upgrade: the maintenance page off (a server that does not answer is a warning)."""
    if ctx.journal.maintenance:
        ctx.report("ending maintenance mode")
        try:
            ctx.steps.end_upgrade(ctx, ctx.stack().by_role("web"))
        except DeployError as exc:  # restoring the group matters more; the operator is told what to finish
            ctx.warn(f"{exc}; run `fabulaws {ctx.environment} end_upgrade` once those servers answer")
        ctx.journal.maintenance = False
        ctx.journal.save()


def deploy_worker(ctx: DeployContext) -> None:
    """The workers at the new changeset; migrations on the first one, after the point of no return.

    Server steps that do not declare the point themselves (``declares_no_return``) get it declared before
    they start: whatever they do to the database is then never rolled back onto old code.
    """
    if not getattr(ctx.steps, "declares_no_return", False):
        ctx.point_of_no_return()
    ctx.steps.deploy_worker(ctx, ctx.journal.changeset)


def restore_workers(ctx: DeployContext) -> None:
    """Undo of deploy_worker before the point of no return: each worker back at its changeset (requirements,
    local settings, celery running again)."""
    restore_code = getattr(ctx.steps, "restore_workers", None)
    if ctx.journal.no_return or not ctx.journal.workers or restore_code is None:
        return
    ctx.report(f"restoring {len(ctx.journal.workers)} worker(s) to their previous changeset")
    restore_code(ctx, dict(ctx.journal.workers))


def register_new(ctx: DeployContext) -> None:
    fleet.register_everywhere(ctx, ctx.journal.new)


def wait_new_healthy(ctx: DeployContext) -> None:
    fleet.wait_healthy(ctx, ctx.journal.new)


def retire_old(ctx: DeployContext) -> None:
    """Lower the minimum, then terminate each old server, decrementing the desired capacity."""
    group = ctx.group()
    old = [i for i in fleet.ids(fleet.members(group)) if i in ctx.journal.old]
    scaling.update_group(ctx.aws.autoscaling, ctx.group_name, MinSize=min(ctx.journal.minimum, group["DesiredCapacity"]))
    fleet.terminate(ctx, old, decrement=True)


def wait_old_gone(ctx: DeployContext) -> None:
    fleet.wait_gone(ctx, ctx.journal.old)


def settle(ctx: DeployContext) -> None:
    """min/desired as before the run (or num_web), max and policies as before, the same processes suspended."""
    desired = recorded(ctx.journal.desired, "desired count")
    restore(ctx, finished(ctx, min_size=recorded(ctx.journal.minimum, "minimum size"), desired=desired,
                          max_size=max(original(ctx).max_size, desired)))


def end_upgrade(ctx: DeployContext) -> None:
    ctx.steps.end_upgrade(ctx, ctx.stack().by_role("web"))
    ctx.journal.maintenance = False
    ctx.journal.save()


PREPARE_LAUNCH = Step("prepare_launch", launches.prepare)
USE_LAUNCH = Step("use_launch", use_launch)
DEPLOY_WORKER = Step("deploy_worker", deploy_worker, undo=restore_workers)


DEPLOY_FULL = Operation(
    "deploy_full",
    (
        CAPTURE,
        PREPARE_LAUNCH,
        Step("suspend_launch", suspend_launch),
        USE_LAUNCH,
        Step("scale_out", scale_out),
        Step("hold_balancers", hold_balancers),
        Step("wait_new", wait_new),
        Step("servers_ready", servers_ready),
        Step("begin_upgrade", begin_upgrade, undo=end_maintenance),
        DEPLOY_WORKER,
        Step("register_new", register_new),
        Step("wait_new_healthy", wait_new_healthy),
        Step("retire_old", retire_old),
        Step("wait_old_gone", wait_old_gone),
        Step("restore_settings", settle),
        Step("end_upgrade", end_upgrade),
    ),
)
