"""The in-place deploys' refusals (before anything changes) against moto over HTTP, and swap sizing.

What they do on servers is tested on sandbox hosts in test_environment_inplace.py.
"""

from __future__ import annotations

import boto3
import pytest
import yaml
from fabulaws.aws.instances import instance_memory_mib, memory_mib
from fabulaws.ubuntu.system import swap_file_size

from conftest import run_cli

TASKS = ("deploy_full_without_autoscaling", "deploy_serial_without_autoscaling")


@pytest.mark.parametrize("task", TASKS)
def test_an_environment_with_an_auto_scaling_group_is_refused_in_one_line(example_project, aws_env, task):
    result = run_cli([f"{task}:myproject,testing"], example_project, env=aws_env)
    assert result.returncode != 0
    instead = task.replace("_without_autoscaling", "")
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"has the Auto Scaling group myproject-testing-ag (auto_scaling_groups); use {instead}:myproject,testing"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def no_group_project(example_project, aws_env):
    """The example without auto_scaling_groups; two tagged web servers, only one of them in the classic ELB."""
    path = example_project / "fabulaws-config.yml"
    config = yaml.safe_load(path.read_text())
    del config["auto_scaling_groups"]
    config["target_groups"] = {}
    path.write_text(yaml.safe_dump(config))
    ec2 = boto3.client("ec2", region_name="us-east-1")
    elb = boto3.client("elb", region_name="us-east-1")
    tags = [{"Key": "deployment", "Value": "myproject"}, {"Key": "environment", "Value": "testing"},
            {"Key": "role", "Value": "web"}]
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId="ami-785db401", MinCount=2, MaxCount=2, InstanceType="t3.small",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]]
    elb.create_load_balancer(LoadBalancerName="myproject-testing-lb", AvailabilityZones=["us-east-1a"],
                             Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}])
    elb.register_instances_with_load_balancer(LoadBalancerName="myproject-testing-lb", Instances=[{"InstanceId": ids[0]}])
    return {"dir": example_project, "env": aws_env, "ids": ids, "elb": elb}


def test_serial_needs_two_servers_in_service_per_load_balancer_and_changes_nothing(no_group_project):
    result = run_cli(["deploy_serial_without_autoscaling:myproject,testing"], no_group_project["dir"],
                     env=no_group_project["env"])
    assert result.returncode != 0
    assert ("Need 2 or more instances per load balancer in service to run deploy_serial_without_autoscaling "
            "(in service now: myproject-testing-lb: 1)") in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    health = no_group_project["elb"].describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"]
    assert [s["InstanceId"] for s in health] == no_group_project["ids"][:1], "nobody was deregistered"
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for b in s3.list_buckets()["Buckets"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])]
    assert not [k for k in keys if k.endswith("lock.json")], f"the lease was released: {keys}"


def test_a_run_holding_the_lease_refuses_the_next(no_group_project):
    from fabulaws.aws.session import Aws
    from fabulaws.aws.statestore import StateStore
    from fabulaws.library.wsgiautoscale.deploy.lease import Lease

    store = StateStore.for_environment(Aws("us-east-1"), "myproject", "testing")
    lease = Lease.acquire(store, "other-run", "deploy_serial")
    try:
        result = run_cli(["deploy_full_without_autoscaling:myproject,testing"], no_group_project["dir"],
                         env=no_group_project["env"])
    finally:
        lease.release()
    assert result.returncode != 0
    assert "myproject/testing is locked by deploy_serial of" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_memory_comes_from_the_instance_type(aws_env):
    """What sizes swap, PostgreSQL and memcached: the type's memory, not the host's /proc/meminfo (a sandbox host
    shows the whole machine's, 24 GB, which sized a swap file bigger than a 10 GB volume)."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert memory_mib(ec2, "t3.small") == 2048
    instance = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]
    assert instance_memory_mib(ec2, instance["InstanceId"]) == 8192


def test_a_swap_file_never_takes_more_than_half_the_free_space():
    assert swap_file_size(2048, 9800) == (2048, None)
    size, warning = swap_file_size(24576, 9800)  # 1.x's sample: 24 GB of memory, swap_multiplier 1, 10 GB volume
    assert size == 4900
    assert warning == ("swap: 24576 MiB wanted (memory x swap_multiplier), but the data volume has 9800 MiB free; "
                       "the swap file gets 4900 MiB (half of it). Raise volume_sizes for more swap")


@pytest.mark.parametrize("stopped", [False, True])
def test_a_failed_server_goes_back_only_if_healthy(example_project, aws_env, stopped):
    """After a failed deploy_web: registered again where it served, kept there if healthy within the timeout,
    else taken out again (moto's classic ELB reports a stopped instance OutOfService, never InService)."""
    from fabulaws.aws import balancers as lb
    from fabulaws.aws.session import Aws
    from fabulaws.library.wsgiautoscale.context import project_settings
    from fabulaws.library.wsgiautoscale.deploy import inplace
    from fabulaws.library.wsgiautoscale.environment import Environment
    from fabulaws.library.wsgiautoscale.stack import Server
    from fabulaws.waits import Polling

    ec2 = boto3.client("ec2", region_name="us-east-1")
    elb = boto3.client("elb", region_name="us-east-1")
    instance_id = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    elb.create_load_balancer(LoadBalancerName="myproject-testing-lb", AvailabilityZones=["us-east-1a"],
                             Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}])
    if stopped:
        ec2.stop_instances(InstanceIds=[instance_id])
    env = Environment(project_settings(example_project / "fabulaws-config.yml"), "myproject", "testing")
    run = inplace.InPlace(Aws("us-east-1"), env, None, lambda line: None, Polling(delay=0.2), timeout=2)
    server = Server(instance_id, "web", "", "", "", "", "", "us-east-1a")
    state = inplace.after_failure(run, server, [lb.Balancer("elb", "myproject-testing-lb")])
    registered = [s["InstanceId"] for s in elb.describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"]]
    if stopped:
        assert state == "is out of myproject-testing-lb (add it back with add_to_elb once it works)"
        assert registered == []
    else:
        assert state.startswith("passes the health checks and is back in myproject-testing-lb")
        assert registered == [instance_id]
