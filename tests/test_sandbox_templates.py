"""Sandbox: launch template versions and Instance Refresh, as AWS documents them."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from sandbox_helpers import (
    IMAGE,
    describe_group,
    group,
    members,
    network,
    template,
    wait_in_service,
)

NEW_IMAGE = "ami-1e749f67"


@pytest.fixture
def subnets(sandbox):
    return network(sandbox)


def new_version(sandbox, template_id, image=NEW_IMAGE, source="1"):
    return sandbox.ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion=source, LaunchTemplateData={"ImageId": image}
    )["LaunchTemplateVersion"]["VersionNumber"]


def test_a_new_version_inherits_from_its_source_version(sandbox, subnets):
    """https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html

    SourceVersion: "The new launch template version inherits the same launch parameters as the source version,
    except for parameters that you specify in LaunchTemplateData."
    """
    sg = sandbox.ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    template_id = sandbox.ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={"ImageId": IMAGE, "InstanceType": "c5.large", "SecurityGroupIds": [sg], "KeyName": "ops"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    assert new_version(sandbox, template_id) == 2
    data = sandbox.ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["2"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    assert data["ImageId"] == NEW_IMAGE
    assert (data["InstanceType"], data["SecurityGroupIds"], data["KeyName"]) == ("c5.large", [sg], "ops")


@pytest.mark.parametrize(("requested", "expected"), [("$Latest", "2"), ("$Default", "1"), ("1", "1")])
def test_groups_resolve_default_and_latest_when_launching(sandbox, subnets, requested, expected):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/create-asg-launch-template.html: a group may name a
    version, $Latest or $Default; instances report the version they were launched with."""
    template_id = template(sandbox, "web-lt")
    new_version(sandbox, template_id)
    sandbox.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": requested},
        MinSize=0, MaxSize=4, DesiredCapacity=1, VPCZoneIdentifier=",".join(subnets),
    )
    launched = wait_in_service(sandbox, 1)[0]
    assert launched["LaunchTemplate"]["Version"] == expected
    image = sandbox.ec2.describe_instances(InstanceIds=[launched["InstanceId"]])["Reservations"][0]["Instances"][0]["ImageId"]
    assert image == (NEW_IMAGE if expected == "2" else IMAGE)
    assert describe_group(sandbox)["LaunchTemplate"]["Version"] == requested


def test_changing_the_default_version_changes_what_default_launches(sandbox, subnets):
    """API_ModifyLaunchTemplate: DefaultVersion; a group on $Default launches the new default from then on."""
    template_id = template(sandbox, "web-lt")
    group(sandbox, subnets, desired=1, template_id=template_id)
    sandbox.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"}
    )
    wait_in_service(sandbox, 1)
    new_version(sandbox, template_id)
    sandbox.ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    versions = sorted(i["LaunchTemplate"]["Version"] for i in wait_in_service(sandbox, 2))
    assert versions == ["1", "2"]


def refreshes(sandbox, name="web"):
    return sandbox.autoscaling.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]


def watch_in_service(sandbox, stop: threading.Event, seen: list):
    while not stop.is_set():
        seen.append(len(members(sandbox, state="InService")))
        time.sleep(0.05)


@pytest.mark.parametrize(("min_healthy", "max_healthy"), [(50, 100), (100, 150)], ids=["terminate-first", "launch-first"])
def test_instance_refresh_replaces_every_instance_keeping_min_healthy(sandbox, subnets, min_healthy, max_healthy):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html

    "MinHealthyPercentage ... the percentage of the desired capacity that must remain healthy"; with
    MaxHealthyPercentage above 100 "new instances are launched before old ones are terminated". The refresh
    ends Successful with every instance on the group's current launch template version."""
    template_id = template(sandbox, "web-lt")
    group(sandbox, subnets, desired=4, template_id=template_id)
    old = {i["InstanceId"] for i in wait_in_service(sandbox, 4)}
    new_version(sandbox, template_id)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_in_service, args=(sandbox, stop, seen))
    watcher.start()
    refresh_id = sandbox.autoscaling.start_instance_refresh(
        AutoScalingGroupName="web",
        Preferences={"MinHealthyPercentage": min_healthy, "MaxHealthyPercentage": max_healthy, "InstanceWarmup": 30},
    )["InstanceRefreshId"]
    try:
        wait_until(lambda: refreshes(sandbox)[0]["Status"] == "Successful", 30, "a successful refresh")
    finally:
        stop.set()
        watcher.join()
    found = refreshes(sandbox)[0]
    assert (found["InstanceRefreshId"], found["PercentageComplete"], found["InstancesToUpdate"]) == (refresh_id, 100, 0)
    final = members(sandbox)
    assert not old & {i["InstanceId"] for i in final}
    assert {i["LaunchTemplate"]["Version"] for i in final} == {"2"} and len(final) == 4
    assert min(seen) >= 4 * min_healthy // 100


def test_skip_matching_leaves_current_instances_alone(sandbox, subnets):
    """instance-refresh-overview.html / API_RefreshPreferences: "SkipMatching ... skip replacing instances that
    already have your desired configuration"."""
    template_id = template(sandbox, "web-lt")
    group(sandbox, subnets, desired=1, template_id=template_id)
    old = wait_in_service(sandbox, 1)[0]["InstanceId"]
    new_version(sandbox, template_id)
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    current = next(i["InstanceId"] for i in wait_in_service(sandbox, 2) if i["InstanceId"] != old)
    sandbox.autoscaling.start_instance_refresh(AutoScalingGroupName="web", Preferences={"SkipMatching": True, "InstanceWarmup": 0})
    wait_until(lambda: refreshes(sandbox)[0]["Status"] == "Successful", 20, "a successful refresh")
    remaining = {i["InstanceId"] for i in members(sandbox)}
    assert current in remaining and old not in remaining


def test_refresh_to_a_desired_configuration_adopts_it(sandbox, subnets):
    """API_StartInstanceRefresh DesiredConfiguration: "... the group is updated to the desired configuration"."""
    template_id = template(sandbox, "web-lt")
    group(sandbox, subnets, desired=1, template_id=template_id)
    sandbox.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"}
    )
    wait_in_service(sandbox, 1)
    new_version(sandbox, template_id)
    sandbox.autoscaling.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}},
        Preferences={"InstanceWarmup": 0},
    )
    wait_until(lambda: refreshes(sandbox)[0]["Status"] == "Successful", 20, "a successful refresh")
    assert describe_group(sandbox)["LaunchTemplate"]["Version"] == "2"
    assert [i["LaunchTemplate"]["Version"] for i in members(sandbox)] == ["2"]


def test_one_refresh_at_a_time_and_cancel(sandbox, subnets):
    """API_StartInstanceRefresh (InstanceRefreshInProgress) and API_CancelInstanceRefresh
    (ActiveInstanceRefreshNotFound when none is in progress; status Cancelled)."""
    sandbox.timings(warmup=0)
    group(sandbox, subnets, desired=2)
    wait_in_service(sandbox, 2)
    sandbox.autoscaling.start_instance_refresh(AutoScalingGroupName="web", Preferences={"InstanceWarmup": 3000})
    with pytest.raises(ClientError) as caught:
        sandbox.autoscaling.start_instance_refresh(AutoScalingGroupName="web")
    assert caught.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    sandbox.autoscaling.cancel_instance_refresh(AutoScalingGroupName="web")
    wait_until(lambda: refreshes(sandbox)[0]["Status"] == "Cancelled", 5, "Cancelled")
    with pytest.raises(ClientError) as caught:
        sandbox.autoscaling.cancel_instance_refresh(AutoScalingGroupName="web")
    assert caught.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"
