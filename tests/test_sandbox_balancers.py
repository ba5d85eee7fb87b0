"""Sandbox: load balancer health follows intervals and thresholds; scale-in follows termination policies."""

from __future__ import annotations

import time

import pytest

from conftest import wait_until
from sandbox_helpers import (
    classic_elb,
    describe_group,
    group,
    members,
    network,
    target_group,
    template,
    wait_in_service,
)


@pytest.fixture
def subnets(sandbox):
    return network(sandbox)


def classic_states(sandbox, name="web-lb"):
    return {i["InstanceId"]: i["State"] for i in sandbox.elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]}


def target_states(sandbox, arn):
    found = sandbox.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in found}


def test_classic_elb_out_of_service_until_healthy_threshold_checks_pass(sandbox, subnets):
    """https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-healthchecks.html

    "The load balancer ... sends a health check request to each registered instance every Interval seconds ...
    waits for HealthyThreshold consecutive successful checks before it marks the instance InService"; a new
    instance is OutOfService ("Instance registration is still in progress") until then."""
    sandbox.timings(warmup=0)
    classic_elb(sandbox, interval=30, healthy=3)
    group(sandbox, subnets, desired=1)
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    # Registered here, so the clock starts no later than the registration (a group's own registration happens
    # at a moment the test only learns of later: on a busy machine the measured wait came out short).
    registered_at = time.monotonic()
    sandbox.elb.register_instances_with_load_balancer(LoadBalancerName="web-lb", Instances=[{"InstanceId": instance}])
    health = sandbox.elb.describe_instance_health(LoadBalancerName="web-lb")["InstanceStates"][0]
    assert (health["State"], health["Description"]) == ("OutOfService", "Instance registration is still in progress.")
    wait_until(lambda: classic_states(sandbox) == {instance: "InService"}, 5, "InService")
    assert time.monotonic() - registered_at >= sandbox.real(3 * 30) * 0.8


def test_classic_elb_marks_failing_instances_out_of_service_after_unhealthy_threshold(sandbox, subnets):
    """elb-healthchecks.html: UnhealthyThreshold consecutive failures mark the instance OutOfService."""
    sandbox.timings(warmup=0)
    classic_elb(sandbox, interval=10, healthy=2, unhealthy=3)
    group(sandbox, subnets, desired=1, LoadBalancerNames=["web-lb"], HealthCheckGracePeriod=100000)
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    wait_until(lambda: classic_states(sandbox) == {instance: "InService"}, 5, "InService")
    sandbox.ec2.stop_instances(InstanceIds=[instance])  # the probe fails from now on
    failed_at = time.monotonic()
    wait_until(lambda: classic_states(sandbox) == {instance: "OutOfService"}, 5, "OutOfService")
    assert time.monotonic() - failed_at >= sandbox.real(2 * 10)


def test_target_group_initial_then_healthy_then_draining_on_termination(sandbox, subnets):
    """https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    (initial -> healthy) and https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay
    (a deregistered target is draining for the deregistration delay, then gone)."""
    sandbox.timings(warmup=0)
    arn = target_group(sandbox, subnets)
    group(sandbox, subnets, desired=1, TargetGroupARNs=[arn])
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    assert target_states(sandbox, arn) == {instance: "initial"}
    wait_until(lambda: target_states(sandbox, arn) == {instance: "healthy"}, 5, "healthy")
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=0)
    wait_until(lambda: target_states(sandbox, arn) == {instance: "draining"}, 5, "draining")
    wait_until(lambda: target_states(sandbox, arn) == {}, 5, "the target gone after the 30 s delay")


def test_terminated_instances_leave_classic_load_balancers(sandbox, subnets):
    """elb-healthchecks / as-suspend-resume-processes: instances terminated by the group are deregistered."""
    classic_elb(sandbox)
    group(sandbox, subnets, desired=1, LoadBalancerNames=["web-lb"])
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    assert list(classic_states(sandbox)) == [instance]
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=0)
    wait_until(lambda: classic_states(sandbox) == {}, 5, "deregistration")


@pytest.mark.parametrize(("policy", "victim_index"), [("OldestInstance", 0), ("NewestInstance", 2)])
def test_scale_in_follows_the_termination_policy(sandbox, subnets, policy, victim_index):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html"""
    group(sandbox, [subnets[0]], desired=1, TerminationPolicies=[policy])
    launched = [wait_in_service(sandbox, 1)[0]["InstanceId"]]
    for count in (2, 3):
        time.sleep(1.1)  # distinct launch times
        sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=count)
        launched.append(next(i["InstanceId"] for i in wait_in_service(sandbox, count) if i["InstanceId"] not in launched))
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    wait_until(lambda: len(members(sandbox)) == 2, 5, "the scale-in")
    assert launched[victim_index] not in {i["InstanceId"] for i in members(sandbox)}


def test_default_policy_removes_instances_of_the_old_launch_template_version_first(sandbox, subnets):
    """termination-policies: Default terminates instances with the oldest launch template first."""
    template_id = template(sandbox, "versions")
    group(sandbox, [subnets[0]], desired=2, template_id=template_id)
    old = {i["InstanceId"] for i in wait_in_service(sandbox, 2)}
    sandbox.ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": "ami-1e749f67"})
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=4)
    wait_in_service(sandbox, 4)
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    wait_until(lambda: len(members(sandbox)) == 2, 5, "the scale-in")
    assert not old & {i["InstanceId"] for i in members(sandbox)}
    assert {i["LaunchTemplate"]["Version"] for i in members(sandbox)} == {"2"}
    assert describe_group(sandbox)["DesiredCapacity"] == 2


def test_deregistering_a_group_instance_and_asking_about_it(sandbox, subnets):
    """https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_DescribeInstanceHealth.html:
    an instance registered by its Auto Scaling group leaves the load balancer when deregistered; asked about, it is
    OutOfService, "Instance is not currently registered with the LoadBalancer."; an unknown id is InvalidInstance."""
    from botocore.exceptions import ClientError

    classic_elb(sandbox)
    group(sandbox, subnets, desired=1, LoadBalancerNames=["web-lb"])
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    wait_until(lambda: instance in classic_states(sandbox), 5, "registration")
    sandbox.elb.deregister_instances_from_load_balancer(LoadBalancerName="web-lb", Instances=[{"InstanceId": instance}])
    assert classic_states(sandbox) == {}
    asked = sandbox.elb.describe_instance_health(LoadBalancerName="web-lb", Instances=[{"InstanceId": instance}])["InstanceStates"]
    assert (asked[0]["State"], asked[0]["Description"]) == ("OutOfService", "Instance is not currently registered with the LoadBalancer.")
    with pytest.raises(ClientError) as caught:
        sandbox.elb.describe_instance_health(LoadBalancerName="web-lb", Instances=[{"InstanceId": "i-0000000000000000"}])
    assert caught.value.response["Error"]["Code"] == "InvalidInstance"
