"""EC2 instances: discovery by tag (read-only), launching, waiting for and terminating them."""

from __future__ import annotations

from .errors import unless_gone
from .tags import tag
from .types import Client

__all__ = ["LIVE", "describe", "find_instances", "instance_memory_mib", "memory_mib", "reboot", "run", "tag",
           "terminate", "wait_running", "wait_terminated"]

LIVE = ("pending", "running", "stopping", "stopped")  # every state but shutting-down and terminated


def find_instances(ec2: Client, tags: dict[str, str], states: tuple[str, ...] = ("running",),
                   ids: list[str] | None = None, filters: list[dict] | None = None) -> list[dict]:
    """Instances carrying every tag in ``tags`` and in one of ``states`` (among ``ids`` if given, matching any
    further ``filters``); all pages."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()] + list(filters or [])
    filters.append({"Name": "instance-state-name", "Values": list(states)})
    if ids is not None:
        filters.append({"Name": "instance-id", "Values": list(ids)})
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]


def describe(ec2: Client, instance_id: str) -> dict:
    """DescribeInstances of one instance (addresses, state, tags, block devices)."""
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def memory_mib(ec2: Client, instance_type: str) -> int:
    """The memory of ``instance_type`` in MiB (DescribeInstanceTypes): what a server of that type has on AWS, and
    what the sandbox's hosts stand for (their /proc/meminfo shows the whole machine's)."""
    found = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    return int(found[0]["MemoryInfo"]["SizeInMiB"])


def instance_memory_mib(ec2: Client, instance_id: str) -> int:
    """The memory of a running instance's type in MiB (the memory settings of a server that exists)."""
    return memory_mib(ec2, describe(ec2, instance_id)["InstanceType"])


def run(ec2: Client, **arguments: object) -> str:
    """RunInstances of one instance with ``arguments`` (ImageId, InstanceType, KeyName...); its id."""
    return ec2.run_instances(MinCount=1, MaxCount=1, **arguments)["Instances"][0]["InstanceId"]


def wait_running(ec2: Client, instance_id: str, timeout: float, delay: float = 2) -> None:
    """Until the instance runs (botocore's InstanceRunning; its WaiterError past ``timeout`` seconds)."""
    ec2.get_waiter("instance_running").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout / delay))})


def reboot(ec2: Client, instance_ids: list[str]) -> None:
    """RebootInstances: AWS asks each operating system to restart (the instance stays running, same addresses);
    returns at once, before any has gone down."""
    ec2.reboot_instances(InstanceIds=list(instance_ids))


def terminate(ec2: Client, instance_ids: list[str], missing_ok: bool = False) -> None:
    """TerminateInstances; ``missing_ok``: instances already gone are fine (by error code), other errors go through."""
    if not instance_ids:
        return
    if missing_ok:
        unless_gone(lambda: ec2.terminate_instances(InstanceIds=list(instance_ids)))
    else:
        ec2.terminate_instances(InstanceIds=list(instance_ids))


def wait_terminated(ec2: Client, instance_ids: list[str], timeout: float = 300, delay: float = 2) -> None:
    """Until every instance is terminated (botocore's InstanceTerminated; its WaiterError past ``timeout``)."""
    ec2.get_waiter("instance_terminated").wait(
        InstanceIds=list(instance_ids), WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout / delay))})
