"""Deleting what a run created, from the journal's records alone (so ``recover`` in another process can).

Each record names the resource the way it was chosen before creating it (an image name, a client token, a
run tag, a launch configuration name, a template version description), so a resource whose creation was
cut short by a kill is found too. Every deletion is idempotent: what is already gone is fine.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from botocore.exceptions import ClientError

from ....ec2 import key_file_path
from .journal import Journal, Resource

RUN_TAG = "fabulaws:run"  # on everything a run creates that can carry a tag


def _gone(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return "NotFound" in code or "Malformed" in code or code in ("ValidationError", "InvalidParameterValue")


def _quietly(action: Callable[[], Any]) -> None:
    try:
        action()
    except ClientError as exc:
        if not _gone(exc):
            raise


def _instances(ec2: Any, filters: list[dict], token: str | None = None) -> list[str]:
    """Live instances matching ``filters`` (and launched with client ``token``, compared here: not every EC2
    implementation filters on it)."""
    filters = filters + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    return [i["InstanceId"] for i in found if token is None or i.get("ClientToken") == token]


def _terminate(ec2: Any, instance_ids: list[str], report: Callable[[str], None]) -> None:
    if instance_ids:
        report(f"terminating temporary instance(s) {', '.join(instance_ids)}")
        _quietly(lambda: ec2.terminate_instances(InstanceIds=instance_ids))


def _delete_image(ec2: Any, resource: Resource, report: Callable[[str], None]) -> None:
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [resource.id]}])["Images"]
    for image in images:
        snapshots = [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]
        report(f"deregistering image {image['ImageId']} ({resource.id}) and deleting its snapshots")
        _quietly(lambda: ec2.deregister_image(ImageId=image["ImageId"]))
        for snapshot in snapshots:
            _quietly(lambda: ec2.delete_snapshot(SnapshotId=snapshot))


def _delete_template_version(ec2: Any, resource: Resource, report: Callable[[str], None]) -> None:
    template_id = resource.details["template_id"]
    try:
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    except ClientError as exc:
        if _gone(exc):
            return
        raise
    for version in versions:
        if resource.id in version.get("VersionDescription", "") and not version.get("DefaultVersion"):
            report(f"deleting version {version['VersionNumber']} of launch template {template_id}")
            _quietly(lambda: ec2.delete_launch_template_versions(
                LaunchTemplateId=template_id, Versions=[str(version["VersionNumber"])]))


def delete(aws: Any, resource: Resource, report: Callable[[str], None]) -> None:
    """Delete one recorded resource (whatever of it exists)."""
    ec2 = aws.ec2
    if resource.kind == "instance":
        _terminate(ec2, _instances(ec2, [{"Name": "instance-id", "Values": [resource.id]}]), report)
    elif resource.kind == "instance-token":
        _terminate(ec2, _instances(ec2, [], token=resource.id), report)
    elif resource.kind == "run-tag":
        tagged = [{"Name": f"tag:{RUN_TAG}", "Values": [resource.id]}]
        instances = _instances(ec2, tagged)
        _terminate(ec2, instances, report)
        if instances:  # a volume not yet set to go with its instance is free once the instance is gone
            ec2.get_waiter("instance_terminated").wait(InstanceIds=instances,
                                                       WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        volumes = ec2.describe_volumes(Filters=tagged + [{"Name": "status", "Values": ["available"]}])["Volumes"]
        for volume in volumes:
            report(f"deleting volume {volume['VolumeId']}")
            _quietly(lambda: ec2.delete_volume(VolumeId=volume["VolumeId"]))
    elif resource.kind == "key-pair":
        _quietly(lambda: ec2.delete_key_pair(KeyName=resource.id))
    elif resource.kind == "key-prefix":
        for pair in ec2.describe_key_pairs()["KeyPairs"]:
            if pair["KeyName"].startswith(resource.id):
                _quietly(lambda: ec2.delete_key_pair(KeyName=pair["KeyName"]))
        for key_file in key_file_path(resource.id).parent.glob(key_file_path(resource.id).stem + "*.pem"):
            key_file.unlink(missing_ok=True)  # here, where the run wrote it (another machine's is not ours to see)
    elif resource.kind == "key-file":
        try:
            os.remove(resource.id)
        except FileNotFoundError:
            pass
    elif resource.kind == "volume":
        _quietly(lambda: ec2.delete_volume(VolumeId=resource.id))
    elif resource.kind == "image":
        _delete_image(ec2, resource, report)
    elif resource.kind == "launch-template-version":
        _delete_template_version(ec2, resource, report)
    elif resource.kind == "launch-configuration":
        report(f"deleting launch configuration {resource.id}")
        _quietly(lambda: aws.autoscaling.delete_launch_configuration(LaunchConfigurationName=resource.id))
    else:
        raise ValueError(f"unknown resource kind {resource.kind!r} in the journal")


ORDER = ("instance", "instance-token", "run-tag", "key-pair", "key-prefix", "key-file", "launch-configuration",
         "launch-template-version", "image", "volume")


def release(aws: Any, journal: Journal, report: Callable[[str], None], rolled_back: bool) -> None:
    """Delete the run's temporary resources, and its products too when ``rolled_back``; each record is dropped
    from the journal once its resource is gone."""
    wanted = [r for r in journal.resources if r.temporary or rolled_back]
    for resource in sorted(wanted, key=lambda r: ORDER.index(r.kind) if r.kind in ORDER else len(ORDER)):
        delete(aws, resource, report)
        journal.untrack(resource.kind, resource.id)
