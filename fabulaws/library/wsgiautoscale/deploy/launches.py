"""The launch a deployment rolls out: an existing one by name, or a new one from an image."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ....aws import Aws, images
from ....aws import tags as tagging
from ....aws.launch import (
    Launch,
    create_launch_configuration,
    create_template_version,
    find_launch_configuration,
    template_version,
)
from ....aws.network import resolve_security_groups, resolve_subnet
from ....errors import AwsResourceError
from .run import DeployContext

if TYPE_CHECKING:
    from ....config import Settings


def named_launch(aws: Aws, group: dict, name: str) -> Launch:
    """The launch called ``name``: a launch configuration name, or a version number of the group's template.

    AwsResourceError if it does not exist (checked before anything changes).
    """
    current = Launch.of(group)
    if current.uses_template:
        if not str(name).isdigit():
            raise AwsResourceError(
                f"{group['AutoScalingGroupName']} uses launch template {current.template_name}: "
                f"give a version number of it, not {name!r}"
            )
        version = template_version(aws.ec2, current.template_id, name, current.template_name)
        return Launch(None, current.template_id, current.template_name, str(version["VersionNumber"]))
    find_launch_configuration(aws.autoscaling, name)
    return Launch(configuration=name)


def image_changeset(aws: Aws, image_id: str) -> str:
    """The changeset an image was baked from: its tag, or the last ``_`` part of a 1.x image name."""
    image = images.find_image(aws.ec2, image_id)
    if image is None:  # no such image (by error code); AccessDenied and other errors go through
        raise AwsResourceError(f"image {image_id} not found")
    tags = tagging.of(image)
    if tags.get("fabulaws:changeset"):
        return tags["fabulaws:changeset"]
    name = image.get("Name", "")
    return name.rsplit("_", 1)[-1] if name.count("_") >= 4 else "unknown"


def changeset_of(aws: Aws, launch: Launch) -> str:
    """The changeset a launch deploys (1.x: the last ``_`` part of the launch configuration's name)."""
    if launch.configuration:
        return launch.configuration.rsplit("_", 1)[-1]
    version = template_version(aws.ec2, launch.template_id, launch.version)
    for spec in version["LaunchTemplateData"].get("TagSpecifications", []):
        tags = tagging.of(spec)
        if "fabulaws:changeset" in tags:
            return tags["fabulaws:changeset"]
    return "unknown"


def new_launch(ctx: DeployContext, image_id: str, changeset: str) -> Launch:
    """The next launch configuration (1.x's name scheme) or the next version of the group's template.

    Recorded in the journal before it is created (the configuration's name; the template version's
    description, which carries the run's id), so a rollback deletes it even after a kill mid-call.
    """
    group = ctx.group()
    current = Launch.of(group)
    stamp = time.strftime("%Y.%m.%d-%H.%M.%S", time.gmtime())
    name = f"{ctx.deployment}_{ctx.environment}_lc_{stamp}_{changeset}"
    if current.uses_template:
        marker = f"run {ctx.journal.id}"
        ctx.journal.track("launch-template-version", marker, temporary=False, template_id=current.template_id)
        launch = create_template_version(
            ctx.aws.ec2,
            current,
            image_id,
            description=f"{name} (image {image_id}, {marker})",
            tags={"fabulaws:changeset": changeset, "fabulaws:deployed": stamp},
        )
        ctx.report(f"Created version {launch.version} of launch template {launch.template_name} to deploy {image_id}.")
        return launch
    source = find_launch_configuration(ctx.aws.autoscaling, current.configuration) if current.configuration else None
    ctx.journal.track("launch-configuration", name, temporary=False)
    launch = create_launch_configuration(
        ctx.aws.autoscaling,
        name,
        image_id,
        security_group_ids(ctx.aws, ctx.settings, ctx.environment),
        ctx.settings.role_setting("instance_types", ctx.environment, "web"),
        source,
    )
    ctx.report(f"Created a new launch configuration named '{name}' to deploy {image_id}.")
    return launch


def security_group_ids(aws: Aws, settings: Settings, environment: str) -> list[str]:
    """The web role's security groups as ids (names are looked up in the VPC of the configured subnets)."""
    names = settings.role_setting("security_groups", environment, "web")
    vpc_id = None
    if settings.subnets:
        vpc_id = resolve_subnet(aws.ec2, next(iter(settings.subnets.values())))["VpcId"]
    return resolve_security_groups(aws.ec2, names, vpc_id)


def prepare(ctx: DeployContext) -> None:
    """Step: decide the launch to roll out (remembered in the journal, so a resumed run reuses it)."""
    if ctx.journal.launch is not None:
        return
    params = ctx.journal.params
    if params.get("launch"):
        launch = Launch.from_dict(params["launch"])
    else:
        image = params.get("ami")
        if image:
            changeset = params.get("changeset") or image_changeset(ctx.aws, image)
        else:
            image, changeset = ctx.steps.bake_image(ctx)
        launch = new_launch(ctx, image, changeset)
    ctx.journal.launch = launch
    ctx.journal.changeset = changeset_of(ctx.aws, launch)
    ctx.journal.save()
