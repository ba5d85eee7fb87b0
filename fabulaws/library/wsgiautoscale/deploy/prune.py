"""prune: images (with their snapshots), launch configurations and template versions nobody uses any more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ....aws import Aws, images, instances
from ....aws.launch import (
    Launch,
    delete_launch_configuration,
    delete_template_version,
    find_launch_configurations,
    find_template,
    template_versions,
)
from ....aws.scaling import find_groups
from ....aws.tags import tag
from ....report import say


def used_launches(aws: Aws) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """Launch configurations, (template, version) pairs and images in use by any group or its instances."""
    configurations: set[str] = set()
    versions: set[tuple[str, str]] = set()
    for group in find_groups(aws.autoscaling):
        for item in [group, *group["Instances"]]:
            launch = Launch.of(item)
            if launch.configuration:
                configurations.add(launch.configuration)
            elif launch.template_id:
                versions.add((launch.template_id, str(launch.version)))
    in_use: set[str] = set()
    if configurations:
        in_use.update(c["ImageId"] for c in find_launch_configurations(aws.autoscaling)
                      if c["LaunchConfigurationName"] in configurations)
    for template_id, version in versions:
        for found in template_versions(aws.ec2, template_id, [version]):
            in_use.add(found["LaunchTemplateData"].get("ImageId", ""))
    in_use.update(i["ImageId"] for i in instances.find_instances(aws.ec2, {}, instances.LIVE))
    return configurations, versions, in_use


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
            "snapshots": [s for i in self.images for s in images.snapshots(i)],
            "launch configurations": list(self.launch_configurations),
            "template versions": [label for _, _, label in self.template_versions],
        }


def select(aws: Aws, deployment: str, environment: str, keep: int, group: dict) -> Unused:
    """What is older than the newest ``keep`` and unused (read calls only; used by ``prune`` and its --dry plan).

    An image still used by a launch configuration or template version that stays is kept.
    """
    configurations, versions, images_in_use = used_launches(aws)
    unused = Unused()
    prefix = f"{deployment}_{environment}_"
    all_lcs = find_launch_configurations(aws.autoscaling)
    lcs = [c for c in all_lcs if c["LaunchConfigurationName"].startswith(prefix + "lc_")]
    for config in sorted(lcs, key=lambda c: c["CreatedTime"], reverse=True)[keep:]:
        if config["LaunchConfigurationName"] not in configurations:
            unused.launch_configurations.append(config["LaunchConfigurationName"])
    current = Launch.of(group)
    if current.template_id:
        template = find_template(aws.ec2, current.template_id)
        protected = {str(template["DefaultVersionNumber"]), str(template["LatestVersionNumber"])}
        all_versions = template_versions(aws.ec2, current.template_id)
        numbers = sorted((v["VersionNumber"] for v in all_versions), reverse=True)
        for number in numbers[keep:]:
            if str(number) not in protected and (current.template_id, str(number)) not in versions:
                unused.template_versions.append((current.template_id, number, f"{template['LaunchTemplateName']}:{number}"))
        going = {number for _, number, _ in unused.template_versions}
        images_in_use.update(v["LaunchTemplateData"].get("ImageId", "") for v in all_versions if v["VersionNumber"] not in going)
    images_in_use.update(c["ImageId"] for c in all_lcs if c["LaunchConfigurationName"] not in unused.launch_configurations)
    owned = images.find_owned(aws.ec2, {"deployment": deployment, "environment": environment})
    for image in sorted(owned, key=lambda i: i.get("CreationDate", ""), reverse=True)[keep:]:
        if image["ImageId"] not in images_in_use:
            unused.images.append(image)
    return unused


def prune(aws: Aws, deployment: str, environment: str, keep: int, group: dict, report: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """Delete what ``select`` finds (launch configurations, template versions, then images and their snapshots);
    returns what was deleted, by kind."""
    unused = select(aws, deployment, environment, keep, group)
    for name in unused.launch_configurations:
        delete_launch_configuration(aws.autoscaling, name)
    for template_id, number, _ in unused.template_versions:
        delete_template_version(aws.ec2, template_id, number)
    for image in unused.images:
        images.delete(aws.ec2, image)
    deleted = unused.labels()
    for kind, items in deleted.items():
        say(report, f"Deleted {len(items)} {kind}" + (f": {', '.join(items)}" if items else ""))
    return deleted
