"""``-R/--dry``: every task that changes anything prints its plan instead, with read calls only (the sandbox's
request counts prove it), or refuses; read-only tasks just run."""

from __future__ import annotations

import re
import shutil

import pytest
from fabulaws import dryrun
from fabulaws.aws import Aws, scaling
from fabulaws.aws.launch import Launch

from conftest import EXAMPLE, _sandbox_call, run_cli
from deploy_support import GROUP, NEW_IMAGE, make_project

SECRETS = {"database_password": "pg-S3cret", "broker_password": "mq-S3cret", "secret_key": "dj-S3cret"}

READS = ("Describe", "Get", "List")


def requests(sandbox) -> dict[str, int]:
    return _sandbox_call(sandbox.endpoint, "/_sandbox/stats")["requests"]


def calls_during(sandbox, run):
    """What ``run()`` returned, and the AWS calls the sandbox answered meanwhile (``service:Action`` -> count)."""
    before = requests(sandbox)
    result = run()
    after = requests(sandbox)
    made = {action: after[action] - before.get(action, 0) for action in after if after[action] != before.get(action, 0)}
    return result, made


def writes(made: dict[str, int]) -> list[str]:
    """Calls that are not reads: an action not starting Describe/Get/List (S3's GET and HEAD are reads)."""
    return sorted(action for action in made if not action.split(":", 1)[-1].startswith(READS + ("GET ", "HEAD ")))


def group_state(project) -> dict:
    group = project.group()
    return {
        "min": group["MinSize"], "max": group["MaxSize"], "desired": group["DesiredCapacity"],
        "launch": (group.get("LaunchConfigurationName"), group.get("LaunchTemplate")),
        "suspended": scaling.suspended_processes(group),
        "instances": sorted(i["InstanceId"] for i in group["Instances"]),
    }


def dry(project, sandbox, *args: str):
    """``fabulaws --dry ARGS`` in the project; the result, the calls it made, and the group before and after."""
    before = group_state(project)
    result, made = calls_during(sandbox, lambda: run_cli(["--dry", *args], project.directory, env=sandbox.env))
    assert group_state(project) == before, "a dry run changed the group"
    return result, made


@pytest.fixture
def idle(sandbox, tmp_path):
    """examples/myproject seeded, its group empty (nothing to wait for)."""
    return make_project(sandbox, tmp_path / "project", web=0)


def test_suspend_under_dry_suspends_nothing_and_says_what_it_would_do(idle, sandbox):
    result, made = dry(idle, sandbox, "suspend_autoscaling_processes:myproject,testing,Launch")
    assert result.returncode == 0, result.stderr
    assert writes(made) == []
    assert scaling.suspended_processes(idle.group()) == []
    assert "would suspend" in result.stdout.lower() and "Launch" in result.stdout and GROUP in result.stdout


def test_resume_under_dry_resumes_nothing(idle, sandbox):
    scaling.suspend_processes(idle.aws.autoscaling, GROUP, ["Launch", "AZRebalance"])
    result, made = dry(idle, sandbox, "resume_autoscaling_processes:myproject,testing,Launch")
    assert result.returncode == 0, result.stderr
    assert writes(made) == []
    assert scaling.suspended_processes(idle.group()) == ["Launch", "AZRebalance"]
    assert re.search(r"would resume: Launch\n.*suspended after: AZRebalance", result.stdout, re.S), result.stdout


@pytest.fixture
def running(sandbox, tmp_path):
    """examples/myproject seeded with two healthy web servers, a sysadmin key and the testing secrets."""
    project = make_project(sandbox, tmp_path / "project", web=2)
    users = project.directory / "deployment" / "users"
    users.mkdir(parents=True)
    (users / "deployer").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDryRunDryRunDryRunDryRunDryRunDryRunDryRun deployer\n")
    (project.directory / "fabsecrets_testing.py").write_text("".join(f"{k} = {v!r}\n" for k, v in SECRETS.items()))
    return project


def old_servers(project) -> list[str]:
    return sorted(i["InstanceId"] for i in project.group()["Instances"])


