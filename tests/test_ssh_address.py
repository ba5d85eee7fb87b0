"""A server that would have no address for ``ec2_attr_for_ssh`` (1.x's default public_dns_name, in a subnet
that maps no public IP) is one line naming the key and the subnet, before anything is launched (issue 11,
part 7); 1.x launched it, then failed with a paramiko TypeError in the server's log."""

from __future__ import annotations

import boto3
import pytest
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError
from fabulaws.library.wsgiautoscale.servers.address import check_ssh_address

from conftest import run_cli


def private_subnet(name: str, public: bool = False) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a",
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": name}]}])
    subnet_id = subnet["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": public})
    for group in ("myproject-sg", "myproject-web-sg"):  # the example's web groups, so 1.x's way gets to launch
        ec2.create_security_group(GroupName=group, Description=group, VpcId=vpc)
    return subnet_id


def public_ssh_config(project):
    config = project / "fabulaws-config.yml"
    config.write_text(config.read_text().replace("ec2_attr_for_ssh: private_ip_address\n", ""))
    return config


def test_new_refuses_before_launching(example_project, aws_env):
    subnet = private_subnet("myproject-a")
    public_ssh_config(example_project)
    users = example_project / "deployment" / "users"  # everything else `new` checks first is in order
    users.mkdir(parents=True)
    (users / "bob").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEk3k0TestKeyOnlyForTheCheck bob@example\n")
    (example_project / "fabsecrets_testing.py").write_text(
        "database_password = 'd'\nbroker_password = 'b'\nsecret_key = 's'\nluks_passphrase = 'l'\n")
    result = run_cli(["-u", "bob", "new:myproject,testing,web,a,tries=1"], example_project, env=aws_env)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines()[-1] + "\n" == (
        f"fabulaws: fabulaws-config.yml: ec2_attr_for_ssh: public_dns_name (the default) is a public address, but "
        f"subnet {subnet} (myproject-a) of zone us-east-1a gives new instances none (MapPublicIpOnLaunch is false), "
        "so a new server could not be reached; set ec2_attr_for_ssh: private_ip_address (from inside the VPC) or "
        "use a subnet that maps public IP addresses\n")
    reservations = boto3.client("ec2", region_name="us-east-1").describe_instances()["Reservations"]
    assert reservations == []


def test_a_private_address_or_a_public_subnet_passes(example_project, aws_env):
    private_subnet("myproject-a", public=True)
    settings = load_settings(public_ssh_config(example_project))
    check_ssh_address(Aws(region="us-east-1").ec2, settings, "us-east-1", ["a"])  # maps public IPs: fine
    settings = load_settings(example_project / "fabulaws-config.yml")
    settings.ec2_attr_for_ssh = "private_ip_address"
    check_ssh_address(Aws(region="us-east-1").ec2, settings, "us-east-1", ["a"])


def test_an_explicit_public_attribute_names_its_line(example_project, aws_env):
    private_subnet("myproject-a")
    config = public_ssh_config(example_project)
    config.write_text(config.read_text() + "ec2_attr_for_ssh: ip_address\n")
    settings = load_settings(config)
    with pytest.raises(ConfigError) as caught:
        check_ssh_address(Aws(region="us-east-1").ec2, settings, "us-east-1", ["a"])
    line = len(config.read_text().splitlines())
    assert str(caught.value).startswith(f"fabulaws-config.yml:{line}: ec2_attr_for_ssh: ip_address is a public address")
