"""Create what the 1.x docs tell users to create by hand before the first deploy.

VPC and subnets, security groups, load balancers and target groups with their
health checks, and one Auto Scaling group per (deployment, environment), all
from fabulaws-config.yml. Idempotent: what exists is reused.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from ..aws.network import resolve_security_groups
from ..config import Settings

VPC_CIDR = "10.0.0.0/16"  # a plain moto server's; a sandbox says its own (10.N.0.0/16 in slot N)
HEALTH_CHECK_PATH = "/healthcheck.html"


def seed(aws: Any, settings: Settings, launch: str = "template") -> list[str]:
    """Create the project's AWS resources; returns one line per resource ("created ..." / "exists ...")."""
    report: list[str] = []
    vpc_id, subnet_ids = ensure_network(aws.ec2, settings, report)
    ensure_security_groups(aws.ec2, settings, vpc_id, report)
    for deployment in settings.deployments:
        for environment in settings.environments:
            elbs = settings.deployment_setting("load_balancers", deployment, environment, default=[])
            target_groups = settings.deployment_setting("target_groups", deployment, environment, default=[])
            for name in elbs:
                ensure_classic_elb(aws, name, vpc_id, subnet_ids, settings, report)
            arns = [ensure_target_group(aws, name, vpc_id, subnet_ids, report) for name in target_groups]
            group = settings.deployment_setting("auto_scaling_groups", deployment, environment, default=None)
            if group:
                ensure_group(aws, settings, deployment, environment, group, elbs, arns, vpc_id, subnet_ids, launch, report)
    return report


def vpc_network(ec2: Any) -> ipaddress.IPv4Network:
    """The VPC range of the sandbox behind ``ec2``'s endpoint (its slot's), or VPC_CIDR for a plain moto server."""
    try:
        with urllib.request.urlopen(ec2.meta.endpoint_url.rstrip("/") + "/_sandbox/network", timeout=5) as response:
            return ipaddress.IPv4Network(json.load(response)["vpc_cidr"])
    except (OSError, ValueError, KeyError, TypeError):
        return ipaddress.IPv4Network(VPC_CIDR)


def ensure_network(ec2: Any, settings: Settings, report: list[str]) -> tuple[str | None, dict[str, str]]:
    """The project's VPC and one subnet per zone letter (or the default VPC if no ``subnets``)."""
    if not settings.subnets:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        vpc_id = vpcs[0]["VpcId"] if vpcs else None
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        return vpc_id, {s["AvailabilityZone"][-1]: s["SubnetId"] for s in subnets}
    name = settings.project
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
        report.append(f"exists  VPC {name} ({vpc_id})")
    network = vpc_network(ec2)
    if not vpcs:
        vpc_id = ec2.create_vpc(CidrBlock=str(network), TagSpecifications=_name_tag("vpc", name))["Vpc"]["VpcId"]
        report.append(f"created VPC {name} ({vpc_id}, {network})")
    else:
        network = ipaddress.IPv4Network(vpcs[0]["CidrBlock"])
    subnets = list(network.subnets(new_prefix=24))
    subnet_ids = {}
    for index, (letter, value) in enumerate(sorted(settings.subnets.items())):
        found = ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "tag:Name", "Values": [value]}]
        )["Subnets"]
        if value.startswith("subnet-") or found:
            subnet_ids[letter] = found[0]["SubnetId"] if found else value
            report.append(f"exists  subnet {value} ({subnet_ids[letter]})")
            continue
        cidr = str(subnets[index + 1])
        subnet = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=ec2.meta.region_name + letter,
            TagSpecifications=_name_tag("subnet", value),
        )["Subnet"]
        subnet_ids[letter] = subnet["SubnetId"]
        report.append(f"created subnet {value} ({subnet['SubnetId']}, {cidr}, {ec2.meta.region_name}{letter})")
    return vpc_id, subnet_ids


