"""``-R/--dry``: every task that changes anything prints its plan instead, with read calls only (the sandbox's
request counts prove it), or refuses; read-only tasks just run."""

from __future__ import annotations

import pytest

from conftest import _sandbox_call, run_cli
from deploy_support import GROUP, NEW_IMAGE, make_project
from fabulaws.aws import scaling

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
    return sorted(action for action in made if not action.split(":", 1)[-1].startswith(READS))


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