def test_deploy_full_plans_with_read_calls_only(running, sandbox):
    old = old_servers(running)
    result, made = dry(running, sandbox, f"deploy_full:myproject,testing,ami={NEW_IMAGE}")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    out = result.stdout
    assert "--dry: nothing was changed" in out
    assert "version 2 of launch template" in out
    assert "no return: declared in deploy_worker before the first migration" in out
    assert "min 2 -> 4, desired 2 -> 4" in out
    replace = next(line for line in out.splitlines() if "replace:" in line)
    assert all(server in replace for server in old), out


def test_deploy_serial_names_the_servers_to_replace_in_order(running, sandbox):
    old = old_servers(running)
    result, made = dry(running, sandbox, f"deploy_serial:myproject,testing,ami={NEW_IMAGE}")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    batches = re.findall(r"batch (\d): (i-\w+)", result.stdout)
    assert [number for number, _ in batches] == ["1", "2"], result.stdout
    assert sorted(server for _, server in batches) == old
    assert "desired 2 -> 3" in result.stdout


def test_deploy_serial_instance_refresh_plans_the_refresh(running, sandbox):
    result, made = dry(running, sandbox, f"deploy_serial:myproject,testing,engine=instance-refresh,ami={NEW_IMAGE}")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert "start an instance refresh: min healthy 100%, max healthy 150%" in result.stdout
    assert all(server in result.stdout for server in old_servers(running))


def test_deploy_without_an_image_plans_the_bake(running, sandbox):
    result, made = dry(running, sandbox, "create_launch_config_for_deployment:myproject,testing")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    image = next(line for line in result.stdout.splitlines() if "image:" in line)
    assert "bake one from the base image at <head of main>" in image, image
    assert "full: " in image and "provisioning digest" in image, image  # why not from the group's image


def test_create_environment_plans_servers_and_the_deploy(running, sandbox):
    instances = sandbox.ec2.describe_instances()["Reservations"]
    result, made = dry(running, sandbox, "-u", "deployer", "create_environment:myproject,testing")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert "db-primary (a), db-replica (b), cache (b), worker (a)" in result.stdout
    assert sandbox.ec2.describe_instances()["Reservations"] == instances
    assert not any(value in result.stdout + result.stderr for value in SECRETS.values())


def test_update_server_passwords_plans_without_ssh_or_secret_values(running, sandbox):
    result, made = dry(running, sandbox, "testing", "update_server_passwords")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert "database_password, broker_password, secret_key" in result.stdout
    assert all(server in result.stdout for server in old_servers(running))
    assert not any(value in result.stdout + result.stderr for value in SECRETS.values())


def test_prune_lists_what_it_would_delete_and_deletes_nothing(idle, sandbox):
    template = Launch.of(idle.group())
    for _ in range(3):
        idle.aws.ec2.create_launch_template_version(LaunchTemplateId=template.template_id, SourceVersion="1",
                                                    LaunchTemplateData={"ImageId": NEW_IMAGE})
    versions = idle.aws.ec2.describe_launch_template_versions(LaunchTemplateId=template.template_id)["LaunchTemplateVersions"]
    result, made = dry(idle, sandbox, "prune:myproject,testing,keep=0")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert re.search(r"delete template versions: 2: \S+:3, \S+:2", result.stdout), result.stdout
    after = idle.aws.ec2.describe_launch_template_versions(LaunchTemplateId=template.template_id)["LaunchTemplateVersions"]
    assert len(after) == len(versions) == 4


def test_a_task_that_cannot_plan_refuses_in_one_line(running, sandbox):
    result, made = dry(running, sandbox, "testing", "upgrade_packages")
    assert result.returncode == 2
    assert result.stderr.strip() == "fabulaws: upgrade_packages cannot plan yet; run it without --dry"
    assert result.stdout == "" and writes(made) == []


def test_a_read_only_task_just_runs(idle, sandbox):
    result, made = dry(idle, sandbox, "describe:myproject,testing")
    assert result.returncode == 0, result.stderr
    assert "No running servers found for myproject testing." in result.stdout and writes(made) == []


