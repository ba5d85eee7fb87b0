"""Fault injection: SIGKILL a deploy after each step in turn, then `recover` (in-process, recording steps).

After recover, the group's min/max/desired, termination policies, suspended processes and launch are either
the original ones or the completed deploy's; no lock remains; no temporary server or key pair is left.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import wait_until
from deploy_support import GROUP, RecordingSteps, make_project
from fabulaws.aws import scaling
from fabulaws.aws.launch import Launch
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL
from fabulaws.library.wsgiautoscale.deploy.journal import LOCK_TAG, Journal
from fabulaws.library.wsgiautoscale.deploy.operation import recover
from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL
from fabulaws.library.wsgiautoscale.tasks.deploy import OPERATIONS

DRIVER = Path(__file__).with_name("deploy_driver.py")
CASES = [(DEPLOY_FULL.name, step.name) for step in DEPLOY_FULL.steps] + [(DEPLOY_SERIAL.name, step.name) for step in DEPLOY_SERIAL.steps]


def settings_of(group: dict) -> tuple:
    return (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], tuple(group["TerminationPolicies"]),
            tuple(scaling.suspended_processes(group)))


@pytest.mark.parametrize(("operation", "kill_after"), CASES, ids=[f"{op}-after-{step}" for op, step in CASES])
def test_recover_after_sigkill(sandbox, tmp_path, monkeypatch, operation, kill_after):
    project = make_project(sandbox, tmp_path / "myproject")
    monkeypatch.chdir(project.directory)
    project.aws.autoscaling.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["ScheduledActions"])
    before = project.group()
    original = (settings_of(before), Launch.of(before))
    log = tmp_path / "steps.jsonl"
    killed = subprocess.run(
        [sys.executable, str(DRIVER), str(project.directory), operation, kill_after, str(log)],
        capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    journal = Journal.load("myproject", "testing")
    assert journal is not None and journal.is_done(kill_after)
    ctx = project.context(OPERATIONS[operation], RecordingSteps(log))
    ctx.journal.remove()
    ctx.journal = journal
    outcome = recover(ctx, OPERATIONS)
    group = project.group()
    launch = Launch.of(group)
    if outcome == "finished":
        assert launch.template_id == original[1].template_id and launch.version == "2"
    else:
        assert launch == original[1]
    assert settings_of(group) == original[0]
    assert LOCK_TAG not in scaling.group_tags(group)
    assert Journal.load("myproject", "testing") is None
    temporary = project.aws.ec2.describe_instances(
        Filters=[{"Name": "tag-key", "Values": ["fabulaws:temporary"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    assert temporary == []
    assert [k["KeyName"] for k in project.aws.ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"].startswith("bake-")] == []
    wait_until(lambda: len([i for i in project.group()["Instances"] if i["LifecycleState"] == "InService"]) == 2, 30, "two servers again")
