"""The deploy engine on the sandbox: launch configurations and templates, deploy_full, deploy_serial, safety."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter

import pytest
from fabulaws.aws import scaling
from fabulaws.aws.launch import Launch
from fabulaws.errors import DeployError, RolledBack, UsageError
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL
from fabulaws.library.wsgiautoscale.deploy.journal import LOCK_TAG
from fabulaws.library.wsgiautoscale.deploy.lease import Lease
from fabulaws.library.wsgiautoscale.deploy.operation import execute, hold, let_go
from fabulaws.library.wsgiautoscale.deploy.serial import (
    DEPLOY_SERIAL,
    DEPLOY_SERIAL_REFRESH,
)

from conftest import run_cli, wait_until
from deploy_support import (
    GROUP,
    NEW_IMAGE,
    RecordingSteps,
    StepFailed,
    make_project,
    recover_here,
)


@pytest.fixture
def project(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "myproject")
    monkeypatch.chdir(project.directory)
    return project


@pytest.fixture
def steps(tmp_path):
    return RecordingSteps(tmp_path / "steps.jsonl")


def error_lines(result) -> list[str]:
    """stderr without the line naming the account and region (printed before a change)."""
    return [line for line in result.stderr.strip().splitlines() if not line.startswith("fabulaws: account ")]


def in_service(group: dict, launch: Launch | None = None) -> list[str]:
    from fabulaws.aws.launch import runs

    return [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService" and (launch is None or runs(i, launch))]


def state(group: dict) -> tuple:
    return (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], group["TerminationPolicies"], scaling.suspended_processes(group))


def test_create_launch_config_for_deployment_makes_the_next_template_version(project):
    """A group on a launch template gets a new version (source = its current one) with the new image, and the
    changeset and timestamp in the version's description and instance tags."""
    result = run_cli([f"create_launch_config_for_deployment:myproject,testing,ami={NEW_IMAGE},changeset=c0ffee"], project.directory)
    assert result.returncode == 0, result.stderr
    template = Launch.of(project.group())
    versions = project.aws.ec2.describe_launch_template_versions(LaunchTemplateId=template.template_id)["LaunchTemplateVersions"]
    newest = max(versions, key=lambda v: v["VersionNumber"])
    assert newest["VersionNumber"] == 2
    assert f"Created version 2 of launch template {template.template_name} to deploy {NEW_IMAGE}." in result.stdout
    data = newest["LaunchTemplateData"]
    assert data["ImageId"] == NEW_IMAGE
    assert data["InstanceType"] == "t3.small" and data["SecurityGroupIds"]  # inherited from version 1
    assert newest["VersionDescription"].startswith("myproject_testing_lc_") and "c0ffee" in newest["VersionDescription"]
    tags = {t["Key"]: t["Value"] for t in data["TagSpecifications"][0]["Tags"]}
    assert tags["fabulaws:changeset"] == "c0ffee" and tags["fabulaws:deployed"]
    assert scaling.group_tags(project.group()).get(LOCK_TAG) is None


def test_create_launch_config_for_deployment_makes_a_1x_named_launch_configuration(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "lc", launch="configuration", web=0)
    monkeypatch.chdir(project.directory)
    result = run_cli([f"create_launch_config_for_deployment:myproject,testing,ami={NEW_IMAGE},changeset=beef42"], project.directory)
    assert result.returncode == 0, result.stderr
    created = [
        c for c in project.aws.autoscaling.describe_launch_configurations()["LaunchConfigurations"]
        if c["LaunchConfigurationName"].startswith("myproject_testing_lc_")
    ]
    assert len(created) == 1
    config = created[0]
    name = config["LaunchConfigurationName"]
    assert name.endswith("_beef42") and len(name.split("_")) == 5  # <dep>_<env>_lc_<timestamp>_<changeset>
    assert (config["ImageId"], config["InstanceType"], config["InstanceMonitoring"]["Enabled"]) == (NEW_IMAGE, "t3.small", True)
    assert all(group.startswith("sg-") for group in config["SecurityGroups"])
    assert f"Created a new launch configuration named '{name}' to deploy {NEW_IMAGE}." in result.stdout