def test_bad_input_is_still_one_line_under_dry(idle, sandbox):
    result, made = dry(idle, sandbox, "deploy_full:myproject,nowhere")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "nowhere" in result.stderr and writes(made) == []
    result, made = dry(idle, sandbox, "deploy_serial:myproject,testing,engine=fast")
    assert result.returncode == 2 and "engine=" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_safety_net_refuses_a_write_before_it_is_sent(idle, sandbox):
    aws = Aws(region="us-east-1")
    before = requests(sandbox).get("autoscaling:SuspendProcesses", 0)
    dryrun.enable()
    try:
        assert aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
        with pytest.raises(dryrun.DryRunRefused, match="refused autoscaling:SuspendProcesses"):
            scaling.suspend_processes(aws.autoscaling, GROUP, ["Launch"])
    finally:
        dryrun.disable()
    assert requests(sandbox).get("autoscaling:SuspendProcesses", 0) == before
    assert scaling.suspended_processes(idle.group()) == []


def test_new_plans_the_servers_and_launches_none(running, sandbox):
    instances = sandbox.ec2.describe_instances()["Reservations"]
    result, made = dry(running, sandbox, "-u", "deployer", "new:myproject,testing,worker,a,count=2")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert "2 worker server(s) in zone a" in result.stdout
    assert sandbox.ec2.describe_instances()["Reservations"] == instances


def test_add_all_to_elb_plans_the_registrations(running, sandbox):
    result, made = dry(running, sandbox, "testing", "add_all_to_elb")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    register = [line for line in result.stdout.splitlines() if "register:" in line]
    assert register and all(server in register[0] for server in old_servers(running)), result.stdout


def test_fab_with_a_fabulaws_fabfile_plans_too(idle, sandbox):
    shutil.copy(EXAMPLE / "fabfile.py", idle.directory / "fabfile.py")
    before = requests(sandbox)
    result = run_cli(["--dry", "suspend-autoscaling-processes", "myproject", "testing", "-p", "Launch"], idle.directory,
                     env=sandbox.env, program="fab")
    after = requests(sandbox)
    assert result.returncode == 0, result.stderr
    assert writes({a: n for a, n in after.items() if n != before.get(a)}) == []
    assert "would suspend: Launch" in result.stdout
    assert scaling.suspended_processes(idle.group()) == []


@pytest.mark.parametrize("batch, expected", [
    (1, [["i-2"], ["i-1"], ["i-4"], ["i-3"]]),  # each replacement lands where the group has the fewest servers
    (2, [["i-1", "i-2"], ["i-3", "i-4"]]),
    (9, [["i-1", "i-2", "i-3", "i-4"]]),
])
def test_replacement_order_follows_the_engines_rule(batch, expected):
    from fabulaws.library.wsgiautoscale.plans_deploy import replacement_batches

    old = [{"InstanceId": f"i-{n}", "AvailabilityZone": zone, "LifecycleState": "InService"}
           for n, zone in ((1, "a"), (2, "b"), (3, "a"), (4, "b"))]
    group = {"AvailabilityZones": ["a", "b"], "Instances": old}
    assert [[i["InstanceId"] for i in chosen] for chosen in replacement_batches(group, old, batch)] == expected


def test_a_changeset_with_an_image_plans_no_bake(idle, sandbox):
    from fabulaws.aws import tags as tagging
    from fabulaws.config import load_settings
    from fabulaws.library.wsgiautoscale.deploy.bake import image_tags
    from fabulaws.library.wsgiautoscale.servers.digest import provision_digest

    settings = load_settings(idle.directory / "fabulaws-config.yml")
    digest, inputs = provision_digest(settings, "testing")
    ec2 = idle.aws.ec2
    server = ec2.run_instances(ImageId=settings.instance_settings.ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=server, Name="myproject_testing_web_baked")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    tagging.add(ec2, [image], {"deployment": "myproject", "environment": "testing",
                               **image_tags(digest, inputs, "c" * 40, "full", None)})
    result, made = dry(idle, sandbox, f"deploy_serial:myproject,testing,changeset={'c' * 40}")
    assert result.returncode == 0, result.stderr
    assert writes(made) == [], made
    assert f"reuse {image}, no bake" in result.stdout, result.stdout
    assert "temporary image server" not in result.stdout
    full, _ = dry(idle, sandbox, f"deploy_serial:myproject,testing,changeset={'c' * 40},bake=full")
    assert "from the base image" in full.stdout and "full: bake=full" in full.stdout, full.stdout
