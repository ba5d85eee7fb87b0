"""Creating servers: the ``new`` task, and ``create_servers`` for the tasks that create several at once."""

from __future__ import annotations

import random

from invoke import Context

from ....config import Settings
from ....errors import ConfigError, UsageError
from ....remote.hostkeys import KnownHosts
from ....report import LOG_DIR, reporter
from ....secrets import Secrets
from ....ubuntu.users import read_sysadmins
from ..announce import announce_change
from ..context import aws_for, environment_of, operator_name, stack_of
from ..environment import Environment
from ..servers import post_setup, roles
from ..servers.address import check_ssh_address
from ..servers.creation import (
    Creation,
    Outcome,
    PrimaryRendezvous,
    raise_for_failures,
)
from ..servers.provision import NewServer, ServerSpec
from ..stack import PRIMARY_ROLES, REPLICA_ROLES
from .base import flag, task
from .secrets import environment_secrets


def check_spec(settings: Settings, spec: ServerSpec) -> None:
    for label, value, choices in (
        ("role", spec.role, [r for r in settings.valid_roles if r in roles.ROLE_COMPONENTS]),
        ("availability zone", spec.zone, settings.avail_zones),
    ):
        if value not in choices:
            raise UsageError(f"Choose a valid {label}: {', '.join(choices)} (got {value!r})")


def check_operator_is_sysadmin(c: Context, settings: Settings) -> None:
    """New servers let in only the sysadmins of ``ssh_keys``: the operator must be one, or nobody gets in."""
    operator = operator_name(c)
    admins = [admin.name for admin in read_sysadmins(settings.ssh_keys)]
    if operator not in admins:
        raise ConfigError(
            f"ssh_keys: no key for {operator!r} in {settings.ssh_keys} (sysadmins: {', '.join(admins)}); "
            f"new servers only let those users in: pass -u <your sysadmin user>"
        )


def check_creation(c: Context, env: Environment, specs: list[ServerSpec]) -> Secrets:
    """Every check creating ``specs`` needs, before anything is launched; returns the loaded secrets."""
    settings = env.settings
    for spec in specs:
        check_spec(settings, spec)
    aws = aws_for(c)
    check_ssh_address(aws.ec2, settings, aws.region, [spec.zone for spec in specs])  # before anything is launched
    check_operator_is_sysadmin(c, settings)
    secrets = environment_secrets(c, env)  # the servers' copies before a generated secret is made
    secrets.load(sorted({name for spec in specs for name in roles.secrets_needed(spec.role, settings.instance_settings.fs_encrypt)}
                        | set(post_setup.secrets_needed(settings))))
    return secrets


def create_servers(c: Context, env: Environment, specs: list[ServerSpec], tries: int = 3,
                   keep_failed: bool = False, checked: Secrets | None = None
                   ) -> list[Outcome]:
    """Validate everything (unless ``checked``, what check_creation returned, says it was), then create ``specs``
    in parallel; DeployError naming every failure."""
    settings = env.settings
    secrets = checked or check_creation(c, env, specs)
    aws = aws_for(c)
    operator = operator_name(c)
    rendezvous = PrimaryRendezvous()
    if any(spec.role in REPLICA_ROLES for spec in specs):
        rendezvous = primary_for_replicas(c, env, specs)
    known = KnownHosts()

    def make(spec, log, report, cancel):
        return NewServer(spec, settings, aws, secrets.get, operator, c.config, known, log, report,
                         primary_address=lambda: rendezvous.address(cancel), cancel=cancel)

    creation = Creation(specs, make, LOG_DIR, tries=tries, keep_failed=keep_failed, primary=rendezvous)
    outcomes = creation.run()
    raise_for_failures(outcomes)
    return outcomes


def primary_for_replicas(c: Context, env: Environment, specs: list[ServerSpec]) -> PrimaryRendezvous:
    """Replicas copy the primary being created alongside them, else the existing one; none is an error."""
    if any(spec.role in PRIMARY_ROLES + ("combo",) for spec in specs):
        return PrimaryRendezvous(pending=True)
    primary = stack_of(c, env).primary_database
    if primary is None:
        raise UsageError(
            f"there is no db-primary in {env.deployment} {env.environment} for a db-replica to copy; create one first")
    return PrimaryRendezvous(existing=primary.server.private_ip)


@task(types={"count": "count", "tries": "count", "keep_failed": "flag"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "role": "role of the new servers (one of the config's valid_roles)",
    "avail_zone": "availability zone (letter or full name; default: a random one of avail_zones)",
    "count": "number of servers to create",
    "tries": "attempts per server before giving up on it",
    "keep_failed": "yes: keep a server whose last try failed, for inspection; no: terminate it",
})
def new(c: Context, deployment: str, environment: str, role: str, avail_zone: str | None = None, count: int = 1,
        tries: int = 3, keep_failed: str = "no") -> None:
    """Create count servers of a role (in parallel, 3 tries each); they get their role only once set up."""
    env = environment_of(c, deployment, environment)
    settings = env.settings
    announce_change(c, env)
    if avail_zone is None:
        avail_zone = random.choice(settings.avail_zones)
        reporter().info(f'Note: Assigning random availability zone "{avail_zone}"')
    if int(count) < 1 or int(tries) < 1:
        raise UsageError(f"new: count={count}, tries={tries}: expected positive numbers")
    specs = [ServerSpec(deployment, environment, role, avail_zone) for _ in range(int(count))]
    create_servers(c, env, specs, tries=int(tries), keep_failed=flag(keep_failed))
