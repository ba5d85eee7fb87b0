"""Sandboxes coexist: each holds a slot (its own router network namespace and address ranges), so the demo's
sandbox, a test run's and a benchmark's run at once, and ``sandbox down`` removes only its own.

Needs root (CI runs it as root), like every test with hosts.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import subprocess
import time
import urllib.request

import paramiko
import pytest

from conftest import (
    EXAMPLE,
    FIRST_BOOT_TIMEOUT,
    _sandbox_call,
    require_root,
    run_cli,
    sandbox_network,
    start_hosts_sandbox,
    stop_hosts_sandbox,
    wait_until,
)

IMAGE = "ami-785db401"


@pytest.fixture(scope="module")
def hosts_sandbox_a(tmp_path_factory):
    require_root()
    sandbox = start_hosts_sandbox(tmp_path_factory.mktemp("sandbox-a"))
    yield sandbox
    stop_hosts_sandbox(sandbox)


@pytest.fixture(scope="module")
def hosts_sandbox_b(hosts_sandbox_a, tmp_path_factory):
    """A second sandbox with hosts, started while the first runs (on main: "cannot serve instance metadata on
    169.254.169.254:80 (Address already in use)")."""
    sandbox = start_hosts_sandbox(tmp_path_factory.mktemp("sandbox-b"))
    yield sandbox
    stop_hosts_sandbox(sandbox)


class Site:
    """One sandbox's deployment: a group of one real host behind a classic ELB, serving its instance id."""

    def __init__(self, sandbox: dict) -> None:
        import boto3

        self.sandbox = sandbox
        session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name="us-east-1")
        for service in ("ec2", "autoscaling", "elb"):
            setattr(self, service, session.client(service, endpoint_url=sandbox["endpoint"]))
        self.network = ipaddress.ip_network(sandbox_network(sandbox["endpoint"])["vpc_cidr"])
        key = self.ec2.create_key_pair(KeyName=f"site-{time.time_ns()}")
        self.key_name, self.pkey = key["KeyName"], paramiko.RSAKey.from_private_key(io.StringIO(key["KeyMaterial"]))

    def subnet(self) -> str:
        vpc = self.ec2.create_vpc(CidrBlock=str(self.network))["Vpc"]["VpcId"]
        cidr = str(list(self.network.subnets(new_prefix=24))[1])
        return self.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def launch(self) -> None:
        """The balancer, then a group of one that registers its instance in it."""
        self.elb.create_load_balancer(
            LoadBalancerName="web-lb", AvailabilityZones=["us-east-1a"],
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}],
        )
        self.elb.configure_health_check(LoadBalancerName="web-lb", HealthCheck={
            "Target": "HTTP:80/healthcheck.html", "Interval": 10, "Timeout": 5, "HealthyThreshold": 2, "UnhealthyThreshold": 2})
        template = self.ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": IMAGE, "InstanceType": "t3.small", "KeyName": self.key_name})["LaunchTemplate"]["LaunchTemplateId"]
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=self.subnet(), LoadBalancerNames=["web-lb"],
        )

    def serve(self) -> str:
        """Wait for the group's host, start its web server; the instance id."""
        self.instance_id = wait_until(
            lambda: [i["InstanceId"] for i in self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
                     ["AutoScalingGroups"][0]["Instances"] if i["LifecycleState"] == "InService"],
            FIRST_BOOT_TIMEOUT, "an InService instance",
        )[0]
        self.address = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
        client = self.ssh(FIRST_BOOT_TIMEOUT)
        command = (f"sudo sh -c 'mkdir -p /srv/www && echo {self.instance_id} > /srv/www/index.html && echo OK > "
                   "/srv/www/healthcheck.html && cd /srv/www && (nohup python3 -m http.server 80 > /dev/null 2>&1 &)'")
        _, out, _ = client.exec_command(command)
        assert out.channel.recv_exit_status() == 0
        return self.instance_id

    def ssh(self, timeout: float = 30) -> paramiko.SSHClient:
        deadline = time.monotonic() + timeout
        while True:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(self.address, username="ubuntu", pkey=self.pkey, timeout=3, banner_timeout=5, auth_timeout=5,
                               look_for_keys=False, allow_agent=False)
                return client
            except (OSError, paramiko.SSHException, EOFError) as exc:
                client.close()
                if time.monotonic() > deadline:
                    raise AssertionError(f"no SSH on {self.address} after {timeout} s: {exc}") from exc
                time.sleep(0.3)

    def in_service(self) -> bool:
        states = self.elb.describe_instance_health(LoadBalancerName="web-lb")["InstanceStates"]
        return [s["State"] for s in states] == ["InService"]

    def fetch(self) -> str:
        url = _sandbox_call(self.sandbox["endpoint"], "/_sandbox/status")["hosts"]["balancers"]["web-lb"]
        with urllib.request.urlopen(url + "/", timeout=5) as response:
            return response.read().decode().strip()


