"""What a group launches: a launch configuration or one version of a launch template."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import AwsResourceError
from . import tags as tagging
from .errors import unless_gone
from .types import Client


@dataclass(frozen=True)
class Launch:
    """A launch configuration (``configuration``) or a launch template version (``template_id`` + ``version``)."""

    configuration: str | None = None
    template_id: str | None = None
    template_name: str | None = None
    version: str | None = None  # as the group is told: "3", "$Latest" or "$Default"

    @classmethod
    def of(cls, resource: dict) -> Launch:
        """The launch of a group or of a group's instance (DescribeAutoScalingGroups shapes)."""
        if resource.get("LaunchConfigurationName"):
            return cls(configuration=resource["LaunchConfigurationName"])
        template = resource.get("LaunchTemplate") or {}
        if template:
            return cls(None, template.get("LaunchTemplateId"), template.get("LaunchTemplateName"), template.get("Version"))
        if resource.get("MixedInstancesPolicy"):
            raise AwsResourceError("groups with a mixed instances policy are not supported; use a launch template")
        return cls()

    @classmethod
    def from_dict(cls, data: dict) -> Launch:
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def uses_template(self) -> bool:
        return self.template_id is not None

    def group_arguments(self) -> dict:
        """Arguments of UpdateAutoScalingGroup that make a group launch this."""
        if self.configuration:
            return {"LaunchConfigurationName": self.configuration}
        return {"LaunchTemplate": {"LaunchTemplateId": self.template_id, "Version": self.version or "$Default"}}

    def __str__(self) -> str:
        if self.configuration:
            return f"launch configuration {self.configuration}"
        return f"launch template {self.template_name or self.template_id} version {self.version}"


def runs(instance: dict, target: Launch) -> bool:
    """Whether a group instance was launched with ``target`` (a configuration, or a numbered template version)."""
    mine = Launch.of(instance)
    if target.configuration:
        return mine.configuration == target.configuration
    return mine.template_id == target.template_id and str(mine.version) == str(target.version)


def find_launch_configuration(autoscaling: Client, name: str) -> dict:
    found = autoscaling.describe_launch_configurations(LaunchConfigurationNames=[name])["LaunchConfigurations"]
    if not found:
        raise AwsResourceError(f"Cannot find a launch configuration with the name '{name}'.")
    return found[0]


def template_version(ec2: Client, template_id: str | None, version: str | None, label: str | None = None) -> dict:
    """One version of a template (``$Latest``/``$Default`` resolved); AwsResourceError if there is none (no such
    template or version, by error code; any other error goes through)."""
    if template_id is None or version is None:
        raise AwsResourceError(f"launch template {label or template_id} has no version {version}")
    versions = unless_gone(lambda: ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=[str(version)])["LaunchTemplateVersions"])
    if not versions:
        raise AwsResourceError(f"launch template {label or template_id} has no version {version}")
    return versions[0]


def create_launch_configuration(
    autoscaling: Client, name: str, image_id: str, security_groups: list[str], instance_type: str, source: dict | None = None
) -> Launch:
    """A launch configuration like 1.x's (image, groups, type, detailed monitoring), keeping the key, user data,
    instance profile and block devices of ``source`` (the group's current configuration) when given."""
    kept = {}
    for key in ("KeyName", "UserData", "IamInstanceProfile", "BlockDeviceMappings", "AssociatePublicIpAddress"):
        if source and source.get(key) not in (None, "", []):
            kept[key] = source[key]
    autoscaling.create_launch_configuration(
        LaunchConfigurationName=name,
        ImageId=image_id,
        SecurityGroups=security_groups,
        InstanceType=instance_type,
        InstanceMonitoring={"Enabled": True},
        **kept,
    )
    return Launch(configuration=name)


def create_template_version(ec2: Client, base: Launch, image_id: str, description: str, tags: dict[str, str]) -> Launch:
    """A new version of ``base``'s template, inheriting its current version, with a new image and tags."""
    source = template_version(ec2, base.template_id, base.version or "$Default")
    data = {
        "ImageId": image_id,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tagging.to_list(tags)}],
    }
    created = ec2.create_launch_template_version(
        LaunchTemplateId=base.template_id,
        SourceVersion=str(source["VersionNumber"]),
        VersionDescription=description[:255],
        LaunchTemplateData=data,
    )["LaunchTemplateVersion"]
    return Launch(None, created["LaunchTemplateId"], created["LaunchTemplateName"], str(created["VersionNumber"]))


def find_launch_configurations(autoscaling: Client) -> list[dict]:
    """Every launch configuration of the region (all pages). Read-only."""
    pages = autoscaling.get_paginator("describe_launch_configurations").paginate()
    return [config for page in pages for config in page["LaunchConfigurations"]]


def delete_launch_configuration(autoscaling: Client, name: str, missing_ok: bool = False) -> None:
    """DeleteLaunchConfiguration; ``missing_ok``: one already gone is fine (by error code), other errors go through."""
    if missing_ok:
        unless_gone(lambda: autoscaling.delete_launch_configuration(LaunchConfigurationName=name), absent=lambda: not
                    autoscaling.describe_launch_configurations(LaunchConfigurationNames=[name])["LaunchConfigurations"])
    else:
        autoscaling.delete_launch_configuration(LaunchConfigurationName=name)


def find_template(ec2: Client, template_id: str | None) -> dict:
    """DescribeLaunchTemplates of one template (its name, default and latest version numbers). Read-only."""
    if template_id is None:
        raise AwsResourceError("no launch template to describe (the launch is a launch configuration)")
    return ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]


def template_versions(ec2: Client, template_id: str, versions: list[str] | None = None) -> list[dict]:
    """The template's versions (``versions`` only, if given): their numbers, descriptions, data. Read-only."""
    arguments: dict[str, Any] = {"LaunchTemplateId": template_id}
    if versions is not None:
        arguments["Versions"] = [str(v) for v in versions]
    return ec2.describe_launch_template_versions(**arguments)["LaunchTemplateVersions"]


def delete_template_version(ec2: Client, template_id: str, number: int | str, missing_ok: bool = False) -> None:
    """DeleteLaunchTemplateVersions of one version; ``missing_ok``: a template already gone is fine (by error
    code; a version already gone is no error to AWS), other errors go through."""
    if missing_ok:
        unless_gone(lambda: ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(number)]))
    else:
        ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(number)])
