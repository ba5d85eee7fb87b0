"""suspend/resume_autoscaling_processes against a real moto server, as 1.x users typed them."""

from __future__ import annotations

import pytest
from fabulaws.aws import Aws
from fabulaws.aws.scaling import PROCESSES, find_group, suspended_processes
from fabulaws.config import load_settings
from fabulaws.sandbox.seed import seed

from conftest import run_cli

GROUP = "myproject-testing-ag"


@pytest.fixture
def project(aws_env, example_project):
    settings = load_settings(example_project / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    seed(aws, settings)
    return example_project, aws


def suspended(aws) -> list[str]:
    return suspended_processes(find_group(aws.autoscaling, GROUP))


def test_named_processes_round_trip(project):
    cwd, aws = project
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,Launch,AddToLoadBalancer"], cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Suspended these processes for the autoscaling group named 'myproject-testing-ag': Launch, AddToLoadBalancer\n"
    )
    assert suspended(aws) == ["Launch", "AddToLoadBalancer"]
    result = run_cli(["resume_autoscaling_processes:myproject,testing,Launch"], cwd)
    assert result.returncode == 0, result.stderr
    assert suspended(aws) == ["AddToLoadBalancer"]
    assert run_cli(["resume-autoscaling-processes", "myproject", "testing", "-p", "AddToLoadBalancer"], cwd).returncode == 0
    assert suspended(aws) == []


def test_all_processes_when_none_named(project):
    cwd, aws = project
    result = run_cli(["suspend_autoscaling_processes:myproject,testing"], cwd)
    assert result.stdout.endswith("named 'myproject-testing-ag': all processes\n"), result.stderr
    assert suspended(aws) == list(PROCESSES)
    result = run_cli(["resume_autoscaling_processes:myproject,testing"], cwd)
    assert result.stdout == "Resumed these processes for the autoscaling group named 'myproject-testing-ag': all processes\n"
    assert suspended(aws) == []


def test_process_names_are_case_insensitive(project):
    cwd, aws = project
    assert run_cli(["suspend_autoscaling_processes:myproject,testing,azrebalance"], cwd).returncode == 0
    assert suspended(aws) == ["AZRebalance"]


def test_unknown_process_is_rejected_with_the_valid_list_and_nothing_changes(project):
    cwd, aws = project
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,Launch,Lunch"], cwd)
    assert result.returncode == 2  # a usage error: nothing was changed
    assert result.stderr.strip() == "fabulaws: unknown Auto Scaling process 'Lunch'; valid processes: " + ", ".join(PROCESSES)
    assert suspended(aws) == []


def test_missing_group_is_one_clear_error(project):
    cwd, aws = project
    aws.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    result = run_cli(["suspend_autoscaling_processes:myproject,testing"], cwd)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("fabulaws: Cannot find an Auto Scaling group named 'myproject-testing-ag'")
