"""deploy_serial: replace the web servers a batch at a time with no downtime.

Corrected from 1.x: capacity never drops. For each batch the group first grows
by the batch size; once the replacements are InService in the group and
healthy in every load balancer and target group, the old servers are
terminated with the desired capacity decremented. Every decision is read back
from the group, so a resumed run continues where the killed one stopped.
``engine=instance-refresh`` hands the replacement to an AWS Instance Refresh
and follows it instead.
"""

from __future__ import annotations

import math
from collections import Counter

from ....aws import scaling
from ....aws.launch import Launch, runs
from . import fleet, launches
from .context import DeployContext
from .full import deploy_worker, use_launch
from .operation import Operation, Step, capture
from .state import original, set_processes
from .waits import Wait, wait_for


def _launch(ctx: DeployContext) -> Launch:
    return Launch.from_dict(ctx.journal.plan("launch"))


def hold_zones(ctx: DeployContext) -> None:
    """AZ rebalancing would terminate servers behind our back while we count them, and health checks would
    replace a new server still starting after the grace period; the run waits for its health itself (bounded)."""
    scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, ["AZRebalance", "HealthCheck", "ReplaceUnhealthy"])
    scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, ["Launch", "Terminate", "AddToLoadBalancer"])


def replace(ctx: DeployContext) -> None:
    """Until no old server is left: grow by a batch, wait for healthy replacements, retire that many old servers."""
    launch = _launch(ctx)
    desired = original(ctx).desired
    batch_size = max(1, int(ctx.journal.data["params"].get("batch", 1)))
    while True:
        group = ctx.group()
        old = [i for i in fleet.members(group) if not runs(i, launch)]
        if not old:
            ctx.report("All old instances have been replaced.")
            return
        batch = min(batch_size, len(old))
        ctx.report(f"Found {len(old)} old instance(s); replacing {batch} now.")
        wanted = desired + batch
        if group["DesiredCapacity"] < wanted:
            scaling.update_group(
                ctx.aws.autoscaling, ctx.group_name, DesiredCapacity=wanted, MaxSize=max(group["MaxSize"], wanted)
            )
        new_needed = desired - len(old) + batch
        new = fleet.wait_in_service(ctx, launch, new_needed)
        fleet.wait_healthy(ctx, fleet.ids([i for i in new if i["LifecycleState"] == "InService"]))
        retiring = fleet.ids(retire_order(old, new)[:batch])
        fleet.terminate(ctx, retiring, decrement=True)
        fleet.wait_gone(ctx, retiring)


def retire_order(old: list[dict], new: list[dict]) -> list[dict]:
    """Old servers first from the zones with the fewest new servers (then the most old ones).

    The group's next launch goes to its least-populated zone; retiring there makes that zone the one still
    missing a new server, so the zones end balanced and AZRebalance does not churn servers after the deploy.
    """
    new_per_zone = Counter(i["AvailabilityZone"] for i in new)
    old_per_zone = Counter(i["AvailabilityZone"] for i in old)
    return sorted(old, key=lambda i: (new_per_zone[i["AvailabilityZone"]], -old_per_zone[i["AvailabilityZone"]],
                                      i["InstanceId"]))


def restore_settings(ctx: DeployContext) -> None:
    before = original(ctx)
    scaling.update_group(
        ctx.aws.autoscaling,
        ctx.group_name,
        MinSize=before.min_size,
        MaxSize=before.max_size,
        DesiredCapacity=before.desired,
        TerminationPolicies=before.termination_policies,
    )
    set_processes(ctx, before.suspended)
    ctx.report("Restored minimum, maximum and desired capacity, termination policies and suspended processes.")


# --- engine=instance-refresh -------------------------------------------------------------------------
def start_refresh(ctx: DeployContext) -> None:
    """An Instance Refresh that launches before terminating (MaxHealthyPercentage above 100)."""
    group = ctx.group()
    desired = max(1, group["DesiredCapacity"])
    batch = max(1, int(ctx.journal.data["params"].get("batch", 1)))
    refresh_id = ctx.aws.autoscaling.start_instance_refresh(
        AutoScalingGroupName=ctx.group_name,
        Preferences={
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 100 + max(1, math.ceil(100 * batch / desired)),
            "InstanceWarmup": int(group.get("HealthCheckGracePeriod") or 0),
            "SkipMatching": True,
        },
    )["InstanceRefreshId"]
    ctx.journal.remember("refresh", refresh_id)
    ctx.report(f"Started instance refresh {refresh_id}.")


def follow_refresh(ctx: DeployContext) -> None:
    refresh_id = ctx.journal.plan("refresh")

    def look() -> dict:
        found = ctx.aws.autoscaling.describe_instance_refreshes(AutoScalingGroupName=ctx.group_name, InstanceRefreshIds=[refresh_id])
        return found["InstanceRefreshes"][0]

    wait_for(
        Wait(
            what=f"instance refresh {refresh_id}",
            look=look,
            done=lambda r: r["Status"] == "Successful",
            failed=lambda r: f"ended {r['Status']}: {r.get('StatusReason', '')}" if r["Status"] in ("Failed", "Cancelled", "RollbackSuccessful") else None,
            progress=lambda r: f"{r['Status']}, {r.get('PercentageComplete', 0)}% complete, {r.get('InstancesToUpdate', '?')} to update",
            deadline=ctx.deadline,
        ),
        ctx.polling,
        ctx.report,
    )


def cancel_refresh(ctx: DeployContext) -> None:
    refresh_id = ctx.journal.plan("refresh")
    if refresh_id:
        try:
            ctx.aws.autoscaling.cancel_instance_refresh(AutoScalingGroupName=ctx.group_name)
        except Exception as exc:  # noqa: BLE001 - nothing to cancel is fine
            ctx.report(f"instance refresh {refresh_id}: {exc}")


DEPLOY_SERIAL = Operation(
    "deploy_serial",
    (
        Step("capture", capture),
        Step("prepare_launch", launches.prepare),
        Step("deploy_worker", deploy_worker, commits=True),
        Step("use_launch", use_launch),
        Step("hold_zones", hold_zones),
        Step("replace", replace),
        Step("restore_settings", restore_settings),
    ),
)

DEPLOY_SERIAL_REFRESH = Operation(
    "deploy_serial_refresh",
    (
        Step("capture", capture),
        Step("prepare_launch", launches.prepare),
        Step("deploy_worker", deploy_worker, commits=True),
        Step("use_launch", use_launch),
        Step("start_refresh", start_refresh),
        Step("follow_refresh", follow_refresh),
        Step("restore_settings", restore_settings),
    ),
)
