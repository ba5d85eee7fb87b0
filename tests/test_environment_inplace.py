"""deploy_serial_without_autoscaling and deploy_full_without_autoscaling on the shared environment's hosts.

The environment's two web servers are detached from their Auto Scaling group (kept running, put back into the
load balancer and target group by hand) and the configuration loses ``auto_scaling_groups``: exactly an
environment whose web servers are in no group. At the end they are attached to the group again, with its sizes
as they were, and the configuration is restored.
"""

from __future__ import annotations

import time

import pytest
import yaml

from environment_support import DEPLOY_TIMEOUT, RequestLoop, get, new_version
from hosts_support import Shell, aws_client, fabulaws

pytestmark = pytest.mark.hosts

GROUP = "myproject-testing-ag"
ELB = "myproject-testing-lb"
TARGET_GROUP = "myproject-testing-tg"


def _healthy(elb, elbv2, arn: str, ids: list[str]) -> bool:
    classic = {s["InstanceId"]: s["State"] for s in elb.describe_instance_health(LoadBalancerName=ELB)["InstanceStates"]}
    targets = {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
    return all(classic.get(i) == "InService" and targets.get(i) == "healthy" for i in ids)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {seconds:.0f} s"
        time.sleep(2)


@pytest.fixture(scope="module")
def outside_autoscaling(environment):
    """The web servers out of their group, serving; the config without auto_scaling_groups. Put back after."""
    autoscaling, elb, elbv2 = (aws_client(environment, name) for name in ("autoscaling", "elb", "elbv2"))
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    arn = elbv2.describe_target_groups(Names=[TARGET_GROUP])["TargetGroups"][0]["TargetGroupArn"]
    config_file = environment["dir"] / "fabulaws-config.yml"
    original = config_file.read_text()
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=0)
    autoscaling.detach_instances(AutoScalingGroupName=GROUP, InstanceIds=ids, ShouldDecrementDesiredCapacity=True)
    elb.register_instances_with_load_balancer(LoadBalancerName=ELB, Instances=[{"InstanceId": i} for i in ids])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])
    try:
        _wait(lambda: _healthy(elb, elbv2, arn, ids), 300, "healthy again outside the group")
        config = yaml.safe_load(original)
        del config["auto_scaling_groups"]
        config_file.write_text(yaml.safe_dump(config))
        yield {"ids": ids, "original_config": original}
    finally:
        restoring = time.monotonic()
        config_file.write_text(original)
        # They are registered and healthy already: the group must not register them anew (health checks again).
        autoscaling.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["AddToLoadBalancer"])
        autoscaling.attach_instances(AutoScalingGroupName=GROUP, InstanceIds=ids)
        if "AddToLoadBalancer" not in {p["ProcessName"] for p in group["SuspendedProcesses"]}:
            autoscaling.resume_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["AddToLoadBalancer"])
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=group["MinSize"],
                                              DesiredCapacity=group["DesiredCapacity"], MaxSize=group["MaxSize"])
        _wait(lambda: _healthy(elb, elbv2, arn, ids), 300, "healthy back in the group")
        print(f"web servers back in {GROUP}: {time.monotonic() - restoring:.0f} s")


def test_an_environment_with_an_auto_scaling_group_is_refused(environment):
    result = fabulaws(environment, "deploy_serial_without_autoscaling:myproject,testing", timeout=120)
    assert result.returncode != 0
    assert "has the Auto Scaling group myproject-testing-ag (auto_scaling_groups); use deploy_serial:myproject,testing" \
        in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_serial_without_autoscaling_fails_no_request_and_serves_the_new_code(environment, outside_autoscaling):
    new_version(environment, 51)
    loop = RequestLoop(environment)
    loop.start()
    started = time.monotonic()
    result = fabulaws(environment, "deploy_serial_without_autoscaling:myproject,testing,wait=20", timeout=DEPLOY_TIMEOUT)
    seconds = time.monotonic() - started
    time.sleep(1)
    answers = loop.stop()
    print(f"deploy_serial_without_autoscaling: {seconds:.0f} s, {len(answers)} requests")
    assert result.returncode == 0, result.stdout + result.stderr
    failures = [answer for answer in answers if answer[0] != 200]
    assert failures == [], f"{len(failures)} of {len(answers)} requests failed: {failures[:3]}"
    assert answers[-1] == (200, "Hello from myproject, version 51\n")
    output = result.stdout + result.stderr
    for instance_id in outside_autoscaling["ids"]:  # each one out, then back before the next left
        assert f"Removing instance {instance_id} from {ELB}" in output
        assert f"Adding instance {instance_id} to target group {TARGET_GROUP}" in output
    first, second = outside_autoscaling["ids"]
    assert output.index(f"Adding instance {first}") < output.index(f"Removing instance {second}") or \
        output.index(f"Adding instance {second}") < output.index(f"Removing instance {first}")


def test_deploy_full_without_autoscaling_serves_the_new_code(environment, outside_autoscaling):
    new_version(environment, 52)
    started = time.monotonic()
    result = fabulaws(environment, "deploy_full_without_autoscaling:myproject,testing", timeout=DEPLOY_TIMEOUT)
    print(f"deploy_full_without_autoscaling: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert get(environment, "/") == (200, "Hello from myproject, version 52\n")
    changesets = fabulaws(environment, "testing", "current_changeset", timeout=120)
    assert changesets.returncode == 0, changesets.stdout + changesets.stderr
    assert changesets.stdout.count("current_changeset: ") == 3, changesets.stdout  # 2 web, 1 worker
    assert len(set(line.split("current_changeset: ")[1] for line in changesets.stdout.splitlines()
                   if "current_changeset: " in line)) == 1, changesets.stdout


def test_a_host_reports_its_instance_types_memory(environment):
    """What a server's /proc/meminfo says is its instance type's memory (DescribeInstanceTypes), not the whole
    machine's: anything sized from it on a server fits the type (FabulAWS itself asks DescribeInstanceTypes)."""
    ec2 = aws_client(environment, "ec2")
    web = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:role", "Values": ["web"]},
                                                      {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
           for i in r["Instances"]][0]
    memory = ec2.describe_instance_types(InstanceTypes=[web["InstanceType"]])["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"]
    shell = Shell(environment, web["PrivateIpAddress"])
    assert shell.ok("grep MemTotal: /proc/meminfo").split()[1] == str(memory * 1024)
