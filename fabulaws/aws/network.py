"""Subnets and security groups named in the configuration, resolved to AWS ids."""

from __future__ import annotations

from ..errors import AwsResourceError
from .types import Client


def resolve_subnet(ec2: Client, value: str) -> dict:
    """The subnet whose id is ``value`` or whose Name tag is ``value``."""
    if value.startswith("subnet-"):
        found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [value]}])["Subnets"]
    else:
        found = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [value]}])["Subnets"]
    if len(found) != 1:
        what = "no subnet" if not found else f"{len(found)} subnets"
        raise AwsResourceError(f"{what} found for {value!r} (subnets in fabulaws-config.yml: a subnet id or a unique Name tag)")
    return found[0]


def resolve_security_groups(ec2: Client, names_or_ids: list[str], vpc_id: str | None) -> list[str]:
    """Security group ids for ``names_or_ids`` (names are looked up in ``vpc_id``, or the default VPC)."""
    ids = [value for value in names_or_ids if value.startswith("sg-")]
    names = [value for value in names_or_ids if not value.startswith("sg-")]
    if names:
        filters = [{"Name": "group-name", "Values": names}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
        by_name = {group["GroupName"]: group["GroupId"] for group in groups}
        missing = [name for name in names if name not in by_name]
        if missing:
            where = f" in {vpc_id}" if vpc_id else ""
            raise AwsResourceError(f"security group(s) not found{where}: {', '.join(missing)}")
        ids += [by_name[name] for name in names]
    return ids


def find_default_subnet(ec2: Client, availability_zone: str) -> dict | None:
    """The default subnet of ``availability_zone`` (``us-east-1a``), or None when it has none. Read-only."""
    found = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [availability_zone]},
                                          {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return found[0] if found else None


def vpc_networks(ec2: Client, instance_ids: list[str]) -> list[str]:
    """The CIDR blocks of the VPCs these instances are in (none for instances outside a VPC). Read-only."""
    if not instance_ids:
        return []
    reservations = ec2.describe_instances(InstanceIds=list(instance_ids))["Reservations"]
    vpc_ids = sorted({i["VpcId"] for r in reservations for i in r["Instances"] if i.get("VpcId")})
    if not vpc_ids:
        return []
    networks: list[str] = []
    for vpc in ec2.describe_vpcs(VpcIds=vpc_ids)["Vpcs"]:
        blocks = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])
                  if a.get("CidrBlockState", {}).get("State", "associated") == "associated"] or [vpc["CidrBlock"]]
        networks += [block for block in blocks if block not in networks]
    return networks
