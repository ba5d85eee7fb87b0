"""Monitoring tasks (1.x's names): New Relic's infrastructure agent and keys, munin-node and the munin master's
node list. Each runs on every server of the selected environment (``-H`` or 1.x's roles=/hosts= narrow them)."""

from __future__ import annotations

from pathlib import Path

from fabric import Connection
from invoke import Context

from ....prompts import confirm
from ....report import LOG_DIR, reporter
from ....secrets import Secrets
from ....ubuntu.packages import monitoring
from ..announce import announce_change
from ..app import newrelic, services
from ..context import (
    aws_for,
    chosen_servers,
    connections_for,
    environment_of,
    project_hook,
    select,
    stack_of,
)
from ..environment import Environment
from ..servers import post_setup
from ..servers.each import on_each
from ..stack import Server, Stack
from .app import app_servers, changing
from .base import task

MUNIN_CONF_DIR = LOG_DIR.parent  # .fabulaws/ under the project directory: where the node list goes without a hook


def _license(c: Context, env: Environment, task_name: str) -> str:
    """The license key, read before any server is touched (ConfigError if it is not among password_names)."""
    newrelic.require_license(env.settings, task_name)
    return Secrets(env.settings, env.deployment, env.environment, aws_for(c)).get(newrelic.LICENSE_KEY)


def _infra_conf(env: Environment, license_key: str, server: Server) -> str:
    return monitoring.newrelic_infra_yml(license_key, env.deployment, env.environment, server.role)


def _upload_infra_conf(c: Context, env: Environment, stack: Stack | None = None) -> list[str]:
    license_key = _license(c, env, "upload_newrelic_infrastructure_conf")
    stack = stack or stack_of(c, env)
    return on_each(connections_for(c), chosen_servers(c, stack),
                   lambda cxn, server: monitoring.upload_newrelic_infra_conf(cxn, _infra_conf(env, license_key, server)),
                   "upload_newrelic_infrastructure_conf", logs=LOG_DIR)


@task
def upload_newrelic_infrastructure_conf(c: Context) -> None:
    """Write /etc/newrelic-infra.yml (root, 0600: it holds newrelic_license_key) on every server and restart the
    agent where it is installed (1.x ``upload_newrelic_infrastructure_conf``)."""
    _upload_infra_conf(c, changing(c))


@task
def install_newrelic_infrastructure_agent(c: Context) -> None:
    """Install New Relic's infrastructure agent from its apt repository (key in /etc/apt/keyrings, trusted for that
    source only), then its configuration, on every server (1.x ``install_newrelic_infrastructure_agent``)."""
    env = changing(c)
    license_key = _license(c, env, "install_newrelic_infrastructure_agent")
    on_each(connections_for(c), chosen_servers(c, stack_of(c, env)),
            lambda cxn, server: monitoring.install_newrelic_infra(cxn, _infra_conf(env, license_key, server)),
            "install_newrelic_infrastructure_agent", logs=LOG_DIR)


@task(help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "answer": "y confirms without asking; n refuses (default: ask on the terminal)",
})
def update_newrelic_keys(c: Context, deployment: str, environment: str, answer: str | None = None) -> None:
    """Rewrite the New Relic agents' files (web and Celery ini files, infrastructure agent) with the current
    newrelic_license_key, restart Celery, and restart the web servers behind the upgrade page (1.x
    ``update_newrelic_keys``)."""
    env = environment_of(c, deployment, environment)
    question = (f"Are you sure you want to update the New Relic license and API keys on the {environment.upper()} "
                f"environment? This will require a brief moment of downtime while Gunicorn is restarted.")
    if not confirm(question, answer):
        reporter().info("Not updating the New Relic keys.")
        return
    newrelic.require_license(env.settings, "update_newrelic_keys")
    select(c, env)
    announce_change(c, env)
    stack = stack_of(c, env)
    app_servers(c, env, ("web", "worker"), newrelic.upload_newrelic_conf, "upload_newrelic_conf", stack=stack)
    _upload_infra_conf(c, env, stack)
    if stack.by_role("worker"):
        app_servers(c, env, ("worker",), lambda app: services.supervisor(app, "restart", "celery"), "restart celery",
                    secrets=False, stack=stack)
    if stack.by_role("web"):
        app_servers(c, env, ("web",), services.begin_upgrade, "begin_upgrade", secrets=False, stack=stack)
        try:
            app_servers(c, env, ("web",), lambda app: services.supervisor(app, "restart", "web"), "restart web",
                        secrets=False, stack=stack)
        finally:
            app_servers(c, env, ("web",), services.end_upgrade, "end_upgrade", secrets=False, stack=stack)


@task
def install_munin(c: Context) -> None:
    """Install Debian's munin-node on every server, answering only the environment's VPC networks (1.x
    ``install_munin`` allowed every private network)."""
    env = changing(c)
    servers = chosen_servers(c, stack_of(c, env))
    networks = post_setup.munin_networks(aws_for(c).ec2, [s.instance_id for s in servers], reporter().warn)

    def install(cxn: Connection, server: Server) -> str:
        return monitoring.install_munin(cxn, networks)

    on_each(connections_for(c), servers, install, "install_munin", logs=LOG_DIR)


def munin_master_conf(stack: Stack) -> str:
    """The munin master's node list: per role (sorted), a comment, then one node per server (1.x's text)."""
    lines: list[str] = []
    for role in sorted(stack.servers):
        members = stack.by_role(role)
        if not members:
            continue
        lines.append(f"# {role}")
        for server in members:
            name = server.private_dns or server.hostname or server.instance_id
            lines += [f"[{stack.deployment}_{stack.environment};{role};{name}]",
                      f"    address {server.private_ip}", "    use_node_name yes", ""]
    return "\n".join(lines)


@task(help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
})
def generate_and_upload_munin_conf(c: Context, deployment: str, environment: str) -> None:
    """Build the munin master's node list for the environment and hand it to the fabfile's ``upload_munin_conf``
    task (deployment, environment, text); without one, write it to .fabulaws/munin-<deployment>-<environment>.conf
    (1.x ``generate_and_upload_munin_conf``)."""
    env = environment_of(c, deployment, environment)
    select(c, env)
    text = munin_master_conf(stack_of(c, env))
    upload = project_hook(c, "upload_munin_conf")
    if upload is not None:
        upload(c, deployment, environment, text)
        reporter().info(f"munin: the node list of {deployment} {environment} went to the fabfile's upload_munin_conf")
        return
    path = Path(MUNIN_CONF_DIR) / f"munin-{deployment}-{environment}.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    reporter().info(f"munin: the fabfile has no upload_munin_conf task; the node list of {deployment} {environment} "
                    f"is in {path}: add it to your munin master's configuration")


TASKS = (
    "upload_newrelic_infrastructure_conf", "install_newrelic_infrastructure_agent", "update_newrelic_keys",
    "install_munin", "generate_and_upload_munin_conf",
)

for _name in ("upload_newrelic_infrastructure_conf", "install_newrelic_infrastructure_agent", "install_munin"):
    globals()[_name].narrows = True  # 1.x's per-task roles=/hosts= (fabulaws/fabric1.py)
