"""A census of the sandbox account: everything a deploy may create, change or leave behind, as comparable lines.

Kill tests compare the census after ``recover`` with the one before the run (rolled back) or with an
uninterrupted run's (completed). Every section is a multiset of readable lines; ``diff`` lists what one
census has that the other lacks. Lines hold ids (``exact``) or, where two separate runs cannot share ids
(new servers, new template versions, timestamps in names), a normalised form (``shape``). A template version
is written ``vN#k``: its number and its rank among the template's versions; shapes keep only the rank, since
AWS never reuses a deleted version's number.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

LOCK_TAG = "fabulaws:lock"
KEY_FILE_GLOB = "fabulaws-key-*"
KEPT = ("logs", "known_hosts")  # under .fabulaws/: kept across runs on purpose, not state of one run
_IDS = re.compile(r"\b(i|ami|vol|snap|lt|sg|subnet|eni)-[0-9a-f]{8,17}\b")
_STAMP = re.compile(r"\d{4}\.\d{2}\.\d{2}-\d{2}\.\d{2}\.\d{2}")
_VERSION = re.compile(r" v\d+#")  # a template version's number; its ordinal (#k) stays
_HEX = re.compile(r"(?<![0-9a-z])[0-9a-f]{12,40}(?![0-9a-z])")  # journal ids, changesets (also between underscores)
GONE = ("shutting-down", "terminated")


def shape(line: str) -> str:
    """A line without what differs between two runs that did the same thing (ids, timestamps, journal ids)."""
    line = _VERSION.sub(" v*#", line)
    return _HEX.sub("*", _STAMP.sub("<stamp>", _IDS.sub(lambda m: f"{m.group(1)}-*", line)))


@dataclass
class Census:
    """Sections of lines (see the module docstring); ``diff`` compares two."""

    sections: dict[str, list[str]] = field(default_factory=dict)

    def add(self, section: str, line: str) -> None:
        self.sections.setdefault(section, []).append(line)

    def lines(self, section: str, exact: bool) -> Counter:
        return Counter(line if exact else shape(line) for line in self.sections.get(section, []))

    def diff(self, other: Census, exact: bool = True) -> list[str]:
        """``- line`` for what only self has, ``+ line`` for what only ``other`` has, by section; [] when equal."""
        out = []
        for section in sorted(set(self.sections) | set(other.sections)):
            mine, theirs = self.lines(section, exact), other.lines(section, exact)
            missing = sorted((mine - theirs).elements())
            extra = sorted((theirs - mine).elements())
            out += [f"{section}: - {line}" for line in missing] + [f"{section}: + {line}" for line in extra]
        return out

    def render(self) -> str:
        return "\n".join(f"{s}: {line}" for s in sorted(self.sections) for line in sorted(self.sections[s]))

    def to_json(self) -> str:
        return json.dumps(self.sections, indent=1, sort_keys=True)


class Account:
    """boto3 clients for the census, on one endpoint (the sandbox), read-only."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=region)
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        for service in ("ec2", "autoscaling", "elb", "elbv2", "s3", "sts"):
            setattr(self, service, session.client(service, endpoint_url=endpoint, config=config))

    def groups(self) -> list[dict]:
        pages = self.autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
        return [g for page in pages for g in page["AutoScalingGroups"]]

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait (bounded) until every group has exactly its desired servers, all InService, and no server is
        pending or shutting down: a census taken while the group still converges would compare noise."""
        deadline = time.monotonic() + timeout
        while True:
            groups = self.groups()
            steady = all(
                len(g["Instances"]) == g["DesiredCapacity"] and all(i["LifecycleState"] == "InService" for i in g["Instances"])
                for g in groups
            )
            moving = self.ec2.describe_instances(
                Filters=[{"Name": "instance-state-name", "Values": ["pending", "shutting-down", "stopping"]}]
            )["Reservations"]
            if steady and not moving:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def _tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _version(name: str, number: object, versions: dict[str, list[int]]) -> str:
    """``vN#k`` (k: N's rank among the template's versions), or ``v$Default`` as the group names it."""
    numbers = versions.get(name, [])
    return f"v{number}#{numbers.index(int(number)) + 1}" if str(number).isdigit() and int(number) in numbers else f"v{number}"


