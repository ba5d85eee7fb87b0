"""Sandbox: Auto Scaling keeps capacity and honours suspended processes, as AWS documents."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from sandbox_helpers import (
    classic_elb,
    describe_group,
    group,
    members,
    network,
    template,
    wait_in_service,
)


@pytest.fixture
def subnets(sandbox):
    return network(sandbox)


def suspend(sandbox, *processes, name="web"):
    sandbox.autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=list(processes))


def test_a_group_launches_to_desired_pending_then_in_service_across_zones(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html (Pending -> InService)
    and https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html (instances are
    distributed evenly across the group's Availability Zones)."""
    group(sandbox, subnets, desired=4)
    launched = wait_until(lambda: (lambda found: found if len(found) == 4 else None)(members(sandbox)), 5, "4 launches")
    assert {i["LifecycleState"] for i in launched} == {"Pending"}
    in_service = wait_in_service(sandbox, 4)
    assert Counter(i["AvailabilityZone"] for i in in_service) == {"us-east-1a": 2, "us-east-1b": 2}
    assert all(i["LaunchTemplate"]["Version"] == "1" for i in in_service)


def test_launch_suspended_nothing_launches_until_resumed(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html

    "Launch – Adds instances to the Auto Scaling group when the group scales out ... If you suspend Launch,
    ... the group does not launch instances."
    """
    group(sandbox, subnets)
    suspend(sandbox, "Launch")
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    time.sleep(sandbox.real(120))
    assert members(sandbox) == []
    sandbox.autoscaling.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    wait_in_service(sandbox, 2)


def test_terminate_suspended_nothing_terminates_until_resumed(sandbox, subnets):
    """Same page: "Terminate – Removes instances from the group when the group scales in"."""
    group(sandbox, subnets, desired=2)
    wait_in_service(sandbox, 2)
    suspend(sandbox, "Terminate")
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=0)
    time.sleep(sandbox.real(60))
    assert len(members(sandbox)) == 2
    sandbox.autoscaling.resume_processes(AutoScalingGroupName="web")
    wait_until(lambda: members(sandbox) == [], 5, "the scale-in")


def test_desired_capacity_outside_min_and_max_is_refused(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html (must be within min/max)."""
    group(sandbox, subnets, MaxSize=2)
    with pytest.raises(ClientError) as caught:
        sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "above max value 2" in caught.value.response["Error"]["Message"]


def test_add_to_load_balancer_suspended_new_instances_stay_unregistered(sandbox, subnets):
    """Same page: "AddToLoadBalancer ... If you suspend AddToLoadBalancer, Amazon EC2 Auto Scaling launches the
    instances but does not attach them to the load balancer ... If you resume the AddToLoadBalancer process, it
    resumes attaching instances ... when they are launched. However, it does not attach the instances that were
    launched while the process was suspended."""
    classic_elb(sandbox)
    group(sandbox, subnets, LoadBalancerNames=["web-lb"])
    suspend(sandbox, "AddToLoadBalancer")
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    first = wait_in_service(sandbox, 1)[0]["InstanceId"]
    sandbox.autoscaling.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["AddToLoadBalancer"])
    sandbox.autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    second = next(i["InstanceId"] for i in wait_in_service(sandbox, 2) if i["InstanceId"] != first)
    registered = [i["InstanceId"] for i in sandbox.elb.describe_load_balancers(LoadBalancerNames=["web-lb"])["LoadBalancerDescriptions"][0]["Instances"]]
    assert registered == [second]


