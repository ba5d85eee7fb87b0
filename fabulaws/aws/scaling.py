"""Auto Scaling groups: lookup and process suspension."""

from __future__ import annotations

from ..errors import AwsResourceError, UsageError
from . import tags as tagging
from .errors import unless_gone
from .types import Client

# Every scaling process AWS documents (DescribeScalingProcessTypes).
PROCESSES = (
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
)


def canonical_processes(names: list[str]) -> list[str]:
    """Process names as AWS spells them (case-insensitive input); unknown names are a UsageError."""
    by_lower = {name.lower(): name for name in PROCESSES}
    result = []
    for name in names:
        if name.lower() not in by_lower:
            raise UsageError(f"unknown Auto Scaling process {name!r}; valid processes: {', '.join(PROCESSES)}")
        if by_lower[name.lower()] not in result:
            result.append(by_lower[name.lower()])
    return result


def find_group(autoscaling: Client, name: str) -> dict:
    """The group named ``name``; AwsResourceError if there is none."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise AwsResourceError(
            f"Cannot find an Auto Scaling group named {name!r}; create it first "
            "(or run `fabulaws sandbox up --seed fabulaws-config.yml` to rehearse locally)"
        )
    return groups[0]


def suspended_processes(group: dict) -> list[str]:
    """Names of the processes suspended on ``group``, in AWS's order."""
    suspended = {item["ProcessName"] for item in group.get("SuspendedProcesses", [])}
    return [name for name in PROCESSES if name in suspended] + sorted(suspended - set(PROCESSES))


def suspend_processes(autoscaling: Client, group_name: str, processes: list[str]) -> None:
    """Suspend ``processes`` (all of them when empty) on the group. Idempotent."""
    kwargs = {"ScalingProcesses": processes} if processes else {}
    autoscaling.suspend_processes(AutoScalingGroupName=group_name, **kwargs)


def resume_processes(autoscaling: Client, group_name: str, processes: list[str]) -> None:
    """Resume ``processes`` (all of them when empty) on the group. Idempotent."""
    kwargs = {"ScalingProcesses": processes} if processes else {}
    autoscaling.resume_processes(AutoScalingGroupName=group_name, **kwargs)


class Processes:
    """Some of a group's processes (all of them by default), suspended and later resumed, except those that were
    suspended before: an operator's own suspension outlives the run. A group that does not exist has none."""

    def __init__(self, autoscaling: Client, group: str, names: tuple[str, ...] = PROCESSES) -> None:
        self.autoscaling = autoscaling
        self.group = group
        self.names = names
        self.ours: list[str] = []

    def suspend(self) -> None:
        try:
            group = find_group(self.autoscaling, self.group)
        except AwsResourceError:
            return
        before = suspended_processes(group)
        self.ours = [name for name in self.names if name not in before]
        if self.ours:
            suspend_processes(self.autoscaling, self.group, self.ours)

    def resume(self) -> None:
        if self.ours:
            resume_processes(self.autoscaling, self.group, self.ours)


def update_group(autoscaling: Client, name: str, **changes: object) -> None:
    """UpdateAutoScalingGroup with only the given attributes."""
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **changes)


def group_tags(group: dict) -> dict[str, str]:
    return tagging.of(group)


def set_tags(autoscaling: Client, name: str, tags: dict[str, str], propagate: bool) -> None:
    autoscaling.create_or_update_tags(
        Tags=[
            {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key, "Value": value, "PropagateAtLaunch": propagate}
            for key, value in tags.items()
        ]
    )


def delete_tag(autoscaling: Client, name: str, key: str) -> None:
    autoscaling.delete_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key}])


def terminate_instance(autoscaling: Client, instance_id: str, decrement: bool) -> None:
    """TerminateInstanceInAutoScalingGroup; a no-op for an instance that already left the group (Auto Scaling's
    ValidationError, and DescribeAutoScalingInstances confirms it is in no group); any other error goes through."""
    unless_gone(lambda: autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement),
        absent=lambda: not autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"])


def find_groups(autoscaling: Client) -> list[dict]:
    """Every Auto Scaling group of the region (all pages). Read-only."""
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
    return [group for page in pages for group in page["AutoScalingGroups"]]


def start_refresh(autoscaling: Client, group_name: str, preferences: dict) -> str:
    """StartInstanceRefresh on the group; the refresh's id."""
    return autoscaling.start_instance_refresh(AutoScalingGroupName=group_name, Preferences=preferences)["InstanceRefreshId"]


def find_refresh(autoscaling: Client, group_name: str, refresh_id: str) -> dict:
    """DescribeInstanceRefreshes of one refresh (Status, PercentageComplete...). Read-only."""
    found = autoscaling.describe_instance_refreshes(AutoScalingGroupName=group_name, InstanceRefreshIds=[refresh_id])
    return found["InstanceRefreshes"][0]


def cancel_refresh(autoscaling: Client, group_name: str) -> None:
    """CancelInstanceRefresh of the group's active refresh."""
    autoscaling.cancel_instance_refresh(AutoScalingGroupName=group_name)