def own_network_objects(slot: int) -> dict[str, list[str]]:
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
    return {
        "namespaces": [n for n in namespaces if n == f"fabsbx{slot}" or n.startswith(f"fab{slot}-")],
        "rules": [r for r in rules if f"--comment fabulaws-sandbox-{slot} " in r + " "],
        "link": [f"fabsbx{slot}"] if subprocess.run(["ip", "link", "show", f"fabsbx{slot}"], capture_output=True).returncode == 0 else [],
    }


def reachable(address: str, timeout: float = 3) -> bool:
    """Whether an sshd answers at ``address`` (its banner: some networks accept any TCP connection)."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def test_a_moto_only_sandbox_never_hands_out_the_address_of_another_sandboxs_host(hosts_sandbox_a, sandbox, monkeypatch):
    """The example project seeded into a sandbox with hosts and into a sandbox without: the instance the
    moto-only sandbox launches in zone a does not get the address of the other's host (on main both were
    10.0.1.4, and SSH to the moto-only instance reached the other sandbox's host)."""
    from fabulaws.aws import Aws
    from fabulaws.aws.network import resolve_subnet
    from fabulaws.config import load_settings
    from fabulaws.sandbox.seed import seed

    settings = load_settings(EXAMPLE / "fabulaws-config.yml")
    addresses = {}
    for name, endpoint in (("hosts", hosts_sandbox_a["endpoint"]), ("moto-only", sandbox.endpoint)):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        aws = Aws.from_settings(settings)
        seed(aws, settings)
        subnet = resolve_subnet(aws.ec2, settings.subnets["a"])["SubnetId"]
        instance = aws.ec2.run_instances(ImageId=IMAGE, InstanceType="t3.small", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        addresses[name] = instance["PrivateIpAddress"]
    wait_until(lambda: reachable(addresses["hosts"]), FIRST_BOOT_TIMEOUT, f"sshd of the host at {addresses['hosts']}")
    assert addresses["moto-only"] != addresses["hosts"]
    hosts_ranges = [ipaddress.ip_network(c) for k, c in sandbox_network(hosts_sandbox_a["endpoint"]).items() if k.endswith("cidr")]
    assert not any(ipaddress.ip_address(addresses["moto-only"]) in network for network in hosts_ranges)
    assert not reachable(addresses["moto-only"]), f"{addresses['moto-only']} (a moto-only instance) answers SSH"


def test_two_sandboxes_with_hosts_serve_at_once_and_down_of_one_leaves_the_other_serving(hosts_sandbox_a, hosts_sandbox_b):
    """Two sandboxes with hosts, a group behind a balancer in each, both serving through their haproxy at the
    same time; ``sandbox down`` of one removes its namespaces, link and firewall rules, and the other keeps
    serving (on main, ``down`` removed every fab* namespace, veth, bridge and rule of the machine)."""
    for sandbox in (hosts_sandbox_a, hosts_sandbox_b):
        _sandbox_call(sandbox["endpoint"], "/_sandbox/reset", {})
    a, b = Site(hosts_sandbox_a), Site(hosts_sandbox_b)
    assert hosts_sandbox_a["slot"] != hosts_sandbox_b["slot"]
    a.launch()
    b.launch()
    served = {site: site.serve() for site in (a, b)}
    assert ipaddress.ip_address(a.address) not in b.network and ipaddress.ip_address(b.address) not in a.network
    for site in (a, b):
        wait_until(site.in_service, 60, f"{site.instance_id} InService in slot {site.sandbox['slot']}")
    assert (a.fetch(), b.fetch()) == (served[a], served[b])

    before = own_network_objects(hosts_sandbox_b["slot"])
    assert before["namespaces"] and before["rules"] and before["link"]
    down = run_cli(["sandbox", "down"], hosts_sandbox_a["state"], env=hosts_sandbox_a["env"])
    assert down.returncode == 0, down.stderr
    assert own_network_objects(hosts_sandbox_a["slot"]) == {"namespaces": [], "rules": [], "link": []}
    assert own_network_objects(hosts_sandbox_b["slot"]) == before
    assert b.fetch() == served[b]
    assert b.in_service()
    _, out, _ = b.ssh().exec_command("curl -s -m 5 http://169.254.169.254/latest/meta-data/instance-id")
    assert out.read().decode().strip() == served[b]
