"""Sandbox: any client sees AWS behaviour over HTTP (the AWS CLI here), requests are counted, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from conftest import EXAMPLE, _free_port, run_cli, wait_until
from sandbox_helpers import group, network

REPO = Path(__file__).resolve().parent.parent


def aws_cli() -> str:
    """The AWS CLI `make test` installs into .tools (it pins docutils, so it lives apart from .venv)."""
    for candidate in (REPO / ".tools" / "bin" / "aws", shutil.which("aws")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise AssertionError("the AWS CLI is missing: `make test` installs it into .tools/")


def run_aws(sandbox, *args: str) -> dict:
    result = subprocess.run(
        [aws_cli(), "--output", "json", *args],
        env={**os.environ, **sandbox.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_the_aws_cli_sees_pending_instances_and_suspended_launches(sandbox):
    """Driven by the AWS CLI, not our code: RunInstances answers pending and the instance runs after its boot time
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html); with Launch suspended a
    group does not launch (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html)."""
    subnets = network(sandbox)
    sandbox.timings(instance_boot=240)  # 4 real seconds: the CLI takes about one to start
    launched = run_aws(sandbox, "ec2", "run-instances", "--image-id", "ami-785db401", "--count", "1", "--subnet-id", subnets[0])
    instance_id = launched["Instances"][0]["InstanceId"]
    described = run_aws(sandbox, "ec2", "describe-instances", "--instance-ids", instance_id)
    assert described["Reservations"][0]["Instances"][0]["State"]["Name"] == "pending"
    wait_until(
        lambda: run_aws(sandbox, "ec2", "describe-instances", "--instance-ids", instance_id)["Reservations"][0]["Instances"][0]["State"]["Name"]
        == "running",
        15,
        "running, as the AWS CLI sees it",
    )
    group(sandbox, subnets)
    run_aws(sandbox, "autoscaling", "suspend-processes", "--auto-scaling-group-name", "web", "--scaling-processes", "Launch")
    run_aws(sandbox, "autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "web", "--desired-capacity", "1")
    time.sleep(sandbox.real(120))
    found = run_aws(sandbox, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "web")
    assert found["AutoScalingGroups"][0]["Instances"] == []
    assert found["AutoScalingGroups"][0]["SuspendedProcesses"][0]["ProcessName"] == "Launch"


def test_every_request_is_counted_by_service_and_action(sandbox):
    """The sandbox's own API: /_sandbox/stats, for benchmarks that report AWS API calls."""
    network(sandbox)
    for _ in range(3):
        sandbox.ec2.describe_instances()
    sandbox.autoscaling.describe_auto_scaling_groups()
    requests = sandbox.stats()["requests"]
    assert requests["ec2:DescribeInstances"] == 3
    assert requests["autoscaling:DescribeAutoScalingGroups"] == 1
    assert requests["ec2:CreateVpc"] == 1


def test_sandbox_up_seed_status_env_down(tmp_path):
    """`fabulaws sandbox up --seed` creates what the 1.x docs tell users to create by hand, and prints the env."""
    env = {"FABULAWS_SANDBOX_DIR": str(tmp_path / "state")}
    port = str(_free_port())
    config = EXAMPLE / "fabulaws-config.yml"
    try:
        up = run_cli(["sandbox", "up", "--port", port, "--time-scale", "60", "--seed", str(config)], tmp_path, env=env)
        assert up.returncode == 0, up.stderr
        exported = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        assert exported == {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        assert "created Auto Scaling group myproject-testing-ag (min 0, desired 0, max 4" in up.stderr
        again = run_cli(["sandbox", "up", "--port", port, "--seed", str(config)], tmp_path, env=env)
        assert "sandbox already running" in again.stderr and "exists  Auto Scaling group myproject-testing-ag" in again.stderr
        assert run_cli(["sandbox", "env"], tmp_path, env=env).stdout == up.stdout

        import boto3

        client = boto3.client("autoscaling", endpoint_url=exported["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        seeded = client.describe_auto_scaling_groups(AutoScalingGroupNames=["myproject-testing-ag"])["AutoScalingGroups"][0]
        assert (seeded["MinSize"], seeded["DesiredCapacity"], seeded["MaxSize"], seeded["HealthCheckType"]) == (0, 0, 4, "ELB")
        assert seeded["LoadBalancerNames"] == ["myproject-testing-lb"] and len(seeded["TargetGroupARNs"]) == 1
        tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in seeded["Tags"]}
        assert tags == {
            "Name": ("myproject_testing_web", True),
            "deployment": ("myproject", True),
            "environment": ("testing", True),
            "role": ("web", True),
        }
        status = run_cli(["sandbox", "status"], tmp_path, env=env)
        assert status.returncode == 0 and "group myproject-testing-ag: desired 0 (min 0, max 4)" in status.stdout
    finally:
        down = run_cli(["sandbox", "down"], tmp_path, env=env)
    assert down.returncode == 0 and "sandbox stopped" in down.stderr
    assert run_cli(["sandbox", "status"], tmp_path, env=env).returncode == 1
