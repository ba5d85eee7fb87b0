"""Tasks that run an operation of the deploy engine on the web group: create_launch_config_for_deployment,
deploy_full, deploy_serial, recover, prune."""

from __future__ import annotations

from typing import Any

from invoke import Context

from ....aws import scaling
from ....aws.statestore import StateStore
from ....config import Settings
from ....errors import DeployError, UsageError
from ....prompts import confirm_production
from ....report import reporter
from ....waits import Polling
from ..announce import announce_change
from ..app.engine_steps import ApplicationSteps
from ..context import aws_for, connections_for, environment_of, project_hook
from ..deploy import launches
from ..deploy.bake import check_mode
from ..deploy.full import DEPLOY_FULL
from ..deploy.journal import Journal
from ..deploy.operation import CAPTURE, Operation, Step, execute, recover_environment
from ..deploy.prune import prune as prune_unused
from ..deploy.run import OVERALL_DEADLINE, DeployContext
from ..deploy.serial import DEPLOY_SERIAL, DEPLOY_SERIAL_REFRESH
from ..deploy.steps import ServerSteps
from ..environment import Environment
from .base import flag, task

CREATE_LAUNCH = Operation("create_launch_config", (CAPTURE, Step("prepare_launch", launches.prepare)))
OPERATIONS = {op.name: op for op in (DEPLOY_FULL, DEPLOY_SERIAL, DEPLOY_SERIAL_REFRESH, CREATE_LAUNCH)}
ENGINES = {"serial": DEPLOY_SERIAL, "instance-refresh": DEPLOY_SERIAL_REFRESH}


def server_steps(c: Context, settings: Settings) -> ServerSteps:
    """The SSH steps the engine calls (image baking, maintenance page, worker deploy) for the selected run."""
    return ApplicationSteps(connections_for(c), post_bootstrap=project_hook(c, "post_bootstrap"))


def report(message: str) -> None:
    """Progress for the operator (the process's reporter: live on a terminal, plain lines otherwise)."""
    reporter().info(message)


def begin_operation(c: Context, env: Environment, operation: Operation, params: dict[str, Any], poll: float,
                    timeout: float, steps: ServerSteps | None = None, deadline: float = OVERALL_DEADLINE
                    ) -> DeployContext:
    """Validate everything the operation names, before anything changes; then start its journal.

    ``params`` is left as given: the journal gets a copy (with ``launch_config_name`` resolved to ``launch``).
    """
    settings = env.settings
    aws = aws_for(c)
    group = scaling.find_group(aws.autoscaling, env.group_name)
    params = dict(params)
    if params.get("launch_config_name"):
        params["launch"] = launches.named_launch(aws, group, params.pop("launch_config_name")).to_dict()
    if params.get("ami"):
        launches.image_changeset(aws, params["ami"])  # the image must exist
    existing = Journal.load(StateStore.peek(aws, env.deployment, env.environment))  # checked again under the lock
    if existing is not None:
        raise DeployError(
            f"an earlier {existing.describe()} did not finish; run `fabulaws recover:{env.deployment},{env.environment}` first"
        )
    announce_change(c, env)  # everything checked; the journal is the first change
    journal = Journal.start(operation.name, env.deployment, env.environment, env.group_name, params)
    ctx = DeployContext(
        aws, settings, env.deployment, env.environment, env.group_name, steps or server_steps(c, settings), journal,
        Polling(delay=float(poll)), float(timeout), reporter(), overall=float(deadline), _env=env,
    )
    return ctx


@task(types={"bake": ["auto", "full"], "poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "ami": "AMI id to launch the web servers from, skipping the image bake",
    "bake": "auto (reuse an image of this changeset, else bake on the current web image if its provisioning digest "
            "matches) or full (bake from the base image)",
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds to wait for the image to bake before giving up",
})
def create_launch_config_for_deployment(c: Context, deployment: str, environment: str, ami: str | None = None,
                                        changeset: str | None = None, poll: float = 2, timeout: float = 1800,
                                        bake: str = "auto") -> None:
    """Create the next launch configuration (or launch template version) for the web group; ami= skips baking."""
    env = environment_of(c, deployment, environment)
    ctx = begin_operation(c, env, CREATE_LAUNCH, {"ami": ami, "changeset": changeset, "bake": check_mode(bake)}, poll,
                          timeout)
    execute(CREATE_LAUNCH, ctx)


