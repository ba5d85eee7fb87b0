"""Fault injection: SIGKILL a deploy after each step in turn, then `recover` from another working directory.

After recover, the group's min/max/desired, termination policies, suspended processes and launch are either
the original ones or the completed deploy's; no lock and no journal remain; nothing the run created is left
(temporary servers, key pairs) and a rollback also removed what it made for the new launch (the launch template
version, the baked image and its snapshots).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fabulaws.aws import scaling
from fabulaws.aws.launch import Launch
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL
from fabulaws.library.wsgiautoscale.deploy.journal import LOCK_TAG
from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL

from conftest import wait_until
from deploy_support import GROUP, RecordingSteps, make_project, recover_here

DRIVER = Path(__file__).with_name("deploy_driver.py")
LEASE = "2"  # seconds: a killed run's lease expires quickly
CASES = ([(DEPLOY_FULL.name, step.name) for step in DEPLOY_FULL.steps] + [(DEPLOY_FULL.name, "point_of_no_return")]
         + [(DEPLOY_SERIAL.name, step.name) for step in DEPLOY_SERIAL.steps])


def settings_of(group: dict) -> tuple:
    return (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], tuple(group["TerminationPolicies"]),
            tuple(scaling.suspended_processes(group)))


def census(project) -> dict:
    """What a run may create and must not leak."""
    ec2 = project.aws.ec2
    template = Launch.of(project.group()).template_id
    return {
        "versions": sorted(v["VersionNumber"] for v in ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]),
        "images": sorted(i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]),
        "snapshots": len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
        "key_pairs": sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]),
        "configurations": sorted(c["LaunchConfigurationName"] for c in project.aws.autoscaling.describe_launch_configurations()["LaunchConfigurations"]),
        "temporary": [i["InstanceId"] for r in ec2.describe_instances(Filters=[
            {"Name": "tag-key", "Values": ["fabulaws:temporary"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]],
    }


def kill_after(project, tmp_path, operation: str, step: str, lease: str = LEASE, *params: str) -> Path:
    log = tmp_path / "steps.jsonl"
    killed = subprocess.run(
        [sys.executable, str(DRIVER), str(project.directory), operation, step, str(log), "bake=image", *params],
        capture_output=True, text=True, timeout=300, env={**os.environ, "FABULAWS_LEASE_SECONDS": lease},
    )
    assert killed.returncode == -9, killed.stderr
    return log


@pytest.mark.parametrize(("operation", "step"), CASES, ids=[f"{op}-after-{step}" for op, step in CASES])
def test_recover_after_sigkill(sandbox, tmp_path, operation, step):
    project = make_project(sandbox, tmp_path / "first")
    project.aws.autoscaling.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["ScheduledActions"])
    before = project.group()
    original = (settings_of(before), Launch.of(before))
    nothing = census(project)
    log = kill_after(project, tmp_path, operation, step)
    journal = project.stored_journal()
    assert journal is not None and (journal.is_done(step) or step == "point_of_no_return")
    project.wait_lease_expired()
    second = make_second_directory(project, tmp_path)
    message = recover_here(second, RecordingSteps(log))
    group = project.group()
    launch = Launch.of(group)
    after = census(project)
    if message.endswith("finished."):
        assert journal.no_return, "only a run past its point of no return is finished by recover=auto"
        assert launch.template_id == original[1].template_id and launch.version == "2"
        assert after["temporary"] == [] and after["key_pairs"] == nothing["key_pairs"]
        assert len(after["images"]) == len(nothing["images"]) + 1  # the deployed image stays
    else:
        assert message.endswith("rolled back."), message
        assert not journal.no_return
        assert launch == original[1]
        assert after == nothing, "a rollback leaves nothing the run created"
        steps = [c["step"] for c in RecordingSteps(log).calls()]
        if journal.workers:
            assert "restore_workers" in steps  # the workers got their old code back
    assert settings_of(group) == original[0]
    assert LOCK_TAG not in scaling.group_tags(group)
    assert project.stored_journal() is None and project.store().read(project.store().lock_key) is None
    wait_until(lambda: len([i for i in project.group()["Instances"] if i["LifecycleState"] == "InService"]) == 2, 30, "two servers again")


def make_second_directory(project, tmp_path: Path) -> Path:
    """Another working directory with the same configuration (standing for another machine)."""
    second = tmp_path / "second"
    second.mkdir(exist_ok=True)
    (second / "fabulaws-config.yml").write_text((project.directory / "fabulaws-config.yml").read_text())
    return second


@pytest.mark.parametrize(("operation", "step", "outcome"), [
    (DEPLOY_SERIAL.name, "deploy_worker", "finished"),  # past the point of no return: finished
    (DEPLOY_FULL.name, "scale_out", "rolled back"),  # before it: rolled back
])
def test_recover_on_the_command_line_in_a_second_directory(sandbox, tmp_path, operation, step, outcome):
    """The operator's own command (`fabulaws recover:...`, real server steps) in a directory that never saw
    the run: the journal and the lock come from the state bucket."""
    from conftest import run_cli

    project = make_project(sandbox, tmp_path / "first")
    before = project.group()
    kill_after(project, tmp_path, operation, step)
    project.wait_lease_expired()
    second = make_second_directory(project, tmp_path)
    result = run_cli(["recover:myproject,testing,poll=0.2"], second, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Recovered: {operation} {outcome}." in result.stdout
    group = project.group()
    assert (Launch.of(group).version == "2") == (outcome == "finished")
    assert settings_of(group) == settings_of(before)
    assert project.stored_journal() is None and project.store().read(project.store().lock_key) is None
