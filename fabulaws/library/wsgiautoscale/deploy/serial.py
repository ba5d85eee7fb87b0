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
import time
from collections import Counter

from ....aws import scaling
from ....aws.launch import Launch, runs
from ....waits import Pace, Wait, wait_for
from . import fleet
from .full import DEPLOY_WORKER, PREPARE_LAUNCH, USE_LAUNCH
from .journal import recorded
from .operation import CAPTURE, Operation, Step
from .run import DeployContext
from .state import finished, original, restore


def _launch(ctx: DeployContext) -> Launch:
    return recorded(ctx.journal.launch, "launch")


def hold_zones(ctx: DeployContext) -> None:
    """AZ rebalancing would terminate servers behind our back while we count them, and health checks would
    replace a new server still starting after the grace period; the run waits for its health itself (bounded)."""
    scaling.suspend_processes(ctx.aws.autoscaling, ctx.group_name, ["AZRebalance", "HealthCheck", "ReplaceUnhealthy"])
    scaling.resume_processes(ctx.aws.autoscaling, ctx.group_name, ["Launch", "Terminate", "AddToLoadBalancer"])


def replace(ctx: DeployContext) -> None:
    """Until no old server is left: grow by a batch, wait for healthy replacements, retire that many old servers.

    Pipelined: once a batch is InService in the group, the group grows by the next batch, which boots while this
    one passes its load balancers' checks (the group holds at most two batches more than its size); old servers
    are retired, the desired capacity decremented, only once their replacements are healthy, so healthy capacity
    never drops. Paced: each batch first looks when its servers can be InService and healthy, as long after its
    launch as the last batch's were (waits.Pace). Retired servers leave the group and the load balancers
    (draining) while the next batch boots; the step ends once all of them are gone. Bounded by the operation's
    overall deadline (checked before each batch and cutting every wait)."""
    launch = _launch(ctx)
    desired = original(ctx).desired
    batch_size = max(1, int(ctx.journal.params.get("batch", 1)))
    boot, healthy = Pace(early=False), Pace()  # the health look is paced from the launch too: boot's may be late
    group = ctx.group()
    asked, most = group["DesiredCapacity"], group["MaxSize"]  # what the group was last set to
    old = [i for i in fleet.members(group) if not runs(i, launch)]
    retired: list[str] = []

    def grow(size: int) -> bool:
        """Ask the group for ``size`` servers (MaxSize raised to fit) unless it was asked for as many already."""
        nonlocal asked, most
        if asked >= size:
            return False
        asked, most = size, max(most, size)
        scaling.update_group(ctx.aws.autoscaling, ctx.group_name, DesiredCapacity=asked, MaxSize=most)
        return True

    while old:
        ctx.remaining()
        if ctx.lease is not None:
            ctx.lease.check()  # between batches: nothing is half done
        batch = min(batch_size, len(old))
        ctx.report(f"Found {len(old)} old instance(s); replacing {batch} now.")
        if grow(desired + batch):
            boot.start()
            healthy.start()
        # The look that finds this batch InService is also the batch's read of the group: what is old now.
        group = fleet.wait_in_service(ctx, launch, desired - len(old) + batch, pace=boot)
        old = [i for i in fleet.members(group) if not runs(i, launch)]
        new = fleet.members(group, launch)
        following = min(batch_size, len(old) - batch)  # the next batch's size
        launched = time.monotonic() if following and grow(desired + batch + following) else None
        fleet.wait_healthy(ctx, fleet.ids([i for i in new if i["LifecycleState"] == "InService"]), pace=healthy)
        retiring = fleet.ids(retire_order(old, new)[:batch])
        fleet.terminate(ctx, retiring, decrement=True)
        asked -= len(retiring)
        old = [i for i in old if i["InstanceId"] not in retiring]
        boot.start(launched)
        healthy.start(launched)
        retired += retiring
    ctx.report("All old instances have been replaced.")
    fleet.wait_gone(ctx, retired)


def retire_order(old: list[dict], new: list[dict]) -> list[dict]:
    """Old servers first from the zones with the fewest new servers (then the most old ones).

    The group's next launch goes to its least-populated zone; retiring there makes that zone the one still
    missing a new server, so the zones end balanced and AZRebalance does not churn servers after the deploy.
    """
    new_per_zone = Counter(i["AvailabilityZone"] for i in new)
    old_per_zone = Counter(i["AvailabilityZone"] for i in old)
    return sorted(old, key=lambda i: (new_per_zone[i["AvailabilityZone"]], -old_per_zone[i["AvailabilityZone"]],
                                      i["InstanceId"]))


def settle(ctx: DeployContext) -> None:
    """The group's settings as before the run, on the new launch."""
    restore(ctx, finished(ctx))


# --- engine=instance-refresh -------------------------------------------------------------------------
def start_refresh(ctx: DeployContext) -> None:
    """An Instance Refresh that launches before terminating (MaxHealthyPercentage above 100)."""
    group = ctx.group()
    desired = max(1, group["DesiredCapacity"])
    batch = max(1, int(ctx.journal.params.get("batch", 1)))
    refresh_id = scaling.start_refresh(ctx.aws.autoscaling, ctx.group_name, {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 100 + max(1, math.ceil(100 * batch / desired)),
        "InstanceWarmup": int(group.get("HealthCheckGracePeriod") or 0),
        "SkipMatching": True,
    })
    ctx.journal.refresh = refresh_id
    ctx.journal.save()
    ctx.report(f"Started instance refresh {refresh_id}.")


def follow_refresh(ctx: DeployContext) -> None:
    refresh_id = recorded(ctx.journal.refresh, "instance refresh")

    def look() -> dict:
        return scaling.find_refresh(ctx.aws.autoscaling, ctx.group_name, refresh_id)

    wait_for(
        Wait(
            what=f"instance refresh {refresh_id}",
            look=look,
            done=lambda r: r["Status"] == "Successful",
            failed=lambda r: f"ended {r['Status']}: {r.get('StatusReason', '')}" if r["Status"] in ("Failed", "Cancelled", "RollbackSuccessful") else None,
            progress=lambda r: f"{r['Status']}, {r.get('PercentageComplete', 0)}% complete, {r.get('InstancesToUpdate', '?')} to update",
            deadline=ctx.wait_deadline(),
        ),
        ctx.polling,
        ctx.report,
    )


def cancel_refresh(ctx: DeployContext) -> None:
    """Undo of the refresh steps: stop replacing servers (the group's restore then puts the old launch back)."""
    refresh_id = ctx.journal.refresh
    if refresh_id:
        try:
            scaling.cancel_refresh(ctx.aws.autoscaling, ctx.group_name)
        except Exception as exc:  # noqa: BLE001 - nothing to cancel is fine
            ctx.report(f"instance refresh {refresh_id}: {exc}")


DEPLOY_SERIAL = Operation(
    "deploy_serial",
    (
        CAPTURE,
        PREPARE_LAUNCH,
        DEPLOY_WORKER,
        USE_LAUNCH,
        Step("hold_zones", hold_zones),
        Step("replace", replace),
        Step("restore_settings", settle),
    ),
)

DEPLOY_SERIAL_REFRESH = Operation(
    "deploy_serial_refresh",
    (
        CAPTURE,
        PREPARE_LAUNCH,
        DEPLOY_WORKER,
        USE_LAUNCH,
        Step("start_refresh", start_refresh, undo=cancel_refresh),
        Step("follow_refresh", follow_refresh, undo=cancel_refresh),
        Step("restore_settings", settle),
    ),
)