def test_deploy_full_swaps_every_server_and_restores_the_group(project, steps):
    """1.x's deploy_full sequence: new servers beside the old ones, maintenance page on all of them, the worker
    deployed (migrations), new servers in the load balancers, old ones removed, settings restored."""
    old = set(in_service(project.group()))
    project.aws.autoscaling.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["ScheduledActions"])
    project.aws.autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, TerminationPolicies=["NewestInstance"])
    before = state(project.group())
    lines: list[str] = []
    execute(DEPLOY_FULL, project.context(DEPLOY_FULL, steps, lines, ami=NEW_IMAGE, num_web=2))
    group = project.group()
    launch = Launch.of(group)
    assert launch.version == "2"
    new = in_service(group, launch)
    assert len(new) == 2 and not old & set(new) and len(group["Instances"]) == 2
    assert state(group) == before  # min/max/desired, policies, and ScheduledActions still suspended
    assert LOCK_TAG not in scaling.group_tags(group)
    assert project.stored_journal() is None and project.store().read(project.store().lock_key) is None
    calls = [c["step"] for c in steps.calls()]
    assert calls == ["servers_ready", "begin_upgrade", "deploy_worker", "migrate", "end_upgrade"]
    assert steps.calls()[0]["instances"] == sorted(new)
    assert set(steps.calls()[1]["servers"]) == old | set(new)  # maintenance on old and new servers
    assert steps.calls()[2]["changeset"] == "unknown"
    health = project.aws.elb.describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"]
    assert {h["InstanceId"]: h["State"] for h in health} == {i: "InService" for i in new}
    assert any("Temporarily updated the autoscaling group's minimum/desired instance capacity to 4" in line for line in lines)


def watch_capacity(project, stop: threading.Event, seen: list[int]) -> None:
    """How many servers are InService in the group and healthy in the classic load balancer, over time."""
    while not stop.is_set():
        group = project.group()
        healthy = {h["InstanceId"] for h in project.aws.elb.describe_instance_health(LoadBalancerName="myproject-testing-lb")["InstanceStates"] if h["State"] == "InService"}
        seen.append(len(set(in_service(group)) & healthy))
        time.sleep(0.05)


@pytest.mark.parametrize(("web", "batch"), [(2, 1), (4, 2)])
def test_deploy_serial_never_drops_below_capacity(sandbox, tmp_path, monkeypatch, steps, web, batch):
    """1.x's contract (no downtime, every old server replaced, deploy_worker first) with a surge: capacity never
    drops below the desired count of healthy servers. Pipelined: the next batch is launched while one passes its
    health checks, so the group asks for at most two batches more than its size (and does, when a next batch exists)."""
    project = make_project(sandbox, tmp_path / "p", web=web)
    monkeypatch.chdir(project.directory)
    old = set(in_service(project.group()))
    before = state(project.group())
    asked: list[int] = []
    project.aws.autoscaling.meta.events.register(
        "provide-client-params.auto-scaling.UpdateAutoScalingGroup",
        lambda params, **kwargs: asked.append(params["DesiredCapacity"]) if "DesiredCapacity" in params else None)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_capacity, args=(project, stop, seen))
    watcher.start()
    try:
        execute(DEPLOY_SERIAL, project.context(DEPLOY_SERIAL, steps, ami=NEW_IMAGE, batch=batch))
    finally:
        stop.set()
        watcher.join()
    group = project.group()
    new = in_service(group, Launch.of(group))
    assert len(new) == web and not old & set(new)
    assert min(seen) >= web
    assert max(asked) == web + 2 * batch, asked
    assert state(group) == before
    zones = Counter(i["AvailabilityZone"] for i in group["Instances"])
    assert max(zones.values()) - min(zones.values()) <= 1 and len(zones) == 2, f"zones left balanced: {zones}"
    assert [c["step"] for c in steps.calls()] == ["deploy_worker", "migrate"]


def test_deploy_serial_with_instance_refresh(project, steps):
    old = set(in_service(project.group()))
    execute(DEPLOY_SERIAL_REFRESH, project.context(DEPLOY_SERIAL_REFRESH, steps, ami=NEW_IMAGE))
    group = project.group()
    new = in_service(group, Launch.of(group))
    assert len(new) == 2 and not old & set(new)
    refreshes = project.aws.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"]
    assert refreshes[0]["Status"] == "Successful"


