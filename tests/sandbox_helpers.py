"""Building blocks for sandbox tests: a VPC with two zones, a launch template, balancers, a group."""

from __future__ import annotations

from conftest import wait_until

IMAGE = "ami-785db401"
ZONES = ("us-east-1a", "us-east-1b")


def network(sandbox) -> list[str]:
    """A VPC in the sandbox's range (10.N.0.0/16 in slot N) with one subnet per zone; returns the subnet ids."""
    vpc = sandbox.ec2.create_vpc(CidrBlock=str(sandbox.vpc_network))["Vpc"]["VpcId"]
    return [
        sandbox.ec2.create_subnet(VpcId=vpc, CidrBlock=sandbox.subnet_cidr(i + 1), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(ZONES)
    ]


def template(sandbox, name: str = "web", image: str = IMAGE) -> str:
    return sandbox.ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small"}
    )["LaunchTemplate"]["LaunchTemplateId"]


def classic_elb(sandbox, name: str = "web-lb", interval: int = 10, healthy: int = 2, unhealthy: int = 2) -> str:
    sandbox.elb.create_load_balancer(
        LoadBalancerName=name,
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}],
        AvailabilityZones=list(ZONES),
    )
    sandbox.elb.configure_health_check(
        LoadBalancerName=name,
        HealthCheck={"Target": "HTTP:80/healthcheck.html", "Interval": interval, "Timeout": 5, "HealthyThreshold": healthy, "UnhealthyThreshold": unhealthy},
    )
    return name


def target_group(sandbox, subnets: list[str], name: str = "web-tg", interval: int = 10, healthy: int = 2) -> str:
    vpc = sandbox.ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    arn = sandbox.elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        HealthCheckPath="/healthcheck.html",
        HealthCheckIntervalSeconds=interval,
        HealthyThresholdCount=healthy,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    sandbox.elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]
    )
    return arn


def group(sandbox, subnets: list[str], name: str = "web", desired: int = 0, template_id: str | None = None, **extra) -> str:
    template_id = template_id or template(sandbox, f"{name}-lt")
    sandbox.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
        MinSize=0,
        MaxSize=extra.pop("MaxSize", 6),
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        **extra,
    )
    return name


def describe_group(sandbox, name: str = "web") -> dict:
    return sandbox.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def members(sandbox, name: str = "web", state: str | None = None) -> list[dict]:
    instances = describe_group(sandbox, name)["Instances"]
    return [i for i in instances if state is None or i["LifecycleState"] == state]


def wait_in_service(sandbox, count: int, name: str = "web", timeout: float = 10.0) -> list[dict]:
    return wait_until(
        lambda: (lambda found: found if len(found) == count and len(members(sandbox, name)) == count else None)(
            members(sandbox, name, "InService")
        ),
        timeout,
        f"{count} InService instance(s) in {name}",
    )


def instance_state(sandbox, instance_id: str) -> str:
    reservations = sandbox.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]
