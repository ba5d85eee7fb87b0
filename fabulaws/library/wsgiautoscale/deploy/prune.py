"""prune: images (with their snapshots), launch configurations and template versions nobody uses any more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ....aws import Aws
from ....aws.launch import Launch
from ....aws.instances import tag
from ....report import say


def used_launches(aws: Aws) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """Launch configurations, (template, version) pairs and images in use by any group or its instances."""
    configurations: set[str] = set()
    versions: set[tuple[str, str]] = set()
    for page in aws.autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            for item in [group, *group["Instances"]]:
                launch = Launch.of(item)
                if launch.configuration:
                    configurations.add(launch.configuration)
                elif launch.template_id:
                    versions.add((launch.template_id, str(launch.version)))
    images = set()
    if configurations:
        for page in aws.autoscaling.get_paginator("describe_launch_configurations").paginate():
            images.update(c["ImageId"] for c in page["LaunchConfigurations"] if c["LaunchConfigurationName"] in configurations)
    for template_id, version in versions:
        for found in aws.ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])["LaunchTemplateVersions"]:
            images.add(found["LaunchTemplateData"].get("ImageId", ""))
    running = aws.ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
    images.update(i["ImageId"] for r in running["Reservations"] for i in r["Instances"])
    return configurations, versions, images


@dataclass
class Unused:
    """What prune would delete, by kind: ids and a label for each (facts only; nothing deleted)."""

    launch_configurations: list[str] = field(default_factory=list)
    template_versions: list[tuple[str, int, str]] = field(default_factory=list)  # (template id, number, label)
    images: list[dict] = field(default_factory=list)  # DescribeImages entries

    def labels(self) -> dict[str, list[str]]:
        """Labels by kind, in the order prune deletes them (1.x's report wording)."""
        return {
            "images": [f"{i['ImageId']} ({i.get('Name', tag(i, 'Name', ''))})" for i in self.images],
            "snapshots": [s for i in self.images for s in snapshots(i)],
            "launch configurations": list(self.launch_configurations),
            "template versions": [label for _, _, label in self.template_versions],
        }


def snapshots(image: dict) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def select(aws: Aws, deployment: str, environment: str, keep: int, group: dict) -> Unused:
    """What is older than the newest ``keep`` and unused (read calls only; used by ``prune`` and its --dry plan).

    An image still used by a launch configuration or template version that stays is kept.
    """
    configurations, versions, images_in_use = used_launches(aws)
    unused = Unused()
    prefix = f"{deployment}_{environment}_"
    all_lcs = []
    for page in aws.autoscaling.get_paginator("describe_launch_configurations").paginate():
        all_lcs += page["LaunchConfigurations"]
    lcs = [c for c in all_lcs if c["LaunchConfigurationName"].startswith(prefix + "lc_")]
    for config in sorted(lcs, key=lambda c: c["CreatedTime"], reverse=True)[keep:]:
        if config["LaunchConfigurationName"] not in configurations:
            unused.launch_configurations.append(config["LaunchConfigurationName"])
    current = Launch.of(group)
    if current.template_id:
        template = aws.ec2.describe_launch_templates(LaunchTemplateIds=[current.template_id])["LaunchTemplates"][0]
        protected = {str(template["DefaultVersionNumber"]), str(template["LatestVersionNumber"])}
        all_versions = aws.ec2.describe_launch_template_versions(LaunchTemplateId=current.template_id)["LaunchTemplateVersions"]
        numbers = sorted((v["VersionNumber"] for v in all_versions), reverse=True)
        for number in numbers[keep:]:
            if str(number) not in protected and (current.template_id, str(number)) not in versions:
                unused.template_versions.append((current.template_id, number, f"{template['LaunchTemplateName']}:{number}"))
        going = {number for _, number, _ in unused.template_versions}
        images_in_use.update(v["LaunchTemplateData"].get("ImageId", "") for v in all_versions if v["VersionNumber"] not in going)
    images_in_use.update(c["ImageId"] for c in all_lcs if c["LaunchConfigurationName"] not in unused.launch_configurations)
    owned = aws.ec2.describe_images(
        Owners=["self"],
        Filters=[{"Name": "tag:deployment", "Values": [deployment]}, {"Name": "tag:environment", "Values": [environment]}],
    )["Images"]
    for image in sorted(owned, key=lambda i: i.get("CreationDate", ""), reverse=True)[keep:]:
        if image["ImageId"] not in images_in_use:
            unused.images.append(image)
    return unused


def prune(aws: Aws, deployment: str, environment: str, keep: int, group: dict, report: Any = None) -> dict[str, list[str]]:
    """Delete what ``select`` finds (launch configurations, template versions, then images and their snapshots);
    returns what was deleted, by kind."""
    unused = select(aws, deployment, environment, keep, group)
    for name in unused.launch_configurations:
        aws.autoscaling.delete_launch_configuration(LaunchConfigurationName=name)
    for template_id, number, _ in unused.template_versions:
        aws.ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(number)])
    for image in unused.images:
        aws.ec2.deregister_image(ImageId=image["ImageId"])
        for snapshot in snapshots(image):
            aws.ec2.delete_snapshot(SnapshotId=snapshot)
    deleted = unused.labels()
    for kind, items in deleted.items():
        say(report, f"Deleted {len(items)} {kind}" + (f": {', '.join(items)}" if items else ""))
    return deleted
