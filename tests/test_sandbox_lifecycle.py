"""Sandbox: instances, images and volumes take time, as on AWS (driven through boto3 over HTTP)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from sandbox_helpers import IMAGE, instance_state, network


def run_instance(sandbox, subnet: str) -> str:
    reservation = sandbox.ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=subnet)
    return reservation["Instances"][0]["InstanceId"]


def test_an_instance_is_pending_for_its_boot_time_then_running(sandbox):
    """https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html

    "When you launch an instance, it enters the pending state ... After the instance
    is ready for you, it enters the running state."
    """
    subnet = network(sandbox)[0]
    started = time.monotonic()
    instance_id = run_instance(sandbox, subnet)
    assert instance_state(sandbox, instance_id) == "pending"
    wait_until(lambda: instance_state(sandbox, instance_id) == "running", 5, "running")
    assert time.monotonic() - started >= sandbox.real(60) * 0.9


def test_boot_time_and_time_scale_are_configurable(sandbox):
    """Every duration is configurable; one time scale divides them all: a boot of 3000 AWS seconds at 1:600 is
    5 real seconds, pending twice the default boot time after the launch, running once its own has passed.
    (A boot of 3 real seconds, checked at 2, once lost its one second of margin on a loaded CI machine.)"""
    subnet = network(sandbox)[0]
    sandbox.timings(scale=600, instance_boot=3000)
    started = time.monotonic()
    instance_id = run_instance(sandbox, subnet)
    time.sleep(120 / 600)  # twice the default boot (60 AWS s), at 1:600
    assert instance_state(sandbox, instance_id) == "pending"
    wait_until(lambda: instance_state(sandbox, instance_id) == "running", 30, "running after its boot")
    assert time.monotonic() - started >= 5 * 0.9


def test_stopped_instances_start_through_pending(sandbox):
    """https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Stop_Start.html ("stopped -> pending -> running")."""
    instance_id = run_instance(sandbox, network(sandbox)[0])
    wait_until(lambda: instance_state(sandbox, instance_id) == "running", 5, "running")
    sandbox.ec2.stop_instances(InstanceIds=[instance_id])
    assert instance_state(sandbox, instance_id) == "stopped"
    sandbox.ec2.start_instances(InstanceIds=[instance_id])
    assert instance_state(sandbox, instance_id) == "pending"
    wait_until(lambda: instance_state(sandbox, instance_id) == "running", 5, "running again")


def test_a_new_image_is_pending_then_available(sandbox):
    """https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/creating-an-ami-ebs.html

    "While the AMI is being created, its state is pending ... the state changes to available."
    """
    instance_id = run_instance(sandbox, network(sandbox)[0])
    image_id = sandbox.ec2.create_image(InstanceId=instance_id, Name="baked")["ImageId"]

    def state():
        return sandbox.ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"]

    assert state() == "pending"
    sandbox.ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    assert state() == "available"


def test_a_volume_is_creating_then_available_then_in_use(sandbox):
    """https://docs.aws.amazon.com/ebs/latest/userguide/ebs-describing-volumes.html (volume states) and
    https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html (attachment "attaching" -> "attached").
    A volume can be attached only when it is available.
    """
    instance_id = run_instance(sandbox, network(sandbox)[0])
    volume_id = sandbox.ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, VolumeType="gp3")["VolumeId"]

    def volume():
        return sandbox.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]

    assert volume()["State"] == "creating"
    with pytest.raises(ClientError) as caught:
        sandbox.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    assert caught.value.response["Error"]["Code"] == "IncorrectState"
    sandbox.ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    sandbox.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    assert volume()["State"] == "in-use"
    assert volume()["Attachments"][0]["State"] == "attaching"
    wait_until(lambda: volume()["Attachments"][0]["State"] == "attached", 3, "attached")


def test_waiting_for_an_image_ends_when_it_is_available_and_a_deregistered_one_at_the_deadline(sandbox):
    """aws/images.wait_available: done once the image is available (pending before); an image that went away
    ends the wait at its deadline with one error naming it, not a hang."""
    from fabulaws.aws import images
    from fabulaws.waits import Polling, WaitTimedOut

    instance_id = run_instance(sandbox, network(sandbox)[0])
    image_id = sandbox.ec2.create_image(InstanceId=instance_id, Name="waited")["ImageId"]
    assert images.find_image(sandbox.ec2, image_id)["State"] == "pending"
    images.wait_available(sandbox.ec2, image_id, timeout=60, polling=Polling(0.1, 0.5))
    assert images.find_image(sandbox.ec2, image_id)["State"] == "available"
    sandbox.ec2.deregister_image(ImageId=image_id)
    with pytest.raises(WaitTimedOut, match=f"image {image_id} available"):
        images.wait_available(sandbox.ec2, image_id, timeout=1, polling=Polling(0.1, 0.5))