def _launch_of(item: dict, versions: dict[str, list[int]]) -> str:
    """A group's or group member's launch: ``template NAME vN#k`` or ``config NAME``."""
    spec = item.get("LaunchTemplate") or (item.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {}).get(
        "LaunchTemplateSpecification")
    if spec:
        name = spec.get("LaunchTemplateName")
        return f"template {name} {_version(name, spec.get('Version'), versions)}"
    if item.get("LaunchConfigurationName"):
        return f"config {item['LaunchConfigurationName']}"
    return "launch ?"


def take(account: Account, project: Path | None = None, key_dir: Path | None = None) -> Census:
    """The census now: EC2, Auto Scaling, load balancers, S3 (lock and journal objects), local state files."""
    census = Census()
    versions = _ec2(account, census)
    _scaling(account, census, versions)
    _balancers(account, census)
    _s3(account, census)
    if project is not None:
        state = project / ".fabulaws"
        for path in sorted(state.rglob("*")) if state.exists() else []:
            if path.is_file() and not any(part in KEPT for part in path.relative_to(state).parts):
                census.add("local files", str(path.relative_to(project)))
    if key_dir is not None:
        for path in sorted(key_dir.glob(KEY_FILE_GLOB)):
            census.add("key files", path.name)
    return census


def _ec2(account: Account, census: Census) -> dict[str, list[int]]:
    """Instances, images, snapshots, volumes, key pairs, template versions; returns each template's version numbers."""
    ec2 = account.ec2
    templates = {}
    for page in ec2.get_paginator("describe_launch_templates").paginate():
        for template in page["LaunchTemplates"]:
            found = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
            templates[template["LaunchTemplateName"]] = sorted(found["LaunchTemplateVersions"], key=lambda v: v["VersionNumber"])
    versions = {name: [v["VersionNumber"] for v in found] for name, found in templates.items()}
    members = {}
    for page in account.autoscaling.get_paginator("describe_auto_scaling_instances").paginate():
        for member in page["AutoScalingInstances"]:
            members[member["InstanceId"]] = member
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] in GONE:
                    continue
                tags = _tags(instance)
                member = members.get(instance["InstanceId"])
                where = f"group {member['AutoScalingGroupName']} {_launch_of(member, versions)}" if member else "no group"
                labels = " ".join(f"{k}={tags[k]}" for k in sorted(tags) if not k.startswith("aws:") and k != "Name")
                census.add("instances", f"{instance['InstanceId']} {instance['State']['Name']} {instance['ImageId']} "
                                        f"key={instance.get('KeyName', '-')} {where} {labels}".rstrip())
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        census.add("images", f"{image['ImageId']} {image.get('Name', '')} {image['State']}")
    # NOTE: moto ignores OwnerIds and lists its 1,300 public snapshots (seconds); an owner-id filter is honoured.
    me = account.sts.get_caller_identity()["Account"]
    for snapshot in ec2.describe_snapshots(Filters=[{"Name": "owner-id", "Values": [me]}])["Snapshots"]:
        census.add("snapshots", f"{snapshot['SnapshotId']} {snapshot['VolumeSize']} GiB {snapshot.get('Description', '')}")
    for page in ec2.get_paginator("describe_volumes").paginate():
        for volume in page["Volumes"]:
            if volume["State"] in ("deleting", "deleted"):
                continue  # on its way out with its terminated instance
            attached = ",".join(a["InstanceId"] for a in volume.get("Attachments", []) if a.get("State") != "detached")
            census.add("volumes", f"{volume['VolumeId']} {volume['Size']} GiB {volume['State']} on={attached or '-'}")
    for key in ec2.describe_key_pairs()["KeyPairs"]:
        census.add("key pairs", key["KeyName"])
    for name, found in templates.items():
        for version in found:
            data = version["LaunchTemplateData"]
            changeset = [t["Value"] for spec in data.get("TagSpecifications", []) for t in spec.get("Tags", [])
                         if t["Key"] == "fabulaws:changeset"]
            census.add("template versions", f"{name} {_version(name, version['VersionNumber'], versions)} "
                                            f"{data.get('ImageId')} changeset={','.join(changeset) or '-'}"
                                            f"{' default' if version.get('DefaultVersion') else ''}")
    return versions


