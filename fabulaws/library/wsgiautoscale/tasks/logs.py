"""Log shipping tasks (1.x's names): install_rsyslog, install_logstash (GELF, now sent by rsyslog) and
install_awslogs (CloudWatch Logs). Each runs on every server of the selected environment in parallel (1.x's
``roles=``/``hosts=`` or ``-H`` narrow them); see servers/logs.py for what each installs."""

from __future__ import annotations

from collections.abc import Callable

from fabric import Connection
from invoke import Context

from ....errors import ConfigError
from ....report import LOG_DIR
from ....secrets import Secrets
from ..announce import announce_change
from ..context import (
    aws_for,
    chosen_servers,
    connections_for,
    selected_environment,
    stack_of,
)
from ..environment import Environment
from ..servers import logs
from ..servers.each import on_each
from ..stack import Server
from .base import task


def _ship(c: Context, env: Environment, what: str, install: Callable[[Connection, str], str]) -> None:
    """``install(cxn, role)`` on the chosen servers; a combo server ships as its first role (1.x's current role)."""
    stack = stack_of(c, env)

    def act(cxn: Connection, server: Server) -> str:
        return install(cxn, (stack.roles_of(server) or [server.role])[0])

    on_each(connections_for(c), chosen_servers(c, stack), act, what, logs=LOG_DIR)


def _configured(c: Context, key: str, task_name: str) -> Environment:
    """The selected environment, announced, once ``key`` is known to be set (ConfigError before any AWS call)."""
    env = selected_environment(c)
    settings = env.settings
    if key == "cloudwatch_logs" and logs.cloudwatch(settings) is None:
        raise ConfigError(f"{settings.source.name}: cloudwatch_logs is not set (nor awslogs_access_key_id): "
                          f"{task_name} has nowhere to send the logs")
    if key != "cloudwatch_logs" and not getattr(settings, key):
        raise ConfigError(f"{settings.source.name}: {key} is not set: {task_name} has nowhere to send the logs")
    announce_change(c, env)
    return env


def _with_rsyslog(c: Context, key: str, task_name: str) -> None:
    """One rsyslog file for both receivers, whichever task writes it."""
    env = _configured(c, key, task_name)
    _ship(c, env, task_name,
          lambda cxn, role: logs.install_rsyslog(cxn, env.settings, env.deployment, env.environment, role))


@task
def install_rsyslog(c: Context) -> None:
    """Forward syslog and the application's logs (extra_log_files too) to syslog_server with rsyslog (1.x
    ``install_rsyslog``); gelf_log_host, if set, is written into the same rsyslog file."""
    _with_rsyslog(c, "syslog_server", "install_rsyslog")


@task
def install_logstash(c: Context) -> None:
    """Send syslog and the application's logs to gelf_log_host as GELF, with rsyslog (1.x ``install_logstash``
    ran a logstash jar under Upstart; docs/migration.rst)."""
    _with_rsyslog(c, "gelf_log_host", "install_logstash")


@task
def install_awslogs(c: Context) -> None:
    """Ship syslog, kern.log and the application's logs to CloudWatch Logs, group <deployment>-<environment>-<role>,
    one stream per tag (1.x ``install_awslogs``; a service on python3-boto3 replaces the retired awslogs agent)."""
    env = _configured(c, "cloudwatch_logs", "install_awslogs")
    settings = env.settings
    aws = aws_for(c)
    store = Secrets(settings, env.deployment, env.environment, aws)
    store.load(logs.secrets_needed(settings))  # before any server is touched: a missing secret changes nothing
    _ship(c, env, "install_awslogs", lambda cxn, role: logs.install_awslogs(
        cxn, settings, env.deployment, env.environment, role, store.get, region=aws.region))


for _name in ("install_rsyslog", "install_logstash", "install_awslogs"):
    globals()[_name].narrows = True  # 1.x's per-task roles=/hosts= (fabulaws/fabric1.py)

TASKS = ("install_rsyslog", "install_logstash", "install_awslogs")
