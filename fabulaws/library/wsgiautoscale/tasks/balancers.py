"""add_to_elb and add_all_to_elb: the environment's web servers into its load balancers.

Both act on every classic ELB and every ELBv2 target group configured for the
environment (1.x knew classic ELBs only), and wait for health with one bounded
deadline instead of 300 s per instance and load balancer.
"""

from __future__ import annotations

from invoke import Context

from ....aws import Aws
from ....aws import balancers as lb
from ....aws.instances import find_instances
from ....errors import DeployError
from ....waits import Polling, wait_for
from ..announce import announce_change
from ..app import ServerApp, release, services
from ..context import aws_for, selected_environment, stack_of
from ..deploy.fleet import healthy_everywhere
from ..environment import Environment
from .app import app_servers
from .base import task
from .operations import report


def _web_servers_and_balancers(c: Context, env: Environment) -> tuple[Aws, list[str], list[lb.Balancer]]:
    aws = aws_for(c)
    stack = stack_of(c, env)
    webs = stack.by_role("web")
    if not webs:
        raise DeployError(f"no running web servers in {stack.deployment} {stack.environment}")
    balancers = lb.find_balancers(aws, stack.load_balancer_names, stack.target_group_names)
    if not balancers:
        raise DeployError(f"load_balancers / target_groups: none configured for {stack.deployment} {stack.environment}")
    return aws, [server.instance_id for server in webs], balancers


def _register_and_wait(aws: Aws, instance_ids: list[str], balancers: list[lb.Balancer], timeout: float, poll: float
                       ) -> None:
    for balancer in balancers:
        report(f"Adding {', '.join(instance_ids)} to {balancer}")
        lb.register(aws, balancer, instance_ids)

    def look() -> tuple[dict[str, dict[str, str]], list[str]]:
        running = {i["InstanceId"] for i in find_instances(aws.ec2, {}, ids=instance_ids)}
        return lb.health(aws, balancers, instance_ids), [i for i in instance_ids if i not in running]

    what = f"{len(instance_ids)} web server(s) healthy in {len(balancers)} load balancer(s)"
    seen, _ = wait_for(healthy_everywhere(what, look, "no longer running (terminated or replaced)", float(timeout)),
                       Polling(delay=float(poll)), report)
    for instance_id, per in seen.items():
        report(f"Instance {instance_id} now " + ", ".join(f"{state} in {name}" for name, state in per.items()))


@task(types={"timeout": "seconds", "poll": "seconds"}, help={
    "timeout": "seconds to wait for every server to be healthy in every load balancer",
    "poll": "seconds between AWS status checks while waiting",
})
def add_all_to_elb(c: Context, timeout: float = 300, poll: float = 2) -> None:
    """Register every web server in the environment's load balancers and target groups, then wait until each is
    healthy in all of them (replaces 1.x ``add_all_to_elb``)."""
    env = selected_environment(c)
    announce_change(c, env)
    aws, instance_ids, balancers = _web_servers_and_balancers(c, env)
    _register_and_wait(aws, instance_ids, balancers, timeout, poll)


@task(types={"timeout": "seconds", "poll": "seconds"}, help={
    "timeout": "seconds to wait for every server to be healthy in every load balancer",
    "poll": "seconds between AWS status checks while waiting",
})
def add_to_elb(c: Context, timeout: float = 300, poll: float = 2) -> None:
    """Deploy the web servers that serve in no load balancer yet, then add them (replaces 1.x ``add_to_elb``).

    Refused when one of them is already healthy in a load balancer: its visitors would see the deploy."""
    env = selected_environment(c)
    announce_change(c, env)
    aws, instance_ids, balancers = _web_servers_and_balancers(c, env)
    serving = {i: per for i, per in lb.health(aws, balancers, instance_ids).items()
               if any(state in lb.HEALTHY for state in per.values())}
    if serving:
        raise DeployError(f"Instance(s) already in load balancer(s): {lb.describe_health(serving)}")

    def deploy_out_of_service(app: ServerApp) -> str:
        services.begin_upgrade(app, stay_healthy=False)
        changeset = release.deploy_web_server(app)
        services.end_upgrade(app)
        return changeset

    app_servers(c, env, ("web",), deploy_out_of_service, "deploy_web")
    _register_and_wait(aws, instance_ids, balancers, timeout, poll)