def _scaling(account: Account, census: Census, versions: dict[str, list[int]]) -> None:
    for page in account.autoscaling.get_paginator("describe_launch_configurations").paginate():
        for config in page["LaunchConfigurations"]:
            census.add("launch configurations", f"{config['LaunchConfigurationName']} {config['ImageId']}")
    for group in account.groups():
        name = group["AutoScalingGroupName"]
        suspended = sorted(p["ProcessName"] for p in group.get("SuspendedProcesses", []))
        census.add("groups", f"{name} min={group['MinSize']} max={group['MaxSize']} desired={group['DesiredCapacity']} "
                             f"policies={','.join(group.get('TerminationPolicies', []))} "
                             f"suspended={','.join(suspended) or '-'} {_launch_of(group, versions)}")
        for tag in group.get("Tags", []):
            if tag["Key"] == LOCK_TAG:
                census.add("locks", f"{name} tag {LOCK_TAG}={tag['Value']}")
            else:
                census.add("group tags", f"{name} {tag['Key']}={tag['Value']} propagate={tag.get('PropagateAtLaunch')}")


def _balancers(account: Account, census: Census) -> None:
    for balancer in account.elb.describe_load_balancers()["LoadBalancerDescriptions"]:
        for instance in balancer.get("Instances", []):
            census.add("balancer members", f"{balancer['LoadBalancerName']} {instance['InstanceId']}")
    for target_group in account.elbv2.describe_target_groups()["TargetGroups"]:
        health = account.elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
        for target in health["TargetHealthDescriptions"]:
            if target.get("TargetHealth", {}).get("State") == "draining":
                continue  # on its way out (deregistration delay): not a member any more
            census.add("balancer members", f"{target_group['TargetGroupName']} {target['Target']['Id']}")


def _s3(account: Account, census: Census) -> None:
    """Every object (the lock and the journal live here once the engine keeps them in S3); empty buckets are not
    listed (a state bucket created on first use is infrastructure, not a leak)."""
    for bucket in account.s3.list_buckets().get("Buckets", []):
        for page in account.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                census.add("s3 objects", f"s3://{bucket['Name']}/{item['Key']}")


def deployed_diff(before: Census, after: Census) -> list[str]:
    """What ``after`` has beyond the changes of one completed deploy of ``before``'s groups; [] when none.

    A completed deploy may add one launch (template version or launch configuration) and a baked image with its
    snapshots, point each group at a launch and replace its servers by as many others on that launch; everything
    else (capacity, processes, other servers, volumes by shape, key pairs, locks, state) is as before.
    """
    out = []
    same_exact = ("key pairs", "locks", "s3 objects", "local files", "key files", "group tags")
    for section in same_exact:
        out += [line for line in before.diff(after, exact=True) if line.startswith(f"{section}: ")]
    out += [line for line in before.diff(after, exact=False) if line.startswith(("volumes: ", "balancer members: "))]
    launch = re.compile(r" (template \S+ v\S+|config \S+)$")  # compared by rank: see the module docstring

    def groups(census: Census) -> Counter:
        return Counter(launch.sub("", line) for line in census.sections.get("groups", []))

    out += [f"groups: - {g}" for g in (groups(before) - groups(after)).elements()]
    out += [f"groups: + {g}" for g in (groups(after) - groups(before)).elements()]
    group_launch = {line.split()[0]: launch.search(line).group(1) for line in after.sections.get("groups", [])
                    if launch.search(line)}
    member = re.compile(r" group (\S+) (template \S+ v\S+|config \S+)")

    def members(census: Census) -> tuple[Counter, Counter]:
        loose, counts = Counter(), Counter()
        for line in census.sections.get("instances", []):
            found = member.search(line)
            if found:
                counts[found.group(1)] += 1
                if census is after and found.group(2) != group_launch.get(found.group(1)):
                    out.append(f"instances: not on its group's launch: {line}")
            else:
                loose[line] += 1
        return loose, counts

    (loose_before, counts_before), (loose_after, counts_after) = members(before), members(after)
    out += [f"instances: - {line}" for line in (loose_before - loose_after).elements()]
    out += [f"instances: + {line}" for line in (loose_after - loose_before).elements()]
    if counts_before != counts_after:
        out.append(f"instances: group members {dict(counts_before)} before, {dict(counts_after)} after")
    added = 0
    for section, most in (("template versions", None), ("launch configurations", None), ("images", 1), ("snapshots", None)):
        mine, theirs = before.lines(section, True), after.lines(section, True)
        out += [f"{section}: - {line}" for line in (mine - theirs).elements()]
        new = sum((theirs - mine).values())
        if section in ("template versions", "launch configurations"):
            added += new
        elif most is not None and new > most:
            out.append(f"{section}: {new} added, at most {most} expected: {sorted((theirs - mine).elements())}")
    if added > 1:
        out.append(f"launches: {added} added, one expected")
    return out