def test_a_second_deploy_is_refused_with_who_and_when(project, steps, tmp_path):
    """From another working directory (the lock and journal are in the state bucket, not here)."""
    first = project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE)
    hold(first)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "fabulaws-config.yml").write_text((project.directory / "fabulaws-config.yml").read_text())
    result = run_cli([f"deploy_serial:myproject,testing,ami={NEW_IMAGE}"], elsewhere)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("fabulaws: an earlier deploy_full started by ")  # its journal
    assert "recover:myproject,testing" in message and len(error_lines(result)) == 1
    first.journal.remove()  # only the lease now (a run between taking the lock and writing its journal)
    result = run_cli([f"deploy_serial:myproject,testing,ami={NEW_IMAGE}"], elsewhere)
    assert result.returncode == 1
    assert "myproject/testing is locked by deploy_full of " in result.stderr
    holder = first.lease.holder
    assert f"on {holder.machine} (pid {holder.pid}) since " in result.stderr and "lease live until" in result.stderr
    assert Launch.of(project.group()).version == "$Default"  # as seeded
    let_go(first)


def test_an_error_rolls_everything_back(project, tmp_path):
    steps = RecordingSteps(tmp_path / "failing.jsonl", fail_at="deploy_worker")
    before = state(project.group())
    old = set(in_service(project.group()))
    with pytest.raises(DeployError) as caught:
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE))
    assert "deploy_full failed at step deploy_worker: deploy_worker failed (injected); the group was restored" in str(caught.value)
    assert isinstance(caught.value, RolledBack) and isinstance(caught.value.__cause__, StepFailed)
    group = project.group()
    assert state(group) == before and Launch.of(group).version == "$Default"
    calls = steps.calls()
    assert [c["step"] for c in calls] == ["servers_ready", "begin_upgrade", "deploy_worker", "restore_workers", "end_upgrade"]
    assert calls[3]["workers"] == {"i-worker0": "0ld0ld"}  # before the point of no return: workers restored too
    versions = project.aws.ec2.describe_launch_template_versions(LaunchTemplateId=Launch.of(group).template_id)
    assert [v["VersionNumber"] for v in versions["LaunchTemplateVersions"]] == [1]  # the new version was deleted
    wait_until(lambda: set(in_service(project.group())) == old and len(project.group()["Instances"]) == 2, 20, "only the old servers left")
    assert LOCK_TAG not in scaling.group_tags(group)


def test_rollback_no_leaves_it_for_recover(project, tmp_path):
    steps = RecordingSteps(tmp_path / "failing.jsonl", fail_at="deploy_worker")
    with pytest.raises(DeployError) as caught:
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE), rollback=False)
    assert "nothing was rolled back (rollback=no)" in str(caught.value)
    assert project.stored_journal() is not None  # for recover; the lease is released (nobody runs it now)
    assert project.store().read(project.store().lock_key) is None
    assert project.group()["MinSize"] == 4  # still scaled out
    assert recover_here(project.directory, RecordingSteps(tmp_path / "ok.jsonl")) == "Recovered: deploy_full rolled back."
    assert state(project.group())[:3] == (2, 4, 2) and project.stored_journal() is None


def test_after_the_point_of_no_return_a_failure_finishes_never_rolls_back(project, tmp_path):
    """A failure after the migrations ran: no rollback (old web code must not meet the new schema); exit 1, not 3;
    the journal stays and recover (auto) finishes the run: the same decision in-process and in recover."""
    steps = RecordingSteps(tmp_path / "failing.jsonl", fail_at="migrate")
    lines: list[str] = []
    with pytest.raises(DeployError) as caught:
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, steps, lines, ami=NEW_IMAGE))
    assert not isinstance(caught.value, RolledBack) and caught.value.exit_code == 1
    assert "after the point of no return" in str(caught.value) and "recover:myproject,testing` finishes it" in str(caught.value)
    assert any(line.startswith("point of no return:") for line in lines)
    assert "restore_workers" not in [c["step"] for c in steps.calls()]
    journal = project.stored_journal()
    assert journal.no_return and journal.current == "deploy_worker"
    assert Launch.of(project.group()).version == "2"  # not put back
    ok = RecordingSteps(tmp_path / "ok.jsonl")
    assert recover_here(project.directory, ok) == "Recovered: deploy_full finished."
    assert [c["step"] for c in ok.calls()] == ["deploy_worker", "migrate", "end_upgrade"]
    group = project.group()
    assert Launch.of(group).version == "2" and len(in_service(group, Launch.of(group))) == 2
    assert project.stored_journal() is None


