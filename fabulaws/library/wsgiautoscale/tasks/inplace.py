"""deploy_full_without_autoscaling and deploy_serial_without_autoscaling: deploys for environments whose web
servers are in no Auto Scaling group (created with ``new:<deployment>,<environment>,web``); see deploy/inplace.py."""

from __future__ import annotations

from invoke import Context

from ....errors import UsageError
from ....prompts import confirm_production
from ....report import reporter
from ....waits import Polling
from ..announce import announce_change
from ..context import aws_for, connections_for, environment_of
from ..deploy import inplace
from ..deploy.exclusive import environment_locked
from ..environment import Environment
from .base import task


def _run(c: Context, env: Environment, poll: float, timeout: float) -> inplace.InPlace:
    if not float(poll) > 0:
        raise UsageError(f"poll={poll}: expected a positive number of seconds")
    return inplace.InPlace(aws_for(c), env, connections_for(c), reporter(), Polling(delay=float(poll)), float(timeout))


@task(types={"poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each wait may take before the deploy fails",
})
def deploy_full_without_autoscaling(c: Context, deployment: str, environment: str, answer: str | None = None,
                                    changeset: str | None = None, poll: float = 2, timeout: float = 600) -> None:
    """Deploy with downtime to web servers in no Auto Scaling group: maintenance page, workers (migrate), every
    web server, maintenance page off."""
    env = environment_of(c, deployment, environment)
    inplace.refuse_group(env, "deploy_full_without_autoscaling", "deploy_full")
    if env.is_production:
        confirm_production("deploy_full_without_autoscaling", environment, answer, warning="This will cause downtime!")
    run = _run(c, env, poll, timeout)
    announce_change(c, env)
    with environment_locked(run.aws, env.deployment, env.environment, "deploy_full_without_autoscaling", run.report) as lease:
        run.lease = lease
        deployed = inplace.full(run, changeset)
    run.report(f"deploy_full_without_autoscaling: {deployment} {environment} at {deployed[:12]}")


@task(types={"wait": "seconds", "poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "wait": "seconds at most to wait, once a server is out of its load balancers, for its requests in flight",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "changeset": "git revision to deploy (default: the head of the environment's branch)",
    "poll": "seconds between AWS status checks while waiting",
    "timeout": "seconds each server may take to leave or to be healthy again in its load balancers",
})
def deploy_serial_without_autoscaling(c: Context, deployment: str, environment: str, wait: float = 30,
                                      answer: str | None = None, changeset: str | None = None, poll: float = 2,
                                      timeout: float = 600) -> None:
    """Deploy without downtime to web servers in no Auto Scaling group: the workers, then one web server at a
    time out of its load balancers, deployed, and healthy in them again before the next."""
    env = environment_of(c, deployment, environment)
    inplace.refuse_group(env, "deploy_serial_without_autoscaling", "deploy_serial")
    if env.is_production:
        confirm_production("deploy_serial_without_autoscaling", environment, answer)
    run = _run(c, env, poll, timeout)
    announce_change(c, env)
    with environment_locked(run.aws, env.deployment, env.environment, "deploy_serial_without_autoscaling", run.report) as lease:
        run.lease = lease
        deployed = inplace.serial(run, changeset, float(wait))
    run.report(f"deploy_serial_without_autoscaling: {deployment} {environment} at {deployed[:12]}")