@task(types={"num_web": "count", "bake": ["auto", "full"], "rollback": "flag", "poll": "seconds", "timeout": "seconds", "deadline": "seconds"},
      help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "launch_config_name": "existing launch configuration (or launch template version) to use instead of creating one",
    "num_web": "number of web servers to launch",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "ami": "AMI id to launch the web servers from, skipping the image bake",
    "bake": "auto (reuse an image of this changeset, else bake on the current web image if its provisioning digest "
            "matches) or full (bake from the base image)",
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
    "rollback": "yes: on failure before migrations, put back everything changed; no: leave it as it is for inspection",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each wait (image, servers, health) may take before the deploy fails",
    "deadline": "seconds the whole deploy may take (default 10800: 3 hours)",
})
def deploy_full(c: Context, deployment: str, environment: str, launch_config_name: str | None = None, num_web: int = 2,
                answer: str | None = None, ami: str | None = None, changeset: str | None = None, rollback: str = "yes",
                poll: float = 2, timeout: float = 1800, deadline: float = 10800, bake: str = "auto") -> None:
    """Deploy with downtime: new web servers beside the old, maintenance page, migrate, swap them all."""
    env = environment_of(c, deployment, environment)
    if env.is_production:
        confirm_production("deploy_full", environment, answer, warning="This will cause downtime!")
    params = {"launch_config_name": launch_config_name, "num_web": int(num_web), "ami": ami, "changeset": changeset,
              "bake": check_mode(bake)}
    ctx = begin_operation(c, env, DEPLOY_FULL, params, poll, timeout, deadline=deadline)
    execute(DEPLOY_FULL, ctx, rollback=flag(rollback))


@task(types={"batch": "count", "engine": ["serial", "instance-refresh"], "bake": ["auto", "full"], "rollback": "flag", "poll": "seconds",
             "timeout": "seconds", "deadline": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "launch_config_name": "existing launch configuration (or launch template version) to use instead of creating one",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "batch": "web servers replaced at a time (a replacement is healthy before an old one leaves)",
    "engine": "serial (ours, one batch at a time) or instance-refresh (AWS's instance refresh)",
    "ami": "AMI id to launch the web servers from, skipping the image bake",
    "bake": "auto (reuse an image of this changeset, else bake on the current web image if its provisioning digest "
            "matches) or full (bake from the base image)",
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
    "rollback": "yes: on failure before migrations, put back everything changed; no: leave it as it is for inspection",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each wait (image, servers, health) may take before the deploy fails",
    "deadline": "seconds the whole deploy may take (default 10800: 3 hours)",
})
def deploy_serial(c: Context, deployment: str, environment: str, launch_config_name: str | None = None,
                  answer: str | None = None, batch: int = 1, engine: str = "serial", ami: str | None = None,
                  changeset: str | None = None, rollback: str = "yes", poll: float = 2, timeout: float = 1800,
                  deadline: float = 10800, bake: str = "auto") -> None:
    """Deploy without downtime: replace web servers a batch at a time, never below capacity."""
    env = environment_of(c, deployment, environment)
    if engine not in ENGINES:
        raise UsageError(f"deploy_serial: engine={engine!r}: expected one of {', '.join(ENGINES)}")
    if int(batch) < 1:
        raise UsageError(f"deploy_serial: batch={batch}: expected a positive number of servers")
    if env.is_production:
        confirm_production("deploy_serial", environment, answer)
    operation = ENGINES[engine]
    params = {"launch_config_name": launch_config_name, "batch": int(batch), "ami": ami, "changeset": changeset,
              "bake": check_mode(bake)}
    ctx = begin_operation(c, env, operation, params, poll, timeout, deadline=deadline)
    execute(operation, ctx, rollback=flag(rollback))


@task(types={"action": ["auto", "finish", "rollback"], "poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "action": "auto (finish a deploy past its migrations, roll back one before), finish or rollback",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each wait may take before recovery fails",
})
def recover(c: Context, deployment: str, environment: str, action: str = "auto", poll: float = 2,
            timeout: float = 1800) -> None:
    """After a killed deploy: finish it (past the migrations) or roll it back, from its journal; unlock the group."""
    if action not in ("auto", "finish", "rollback"):
        raise UsageError(f"recover: action={action!r}: expected auto, finish or rollback")
    env = environment_of(c, deployment, environment)
    announce_change(c, env)
    aws = aws_for(c)
    placeholder = Journal.start("recover", deployment, environment, env.group_name, {})  # the stored one replaces it
    ctx = DeployContext(aws, env.settings, deployment, environment, env.group_name, server_steps(c, env.settings),
                        placeholder, Polling(delay=float(poll)), float(timeout), reporter(), _env=env)
    report(recover_environment(ctx, OPERATIONS, action))  # from the journal in the state bucket


@task(types={"keep": "whole"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "keep": "how many of the newest unused images, launch configurations and template versions to keep",
})
def prune(c: Context, deployment: str, environment: str, keep: int = 3) -> None:
    """Delete images (and snapshots), launch configurations and template versions older than the newest keep, unused."""
    env = environment_of(c, deployment, environment)
    announce_change(c, env)
    aws = aws_for(c)
    group = scaling.find_group(aws.autoscaling, env.group_name)
    prune_unused(aws, deployment, environment, int(keep), group, report)
