"""Tasks that change AWS or servers first say which account, region and environment, once per run."""

from __future__ import annotations

import boto3
import pytest
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.announce import announcement
from fabulaws.sandbox.seed import seed

from conftest import run_cli


@pytest.fixture
def project(aws_env, example_project, monkeypatch):
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    settings = load_settings(example_project / "fabulaws-config.yml")
    seed(Aws.from_settings(settings), settings)
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    return example_project, f"fabulaws: account {account}, region us-east-1, myproject/testing"


def test_the_line_names_account_region_deployment_and_environment():
    assert announcement("123456789012", "us-east-1", "myproject", "staging") == (
        "fabulaws: account 123456789012, region us-east-1, myproject/staging"
    )


def test_a_changing_task_announces_on_stderr_before_it_changes_anything(project):
    cwd, line = project
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,Launch"], cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [line]
    assert result.stdout.startswith("Suspended these processes")  # stdout stays the task's own output


def test_once_per_run_however_many_changing_tasks(project):
    cwd, line = project
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,Launch",
                      "resume_autoscaling_processes:myproject,testing,Launch"], cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [line]


def test_read_only_tasks_do_not_announce(project):
    cwd, _ = project
    result = run_cli(["describe:myproject,testing"], cwd)
    assert result.returncode == 0, result.stderr
    assert "fabulaws: account" not in result.stderr


def test_the_region_announced_is_the_one_changed(project):
    """AWS_REGION beats the file's region: the group there is suspended, the file's region's is not."""
    cwd, _ = project
    boto3.client("ec2", region_name="eu-west-1").create_launch_template(
        LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
    eu = boto3.client("autoscaling", region_name="eu-west-1")
    eu.create_auto_scaling_group(AutoScalingGroupName="myproject-testing-ag", LaunchTemplate={"LaunchTemplateName": "web-lt"},
                                 MinSize=0, MaxSize=0, AvailabilityZones=["eu-west-1a"])
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,Launch"], cwd, env={"AWS_REGION": "eu-west-1"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["fabulaws: account 123456789012, region eu-west-1, myproject/testing"]
    suspended = {region: boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups()[
        "AutoScalingGroups"][0]["SuspendedProcesses"] for region in ("eu-west-1", "us-east-1")}
    assert ([p["ProcessName"] for p in suspended["eu-west-1"]], suspended["us-east-1"]) == (["Launch"], [])


def test_nothing_is_announced_when_the_task_stops_before_changing_anything(project):
    cwd, _ = project
    result = run_cli(["deploy_full:myproject,testing,launch_config_name=nope"], cwd)
    assert result.returncode != 0
    assert "fabulaws: account" not in result.stderr