def test_the_old_lock_tag_is_reported_and_recover_removes_it(project):
    scaling.set_tags(project.aws.autoscaling, GROUP, {LOCK_TAG: '{"id": "abc", "op": "deploy_full"}'}, propagate=False)
    result = run_cli([f"deploy_serial:myproject,testing,ami={NEW_IMAGE}"], project.directory)
    assert result.returncode == 1 and len(error_lines(result)) == 1
    assert f"still carries the {LOCK_TAG} tag" in result.stderr and "recover:myproject,testing` removes it" in result.stderr
    assert Launch.of(project.group()).version == "$Default"
    result = run_cli(["recover:myproject,testing"], project.directory)
    assert result.returncode == 0, result.stderr
    assert f"Removed the {LOCK_TAG} tag" in result.stdout
    assert LOCK_TAG not in scaling.group_tags(project.group())


def test_the_overall_deadline_bounds_the_run_and_poll_must_be_positive(project, steps, tmp_path):
    """deploy_serial's replacement loop ends at the overall deadline (past the point of no return: it stops for
    recover to finish); a deploy_full that runs out of time before it rolls back."""
    class DeadlineAfterNoReturn(RecordingSteps):
        def deploy_worker(self, ctx, changeset):  # 2 s left once past the point of no return, however long the
            super().deploy_worker(ctx, changeset)  # steps before it took on a busy machine (a fixed 2 s was flaky)
            ctx.overall -= ctx.remaining() - 2.0  # the replacement waits for servers longer than that

    ctx = project.context(DEPLOY_SERIAL, DeadlineAfterNoReturn(tmp_path / "serial.jsonl"), ami=NEW_IMAGE)
    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        execute(DEPLOY_SERIAL, ctx)
    assert time.monotonic() - started < 60
    assert "failed at step replace after the point of no return" in str(caught.value)
    assert project.stored_journal().no_return
    assert recover_here(project.directory, RecordingSteps(tmp_path / "r.jsonl")) == "Recovered: deploy_serial finished."
    class SlowToBeReady(RecordingSteps):
        def servers_ready(self, ctx, instance_ids):  # the deadline passes before the point of no return,
            time.sleep(2.5)  # however fast the new servers came up (a quick machine got past it in 2 s)
            super().servers_ready(ctx, instance_ids)

    ctx = project.context(DEPLOY_FULL, SlowToBeReady(tmp_path / "slow.jsonl"), ami=NEW_IMAGE)
    ctx.overall = 2.0
    with pytest.raises(RolledBack):
        execute(DEPLOY_FULL, ctx)
    launch = Launch.of(project.group())
    assert launch.version == "2" and project.stored_journal() is None  # as deploy_serial left it
    versions = project.aws.ec2.describe_launch_template_versions(LaunchTemplateId=launch.template_id)
    assert sorted(v["VersionNumber"] for v in versions["LaunchTemplateVersions"]) == [1, 2]  # version 3 deleted
    from fabulaws.waits import Polling

    for delay in (0.0, -1.0):
        with pytest.raises(UsageError, match="expected a positive number of seconds"):
            dataclasses.replace(project.context(DEPLOY_SERIAL, steps), polling=Polling(delay))


def test_unknown_group_launch_configuration_or_version_is_one_clear_error_before_any_change(project):
    config = project.directory / "fabulaws-config.yml"
    before = state(project.group())
    result = run_cli(["deploy_full:myproject,testing,7"], project.directory)
    assert (result.returncode, result.stderr.strip()) == (1, "fabulaws: launch template myproject-testing-ag has no version 7")
    result = run_cli(["deploy_serial:myproject,testing,ami=ami-00000000"], project.directory)
    assert result.returncode == 1 and "image ami-00000000 not found" in result.stderr
    config.write_text(config.read_text().replace("testing: myproject-testing-ag", "testing: myproject-nope-ag"))
    result = run_cli(["deploy_full:myproject,testing"], project.directory)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("fabulaws: Cannot find an Auto Scaling group named 'myproject-nope-ag'")
    assert state(project.group()) == before and LOCK_TAG not in scaling.group_tags(project.group())
    assert not (project.directory / ".fabulaws" / "journal").exists() or not list((project.directory / ".fabulaws" / "journal").iterdir())


