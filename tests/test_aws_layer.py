"""aws/: the one tag conversion, "not found" decided by the error code, and every other error let through.

Against moto over HTTP (``aws_env``) and the project's sandbox (``sandbox``), whose fault injection answers a
chosen call with the code SandboxInjectedFault: an error that is not "does not exist" must reach the caller.
The functions under test are imported inside each test, so this file also runs against older trees.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import _sandbox_call

GONE_INSTANCE = "i-1234567890abcdef0"


def aws_client(service: str):
    from fabulaws.aws import Aws

    return Aws(region="us-east-1").client(service)


def inject(sandbox, action: str, count: int = 1) -> None:
    """The sandbox answers the next ``count`` ``action`` calls with SandboxInjectedFault (a 400, not retried)."""
    _sandbox_call(sandbox.endpoint, "/_sandbox/faults", {"fail": {action: count}})


def injected(exc_info) -> bool:
    return exc_info.value.response["Error"]["Code"] == "SandboxInjectedFault"


# --- tags ------------------------------------------------------------------------------------------------
def test_tag_dict_and_list_round_trip():
    from fabulaws.aws import tags

    as_dict = {"Name": "web-1", "role": "web", "fabulaws:run": "r1", "empty": ""}
    as_list = tags.to_list(as_dict)
    assert as_list == [{"Key": "Name", "Value": "web-1"}, {"Key": "role", "Value": "web"},
                       {"Key": "fabulaws:run", "Value": "r1"}, {"Key": "empty", "Value": ""}]
    assert tags.to_dict(as_list) == as_dict and list(tags.to_dict(as_list)) == list(as_dict), "order kept"
    assert tags.to_list(tags.to_dict(as_list)) == as_list
    group_tags = [{"Key": "a", "Value": "1", "PropagateAtLaunch": True, "ResourceId": "g", "ResourceType": "auto-scaling-group"}]
    assert tags.to_dict(group_tags) == {"a": "1"}, "Auto Scaling's extra fields are not tags"
    assert tags.to_dict(None) == {} and tags.to_list({}) == []
    assert tags.specifications({}, "instance") == []
    assert tags.specifications({"a": "1"}, "instance", "volume") == [
        {"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "1"}]},
        {"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "1"}]},
    ]
    assert tags.tag({"Tags": as_list}, "role") == "web" and tags.tag({}, "role", "none") == "none"


def test_tags_written_and_read_back_through_ec2(aws_env):
    from fabulaws.aws import tags

    ec2 = aws_client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    wanted = {"Name": "web-1", "role": "web", "fabulaws:changeset": "abc123"}
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                    TagSpecifications=tags.specifications({"Name": "web-1"}, "instance"))["Instances"][0]["InstanceId"]
    tags.add(ec2, [instance_id], {"role": "web", "fabulaws:changeset": "abc123"})
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert tags.of(described) == wanted


# --- not found, by code ---------------------------------------------------------------------------------
def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AnyOperation")


def test_not_found_is_decided_by_the_code_never_the_message():
    from fabulaws.aws.errors import not_found

    for code in ("InvalidInstanceID.NotFound", "InvalidAMIID.NotFound", "InvalidKeyPair.NotFound",
                 "InvalidVolume.NotFound", "InvalidSnapshot.NotFound", "InvalidLaunchTemplateId.NotFound",
                 "InvalidLaunchTemplateId.VersionNotFound", "InvalidAMIID.Unavailable", "LoadBalancerNotFound",
                 "TargetGroupNotFound", "NoSuchKey", "ParameterNotFound"):
        assert not_found(client_error(code, "whatever")), code
    for code in ("AccessDenied", "UnauthorizedOperation", "SandboxInjectedFault", "Throttling", "ValidationError"):
        assert not not_found(client_error(code, "The thing was not found")), code
    assert not not_found(ValueError("not found"))


def test_deleting_what_is_already_gone_is_quiet(aws_env):
    from fabulaws.aws import images, instances, keypairs, volumes
    from fabulaws.aws.launch import delete_launch_configuration

    ec2 = aws_client("ec2")
    instances.terminate(ec2, [GONE_INSTANCE], missing_ok=True)
    keypairs.delete(ec2, "fabulaws-gone", missing_ok=True)
    volumes.delete(ec2, "vol-12345678", missing_ok=True)
    images.delete(ec2, {"ImageId": "ami-12345678",
                        "BlockDeviceMappings": [{"Ebs": {"SnapshotId": "snap-12345678"}}]}, missing_ok=True)
    delete_launch_configuration(aws_client("autoscaling"), "gone_lc", missing_ok=True)
    assert images.find_image(ec2, "ami-12345678") is None
    assert volumes.find_volume(ec2, "vol-12345678") is None
    with pytest.raises(ClientError) as raised:  # without missing_ok, gone is an error like any other
        instances.terminate(ec2, [GONE_INSTANCE])
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_a_recorded_resource_already_gone_is_released_quietly(sandbox):
    from fabulaws.aws import Aws
    from fabulaws.library.wsgiautoscale.deploy.journal import Resource
    from fabulaws.library.wsgiautoscale.deploy.resources import delete

    aws = Aws(region="us-east-1")
    said: list[str] = []
    for resource in (Resource("instance", GONE_INSTANCE), Resource("key-pair", "fabulaws-gone"),
                     Resource("volume", "vol-12345678"), Resource("image", "myproject_testing_web_gone"),
                     Resource("launch-template-version", "run gone", details={"template_id": "lt-12345678901234567"}),
                     Resource("launch-configuration", "myproject_testing_lc_gone")):
        delete(aws, resource, said.append)


def test_the_console_of_an_instance_ec2_does_not_know_yet_has_no_keys(sandbox, tmp_path):
    from fabulaws.remote.hostkeys import KnownHosts

    assert KnownHosts(tmp_path / "known_hosts").record_instance(aws_client("ec2"), GONE_INSTANCE, "10.0.0.9") is False


def test_a_missing_image_or_template_version_is_one_resource_error(sandbox):
    from fabulaws.aws import Aws
    from fabulaws.aws.launch import template_version
    from fabulaws.errors import AwsResourceError
    from fabulaws.library.wsgiautoscale.deploy.launches import image_changeset

    aws = Aws(region="us-east-1")
    with pytest.raises(AwsResourceError, match="image ami-12345678 not found"):
        image_changeset(aws, "ami-12345678")
    with pytest.raises(AwsResourceError, match="has no version 1"):
        template_version(aws.ec2, "lt-12345678901234567", "1")


# --- any other error goes through -----------------------------------------------------------------------
def test_a_failed_key_pair_deletion_is_not_taken_for_gone(sandbox):
    from fabulaws.aws import Aws
    from fabulaws.library.wsgiautoscale.deploy.journal import Resource
    from fabulaws.library.wsgiautoscale.deploy.resources import delete

    aws = Aws(region="us-east-1")
    aws.ec2.create_key_pair(KeyName="fabulaws-kept")
    inject(sandbox, "ec2:DeleteKeyPair")
    with pytest.raises(ClientError) as raised:
        delete(aws, Resource("key-pair", "fabulaws-kept"), lambda message: None)
    assert injected(raised)
    assert [p["KeyName"] for p in aws.ec2.describe_key_pairs()["KeyPairs"]] == ["fabulaws-kept"]


def test_a_failed_console_read_is_not_taken_for_no_keys_yet(sandbox, tmp_path):
    from fabulaws.remote.hostkeys import KnownHosts

    inject(sandbox, "ec2:GetConsoleOutput")
    with pytest.raises(ClientError) as raised:
        KnownHosts(tmp_path / "known_hosts").record_instance(aws_client("ec2"), GONE_INSTANCE, "10.0.0.9")
    assert injected(raised)


def test_a_failed_image_lookup_is_not_taken_for_a_missing_image(sandbox):
    from fabulaws.aws import Aws
    from fabulaws.library.wsgiautoscale.deploy.launches import image_changeset

    inject(sandbox, "ec2:DescribeImages")
    with pytest.raises(ClientError) as raised:
        image_changeset(Aws(region="us-east-1"), "ami-12345678")
    assert injected(raised)


def test_a_failed_template_lookup_is_not_taken_for_a_missing_version(sandbox):
    from fabulaws.aws.launch import template_version

    inject(sandbox, "ec2:DescribeLaunchTemplateVersions")
    with pytest.raises(ClientError) as raised:
        template_version(aws_client("ec2"), "lt-12345678901234567", "1")
    assert injected(raised)


def test_a_failed_balancer_lookup_is_not_taken_for_a_missing_balancer(sandbox):
    from fabulaws.aws import Aws
    from fabulaws.aws.balancers import find_balancers
    from fabulaws.errors import AwsResourceError

    aws = Aws(region="us-east-1")
    with pytest.raises(AwsResourceError, match="load balancer not found"):
        find_balancers(aws, ["no-such-balancer"], [])
    inject(sandbox, "elasticloadbalancing:DescribeLoadBalancers")  # ELB signs as elasticloadbalancing
    with pytest.raises(ClientError) as raised:
        find_balancers(aws, ["no-such-balancer"], [])
    assert injected(raised)



def test_auto_scaling_validation_error_means_gone_only_when_a_read_confirms_it(sandbox):
    """Auto Scaling answers "no such instance" and "bad request" alike (ValidationError)."""
    from fabulaws.aws.errors import unless_gone

    autoscaling = aws_client("autoscaling")

    def call():
        return autoscaling.set_instance_health(InstanceId=GONE_INSTANCE, HealthStatus="Healthy")

    def absent():
        return not autoscaling.describe_auto_scaling_instances(InstanceIds=[GONE_INSTANCE])["AutoScalingInstances"]

    assert unless_gone(call, absent=absent) is None
    for confirm in (None, lambda: False):
        with pytest.raises(ClientError) as raised:
            unless_gone(call, absent=confirm)
        assert raised.value.response["Error"]["Code"] == "ValidationError"
