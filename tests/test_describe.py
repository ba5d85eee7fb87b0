"""``describe`` against a real moto server: servers by role, combo rule, load balancer states."""

from __future__ import annotations

import json

import pytest
from fabulaws.aws import Aws
from fabulaws.aws.network import resolve_subnet
from fabulaws.config import load_settings
from fabulaws.sandbox.seed import seed

from conftest import run_cli


def launch_role(aws, settings, role: str, letter: str) -> str:
    """An instance tagged like one FabulAWS provisioned for ``role`` in testing."""
    subnet = resolve_subnet(aws.ec2, settings.subnets[letter])
    tags = {"deployment": "myproject", "environment": "testing", "role": role, "Name": f"myproject_testing_{role}"}
    reservation = aws.ec2.run_instances(
        ImageId=settings.instance_settings.ami,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet["SubnetId"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    return reservation["Instances"][0]["InstanceId"]


@pytest.fixture
def seeded(aws_env, example_project):
    config = example_project / "fabulaws-config.yml"
    config.write_text(config.read_text().replace("valid_roles: [cache, db-primary, db-replica, web, worker]", "valid_roles: [cache, db-primary, db-replica, web, worker, combo]"))
    settings = load_settings(config)
    aws = Aws.from_settings(settings)
    seed(aws, settings)
    ids = {
        "cache": launch_role(aws, settings, "cache", "a"),
        "db-primary": launch_role(aws, settings, "db-primary", "a"),
        "replica-1": launch_role(aws, settings, "db-replica", "b"),
        "replica-2": launch_role(aws, settings, "db-replica", "a"),
        "worker": launch_role(aws, settings, "worker", "a"),
        "combo": launch_role(aws, settings, "combo", "b"),
        "pending": launch_role(aws, settings, "web-PENDING", "a"),
    }
    aws.autoscaling.update_auto_scaling_group(AutoScalingGroupName="myproject-testing-ag", MinSize=2, DesiredCapacity=2)
    group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["myproject-testing-ag"])
    ids["web"] = sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])
    return example_project, aws, ids


def test_describe_json_lists_servers_by_role(seeded):
    project, aws, ids = seeded
    result = run_cli(["describe:myproject,testing", "--json"], project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    roles = {role: [entry["instance_id"] for entry in entries] for role, entries in data["roles"].items()}
    assert list(roles) == sorted(roles)
    assert roles["cache"] == [ids["cache"]]
    assert roles["db-primary"] == [ids["db-primary"], ids["combo"]]  # combo serves db-primary, web and worker
    assert sorted(roles["db-replica"]) == sorted([ids["replica-1"], ids["replica-2"]])  # order: tests/test_stack.py
    assert roles["worker"] == [ids["worker"], ids["combo"]]
    assert sorted(roles["web"]) == sorted(ids["web"] + [ids["combo"]])
    assert ids["pending"] not in str(roles)  # -PENDING servers are not part of the environment yet
    web = {entry["instance_id"]: entry for entry in data["roles"]["web"]}
    for instance_id in ids["web"]:
        assert web[instance_id]["load_balancers"] == {"myproject-testing-lb": "InService"}
        assert web[instance_id]["target_groups"] == {"myproject-testing-tg": "healthy"}
        assert web[instance_id]["private_ip"].startswith("10.0.")
        assert web[instance_id]["hostname"] == web[instance_id]["private_ip"]  # ec2_attr_for_ssh
    assert web[ids["combo"]]["load_balancers"] == {"myproject-testing-lb": "OutOfService"}
    assert web[ids["combo"]]["target_groups"] == {"myproject-testing-tg": "unused"}


def test_describe_text_follows_the_1x_layout(seeded):
    project, aws, ids = seeded
    result = run_cli(["testing", "describe:myproject,testing"], project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    cache = lines.index("cache servers:")
    assert lines[cache + 1] == f"  Instance ID: {ids['cache']}"
    assert lines[cache + 2].startswith("     Hostname: 10.0.1.")
    assert lines[cache + 4] == "    Placement: us-east-1a"
    assert "    ELB State: InService (myproject-testing-lb)" in lines
    assert " Target State: healthy (myproject-testing-tg)" in lines


def test_describe_an_empty_environment(seeded):
    project, aws, ids = seeded
    result = run_cli(["describe", "myproject", "staging"], project)
    assert (result.returncode, result.stdout.strip()) == (0, "No running servers found for myproject staging.")


def test_describe_unknown_environment_is_refused_before_any_call(seeded):
    project, aws, ids = seeded
    result = run_cli(["describe:myproject,prod"], project)
    assert result.returncode == 2  # a usage error: nothing was called
    assert result.stderr.strip() == (
        "fabulaws: unknown environment 'prod'; choose a valid environment: testing, staging, production; "
        "did you mean 'production'?"
    )