def test_a_launch_configuration_that_does_not_exist(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "lc", launch="configuration", web=0)
    result = run_cli(["deploy_full:myproject,testing,myproject_testing_lc_nope"], project.directory)
    assert (result.returncode, result.stderr.strip()) == (
        1, "fabulaws: Cannot find a launch configuration with the name 'myproject_testing_lc_nope'."
    )


def test_throttling_on_a_fifth_of_the_calls_still_completes(project, steps, sandbox):
    """botocore's standard retry mode absorbs AWS throttling (RequestLimitExceeded / Throttling)."""
    from conftest import _sandbox_call

    _sandbox_call(sandbox.endpoint, "/_sandbox/faults", {"throttle": 0.2})
    try:
        execute(DEPLOY_SERIAL, project.context(DEPLOY_SERIAL, steps, ami=NEW_IMAGE))
    finally:
        throttled = sandbox.stats()["requests"].get("throttled", 0)
        _sandbox_call(sandbox.endpoint, "/_sandbox/faults", {"throttle": 0.0})
    group = project.group()
    assert len(in_service(group, Launch.of(group))) == 2
    assert throttled >= 3, "about a fifth of ~60 calls were throttled (P(fewer than 3) < 0.0002)"


def test_suspend_and_resume_work_during_and_after_a_deploy(project, steps):
    ctx = project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE)
    hold(ctx)
    result = run_cli(["suspend_autoscaling_processes:myproject,testing,AlarmNotification"], project.directory)
    assert result.returncode == 0, result.stderr
    ctx.journal.remove()
    let_go(ctx)
    assert scaling.suspended_processes(project.group()) == ["AlarmNotification"]
    assert run_cli(["resume_autoscaling_processes:myproject,testing"], project.directory).returncode == 0
    assert scaling.suspended_processes(project.group()) == []


def test_prune_keeps_what_is_used_and_the_newest(project):
    ec2 = project.aws.ec2
    instance = project.group()["Instances"][0]["InstanceId"]
    images = []
    for index in range(3):
        image = ec2.create_image(InstanceId=instance, Name=f"myproject_testing_web_2026.01.0{index}-00.00.00_c{index}")["ImageId"]
        ec2.create_tags(Resources=[image], Tags=[{"Key": "deployment", "Value": "myproject"}, {"Key": "environment", "Value": "testing"}])
        images.append(image)
        time.sleep(1.1)
    template = Launch.of(project.group())
    for image in images:
        ec2.create_launch_template_version(LaunchTemplateId=template.template_id, SourceVersion="1", LaunchTemplateData={"ImageId": image})
    result = run_cli(["prune:myproject,testing,keep=1"], project.directory)
    assert result.returncode == 0, result.stderr
    remaining = {v["VersionNumber"] for v in ec2.describe_launch_template_versions(LaunchTemplateId=template.template_id)["LaunchTemplateVersions"]}
    assert remaining == {1, 4}  # the group's version, and the newest
    left = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert images[2] in left and images[0] not in left and images[1] not in left
    assert "Deleted 2 images" in result.stdout and "Deleted 2 template versions" in result.stdout


def test_recover_from_the_command_line_refuses_a_live_lease_and_takes_over_an_expired_one(project, steps, monkeypatch):
    store = project.store()
    result = run_cli(["recover:myproject,testing"], project.directory)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"Nothing to recover: no journal in {store.where(store.journal_key)} and no lock.")
    ctx = project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE)
    hold(ctx)  # a live run (its lease renewed by this process)
    result = run_cli(["recover:myproject,testing"], project.directory)
    assert result.returncode == 1 and len(error_lines(result)) == 1
    assert "is locked by deploy_full of " in result.stderr and "since " in result.stderr
    assert "it is still running" in result.stderr
    assert project.stored_journal() is not None
    ctx.lease._stop.set()  # the run dies: its lease is no longer renewed ...
    monkeypatch.setenv("FABULAWS_LEASE_SECONDS", "1")
    ctx.lease.seconds = 1.0
    ctx.lease.renew()  # ... after a last renewal for one second
    time.sleep(1.5)
    result = run_cli(["recover:myproject,testing"], project.directory)
    assert result.returncode == 0, result.stderr
    assert "Recovered: deploy_full rolled back." in result.stdout
    assert project.stored_journal() is None and store.read(store.lock_key) is None
    ctx.lease.renew()
    assert ctx.lease.lost.is_set()  # the dead run, if it came back, would see its lease is gone


