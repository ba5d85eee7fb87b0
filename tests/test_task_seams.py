"""The tasks-layer seams, in process against moto: the selection is checked once per task, and starting an
operation leaves the task's params as given (no hosts)."""

from __future__ import annotations

import pytest
from fabric import Config
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale import environment as environment_module
from fabulaws.library.wsgiautoscale.context import environment_of
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL
from fabulaws.library.wsgiautoscale.tasks import autoscaling, operations
from fabulaws.library.wsgiautoscale.tasks.describe import describe
from fabulaws.sandbox.seed import seed
from invoke import Context


@pytest.fixture
def c(aws_env, example_project, monkeypatch):
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(example_project)
    settings = load_settings(example_project / "fabulaws-config.yml")
    seed(Aws.from_settings(settings), settings)
    return Context(config=Config(overrides={"fabulaws": {"config_file": str(example_project / "fabulaws-config.yml")}}))


@pytest.fixture
def checks(monkeypatch):
    """Every check_selection call (deployment, environment) from here on."""
    seen: list[tuple[str, str]] = []
    real = environment_module.check_selection

    def counted(settings, deployment, environment):
        seen.append((deployment, environment))
        real(settings, deployment, environment)

    monkeypatch.setattr(environment_module, "check_selection", counted)
    return seen


def test_a_task_checks_its_selection_once(c, checks, capsys):
    describe(c, "myproject", "testing")
    assert checks == [("myproject", "testing")]
    checks.clear()
    autoscaling.suspend_autoscaling_processes(c, "myproject", "testing", ["AZRebalance"])
    assert checks == [("myproject", "testing")]
    assert "Suspended these processes" in capsys.readouterr().out


def test_starting_an_operation_leaves_the_params_as_given(c):
    env = environment_of(c, "myproject", "testing")
    group = operations.scaling.find_group(operations.aws_for(c).autoscaling, env.group_name)
    named = (group.get("LaunchConfigurationName") or "1")  # a launch configuration, or the template's version 1
    params = {"launch_config_name": named, "num_web": 2, "ami": None, "changeset": None}
    given = dict(params)
    ctx = operations.begin_operation(c, env, DEPLOY_FULL, params, poll=1, timeout=60, steps=object())
    assert params == given
    assert "launch_config_name" not in ctx.journal.params and ctx.journal.params["launch"]
    assert ctx.env is env and ctx.group_name == env.group_name