def ensure_security_groups(ec2: Any, settings: Settings, vpc_id: str | None, report: list[str]) -> None:
    """Every security group name the configuration mentions, in the VPC."""
    names: set[str] = set()
    for value in settings.security_groups.values():
        for groups in value.values() if isinstance(value, dict) else [value]:
            names.update(name for name in groups if not name.startswith("sg-"))
    for name in sorted(names):
        filters = [{"Name": "group-name", "Values": [name]}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        if ec2.describe_security_groups(Filters=filters)["SecurityGroups"]:
            report.append(f"exists  security group {name}")
            continue
        kwargs = {"VpcId": vpc_id} if vpc_id else {}
        group_id = ec2.create_security_group(GroupName=name, Description=f"{name} (fabulaws sandbox)", **kwargs)["GroupId"]
        report.append(f"created security group {name} ({group_id})")


def ensure_classic_elb(
    aws: Any, name: str, vpc_id: str | None, subnet_ids: dict[str, str], settings: Settings, report: list[str]
) -> None:
    """A classic ELB forwarding to HTTPS:443 on the instances, health-checking /healthcheck.html."""
    try:
        aws.elb.describe_load_balancers(LoadBalancerNames=[name])
        report.append(f"exists  load balancer {name}")
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "LoadBalancerNotFound":
            raise
    listeners = [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTPS", "InstancePort": 443}]
    placement = (
        {"Subnets": list(subnet_ids.values())}
        if vpc_id and subnet_ids
        else {"AvailabilityZones": [aws.region + letter for letter in settings.avail_zones]}
    )
    aws.elb.create_load_balancer(LoadBalancerName=name, Listeners=listeners, **placement)
    aws.elb.configure_health_check(
        LoadBalancerName=name,
        HealthCheck={
            "Target": f"HTTPS:443{HEALTH_CHECK_PATH}",
            "Interval": 10,
            "Timeout": 5,
            "UnhealthyThreshold": 2,
            "HealthyThreshold": 2,
        },
    )
    report.append(f"created load balancer {name} (HTTP:80 -> HTTPS:443, check HTTPS:443{HEALTH_CHECK_PATH})")


def ensure_target_group(aws: Any, name: str, vpc_id: str | None, subnet_ids: dict[str, str], report: list[str]) -> str:
    """An HTTPS:443 target group behind an application load balancer of the same name."""
    try:
        arn = aws.elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
        report.append(f"exists  target group {name}")
        return arn
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TargetGroupNotFound":
            raise
    arn = aws.elbv2.create_target_group(
        Name=name,
        Protocol="HTTPS",
        Port=443,
        VpcId=vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTPS",
        HealthCheckPath=HEALTH_CHECK_PATH,
        HealthCheckIntervalSeconds=10,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    balancer = aws.elbv2.create_load_balancer(Name=name, Subnets=list(subnet_ids.values()), Type="application")
    aws.elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
    )
    report.append(f"created target group {name} (HTTPS:443, check {HEALTH_CHECK_PATH}) behind load balancer {name}")
    return arn


def ensure_group(
    aws: Any,
    settings: Settings,
    deployment: str,
    environment: str,
    name: str,
    elbs: list[str],
    target_group_arns: list[str],
    vpc_id: str | None,
    subnet_ids: dict[str, str],
    launch: str,
    report: list[str],
) -> None:
    """The web Auto Scaling group as the 1.x docs describe it: 0 instances, max 4, ELB health check, tags."""
    if aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
        report.append(f"exists  Auto Scaling group {name}")
        return
    groups = settings.role_setting("security_groups", environment, "web")
    image = settings.instance_settings.ami
    instance_type = settings.role_setting("instance_types", environment, "web")
    security_group_ids = resolve_security_groups(aws.ec2, groups, vpc_id)
    if launch == "configuration":
        launch_config = f"{name}-initial"
        aws.autoscaling.create_launch_configuration(
            LaunchConfigurationName=launch_config,
            ImageId=image,
            InstanceType=instance_type,
            SecurityGroups=security_group_ids,
            InstanceMonitoring={"Enabled": True},
        )
        how: dict[str, Any] = {"LaunchConfigurationName": launch_config}
    else:
        template = aws.ec2.create_launch_template(
            LaunchTemplateName=name,
            VersionDescription="initial (fabulaws sandbox seed)",
            LaunchTemplateData={
                "ImageId": image,
                "InstanceType": instance_type,
                "SecurityGroupIds": security_group_ids,
                "Monitoring": {"Enabled": True},
            },
        )["LaunchTemplate"]
        how = {"LaunchTemplate": {"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Default"}}
    zones: dict[str, Any] = {"VPCZoneIdentifier": ",".join(subnet_ids[letter] for letter in settings.avail_zones if letter in subnet_ids)}
    if not zones["VPCZoneIdentifier"]:
        zones = {"AvailabilityZones": [aws.region + letter for letter in settings.avail_zones]}
    tags = {"Name": f"{deployment}_{environment}_web", "deployment": deployment, "environment": environment, "role": "web"}
    aws.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        HealthCheckType="ELB",
        HealthCheckGracePeriod=300,
        LoadBalancerNames=list(elbs),
        TargetGroupARNs=list(target_group_arns),
        Tags=[
            {"Key": key, "Value": value, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"}
            for key, value in tags.items()
        ],
        **how,
        **zones,
    )
    report.append(f"created Auto Scaling group {name} (min 0, desired 0, max 4, ELB health check, launch {launch})")


def _name_tag(resource_type: str, name: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]
