"""prune: images (with their snapshots), launch configurations and template versions nobody uses any more."""

from __future__ import annotations

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


def prune(aws: Aws, deployment: str, environment: str, keep: int, group: dict, report: Any = None) -> dict[str, list[str]]:
    """Delete what is older than the newest ``keep`` and unused; returns what was deleted, by kind."""
    configurations, versions, images_in_use = used_launches(aws)
    deleted: dict[str, list[str]] = {"images": [], "snapshots": [], "launch configurations": [], "template versions": []}
    prefix = f"{deployment}_{environment}_"
    lcs = []
    for page in aws.autoscaling.get_paginator("describe_launch_configurations").paginate():
        lcs += [c for c in page["LaunchConfigurations"] if c["LaunchConfigurationName"].startswith(prefix + "lc_")]
    for config in sorted(lcs, key=lambda c: c["CreatedTime"], reverse=True)[keep:]:
        if config["LaunchConfigurationName"] not in configurations:
            aws.autoscaling.delete_launch_configuration(LaunchConfigurationName=config["LaunchConfigurationName"])
            deleted["launch configurations"].append(config["LaunchConfigurationName"])
    current = Launch.of(group)
    if current.template_id:
        template = aws.ec2.describe_launch_templates(LaunchTemplateIds=[current.template_id])["LaunchTemplates"][0]
        protected = {str(template["DefaultVersionNumber"]), str(template["LatestVersionNumber"])}
        all_versions = aws.ec2.describe_launch_template_versions(LaunchTemplateId=current.template_id)["LaunchTemplateVersions"]
        numbers = sorted((v["VersionNumber"] for v in all_versions), reverse=True)
        for number in numbers[keep:]:
            if str(number) not in protected and (current.template_id, str(number)) not in versions:
                aws.ec2.delete_launch_template_versions(LaunchTemplateId=current.template_id, Versions=[str(number)])
                deleted["template versions"].append(f"{template['LaunchTemplateName']}:{number}")
        remaining = aws.ec2.describe_launch_template_versions(LaunchTemplateId=current.template_id)["LaunchTemplateVersions"]
        images_in_use.update(v["LaunchTemplateData"].get("ImageId", "") for v in remaining)
    remaining_lcs = []
    for page in aws.autoscaling.get_paginator("describe_launch_configurations").paginate():
        remaining_lcs += page["LaunchConfigurations"]
    images_in_use.update(c["ImageId"] for c in remaining_lcs)
    owned = aws.ec2.describe_images(
        Owners=["self"],
        Filters=[{"Name": "tag:deployment", "Values": [deployment]}, {"Name": "tag:environment", "Values": [environment]}],
    )["Images"]
    for image in sorted(owned, key=lambda i: i.get("CreationDate", ""), reverse=True)[keep:]:
        if image["ImageId"] in images_in_use:
            continue
        aws.ec2.deregister_image(ImageId=image["ImageId"])
        deleted["images"].append(f"{image['ImageId']} ({image.get('Name', tag(image, 'Name', ''))})")
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot:
                aws.ec2.delete_snapshot(SnapshotId=snapshot)
                deleted["snapshots"].append(snapshot)
    for kind, items in deleted.items():
        say(report, f"Deleted {len(items)} {kind}" + (f": {', '.join(items)}" if items else ""))
    return deleted
