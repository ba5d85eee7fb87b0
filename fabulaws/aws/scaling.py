"""Auto Scaling groups: lookup and process suspension."""

from __future__ import annotations

from typing import Any

from ..errors import AwsResourceError, UsageError

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


def find_group(autoscaling: Any, name: str) -> dict:
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


def suspend_processes(autoscaling: Any, group_name: str, processes: list[str]) -> None:
    """Suspend ``processes`` (all of them when empty) on the group. Idempotent."""
    kwargs = {"ScalingProcesses": processes} if processes else {}
    autoscaling.suspend_processes(AutoScalingGroupName=group_name, **kwargs)


def resume_processes(autoscaling: Any, group_name: str, processes: list[str]) -> None:
    """Resume ``processes`` (all of them when empty) on the group. Idempotent."""
    kwargs = {"ScalingProcesses": processes} if processes else {}
    autoscaling.resume_processes(AutoScalingGroupName=group_name, **kwargs)


def update_group(autoscaling: Any, name: str, **changes: Any) -> None:
    """UpdateAutoScalingGroup with only the given attributes."""
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **changes)


def group_tags(group: dict) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in group.get("Tags", [])}


def set_tags(autoscaling: Any, name: str, tags: dict[str, str], propagate: bool) -> None:
    autoscaling.create_or_update_tags(
        Tags=[
            {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key, "Value": value, "PropagateAtLaunch": propagate}
            for key, value in tags.items()
        ]
    )


def delete_tag(autoscaling: Any, name: str, key: str) -> None:
    autoscaling.delete_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key}])


def terminate_instance(autoscaling: Any, instance_id: str, decrement: bool) -> None:
    """TerminateInstanceInAutoScalingGroup; a no-op for an instance that already left the group."""
    from botocore.exceptions import ClientError

    try:
        autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement)
    except ClientError as exc:
        if "not found" not in exc.response["Error"].get("Message", "").lower():
            raise
