"""Monitoring on the shared environment (sandbox hosts): munin-node on the cache server answers another server of
the VPC and refuses this machine (outside the VPC); /etc/newrelic-infra.yml on every server (root, 0600, the
license key and 1.x's attributes; the key in no command line and no local log); the munin master's node list,
through the fabfile's upload_munin_conf and without it. The environment is left serving (munin-node and the
agent's configuration stay: nothing else uses them).
"""

from __future__ import annotations

import shlex
import socket
import time

import pytest
import yaml

from environment_support import SECRETS
from hosts_support import ProcessWatch, Shell, aws_client, fabulaws

pytestmark = pytest.mark.hosts

MUNIN_FABFILE_HOOK = '''

@task
def upload_munin_conf(c, deployment, environment, text):
    from pathlib import Path

    Path("munin-uploaded.conf").write_text(f"{deployment} {environment}\\n{text}")
'''


def running(environment) -> list[dict]:
    found = aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:environment", "Values": ["testing"]}, {"Name": "tag:deployment", "Values": ["myproject"]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    instances = [i for r in found["Reservations"] for i in r["Instances"]]
    return [i for i in instances if not _role(i).endswith(("-PENDING", "-OLD", "-IMAGE"))]


def _role(instance: dict) -> str:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}.get("role", "")


def by_role(environment, role: str) -> dict:
    return sorted((i for i in running(environment) if _role(i) == role), key=lambda i: i["PrivateIpAddress"])[0]


def munin_greeting(address: str, timeout: float = 10) -> str:
    """What munin-node says to a connection from this machine ('' when it closes it at once)."""
    with socket.create_connection((address, 4949), timeout=timeout) as connection:
        try:
            return connection.recv(200).decode(errors="replace")
        except (ConnectionResetError, TimeoutError):
            return ""


ASK_MUNIN = """
import socket, sys
connection = socket.create_connection((sys.argv[1], 4949), timeout=10)
reader = connection.makefile("rb")
print(reader.readline().decode().strip())
connection.sendall(b"list\\nquit\\n")
print(reader.readline().decode().strip())
"""


def test_install_munin_answers_the_vpc_and_refuses_outside_it(environment):
    cache, worker = by_role(environment, "cache"), by_role(environment, "worker")
    started = time.monotonic()
    installed = fabulaws(environment, "-H", cache["PrivateIpAddress"], "testing", "install_munin", timeout=600)
    print(f"install_munin on one server: {time.monotonic() - started:.1f} s")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    vpc = aws_client(environment, "ec2").describe_vpcs(VpcIds=[cache["VpcId"]])["Vpcs"][0]["CidrBlock"]
    assert f"munin-node answers {vpc} on port 4949" in installed.stderr + installed.stdout

    shell = Shell(environment, cache["PrivateIpAddress"])
    allowed = shell.ok("sudo grep ^cidr_allow /etc/munin/munin-node.conf").split()
    assert allowed == ["cidr_allow", vpc]

    other = Shell(environment, worker["PrivateIpAddress"])
    greeting, plugins = other.ok(f"python3 -c {shlex.quote(ASK_MUNIN)} {cache['PrivateIpAddress']}").splitlines()[:2]
    assert greeting.startswith("# munin node at ")
    assert "cpu" in plugins.split() and "load" in plugins.split()

    assert "munin node" not in munin_greeting(cache["PrivateIpAddress"])  # this machine is outside the VPC


def test_upload_newrelic_infrastructure_conf_keeps_the_key_off_command_lines_and_logs(environment):
    license_key = SECRETS["newrelic_license_key"]
    logs = environment["dir"] / ".fabulaws" / "logs"
    before = {path: path.stat().st_size for path in logs.rglob("*") if path.is_file()}
    watch = ProcessWatch([license_key])
    watch.start()
    try:
        uploaded = fabulaws(environment, "testing", "upload_newrelic_infrastructure_conf", timeout=300)
    finally:
        watch.stopped.set()
        watch.join()
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert license_key not in uploaded.stdout + uploaded.stderr
    assert watch.samples > 0 and not watch.seen
    written = [p for p in logs.rglob("*") if p.is_file() and p.stat().st_size != before.get(p)]
    assert written, "each server's output streams into a log file"
    for path in written:
        assert license_key not in path.read_text(errors="replace"), path

    servers = running(environment)
    assert uploaded.stderr.count("agent not installed: nothing restarted") + uploaded.stdout.count(
        "agent not installed: nothing restarted") == len(servers)
    for instance in servers[:2]:
        shell = Shell(environment, instance["PrivateIpAddress"])
        assert shell.ok("sudo stat -c '%U %G %a' /etc/newrelic-infra.yml").strip() == "root root 600"
        conf = yaml.safe_load(shell.ok("sudo cat /etc/newrelic-infra.yml"))
        role = _role(instance).title().replace("-", "")
        assert conf == {"license_key": license_key,
                        "custom_attributes": {"environment": "Testing", "role": role, "deployment": "Myproject"}}


def test_the_munin_master_conf_lists_every_server_through_the_fabfiles_upload_munin_conf(environment):
    servers = running(environment)
    fabfile = environment["dir"] / "fabfile.py"
    original = fabfile.read_text()
    fabfile.write_text(original + MUNIN_FABFILE_HOOK)
    try:
        hooked = fabulaws(environment, "generate_and_upload_munin_conf:myproject,testing", timeout=120)
    finally:
        fabfile.write_text(original)
    assert hooked.returncode == 0, hooked.stdout + hooked.stderr
    deployment, text = (environment["dir"] / "munin-uploaded.conf").read_text().split("\n", 1)
    assert deployment == "myproject testing"
    for instance in servers:
        assert f"[myproject_testing;{_role(instance)};{instance['PrivateDnsName']}]\n" \
               f"    address {instance['PrivateIpAddress']}\n    use_node_name yes\n" in text
    assert text.count("    address ") == len(servers)
