"""reboot_environment's decisions (fast): the order of the stages, what "up" means per role, and the Auto Scaling
processes held during a reboot (against a real moto server): resumed even on failure, and only those it suspended."""

from __future__ import annotations

import pytest
from fabulaws.aws import Aws
from fabulaws.aws.scaling import find_group, suspend_processes, suspended_processes
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.servers.reboot import (
    plan_reboot,
    readiness_checks,
    replacement_held,
)
from fabulaws.library.wsgiautoscale.stack import Server, Stack
from fabulaws.sandbox.seed import seed

from conftest import run_cli

GROUP = "myproject-testing-ag"


def server(instance_id: str, role: str) -> Server:
    return Server(instance_id, role, f"host-{instance_id}", "10.0.1.1", "", "", "", "us-east-1a")


def stack_of(example_project, servers: list[Server], roles: str | None = None) -> Stack:
    path = example_project / "fabulaws-config.yml"
    if roles:
        path.write_text(path.read_text().replace("valid_roles: [cache, db-primary, db-replica, web, worker]", roles))
    env = Environment.of(load_settings(path), "myproject", "testing")
    return Stack.from_servers(env, servers)


def test_databases_and_cache_first_then_replicas_workers_and_web_servers_one_at_a_time(example_project):
    stack = stack_of(example_project, [server("i-web1", "web"), server("i-worker", "worker"), server("i-web2", "web"),
                                       server("i-replica", "db-replica"), server("i-cache", "cache"),
                                       server("i-primary", "db-primary"), server("i-pending", "web-PENDING")])
    stages = plan_reboot(stack)
    assert [(s.name, [x.instance_id for x in s.servers], s.web) for s in stages] == [
        ("database primary and cache", ["i-primary", "i-cache"], False),
        ("database replicas", ["i-replica"], False),
        ("workers", ["i-worker"], False),
        ("web servers", ["i-web1", "i-web2"], True),
    ]


def test_a_combo_server_reboots_once_as_a_database_and_empty_stages_are_left_out(example_project):
    stack = stack_of(example_project, [server("i-combo", "combo")],
                     roles="valid_roles: [cache, db-primary, db-replica, web, worker, combo]")
    assert [(s.name, [x.instance_id for x in s.servers]) for s in plan_reboot(stack)] == [
        ("database primary and cache", ["i-combo"])]
    assert plan_reboot(stack_of(example_project, [])) == []


def test_what_up_means_per_role():
    assert [label for label, _ in readiness_checks(["cache"])] == ["redis answering", "memcached answering",
                                                                    "rabbitmq answering"]
    assert [label for label, _ in readiness_checks(["db-primary", "web", "worker"])] == [
        "postgres accepting connections", "supervisor programs RUNNING", "nginx running"]


@pytest.fixture
def autoscaling(aws_env, example_project):
    settings = load_settings(example_project / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    seed(aws, settings)
    return aws.autoscaling


def test_replacement_is_held_during_the_reboot_and_resumed_even_on_failure(autoscaling):
    suspend_processes(autoscaling, GROUP, ["AZRebalance", "Launch"])  # the operator's, before the reboot
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="a server did not come back"), \
            replacement_held(autoscaling, GROUP, lines.append) as held:
        assert held == ["HealthCheck", "ReplaceUnhealthy"]
        assert suspended_processes(find_group(autoscaling, GROUP)) == ["Launch", "AZRebalance", "HealthCheck",
                                                                        "ReplaceUnhealthy"]
        raise RuntimeError("a server did not come back")
    assert suspended_processes(find_group(autoscaling, GROUP)) == ["Launch", "AZRebalance"], "the operator's stay"
    assert lines == [f"Suspended HealthCheck, ReplaceUnhealthy on {GROUP} while its servers reboot",
                     f"Resumed HealthCheck, ReplaceUnhealthy on {GROUP}"]


