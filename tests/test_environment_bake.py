"""The web image bake on the shared environment: a code-only deploy bakes on the group's image (incremental), a
changed provisioning input bakes from the base image, and an image of the same changeset is reused, not baked."""

from __future__ import annotations

import time

import pytest

from environment_support import DEPLOY_TIMEOUT, get, new_version
from hosts_support import aws_client, fabulaws
from test_environment import edit_config

pytestmark = pytest.mark.hosts

VERSION = 16


def image_line(output: str) -> str:
    return next((line for line in output.splitlines() if "image:" in line), output[-2000:])


def group_image_tags(environment) -> dict[str, str]:
    autoscaling, ec2 = aws_client(environment, "autoscaling"), aws_client(environment, "ec2")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["myproject-testing-ag"])["AutoScalingGroups"][0]
    if group.get("LaunchConfigurationName"):
        image_id = autoscaling.describe_launch_configurations(
            LaunchConfigurationNames=[group["LaunchConfigurationName"]])["LaunchConfigurations"][0]["ImageId"]
    else:
        template = group["LaunchTemplate"]
        image_id = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"], Versions=[
            template["Version"]])["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def test_a_code_only_deploy_bakes_on_the_current_image(environment):
    new_version(environment, VERSION)
    plan = fabulaws(environment, "--dry", "deploy_serial:myproject,testing", timeout=300)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "incremental: image ami-" in image_line(plan.stdout), plan.stdout
    started = time.monotonic()
    result = fabulaws(environment, "deploy_serial:myproject,testing", timeout=DEPLOY_TIMEOUT)
    print(f"deploy_serial with an incremental bake: {time.monotonic() - started:.0f} s")  # benchmarks/ compares
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "web image: incremental: image ami-" in output, output[-3000:]
    assert "pip skipped" in output, "the requirements file did not change: no pip install"
    assert "bootstrap and deploy_web" not in output, "nothing provisioned from the base image"
    assert get(environment, "/") == (200, f"Hello from myproject, version {VERSION}\n")
    tags = group_image_tags(environment)
    assert tags["fabulaws:baked"] == "incremental" and len(tags["fabulaws:provision-digest"]) == 64, tags


def test_the_same_changeset_reuses_its_image_and_a_provisioning_change_bakes_in_full(environment):
    plan = fabulaws(environment, "--dry", "deploy_serial:myproject,testing", timeout=300)
    assert "reuse ami-" in image_line(plan.stdout), plan.stdout
    path = environment["dir"] / "fabulaws-config.yml"
    before = edit_config(environment, lambda config: config["app_server_packages"].append("libjpeg-dev"))
    try:
        changed = fabulaws(environment, "--dry", "deploy_serial:myproject,testing", timeout=300)
    finally:
        path.write_text(before)
    line = image_line(changed.stdout)
    assert "from the base image" in line and "packages changed from" in line and "libjpeg-dev" in line, changed.stdout