def test_a_stale_lease_without_a_journal_is_cleared_by_recover(project, monkeypatch):
    monkeypatch.setenv("FABULAWS_LEASE_SECONDS", "1")
    from fabulaws.aws.statestore import StateStore

    lease = Lease.acquire(StateStore.for_environment(project.aws, "myproject", "testing"), "r1", "deploy_full")
    time.sleep(1.5)
    result = run_cli(["recover:myproject,testing"], project.directory)
    assert result.returncode == 0, result.stderr
    assert "Removed the lock of deploy_full of " in result.stdout
    assert project.store().read(project.store().lock_key) is None
    lease.renew()
    assert lease.lost.is_set()


def test_a_rollback_deletes_the_launch_configuration_it_created_and_only_that(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "lc", launch="configuration")
    monkeypatch.chdir(project.directory)

    def configurations() -> list[str]:
        found = project.aws.autoscaling.describe_launch_configurations()["LaunchConfigurations"]
        return sorted(c["LaunchConfigurationName"] for c in found)

    before = configurations()
    steps = RecordingSteps(tmp_path / "failing.jsonl", fail_at="deploy_worker")
    with pytest.raises(RolledBack):
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, steps, ami=NEW_IMAGE, changeset="c0ffee"))
    assert configurations() == before and Launch.of(project.group()).configuration in before
    execute(DEPLOY_FULL, project.context(DEPLOY_FULL, RecordingSteps(tmp_path / "ok.jsonl"), ami=NEW_IMAGE,
                                         changeset="c0ffee"))
    after = configurations()
    assert len(after) == len(before) + 1 and Launch.of(project.group()).configuration not in before  # kept


def test_deadline_on_the_command_line(project):
    result = run_cli([f"deploy_full:myproject,testing,ami={NEW_IMAGE},deadline=3,poll=0.2"], project.directory, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr  # rolled back: it ran out of time before migrating
    assert "overall deadline of 3 s" in result.stderr or "not done after" in result.stderr, result.stderr
    assert Launch.of(project.group()).version == "$Default" and project.stored_journal() is None
    result = run_cli([f"deploy_full:myproject,testing,ami={NEW_IMAGE},deadline=0"], project.directory)
    assert result.returncode == 2 and "deadline=0" in result.stderr


def test_a_key_pair_recorded_by_prefix_takes_its_private_key_file_with_it(project, tmp_path, monkeypatch):
    # A kill while the bake server boots left its private key file in TMPDIR: the file was recorded only once
    # SSH answered. The file is named after the key pair now, so the prefix recorded first finds both.
    from fabulaws.ec2 import EC2Instance
    from fabulaws.library.wsgiautoscale.deploy.journal import Resource
    from fabulaws.library.wsgiautoscale.deploy.resources import delete

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    instance = EC2Instance(project.aws, key_prefix="fabulaws-run42-")
    instance._create_key_pair()  # what setup() does first, before the instance is launched
    other = EC2Instance(project.aws, key_prefix="fabulaws-run43-")
    other._create_key_pair()
    assert sorted(p.name for p in tmp_path.glob("fabulaws-key-*")) == sorted(
        [f"fabulaws-key-{instance.key_name}.pem", f"fabulaws-key-{other.key_name}.pem"])
    delete(project.aws, Resource("key-prefix", "fabulaws-run42-"), lambda message: None)
    assert [p.name for p in tmp_path.glob("fabulaws-key-*")] == [f"fabulaws-key-{other.key_name}.pem"]
    pairs = [p["KeyName"] for p in project.aws.ec2.describe_key_pairs()["KeyPairs"]]
    assert instance.key_name not in pairs and other.key_name in pairs
    other.cleanup()
