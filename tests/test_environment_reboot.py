"""reboot_environment on the shared environment (sandbox hosts): every server rebooted once, in the order the
application needs, the web servers one at a time out of their load balancer, and the site serving at the end.

The sandbox's hosts share one kernel, so the start time of each host's PID 1 (in clock ticks since that kernel
booted) says both that a host rebooted and when: comparable across hosts, read over SSH independently of the task.
"""

from __future__ import annotations

import time

from environment_support import get
from hosts_support import Shell, aws_client, fabulaws

ORDER = (("db-primary", "cache"), ("db-replica",), ("worker",), ("web",))
GROUP = "myproject-testing-ag"
REPLACING = ("HealthCheck", "ReplaceUnhealthy", "AZRebalance")


def servers(environment) -> dict[str, str]:
    """{instance id: role} of the environment's running servers."""
    found = aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:environment", "Values": ["testing"]}, {"Name": "instance-state-name", "Values": ["running"]}])
    roles = {}
    for reservation in found["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
            if tags.get("role") in {role for stage in ORDER for role in stage}:
                roles[instance["InstanceId"]] = (tags["role"], instance["PrivateIpAddress"])
    return roles


def suspended(environment) -> set[str]:
    group = aws_client(environment, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    return {process["ProcessName"] for process in group["SuspendedProcesses"]}


def boot_ticks(environment, address: str) -> int:
    """When the host's current boot began (its PID 1's start, in ticks of the shared kernel)."""
    shell = Shell(environment, address)
    try:
        return int(shell.ok("cut -d' ' -f22 /proc/1/stat").strip())
    finally:
        shell.client.close()


def test_reboot_environment_reboots_every_server_once_in_order_and_the_site_serves(environment):
    found = servers(environment)
    suspended_before = suspended(environment)
    assert sorted(role for role, _ in found.values()) == ["cache", "db-primary", "db-replica", "web", "web", "worker"]
    before = {instance_id: boot_ticks(environment, address) for instance_id, (_, address) in found.items()}

    started = time.monotonic()
    result = fabulaws(environment, "reboot_environment:myproject,testing,poll=1", timeout=1200)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    print(f"reboot_environment: {seconds:.0f} s")
    assert result.returncode == 0, output

    assert servers(environment).keys() == found.keys(), "no server replaced (Auto Scaling kept its hands off)"
    after = {instance_id: boot_ticks(environment, address) for instance_id, (_, address) in found.items()}
    assert all(after[i] > before[i] for i in found), f"every server rebooted: {before} -> {after}"
    assert output.count("Rebooting ") - output.count("Rebooting the ") == len(found), "each server once"

    # stage by stage: every boot of a stage began after every boot of the stage before it
    stages = [[after[i] for i, (role, _) in found.items() if role in stage] for stage in ORDER]
    for earlier, later in zip(stages, stages[1:], strict=False):
        assert max(earlier) < min(later), f"reboot order {ORDER}: boot ticks by stage {stages}"
    webs = sorted(stages[-1])
    assert len(webs) == 2 and webs[0] < webs[1]
    first_web = min((i for i, (role, _) in found.items() if role == "web"), key=after.get)
    assert output.index(f"Removing {first_web} from") < output.index(f"Adding {first_web} to"), output

    assert suspended(environment) == suspended_before, "what the reboot suspended is resumed"
    held = ", ".join(p for p in REPLACING if p not in suspended_before)
    assert f"Suspended {held} on {GROUP}" in output and f"Resumed {held} on {GROUP}" in output, output

    assert get(environment, "/")[0] == 200, "the site serves through the load balancer"
    assert get(environment, "/healthcheck.html") == (200, "OK\n"), "every database answers"
    status, body = get(environment, "/celery-ping/", timeout=30)
    assert status == 200 and '"result": 5' in body, body