def test_unhealthy_instances_are_replaced(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/replace-unhealthy-instance.html

    "Amazon EC2 Auto Scaling ... terminates the unhealthy instance and launches a replacement."
    """
    group(sandbox, subnets, desired=1, HealthCheckGracePeriod=0)
    old = wait_in_service(sandbox, 1)[0]["InstanceId"]
    sandbox.autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    new = wait_until(
        lambda: [i for i in members(sandbox, state="InService") if i["InstanceId"] != old], 5, "a replacement"
    )
    assert old not in {i["InstanceId"] for i in members(sandbox)}
    assert sandbox.ec2.describe_instances(InstanceIds=[old])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert len(new) == 1


def test_replace_unhealthy_suspended_keeps_the_unhealthy_instance(sandbox, subnets):
    """as-suspend-resume-processes.html: "ReplaceUnhealthy – Terminates instances that are marked as unhealthy and
    then creates new instances to replace them." Suspended, the unhealthy instance stays."""
    group(sandbox, subnets, desired=1, HealthCheckGracePeriod=0)
    old = wait_in_service(sandbox, 1)[0]["InstanceId"]
    suspend(sandbox, "ReplaceUnhealthy")
    sandbox.autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    time.sleep(sandbox.real(60))
    assert [(i["InstanceId"], i["HealthStatus"]) for i in members(sandbox)] == [(old, "Unhealthy")]


def test_set_instance_health_respects_the_grace_period(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceHealth.html

    ShouldRespectGracePeriod: "... by default, this call respects the grace period."
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html
    """
    group(sandbox, subnets, desired=1, HealthCheckGracePeriod=600)
    instance = wait_in_service(sandbox, 1)[0]["InstanceId"]
    sandbox.autoscaling.set_instance_health(InstanceId=instance, HealthStatus="Unhealthy")
    assert members(sandbox)[0]["HealthStatus"] == "Healthy"


def test_elb_health_check_type_replaces_instances_failing_load_balancer_checks(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html

    With the ELB health check type, an instance the load balancer reports unhealthy is marked Unhealthy once the
    grace period is over, and replaced. With HealthCheck suspended, it is not marked."""
    sandbox.timings(warmup=100000)  # the servers never pass the load balancer's checks
    classic_elb(sandbox)
    group(sandbox, subnets, desired=1, HealthCheckType="ELB", HealthCheckGracePeriod=60, LoadBalancerNames=["web-lb"])
    first = wait_in_service(sandbox, 1)[0]["InstanceId"]
    suspend(sandbox, "HealthCheck")
    time.sleep(sandbox.real(120))
    assert [i["HealthStatus"] for i in members(sandbox)] == ["Healthy"]
    sandbox.autoscaling.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["HealthCheck"])
    wait_until(lambda: first not in {i["InstanceId"] for i in members(sandbox)}, 5, "the replacement of the failing instance")


def test_an_instance_registering_again_with_a_classic_elb_is_not_unhealthy(sandbox, subnets):
    """A registration in progress (OutOfService, reason code ELB) is no health verdict: the group keeps an instance
    an operator deregistered and registered again (add_all_to_elb) while its checks run."""
    classic_elb(sandbox, interval=60)
    group(sandbox, subnets, desired=1, HealthCheckType="ELB", HealthCheckGracePeriod=60, LoadBalancerNames=["web-lb"])
    first = wait_in_service(sandbox, 1)[0]["InstanceId"]

    def state() -> str:
        return sandbox.elb.describe_instance_health(LoadBalancerName="web-lb")["InstanceStates"][0]["State"]

    wait_until(lambda: state() == "InService", sandbox.real(400), "InService in the load balancer")
    sandbox.elb.deregister_instances_from_load_balancer(LoadBalancerName="web-lb", Instances=[{"InstanceId": first}])
    time.sleep(0.5)  # a few control-loop passes: the registration is gone
    sandbox.elb.register_instances_with_load_balancer(LoadBalancerName="web-lb", Instances=[{"InstanceId": first}])
    assert state() == "OutOfService"
    time.sleep(sandbox.real(90))  # past the grace period, within two 60 s checks
    assert [(i["InstanceId"], i["HealthStatus"]) for i in members(sandbox)] == [(first, "Healthy")]
    wait_until(lambda: state() == "InService", sandbox.real(400), "InService again")


def test_terminate_instance_in_group_with_and_without_decrement(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html

    ShouldDecrementDesiredCapacity true: desired capacity goes down, no replacement; false: a replacement launches.
    """
    group(sandbox, subnets, desired=2)
    first, second = [i["InstanceId"] for i in wait_in_service(sandbox, 2)]
    sandbox.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    assert describe_group(sandbox)["DesiredCapacity"] == 1
    time.sleep(sandbox.real(90))
    assert [i["InstanceId"] for i in members(sandbox)] == [second]
    sandbox.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=second, ShouldDecrementDesiredCapacity=False)
    assert describe_group(sandbox)["DesiredCapacity"] == 1
    replacement = wait_in_service(sandbox, 1)[0]["InstanceId"]
    assert replacement not in (first, second)


def test_instances_terminated_through_ec2_are_replaced(sandbox, subnets):
    """ec2-auto-scaling-health-checks.html: an instance that is terminated is unhealthy and gets replaced."""
    group(sandbox, subnets, desired=1)
    old = wait_in_service(sandbox, 1)[0]["InstanceId"]
    sandbox.ec2.terminate_instances(InstanceIds=[old])
    wait_until(lambda: [i for i in members(sandbox, state="InService") if i["InstanceId"] != old], 5, "a replacement")
    assert old not in {i["InstanceId"] for i in members(sandbox)}


def test_az_rebalance_launches_first_then_terminates(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html#AutoScalingBehavior.InstanceUsage

    "... rebalancing ... Amazon EC2 Auto Scaling launches new instances before terminating the old ones, so that
    rebalancing does not compromise the performance or availability of your application." Suspended, nothing moves."""
    group(sandbox, [subnets[0]], desired=2)
    wait_in_service(sandbox, 2)
    suspend(sandbox, "AZRebalance")
    sandbox.autoscaling.update_auto_scaling_group(AutoScalingGroupName="web", VPCZoneIdentifier=",".join(subnets))
    time.sleep(sandbox.real(120))
    assert Counter(i["AvailabilityZone"] for i in members(sandbox)) == {"us-east-1a": 2}
    sandbox.autoscaling.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["AZRebalance"])
    seen = []

    def balanced():
        found = members(sandbox)
        seen.append(len([i for i in found if i["LifecycleState"] == "InService"]))
        zones = Counter(i["AvailabilityZone"] for i in found if i["LifecycleState"] == "InService")
        return len(found) == 2 and zones == {"us-east-1a": 1, "us-east-1b": 1}

    wait_until(balanced, 8, "one instance per zone")
    assert min(seen) >= 2  # capacity never dropped while rebalancing


@pytest.mark.parametrize("suspended", [False, True], ids=["resumed", "suspended"])
def test_alarm_notification_runs_scaling_policies(sandbox, subnets, suspended):
    """as-suspend-resume-processes.html: "AlarmNotification – Accepts notifications from CloudWatch alarms that are
    associated with the group's scaling policies. If you suspend AlarmNotification, ... the group does not scale
    when an alarm fires."""
    group(sandbox, subnets)
    policy = sandbox.autoscaling.put_scaling_policy(
        AutoScalingGroupName="web", PolicyName="up", AdjustmentType="ChangeInCapacity", ScalingAdjustment=2
    )["PolicyARN"]
    sandbox.cloudwatch.put_metric_alarm(
        AlarmName="busy", MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold", AlarmActions=[policy],
    )
    if suspended:
        suspend(sandbox, "AlarmNotification")
    sandbox.cloudwatch.set_alarm_state(AlarmName="busy", StateValue="ALARM", StateReason="test")
    assert describe_group(sandbox)["DesiredCapacity"] == (0 if suspended else 2)


@pytest.mark.parametrize("suspended", [False, True], ids=["resumed", "suspended"])
def test_scheduled_actions_run_at_their_time(sandbox, subnets, suspended):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html and
    as-suspend-resume-processes.html: "ScheduledActions – Performs scheduled scaling actions"."""
    group(sandbox, subnets)
    if suspended:
        suspend(sandbox, "ScheduledActions")
    start = datetime.now(UTC) + timedelta(seconds=1)
    sandbox.autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName="web", ScheduledActionName="morning", StartTime=start, DesiredCapacity=3
    )
    time.sleep(1.5)
    assert describe_group(sandbox)["DesiredCapacity"] == (0 if suspended else 3)


def test_group_switched_to_a_launch_template_reports_only_the_template(sandbox, subnets):
    """https://docs.aws.amazon.com/autoscaling/ec2/userguide/migrate-to-launch-templates.html: a group uses either a
    launch configuration or a launch template; DescribeAutoScalingGroups reports the one it was last set to."""
    sandbox.autoscaling.create_launch_configuration(LaunchConfigurationName="old-lc", ImageId="ami-785db401", InstanceType="t3.small")
    sandbox.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchConfigurationName="old-lc", MinSize=0, MaxSize=4, DesiredCapacity=1,
        VPCZoneIdentifier=",".join(subnets),
    )
    lc_instance = wait_in_service(sandbox, 1)[0]
    assert lc_instance["LaunchConfigurationName"] == "old-lc"
    template_id = template(sandbox, "new-lt")
    sandbox.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"}
    )
    described = describe_group(sandbox)
    assert "LaunchConfigurationName" not in described
    assert described["LaunchTemplate"]["LaunchTemplateId"] == template_id
    assert members(sandbox)[0]["LaunchConfigurationName"] == "old-lc"  # instances keep what they launched with


def test_terminating_an_instance_no_group_manages_is_a_validation_error(sandbox):
    """As on AWS ("No managed instance found"), where moto answered with a server error."""
    with pytest.raises(ClientError) as caught:
        sandbox.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId="i-0123456789abcdef0", ShouldDecrementDesiredCapacity=True)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "No managed instance found" in caught.value.response["Error"]["Message"]
