"""Deleting what a run created, from the journal's records alone (so ``recover`` in another process can).

Each record names the resource the way it was chosen before creating it (an image name, a client token, a
run tag, a launch configuration name, a template version description), so a resource whose creation was
cut short by a kill is found too. Every deletion is idempotent: what is already gone is fine.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ....aws import Aws, images, instances, keypairs, volumes
from ....aws.errors import unless_gone
from ....aws.launch import (
    delete_launch_configuration,
    delete_template_version,
    template_versions,
)
from ....aws.types import Client
from ....ec2 import key_file_path
from .journal import Journal, Resource

RUN_TAG = "fabulaws:run"  # on everything a run creates that can carry a tag


def _instances(ec2: Client, filters: list[dict], token: str | None = None) -> list[str]:
    """Live instances matching ``filters`` (and launched with client ``token``, compared here: not every EC2
    implementation filters on it)."""
    found = instances.find_instances(ec2, {}, instances.LIVE, filters=filters)
    return [i["InstanceId"] for i in found if token is None or i.get("ClientToken") == token]


def _terminate(ec2: Client, instance_ids: list[str], report: Callable[[str], None]) -> None:
    if instance_ids:
        report(f"terminating temporary instance(s) {', '.join(instance_ids)}")
        instances.terminate(ec2, instance_ids, missing_ok=True)


def _delete_image(ec2: Client, resource: Resource, report: Callable[[str], None]) -> None:
    for image in images.find_owned(ec2, name=resource.id):
        report(f"deregistering image {image['ImageId']} ({resource.id}) and deleting its snapshots")
        images.delete(ec2, image, missing_ok=True)


def _delete_template_version(ec2: Client, resource: Resource, report: Callable[[str], None]) -> None:
    template_id = resource.details["template_id"]
    versions = unless_gone(lambda: template_versions(ec2, template_id))
    for version in versions or []:
        if resource.id in version.get("VersionDescription", "") and not version.get("DefaultVersion"):
            report(f"deleting version {version['VersionNumber']} of launch template {template_id}")
            delete_template_version(ec2, template_id, version["VersionNumber"], missing_ok=True)


def delete(aws: Aws, resource: Resource, report: Callable[[str], None]) -> None:
    """Delete one recorded resource (whatever of it exists); what is already gone is fine (by error code)."""
    ec2 = aws.ec2
    if resource.kind == "instance":
        _terminate(ec2, _instances(ec2, [{"Name": "instance-id", "Values": [resource.id]}]), report)
    elif resource.kind == "instance-token":
        _terminate(ec2, _instances(ec2, [], token=resource.id), report)
    elif resource.kind == "run-tag":
        tagged = _instances(ec2, [{"Name": f"tag:{RUN_TAG}", "Values": [resource.id]}])
        _terminate(ec2, tagged, report)
        if tagged:  # a volume not yet set to go with its instance is free once the instance is gone
            instances.wait_terminated(ec2, tagged, timeout=300)
        for volume in volumes.find_available(ec2, {RUN_TAG: resource.id}):
            report(f"deleting volume {volume['VolumeId']}")
            volumes.delete(ec2, volume["VolumeId"], missing_ok=True)
    elif resource.kind == "key-pair":
        keypairs.delete(ec2, resource.id, missing_ok=True)
    elif resource.kind == "key-prefix":
        for name in keypairs.find_names(ec2, resource.id):
            keypairs.delete(ec2, name, missing_ok=True)
        for key_file in key_file_path(resource.id).parent.glob(key_file_path(resource.id).stem + "*.pem"):
            key_file.unlink(missing_ok=True)  # here, where the run wrote it (another machine's is not ours to see)
    elif resource.kind == "key-file":
        try:
            os.remove(resource.id)
        except FileNotFoundError:
            pass
    elif resource.kind == "volume":
        volumes.delete(ec2, resource.id, missing_ok=True)
    elif resource.kind == "image":
        _delete_image(ec2, resource, report)
    elif resource.kind == "launch-template-version":
        _delete_template_version(ec2, resource, report)
    elif resource.kind == "launch-configuration":
        report(f"deleting launch configuration {resource.id}")
        delete_launch_configuration(aws.autoscaling, resource.id, missing_ok=True)
    else:
        raise ValueError(f"unknown resource kind {resource.kind!r} in the journal")


ORDER = ("instance", "instance-token", "run-tag", "key-pair", "key-prefix", "key-file", "launch-configuration",
         "launch-template-version", "image", "volume")


def release(aws: Aws, journal: Journal, report: Callable[[str], None], rolled_back: bool) -> None:
    """Delete the run's temporary resources, and its products too when ``rolled_back``; each record is dropped
    from the journal once its resource is gone."""
    wanted = [r for r in journal.resources if r.temporary or rolled_back]
    for resource in sorted(wanted, key=lambda r: ORDER.index(r.kind) if r.kind in ORDER else len(ORDER)):
        delete(aws, resource, report)
        journal.untrack(resource.kind, resource.id)