def test_no_group_nothing_held(autoscaling):
    with replacement_held(autoscaling, "no-such-group", print) as held:
        assert held == []
    with replacement_held(autoscaling, None, print) as held:
        assert held == []


def test_the_task_refuses_bad_arguments_before_any_change(autoscaling, example_project):
    result = run_cli(["reboot_environment:myproject,testing,sleep_time=soon"], example_project)
    assert result.returncode == 2 and "sleep_time" in result.stderr and "Traceback" not in result.stderr, result.stderr
    result = run_cli(["testing", "mount_encrypted:drive_letter=sdf"], example_project)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith("drive_letter: expected one lowercase letter such as f, got 'sdf'"), result.stderr
    assert suspended_processes(find_group(autoscaling, GROUP)) == []


# --- "back" after a reboot, judged on a host that runs the commands (this machine, with stand-in programs) ------
SUDO = """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -n|-S|-H) shift;; -p|-u) shift 2;; *) break;; esac; done
exec "$@"
"""


class LocalHost:
    """A Connection stand-in that runs commands with this machine's shell, stand-in programs first on PATH."""

    host = "local"

    def __init__(self, bin_dir) -> None:
        self.env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(self, command: str, hide=True, warn=False, in_stream=None):
        import subprocess
        from types import SimpleNamespace

        done = subprocess.run(command, shell=True, env=self.env, capture_output=True, text=True, timeout=30)
        return SimpleNamespace(ok=done.returncode == 0, return_code=done.returncode, stdout=done.stdout,
                               stderr=done.stderr)

    def sudo(self, command: str, **kwargs):  # as invoke builds it: the command follows sudo's options unquoted
        return self.run(f"sudo -S -p '[sudo] password: ' {command}", **kwargs)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("programs", "expected"), [
    ("web RUNNING pid 1\npgbouncer RUNNING pid 2\n", None),
    ("web STARTING\npgbouncer RUNNING pid 2\n", "waiting for supervisor programs RUNNING"),
    ("", "waiting for supervisor programs RUNNING"),
])
def test_a_worker_is_back_once_every_supervisor_program_runs(example_project, tmp_path, programs, expected):
    from types import SimpleNamespace

    from fabulaws.library.wsgiautoscale.servers.reboot import Rebooter
    from fabulaws.waits import Polling

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("sudo", SUDO), ("supervisorctl", f"#!/bin/sh\nprintf %s '{programs}'\n")):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    worker = server("i-worker", "worker")
    host = LocalHost(bin_dir)
    rebooter = Rebooter(None, stack_of(example_project, [worker]), SimpleNamespace(open=lambda s, known: host),
                        60, Polling(1.0), print)
    assert rebooter._back(worker, "the boot before") == expected
    assert rebooter._back(worker, " ".join(host.run("cat /proc/sys/kernel/random/boot_id && "
                                                    "cut -d' ' -f22 /proc/1/stat").stdout.split())) == \
        "still on its old boot"


def test_a_reboot_waits_its_turn_behind_another_operation(autoscaling, example_project):
    """The environment's lease: a reboot while another run (a deploy, a restore) holds it is refused, before any
    server is touched and with Auto Scaling's processes as they were."""
    import boto3
    from fabulaws.aws.statestore import StateStore
    from fabulaws.library.wsgiautoscale.deploy.lease import Lease

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance",
        "Tags": [{"Key": "deployment", "Value": "myproject"}, {"Key": "environment", "Value": "testing"},
                 {"Key": "role", "Value": "worker"}]}])
    lease = Lease.acquire(StateStore.for_environment(Aws("us-east-1"), "myproject", "testing"), "other-run",
                          "deploy_serial")
    try:
        result = run_cli(["reboot_environment:myproject,testing"], example_project)
    finally:
        lease.release()
    assert result.returncode != 0
    assert "myproject/testing is locked by deploy_serial of" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Rebooting" not in result.stdout
    assert suspended_processes(find_group(autoscaling, GROUP)) == []
